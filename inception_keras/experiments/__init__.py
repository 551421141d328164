"""Many runs: grids, sweeps, searches and their tracking. Imports engine, compare, runs and lang; never serve,
weights or cli.

grid        a sweep's grid: `--set KEY=V1,V2` axes and their points (no TensorFlow)
sweep       running a sweep's points in child processes or one index (Kubernetes Indexed Jobs)
search      Optuna studies whose trials are seed groups (`make_search`, `run_worker`, `open_study`)
trial       one trial: its seeds trained in child processes, its value from compare's seed groups
points      where points are compared: a sweep's table and a trial's value, through compare's one statistic
report      a study's trials as a table and a plot
tracking    logging finished runs to MLflow
"""
