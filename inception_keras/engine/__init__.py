"""Training. Imports runs, nn, data and lang; never experiments, compare, serve, weights or cli.

tf_runtime  the one place TensorFlow is prepared (`prepare_tensorflow`, called by cli before any import of it)
plan        what a run will be before TensorFlow starts: `TrainOptions` -> `Plan` (lang.resolve, the run directory)
distribute  tf.distribute strategies by name, made before anything else initializes TensorFlow
task        precision, optimizer and schedule, loss, metrics, `compile`
callbacks   per epoch: the CSV row, the commit of the epoch, progress lines, TensorBoard
compat      work-arounds for Keras bugs, each with its upstream issue
env         env.json: versions, devices, strategy, data, command line
setup       a run's set-up before its first epoch: strategy, data, models, compile, resume, the run's files
trainer     the run itself, from `TrainOptions` to a finished run directory: the epochs and how the run ends
bench       training throughput on synthetic data (`run`)
"""
