"""The command line: argument parsing and the command table only. Nothing imports cli."""
from inception_keras.cli.app import main, parser

__all__ = ["main", "parser"]
