# Shortcuts for the commands CI runs (.ci/run); every target works from the repo root.
export UV_PYTHON_DOWNLOADS := never

# uv: the one on PATH, else where `make install` puts it (pip's user scripts folder).
UV ?= $(shell command -v uv 2>/dev/null || echo "$$(python3 -m site --user-base)/bin/uv")

.PHONY: install uv lint format typecheck test test-tansu packaging docs all ci

## uv: install uv with pip when it is missing (a distribution's Python needs --break-system-packages)
uv:
	@test -x "$(UV)" || { echo "installing uv with pip"; \
	  python3 -m pip install --user --quiet uv 2>/dev/null \
	  || python3 -m pip install --user --quiet --break-system-packages uv; }
	@"$(UV)" --version

## install: uv if missing, every workspace package and the dev tools, Apache Kafka's jars, Toxiproxy
install: uv
	"$(UV)" sync --all-packages
	"$(UV)" run bytewax-kafka-broker fetch-jars
	"$(UV)" run bytewax-kafka-broker fetch-toxiproxy || echo "Toxiproxy not built (no Go?): the network-fault tests will be skipped, saying so"

## lint: ruff lint and format check
lint:
	"$(UV)" run ruff check
	"$(UV)" run ruff format --check

## format: apply ruff's fixes and formatting
format:
	"$(UV)" run ruff check --fix
	"$(UV)" run ruff format

## typecheck: mypy (strict) over every package's sources
typecheck:
	"$(UV)" run mypy

## test: the whole suite against Apache Kafka (the default broker)
test:
	"$(UV)" run pytest

## test-tansu: the quick subset: the packages' tests on Tansu, without slow and packaging tests
test-tansu:
	"$(UV)" run pytest --kafka-broker tansu -m "not slow and not packaging" packages

## packaging: build every package and install each wheel alone
packaging:
	"$(UV)" run pytest -m packaging tests

## docs: build the documentation site into docs/_build/html (warnings are errors)
docs:
	"$(UV)" run --all-packages --group docs sphinx-build -W -n --keep-going -b html docs docs/_build/html

## all: lint, typecheck and test
all: lint typecheck test

## ci: what CI runs, from a fresh machine's point of view
ci:
	bash .ci/run
