# Tawasul Hub. `make run` and `make test` are all a new machine needs (see README.md).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast browser lint demo bench bench-tickets clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Tawasul Hub needs Python 3.11; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,rasa]'
	@touch $(STAMP)

install: $(STAMP)

## run: install, migrate, seed, train the NLU if needed, then start the hub on embedded defaults
run: install
	$(BIN)/tawasul migrate
	$(BIN)/tawasul seed
	@test -f var/models/nlu.joblib || $(BIN)/tawasul train  # the hub also retrains by itself if the data changed
	$(BIN)/tawasul serve

## test: install and run the whole test suite (integration tests skip with a reason without services)
test: install browser
	$(BIN)/python -m pytest -n auto --dist loadfile

## browser: Debian's Chromium for the console's browser tests (never a downloaded browser);
## without root or apt the browser tests skip with a reason
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser tests"; \
	    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1)) || \
	    echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not installed (needs root and apt): browser tests will be skipped"; fi; }

test-fast: install
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true
	$(BIN)/mypy

demo: install
	$(BIN)/tawasul demo

## bench: the benchmarks that take minutes (results: docs/benchmarks.md); bench-tickets: the
## 1,000,000-ticket PostgreSQL runs (tens of minutes)
bench: install
	$(BIN)/python bench/intake.py --parts ack,drain,mixed
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/nlu.py
	$(BIN)/python bench/faq.py

bench-tickets: install
	$(BIN)/python bench/tickets.py
	$(BIN)/python bench/console.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
