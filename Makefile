# The two commands of the README's Quick start.
.PHONY: run test lint install install-test

install:
	bash scripts/install.sh

run: install
	.venv/bin/cnm run

install-test:
	bash scripts/install.sh --test

test: install-test
	.venv/bin/ruff check emulator tests
	.venv/bin/python -m pytest -q tests

lint: install
	.venv/bin/ruff check emulator tests
