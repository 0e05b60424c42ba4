# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NODE_STAMP := static/node_modules/.installed
CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx

.PHONY: run test lint typecheck check bench install clean messages

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end packages come from the npm registry at install time, never at run time.
$(NODE_STAMP): static/package.json static/package-lock.json
	npm ci --prefix static --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Browser tests drive Debian's Chromium (never a browser download).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The scale-out tests put Debian's nginx (deploy/nginx) in front of two web processes.
$(NGINX):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP) $(NODE_STAMP)
	$(BIN)/slidebridge serve

# The PostgreSQL server the tests use (CI starts it when it is down).
TEST_POSTGRES := postgresql://postgres@127.0.0.1:5432/test

test: $(STAMP) $(NODE_STAMP) $(CHROMIUM) $(NGINX)
	$(BIN)/ruff check .
	$(BIN)/mypy app tiler annotations workers benchmarks
	$(BIN)/lint-imports
	$(BIN)/slidebridge db check --postgres $(TEST_POSTGRES)
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy app tiler annotations workers benchmarks

# The users' languages: extract every msgid again (server N_(), pages' t()/tn()/tNodes()
# and their HTML text, babel.cfg) into app/locale/messages.pot, and merge it into each
# language's messages.po (new msgids arrive untranslated: `tests/core/test_translations.py`
# lists them until they are translated). The keywords are app/core/extract.py's KEYWORDS.
LOCALE := app/locale
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k N_ -k t -k tNodes -k tn:1,2 \
	  --add-comments=TRANSLATORS: --ignore-dirs='node_modules __pycache__ .* _*' \
	  --project=SlideBridge --no-wrap --sort-by-file -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages \
	  --no-wrap --no-fuzzy-matching --ignore-obsolete

# The anchor is Debian's `vips dzsave` (libvips-tools); without it the ratios fall back to
# pyvips' dzsave, which is not the goal's anchor. Installing needs root (apt).
bench: $(STAMP)
	command -v vips >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvips-tools)
	$(BIN)/python -m benchmarks.tiling

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
