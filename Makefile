# Course lakehouse: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS := .jars
POM := conf/maven/pom.xml
PROFILE ?= local
DATE ?=

.PHONY: help setup postgres-binaries demo demo-postgres test test-fast lint format submit dist clean clean-data

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.installed $(JARS)/.resolved postgres-binaries ## Create .venv, install the project, resolve the Delta/JDBC jars, install PostgreSQL (idempotent)

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	@command -v java >/dev/null || { echo "java not found: install a JDK 17 (Spark 4 needs it)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Spark's own resolver (spark.jars.packages) cannot reach Maven Central on
# every machine; Maven can, so the exact jars are copied once into .jars/.
$(JARS)/.resolved: $(POM)
	@command -v mvn >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null; \
	  else echo "mvn not found: install Maven (e.g. apt-get install maven)"; exit 1; fi; }
	rm -rf $(JARS) && mkdir -p $(JARS)
	mvn --batch-mode --quiet -f $(POM) dependency:copy-dependencies \
	  -DoutputDirectory=$(abspath $(JARS)) -DexcludeTransitive=true
	@ls $(JARS)/*.jar
	touch $@

# The tests start their own throwaway PostgreSQL server (initdb/pg_ctl on
# 127.0.0.1); they only need Debian's binaries, not a running service.
postgres-binaries:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing PostgreSQL (Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	    (command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read ver name _; do \
	      pg_ctlcluster "$$ver" "$$name" stop 2>/dev/null || true; done) || true; \
	  else echo "PostgreSQL binaries not found: install Debian's postgresql package"; exit 1; fi; \
	fi

demo: setup ## Generate the demo sources and run the whole nightly on them, then print what it made
	$(BIN)/lakehouse demo --profile $(PROFILE)

DEMO_SIZE ?= small
demo-postgres: setup ## Run the demo with its LMS in a throwaway PostgreSQL server (127.0.0.1, removed after)
	$(BIN)/python -m lakehouse.demo.lms_postgres \
	  $(BIN)/lakehouse demo --profile postgres --size $(DEMO_SIZE)

# Scrapy imports Twisted, whose zope.interface declarations leave a
# `__provides__` on typing.Generic that breaks pyspark.ml's Params
# (AttributeError: __provides__), so the spider tests get a process of their own.
test: setup ## Run the whole test suite (spiders, then unit, Spark and end-to-end)
	$(BIN)/python -m pytest tests/scrapers
	$(BIN)/python -m pytest --ignore=tests/scrapers

test-fast: setup ## Run the tests except the end-to-end ones
	$(BIN)/python -m pytest tests/scrapers
	$(BIN)/python -m pytest --ignore=tests/scrapers -m 'not e2e'

lint: setup ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

JOB ?= score
submit: setup ## Run one job with spark-submit on this machine: make submit JOB=refine DATE=2026-11-01
	PATH="$(abspath $(BIN)):$$PATH" SPARK_LOCAL_IP=127.0.0.1 spark-submit --master 'local[*]' \
	  --jars "$$(ls $(JARS)/*.jar | paste -sd, -)" \
	  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
	  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
	  --driver-java-options "-Dlog4j2.configurationFile=file:$(abspath conf/log4j2.properties)" \
	  jobs/$(JOB).py --profile $(PROFILE) $(if $(DATE),--date $(DATE))

dist: setup ## Build dist/lakehouse.zip (lakehouse + jobs) to ship with spark-submit --py-files
	rm -rf dist && mkdir -p dist
	# The jobs package goes along: jobs import each other (score uses train's MLflow client).
	$(BIN)/python -m zipfile -c dist/lakehouse.zip lakehouse jobs
	@echo "dist/lakehouse.zip"

clean-data: ## Delete every table, landing file, model and demo source under var/
	rm -rf var

clean: clean-data ## Delete var/, .venv and resolved jars
	rm -rf $(VENV) $(JARS) dist
