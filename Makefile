# The README's commands. Each sets up .venv on first use (see scripts/dev.py).
PYTHON ?= python3

.PHONY: run test lint install bench-storage bench-pipeline

run:
	$(PYTHON) scripts/dev.py run

test:
	$(PYTHON) scripts/dev.py test

lint:
	$(PYTHON) scripts/dev.py lint

install:
	$(PYTHON) scripts/dev.py install

bench-storage: install
	.venv/bin/python bench/storage.py

bench-pipeline: install
	.venv/bin/python bench/pipeline.py
