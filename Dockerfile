# inception-keras in a container: `docker run IMAGE train ...` trains, `docker stop` stops it cleanly,
# the same `docker run` again resumes. See docs/docker.md.
#
#   docker build -t inception-keras .
#   docker run --gpus all -v "$PWD/data:/data" -v "$PWD/runs:/runs" inception-keras train --set epochs=10
#
# BASE_IMAGE: any Debian or Ubuntu image, with or without Python.
#
# The default is NVIDIA's CUDA *base* image plus `pip install .[gpu]` (tensorflow[and-cuda]), chosen over
# the official tensorflow/tensorflow:*-gpu images and over the CUDA *runtime*/*cudnn* images because:
#   - tensorflow[and-cuda] is how TensorFlow itself ships GPU support: the extra pins the CUDA 12 / cuDNN 9
#     wheel versions the TensorFlow release was built and tested with (`Requires-Dist: ...; extra ==
#     "and-cuda"` in TensorFlow's metadata), so CUDA always matches TensorFlow and the host needs only the
#     NVIDIA driver and the NVIDIA Container Toolkit. A system CUDA/cuDNN (the runtime/cudnn images, the
#     TF GPU image) is a second copy of some GB whose versions follow the image, not TensorFlow.
#   - the *base* flavour is small (Ubuntu 24.04, cudart, the forward-compatibility libraries) and sets
#     what the NVIDIA Container Toolkit reads (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES,
#     NVIDIA_REQUIRE_CUDA), so `--gpus all` gives the container the GPUs and the driver's libraries.
#     12.9 is the CUDA 12 that the cu12 wheels resolve to (cuBLAS 12.9, cuDNN 9, ...); the toolkit then
#     asks for a driver that supports CUDA 12.9 (575 or newer). Older drivers: an older base, e.g.
#     nvidia/cuda:12.4.1-base-ubuntu22.04.
#   - TensorFlow comes from pip into a virtual environment the same way on every base (one recipe, the
#     version pinned below, for GPU, CPU and the Debian base `make docker-check` bootstraps).
# Other bases:
#   --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu   keeps that image's TensorFlow (and its CUDA):
#       the venv sees the system site-packages and EXTRAS=auto installs no TensorFlow over it
#   --build-arg BASE_IMAGE=ubuntu:24.04 --build-arg EXTRAS=   CPU only (the plain tensorflow wheel)
ARG BASE_IMAGE=nvidia/cuda:12.9.1-base-ubuntu24.04
FROM ${BASE_IMAGE}

# auto: `gpu` (tensorflow[and-cuda]) unless the base image's Python already has TensorFlow, in which case
# that TensorFlow is kept; or give the extras yourself (`gpu`, or empty for the CPU wheel).
ARG EXTRAS=auto
# The TensorFlow pip installs when the base has none (ignored when the base's TensorFlow is kept).
ARG TENSORFLOW_VERSION=2.21.0
# The user the container runs as; 1000 is the first user of most Linux hosts, which makes bind-mounted
# volumes writable without --user. Other hosts: `docker run --user "$(id -u):$(id -g)"` (docs/docker.md).
ARG APP_UID=1000
ARG APP_GID=1000

ENV VENV=/opt/venv
# Python: a venv (PEP 668 forbids pip in Debian/Ubuntu's system Python), made with --system-site-packages
# so that a TensorFlow already in the base image is used, not reinstalled. Installed with apt when the base
# has no Python or no venv module. ca-certificates only when missing (pip and the tfds downloads need it).
# The user: an existing user with APP_UID (ubuntu:24.04 has `ubuntu`, uid 1000) is replaced by `trainer`.
RUN set -eux; \
    if ! python3 -m venv --system-site-packages "$VENV" >/dev/null 2>&1; then \
        rm -rf "$VENV"; \
        if command -v python3 >/dev/null; then \
            pkgs="python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"; \
        else \
            pkgs="python3 python3-venv"; \
        fi; \
        dpkg-query -W -f '${Status}' ca-certificates 2>/dev/null | grep -q 'ok installed' \
            || pkgs="$pkgs ca-certificates"; \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs; \
        rm -rf /var/lib/apt/lists/*; \
        python3 -m venv --system-site-packages "$VENV"; \
    fi; \
    "$VENV/bin/python" -V; \
    old="$(getent passwd "$APP_UID" | cut -d: -f1 || true)"; \
    if [ -n "$old" ]; then userdel "$old"; fi; \
    getent group "$APP_GID" >/dev/null || groupadd --gid "$APP_GID" trainer; \
    useradd --uid "$APP_UID" --gid "$APP_GID" --home-dir /home/trainer --create-home --shell /bin/bash trainer; \
    # world-writable (sticky, like /tmp) so that any --user can write its home, runs and data
    install -d -m 1777 -o trainer -g "$APP_GID" /home/trainer /data /data/tensorflow_datasets /runs; \
    install -d /opt/inception-keras

# The dependencies first, from the packaging metadata alone, so that editing the code does not reinstall
# TensorFlow (a layer of about 2.7 GB; the CUDA wheels add 4.2 GB). The package is installed in
# editable mode, pointing at /opt/inception-keras/inception_keras: the COPY of the code below is then the
# only layer a code change rebuilds (no pip, no RUN after it).
WORKDIR /opt/inception-keras
COPY setup.cfg pyproject.toml inception_keras/__init__.py inception_keras/version.py ./
RUN set -eux; \
    mkdir inception_keras; mv __init__.py version.py inception_keras/; \
    extras="$EXTRAS"; pin=""; \
    if "$VENV/bin/python" -c 'import tensorflow' >/dev/null 2>&1; then \
        echo "keeping the base image's TensorFlow"; [ "$extras" != auto ] || extras=""; \
    else \
        pin="tensorflow==$TENSORFLOW_VERSION"; [ "$extras" != auto ] || extras=gpu; \
    fi; \
    "$VENV/bin/pip" install --no-cache-dir --editable ".${extras:+[$extras]}" $pin; \
    # TensorFlow's RUNPATH names only some of the CUDA wheels' lib directories (cuBLAS, cuDNN, cuFFT, cuSPARSE,
    # NCCL, ...), not cuSOLVER, cuRAND, nvJitLink or NVRTC: without this TensorFlow finds no GPU.
    "$VENV/bin/python" -c 'import glob, os, sysconfig; \
print("\n".join(sorted(glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "*", "lib")))))' \
        > /etc/ld.so.conf.d/zz-pip-nvidia.conf; \
    if [ -s /etc/ld.so.conf.d/zz-pip-nvidia.conf ]; then ldconfig; else rm /etc/ld.so.conf.d/zz-pip-nvidia.conf; fi

# The package, and the default architecture and recipe (`arch/googlenet.yaml`, `train/fashion_mnist.yaml`,
# relative to the working directory). .dockerignore keeps everything else out.
COPY . ./

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/trainer \
    MPLBACKEND=Agg \
    INCEPTION_KERAS_RUNS=/runs \
    TFDS_DATA_DIR=/data/tensorflow_datasets

# /data: IDX files (--data-dir /data/fashion-mnist), image folders, tensorflow-datasets' cache.
# /runs: one directory per run (metrics.csv, state.json, backup/, model.keras); keep it to resume.
VOLUME ["/data", "/runs"]
USER trainer
# `docker stop` sends SIGTERM to the entrypoint (exec form: Python is PID 1 and receives it itself):
# training ends after the current step, keeps the last completed epoch and exits with 143; the same
# `docker run` again resumes the run.
STOPSIGNAL SIGTERM
ENTRYPOINT ["inception-keras"]
CMD ["train"]
