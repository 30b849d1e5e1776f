# Two entry points: `make run` (install + serve on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/assistant/wheels/native-off
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LLM_USER_PATH ?= $(CURDIR)/.assistant/llm-user

.PHONY: install system-deps run test lint bench bench-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: a CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python ships only as source. pip's own build is -march=native and its cached wheel
	# is reused on whatever CPU comes next; this llama.cpp's native build also crashes in
	# libggml-cpu on CPUs with AMX. A portable build (GGML_NATIVE=OFF, as in docker/Dockerfile),
	# made once and kept outside pip's cache, is installed before the project so pip keeps it.
	test -n "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl 2>/dev/null)" || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel -q --no-deps --no-cache-dir \
	    -w $(LLAMA_WHEELS) llama_cpp_python==$(LLAMA_VERSION)
	$(BIN)/pip install -q --no-deps $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q -e ".[dev,bots,postgres,openai-whisper,tracing]"
	# --no-deps: rapidocr pins opencv-python (the GUI build; pyproject has the headless one and
	# its other needs); openai-whisper pulls triton, a GPU-only 1 GB download
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4 openai-whisper==20250625
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need (speech synthesis for test media, compose validation,
# PostgreSQL for the topology test, which runs its own cluster on a free port).
system-deps:
	@missing=""; \
	for p in espeak-ng docker-compose postgresql; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	$(BIN)/assistant ingest examples/knowledge
	$(BIN)/assistant serve

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# the retrieval benchmark's corpus: real documentation prose shipped by Debian packages
BENCH_DEBS := python3.11-doc postgresql-doc-15 sqlite3-doc python-sqlalchemy-doc python-django-doc git-doc linux-doc-6.1
bench-deps:
	@dpkg -s $(BENCH_DEBS) >/dev/null 2>&1 || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_DEBS) >/dev/null)

bench: install bench-deps
	$(BIN)/python bench/bench_retrieval.py
	$(BIN)/python bench/bench_encoders.py
	$(BIN)/python bench/bench_workers.py
	$(BIN)/python bench/bench_load.py

clean:
	rm -rf .assistant .pytest_cache .mypy_cache .ruff_cache
