# Two entry points (see README): `make reproduce` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= cpu
SEEDS ?= 3
JOBS ?= 2

.PHONY: reproduce test install bench clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(PY) -m actionpose reproduce --preset $(PRESET) --seeds $(SEEDS) --jobs $(JOBS)

# two pytest workers, a whole file per worker (a notebook's cells stay in order in one kernel)
test: $(STAMP)
	ACTIONPOSE_PRESET=smoke MPLBACKEND=Agg $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) -m benchmarks

clean-venv:
	rm -rf $(VENV)
