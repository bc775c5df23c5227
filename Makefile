# The two commands of the README's Quick start.
.PHONY: run test lint install

install:
	bash scripts/install.sh

run: install
	.venv/bin/cnm run

test: install
	.venv/bin/ruff check emulator tests
	.venv/bin/python -m pytest -q tests

lint: install
	.venv/bin/ruff check emulator tests
