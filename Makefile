# dcmrecv-cluster: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 11112
OUT ?= incoming
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := $(VENV)/bin

.PHONY: run test bench deps dcmtk venv clean

run: venv
	mkdir -p $(OUT)
	$(BIN)/dcmrecv-cluster --verbose --embedded-profile --output-directory $(OUT) $(PORT)

test: deps
	$(BIN)/pytest

bench: deps
	mkdir -p bench-results/work
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m dcmrecv_cluster.loadtest.bench --workdir bench-results/work --json bench-results/bench.json --plot bench-results/bench.png

deps: dcmtk venv
	$(BIN)/pip install -q -e '.[test]'

# DCMTK is the oracle and the senders of the tests (Debian package dcmtk).
dcmtk:
	@if [ ! -x /usr/bin/dcmrecv ] || [ ! -x /usr/bin/storescu ]; then \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q dcmtk; \
	fi

venv: $(BIN)/dcmrecv-cluster

$(BIN)/dcmrecv-cluster: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info bench-results
