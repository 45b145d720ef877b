# Shortcuts for the commands CI runs (.ci/run); every target works from the repo root.
export UV_PYTHON_DOWNLOADS := never

.PHONY: install lint format typecheck test test-tansu packaging docs all ci

## install: sync every workspace package and the dev tools, fetch Apache Kafka's jars
install:
	uv sync --all-packages
	uv run bytewax-kafka-broker fetch-jars

## lint: ruff lint and format check
lint:
	uv run ruff check
	uv run ruff format --check

## format: apply ruff's fixes and formatting
format:
	uv run ruff check --fix
	uv run ruff format

## typecheck: mypy (strict) over every package's sources
typecheck:
	uv run mypy

## test: the whole suite against Apache Kafka (the default broker)
test:
	uv run pytest

## test-tansu: the packages' tests on Tansu, without slow and packaging tests
test-tansu:
	uv run pytest --kafka-broker tansu -m "not slow and not packaging" packages

## packaging: build every package and install each wheel alone
packaging:
	uv run pytest -m packaging tests

## docs: build the documentation site into docs/_build/html (warnings are errors)
docs:
	uv run --all-packages --group docs sphinx-build -W -n --keep-going -b html docs docs/_build/html

## all: lint, typecheck and test
all: lint typecheck test

## ci: what CI runs, from a fresh machine's point of view
ci:
	bash .ci/run
