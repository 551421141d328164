"""tf.distribute strategies by name, created before anything else initializes TensorFlow."""
from __future__ import annotations

import json
import os

from inception_keras.errors import ConfigError


def tf_config() -> dict | None:
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(cfg, dict) or "cluster" not in cfg or "task" not in cfg:
        raise ConfigError("TF_CONFIG needs 'cluster' (e.g. {\"worker\": [\"host1:port\", \"host2:port\"]}) and "
                          "'task' ({\"type\": \"worker\", \"index\": 0})")
    return cfg


def split_cpu(n: int) -> None:
    """Make `n` logical CPU devices (before TensorFlow initializes its devices)."""
    import tensorflow as tf

    if n > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)


def make_strategy(name: str, cpu_devices: int = 0):
    """Return (strategy, resolved name). `auto`: multi_worker_mirrored when TF_CONFIG is set, mirrored over all
    GPUs when there are GPUs, otherwise the default strategy (one device)."""
    import tensorflow as tf

    cfg = tf_config()
    if name == "auto":
        if cfg:
            name = "multi_worker_mirrored"
        elif tf.config.list_physical_devices("GPU"):
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker_mirrored":
        if not cfg:
            raise ConfigError("strategy multi_worker_mirrored needs TF_CONFIG (the cluster and this worker's task)")
        split_cpu(cpu_devices)
        comm = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm), name
    split_cpu(cpu_devices)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices), name
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0"), name
    return tf.distribute.get_strategy(), "default"


def is_chief(strategy) -> bool:
    """The worker that writes the run directory: the chief, or worker 0 when the cluster names no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    cluster = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def workers(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return len(cluster.get("worker", [])) + len(cluster.get("chief", [])) or 1


def task(strategy) -> tuple[str, int]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return ("chief", 0)
    return (resolver.task_type, int(resolver.task_id))


def devices(strategy) -> list[str]:
    """The devices the strategy's replicas run on (this worker's)."""
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: whatever TensorFlow places ops on
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name]
