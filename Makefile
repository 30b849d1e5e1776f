# Two entry points: `make run` (install + serve on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LLM_USER_PATH ?= $(CURDIR)/.assistant/llm-user

.PHONY: install system-deps run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: a CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,bots]"
	# rapidocr's own pins ask for opencv-python (GUI build); its real needs are in pyproject
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need (speech synthesis for test media, compose validation).
system-deps:
	@missing=""; \
	for p in espeak-ng docker-compose; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	$(BIN)/assistant ingest examples/knowledge
	$(BIN)/assistant serve

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/bench_retrieval.py

clean:
	rm -rf .assistant .pytest_cache .mypy_cache .ruff_cache
