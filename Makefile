# Two commands for a newcomer: `make run` (chat page) and `make test` (the test suite).
# Both create .venv if missing and install the project into it: torch first and explicitly
# (the CPU build), then the project with its dev extras, with torch pinned by constraints.txt.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test test-fast lint format index eval train-reader bench bench-corpus load-test clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) app.py

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

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
