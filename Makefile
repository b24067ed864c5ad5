# The Makefile mirrors CI: `make test` is exactly what .ci/run calls.
.DEFAULT_GOAL := help
VENV := .venv/bin
PYTEST_ARGS ?=

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install everything (idempotent): apt packages, .venv, JVM jars
	@scripts/bootstrap.sh test

run: ## start the embedded stack with the market simulator and the dashboard (Ctrl-C stops it)
	@scripts/bootstrap.sh run
	@$(VENV)/obm up --foreground

# `mvn -q` prints only errors; this logger brings back Surefire's "Tests run: ..." lines.
SUREFIRE_SUMMARY := -Dorg.slf4j.simpleLogger.log.org.apache.maven.plugin.surefire=info

test: ## the Java and Rust unit tests, then the whole suite against real Kafka, Flink, PostgreSQL and Redis
	@scripts/bootstrap.sh test
	@mvn -q -B -f flink_jobs/java/pom.xml $(SUREFIRE_SUMMARY) test
	@cargo=$$(command -v cargo || { [ -x "$$HOME/.cargo/bin/cargo" ] && echo "$$HOME/.cargo/bin/cargo"; }); \
	if [ -n "$$cargo" ]; then PYO3_PYTHON=$(CURDIR)/$(VENV)/python "$$cargo" test -q --manifest-path producer/native/Cargo.toml; \
	else echo "make test: no cargo, so the Rust unit tests of producer/native do not run"; fi
	@$(VENV)/python -m pytest $(PYTEST_ARGS)

test-unit: ## only the unit tests (no services)
	@scripts/bootstrap.sh test
	@$(VENV)/python -m pytest -m unit $(PYTEST_ARGS)

lint: ## ruff and mypy
	@scripts/bootstrap.sh test
	@$(VENV)/ruff check .
	@$(VENV)/ruff format --check .
	@$(VENV)/mypy config schemas producer sinks obm flink_jobs dashboard gateway notify bench rules

bench: ## run the benchmarks (results go to docs/benchmarks.md by hand, with date and machine)
	@scripts/bootstrap.sh test
	@$(VENV)/python -m bench

down: ## stop the embedded stack
	@$(VENV)/obm down

clean: ## remove the embedded stack's state (data of Kafka, PostgreSQL, Redis, Flink)
	rm -rf .state

.PHONY: help setup run test test-unit lint bench down clean
