# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV      ?= .venv
PYTHON    := $(VENV)/bin/python
FLASK     := $(VENV)/bin/flask --app app
HOST      ?= 127.0.0.1
PORT      ?= 5000
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET   := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
CATALOGS  := $(wildcard translations/*/LC_MESSAGES/messages.po)

.PHONY: run test lint bench bench-packages screenshots venv system-packages translations migrate demo-site clean

run: venv translations migrate demo-site
	$(FLASK) run --host $(HOST) --port $(PORT)

test: venv system-packages translations lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# ruff (pyproject.toml, [tool.ruff]): a lint failure fails `make test`, and so CI.
lint: venv
	$(VENV)/bin/ruff check .

bench: venv system-packages translations bench-packages
	$(PYTHON) -m bench.run $(BENCH_ARGS)

# What only the benchmarks need: wrk loads the server, npm fetches the peer widgets. Installed when missing.
bench-packages:
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends $$missing; \
	fi

# Re-renders docs/*.png (banner and preference centre, zh-CN and English) from the demo site.
screenshots: venv system-packages translations
	$(PYTHON) docs/screenshots.py

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages the tests need: Chromium for the browser tests, a CJK font so Chinese renders in
# screenshots, PostgreSQL 15 for the second storage backend. Installed only when missing.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends $$missing fontconfig; \
	fi

translations: $(CATALOGS:.po=.mo)

%.mo: %.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile --use-fuzzy -i $< -o $@

migrate: venv
	$(FLASK) consent db upgrade

demo-site: migrate
	$(FLASK) consent site import examples/sites/*.yaml

clean:
	rm -rf $(VENV) instance .pytest_cache
