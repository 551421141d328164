"""Other formats and uses of a trained model: weights import, export, predict, evaluate. Never imports engine or cli."""
