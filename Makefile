# Two commands matter: `make demo` (the whole job on the embedded engine) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NETWORK ?= ethereum
START ?= 2024-01-01
END ?= 2024-03-31
NEXT ?= 2024-04-01
DROPS ?= data/drops
.PHONY: demo daily test unit test-server fuzz install lint docs benchmark clean

# One install: the trainer and the dbt adapter for the embedded engine come from this repository's pyproject.toml.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

profiles.yml:
	cp profiles.yml.example profiles.yml

demo: install profiles.yml
	$(BIN)/python -m trainer.sample_data --network $(NETWORK) --start $(START) --end $(END) --out $(DROPS) --label-delay-days 7
	$(BIN)/python -m trainer.ingest --network $(NETWORK) --source $(DROPS)
	$(BIN)/dbt build --vars '{network: $(NETWORK), start: $(START), end: $(END)}'
	$(BIN)/python -m trainer --model-type alert_scorer --network $(NETWORK)
	$(BIN)/python -m trainer --model-type alert_ranker --network $(NETWORK)
	$(BIN)/python -m trainer --model-type cluster_scorer --network $(NETWORK)
	$(BIN)/python -m trainer.registry promote latest --model-type alert_scorer --network $(NETWORK) --alias champion --reason "first model"
	$(BIN)/python -m trainer.registry promote latest --model-type alert_ranker --network $(NETWORK) --alias champion --reason "first model"
	$(BIN)/python -m trainer.registry promote latest --model-type cluster_scorer --network $(NETWORK) --alias champion --reason "first model"
	$(BIN)/python -m trainer.registry --latest --network $(NETWORK)
	$(BIN)/python -m trainer.score --model-type alert_ranker --network $(NETWORK) --processing-date $(END)
	$(BIN)/python -m trainer.score --model-type cluster_scorer --network $(NETWORK) --processing-date $(END)
	$(BIN)/python -m trainer.score --model-type alert_scorer --network $(NETWORK) --processing-date $(END)

# One day of the daily loop on sample data, after `make demo`: in one process (trainer.daily) a new drop for NEXT is
# ingested, the window is built up to it (only what the new date touches is recomputed and tested, in every layer) and
# the champion scores it and reports drift; then past scores are backtested against the labels known now, a
# challenger is trained on the longer window and offered to the promotion gate (a refusal is reported and does not
# stop the loop).
daily: install profiles.yml
	$(BIN)/python -m trainer.sample_data --network $(NETWORK) --start $(NEXT) --end $(NEXT) --out data/new-drop --label-delay-days 7
	$(BIN)/python -m trainer.daily --network $(NETWORK) --source data/new-drop --start $(START) --model-type alert_scorer
	$(BIN)/python -m trainer.backtest --model-type alert_scorer --network $(NETWORK) --start $(START) --end $(NEXT)
	$(BIN)/python -m trainer --model-type alert_scorer --network $(NETWORK)
	$(BIN)/python -m trainer.registry promote latest --model-type alert_scorer --network $(NETWORK) --alias challenger
	-$(BIN)/python -m trainer.registry promote latest --model-type alert_scorer --network $(NETWORK) --alias champion

# Three tiers: tests/unit (pure code, seconds, no dbt and no engine), then tests/integration (real dbt builds and
# training on the embedded engine), its files shared out to two processes (pytest-xdist), each with a store of its own,
# and beside it tests/server (the `server` target: dbt-clickhouse over HTTP and the trainer's HTTP client, see
# test-server). The server tier mostly waits on its server process, so the two fill two cores where one after the other
# would leave one idle; its report, kept in SERVER_REPORT meanwhile, is printed after the integration tier's.
SERVER_REPORT ?= .test-server.log
test: install profiles.yml
	$(BIN)/python -m pytest tests/unit
	@echo "tests/server runs beside tests/integration; its report follows"
	@$(BIN)/python -m pytest tests/server > $(SERVER_REPORT) 2>&1 & server=$$!; \
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests/integration; integration=$$?; \
	wait $$server; server=$$?; echo "tests/server:"; cat $(SERVER_REPORT); \
	test $$integration -eq 0 && test $$server -eq 0

# The server tier alone. By default it starts tests/support/clickhouse_http (the embedded engine behind ClickHouse's
# HTTP interface, a test stand-in); to run it against a real ClickHouse server instead, point CLICKHOUSE_HOST,
# CLICKHOUSE_PORT, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD (and CLICKHOUSE_SECURE) at a scratch server: the tier creates and
# replaces the databases aml, server_flow and server_protocol there.
test-server: install profiles.yml
	$(BIN)/python -m pytest tests/server

unit: install
	$(BIN)/python -m pytest tests/unit

# The contract fuzzing suite's long profile: 80 random windows instead of make test's 4 fixed ones, half of which must
# train and score a model (most do: about an hour).
fuzz: install profiles.yml
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/integration/test_contract_fuzzing.py

lint: install
	$(BIN)/ruff check trainer tests benchmarks
	$(BIN)/ruff format --check trainer tests benchmarks

# The feature lineage doc blocks are generated from the catalog of a first `docs generate`, then shown by a second.
docs: install profiles.yml
	$(BIN)/dbt docs generate --vars '{network: $(NETWORK), start: $(START), end: $(END)}'
	$(BIN)/python -m trainer.catalogue --network $(NETWORK) --write-lineage-docs
	$(BIN)/dbt docs generate --vars '{network: $(NETWORK), start: $(START), end: $(END)}'

clean:
	rm -rf .chdb target logs trained_models $(DROPS) data/new-drop
