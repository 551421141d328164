# Everything a fresh machine needs: `make test` (the suite) and `make train` (the seed recipe).
# Targets create .venv and install into it; they are idempotent and quick once done.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS   ?=
ARCH   ?= arch/googlenet.yaml
RECIPE ?= train/fashion_mnist.yaml

.PHONY: install test test-fast test-e2e test-golden test-golden-full train quick fashion-mnist docker-check bench bench-table clean-venv

install: $(STAMP)

# PyTorch's CPU build, the same way on every machine: a plain `pip install torch` on Linux takes a CUDA build of
# several GB, so every venv here that needs torch installs the pinned version from PyTorch's own CPU index
# (download.pytorch.org/whl/cpu, whose torch==X is X+cpu), with PyPI beside it for everything else (numpy, timm).
# Where that index cannot be reached (a machine without it: on this project's machines download.pytorch.org does not
# resolve), the same pins come from pip's configured indexes; there PIP_FIND_LINKS names a folder holding
# torch-2.13.0+cpu, which pip prefers to PyPI's 2.13.0 (a local version sorts higher), so the pin still gets the CPU
# build. Elsewhere that fallback would be PyPI's build: the note says so.
# $(call torch_install,VENV,PACKAGES)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYPI_INDEX      ?= https://pypi.org/simple
torch_install = if $(1)/bin/python -c "import urllib.request as u; u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=15)" \
	  2>/dev/null; then $(1)/bin/python -m pip install -q --index-url $(TORCH_CPU_INDEX) \
	  --extra-index-url $(PYPI_INDEX) $(2); else echo "note: $(TORCH_CPU_INDEX) cannot be reached;" \
	  "$(2) from pip's configured indexes (the CPU build only where they hold it)"; $(1)/bin/python -m pip install -q $(2); fi

# The jax extra runs tests/zoo/test_backends.py on Keras' JAX backend. The onnx extra (tf2onnx, onnx, onnxruntime) lets the export tests run the ONNX round trip, litert the TFLite one,
# torch the `.pth` import path (docs/fidelity.md): on x86_64 the CPU build of the pin below goes in first (192 MB
# download, 754 MB installed) and the extra's `torch>=2.1` is then already satisfied.
TORCH_PIN ?= torch==2.13.0
$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if [ "$$(uname -m)" = x86_64 ] && ! $(BIN)/python -c 'import torch' 2>/dev/null; then \
	  { $(call torch_install,$(VENV),'$(TORCH_PIN)'); } || echo "note: $(TORCH_PIN) not found; pip installs the extra's torch"; fi
	$(BIN)/python -m pip install -q -e '.[test,onnx,litert,torch,search,mlflow,jax]'
	@touch $(STAMP)

# Fashion-MNIST as IDX files from Debian (dataset-fashion-mnist), where apt-get works;
# elsewhere training falls back to tensorflow-datasets' download.
fashion-mnist:
	@if [ ! -f $(FMNIST) ]; then \
	  if command -v apt-get >/dev/null; then \
	    $(SUDO) apt-get install -y -q dataset-fashion-mnist || \
	    { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist; } || \
	    echo "note: could not install dataset-fashion-mnist; tensorflow-datasets will download Fashion-MNIST"; \
	  else echo "note: no apt-get; tensorflow-datasets will download Fashion-MNIST"; fi; \
	fi

# ruff (pyproject.toml), then the suite in as many processes as there are cores (pytest-xdist): most tests start
# TensorFlow in a process of their own, so two cores run it in about half the time. Under CI=true (.ci/run sets it)
# a test skipped for want of torch, Fashion-MNIST, git history or a private tmpfs fails instead (tests/conftest.py).
test: install fashion-mnist
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --durations=20 tests

# The tiers of that suite (docs/testing.md). test-fast: the tests marked neither e2e nor golden, in one process in
# which TensorFlow and Keras cannot be imported (INCEPTION_KERAS_TEST_NO_TF=1, tests/conftest.py) and no test starts
# a process: the languages, readers, comparison and hardening, about 20 s of CPU (docs/testing.md). test-e2e: what spawns the
# command line or trains; test-golden: the comparisons against the reference frameworks' own outputs.
test-fast: install
	$(BIN)/ruff check .
	INCEPTION_KERAS_TEST_NO_TF=1 $(BIN)/python -m pytest -q -n 0 -m "not e2e and not golden" tests

test-e2e: install fashion-mnist
	$(BIN)/python -m pytest -q -n auto -m "e2e and not golden" tests

test-golden: install
	$(BIN)/python -m pytest -q -n auto -m golden tests

# the golden tier with the slow references too (InceptionNeXt-S/B logits, minutes on a CPU)
test-golden-full: install
	INCEPTION_KERAS_GOLDEN_FULL=1 $(BIN)/python -m pytest -q -n auto -m golden tests

# make train ARCH=arch/googlenet_bn.yaml RECIPE=train/imagenette.yaml ARGS="--set epochs=2"
train: install fashion-mnist
	$(BIN)/inception-keras train --arch $(ARCH) --recipe $(RECIPE) $(ARGS)

# A run that learns in minutes on a CPU: the seed network at 48x48, 10,000 images, 3 epochs.
quick: install fashion-mnist
	$(BIN)/inception-keras train --arch arch/googlenet_quick.yaml --recipe train/quick.yaml $(ARGS)

bench: install
	$(BIN)/inception-keras bench $(ARGS)

# Ours against the hand-written peers in one sitting (docs/performance.md); PyTorch goes into .venv-torch.
PEERS ?= tools/peers
.venv-torch/.installed:
	@test -x .venv-torch/bin/python || $(PYTHON) -m venv .venv-torch
	$(call torch_install,.venv-torch,'$(TORCH_PIN)' numpy)
	@touch $@

bench-table: install fashion-mnist .venv-torch/.installed
	$(BIN)/python tools/bench_table.py --peers $(PEERS) --torch-python .venv-torch/bin/python $(ARGS)

docker-check:
	./docker/check.sh

clean-venv:
	rm -rf $(VENV)

# Golden references (tests/fixtures/*.npz) from the originals' own code: the d2l seed in MXNet and
# torchvision's googlenet, each in a venv of its own (tools/reference/*.py say what they write).
# mxnet 1.9.1 has wheels for x86_64 only. torch/torchvision: pairs that import together here.
.PHONY: golden
ifeq ($(shell uname -m),aarch64)
TORCHVISION_PINS ?= torch==2.9.1 torchvision==0.24.1
else
TORCHVISION_PINS ?= torch==2.14.1 torchvision==0.29.1
endif
.venv-mxnet/.installed:
	@test -x .venv-mxnet/bin/python || $(PYTHON) -m venv .venv-mxnet
	.venv-mxnet/bin/python -m pip install -q 'mxnet==1.9.1' 'numpy<1.24'
	@touch $@

# timm's and torchvision's Inception family (tools/reference/timm_family.py, InceptionNeXt: timm_next.py): the CPU wheel of torch with the
# torchvision built for it and timm (torch_cpu.py imports torchvision where its compiled ops do not load).
TIMM_PINS ?= torch==2.13.0 torchvision==0.28.0 timm==1.0.31
.venv-timm/.installed:
	@test -x .venv-timm/bin/python || $(PYTHON) -m venv .venv-timm
	$(call torch_install,.venv-timm,$(TIMM_PINS) numpy)
	@touch $@

# The family speed table (docs/performance.md): InceptionV3, InceptionResNetV2, Xception, ours against
# keras.applications (and timm where .venv-timm is), training and the inference forms, one sitting.
.PHONY: bench-family
bench-family: install
	$(BIN)/python tools/bench_family.py $(ARGS)

.PHONY: golden-timm
golden-timm: .venv-timm/.installed
	.venv-timm/bin/python tools/reference/timm_family.py
	.venv-timm/bin/python tools/reference/timm_next.py

.PHONY: golden-xalign
golden-xalign: .venv-timm/.installed
	.venv-timm/bin/python tools/reference/timm_xalign.py

# TF-Slim's Inceptions (tools/reference/slim_family.py): tf-slim 1.1.0 on TensorFlow and tf-keras of the main
# venv's TensorFlow version, in graph mode.
SLIM_PINS ?= tensorflow==2.21.0 tf-keras==2.21.0 tf-slim==1.1.0
.venv-slim/.installed:
	@test -x .venv-slim/bin/python || $(PYTHON) -m venv .venv-slim
	.venv-slim/bin/python -m pip install -q $(SLIM_PINS) numpy
	@touch $@

.PHONY: golden-slim
golden-slim: .venv-slim/.installed
	.venv-slim/bin/python tools/reference/slim_family.py

.venv-torchvision/.installed:
	@test -x .venv-torchvision/bin/python || $(PYTHON) -m venv .venv-torchvision
	$(call torch_install,.venv-torchvision,$(TORCHVISION_PINS) numpy)
	@touch $@

golden: fashion-mnist .venv-mxnet/.installed .venv-torchvision/.installed golden-timm golden-xalign golden-slim
	.venv-mxnet/bin/python tools/reference/mxnet_seed.py --data $(dir $(FMNIST))
	.venv-mxnet/bin/python tools/reference/mxnet_resize.py --data $(dir $(FMNIST))
	.venv-torchvision/bin/python tools/reference/torchvision_googlenet.py
