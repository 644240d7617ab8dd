# The README's commands. Each sets up .venv on first use (see scripts/dev.py).
PYTHON ?= python3

.PHONY: run test lint install bench-storage bench-pipeline bench-plugins bench-rates bench-scale bench-alerts bench-api bench-lifecycle

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

bench-plugins: install
	.venv/bin/python bench/plugins.py

bench-rates: install
	.venv/bin/python bench/rates.py

# Needs root (network namespaces) and the loopback PostgreSQL; about 3 minutes.
bench-scale: install
	.venv/bin/python bench/scale.py

# Loopback PostgreSQL and redis-server; about 2 minutes.
bench-alerts: install
	.venv/bin/python bench/alerts.py

bench-api: install
	.venv/bin/python bench/api.py

# Loopback PostgreSQL; 10 million generated rows, about 5 minutes.
bench-lifecycle: install
	.venv/bin/python bench/lifecycle.py
