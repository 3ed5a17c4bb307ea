# `make run` sets up .venv and opens the app on the bundled samples; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench bundle clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@$(PY) -m gui.boot.qt_libs --quiet   # Qt's xcb plugin needs system libraries: prints the apt-get line if any is missing
	$(PY) main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# every benchmark's quick mode (docs/benchmarks.md says what each measures; drop --quick for the full runs)
bench: $(STAMP)
	$(PY) bench/crf.py --quick
	$(PY) bench/bandwidth.py --quick
	$(PY) bench/adapt_cost.py --quick
	$(PY) bench/prelabel.py --quick
	$(PY) bench/annotation_effort.py --quick
	QT_QPA_PLATFORM=offscreen $(PY) bench/interactive.py --quick
	QT_QPA_PLATFORM=offscreen $(PY) bench/interactive.py --app --quick
	QT_QPA_PLATFORM=offscreen $(PY) bench/gui_latency.py --quick
	$(PY) bench/startup.py --quick
	@if command -v nvidia-smi >/dev/null 2>&1; then bash bench/gpu_check.sh; else echo "bench/gpu_check.sh: no GPU here, skipped"; fi

# CPU-only PyInstaller bundle in dist/deeplab-annotator/ (own venv under build/); prints its size
bundle:
	PYTHON=$(PYTHON) packaging/build_bundle.sh

clean:
	rm -rf $(VENV) .pytest_cache build dist
