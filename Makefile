# Everything a fresh machine needs: `make test` (the suite) and `make train` (the seed recipe).
# Targets create .venv and install into it; they are idempotent and quick once done.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARGS   ?=

.PHONY: install test train fashion-mnist docker-check bench bench-table clean-venv

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
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

test: install
	$(BIN)/python -m pytest -q tests

train: install fashion-mnist
	$(BIN)/inception-keras train --arch arch/googlenet.yaml --recipe train/fashion_mnist.yaml $(ARGS)

bench: install
	$(BIN)/inception-keras bench $(ARGS)

# Ours against the hand-written peers in one sitting (docs/performance.md); PyTorch goes into .venv-torch.
PEERS ?= ../shared/peers
.venv-torch/.installed:
	@test -x .venv-torch/bin/python || $(PYTHON) -m venv .venv-torch
	.venv-torch/bin/python -m pip install -q torch==2.13.0 numpy
	@touch $@

bench-table: install fashion-mnist .venv-torch/.installed
	$(BIN)/python tools/bench_table.py --peers $(PEERS) --torch-python .venv-torch/bin/python $(ARGS)

docker-check:
	./docker/check.sh

clean-venv:
	rm -rf $(VENV)
