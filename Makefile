# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := runs/demo

.PHONY: install demo test test-slow test-all lint bench clean

$(BIN)/translate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/translate

# CycleGAN on the built-in day/night demo domains (a few CPU minutes), then a folder converted.
demo: install
	rm -rf $(DEMO)
	$(BIN)/translate train cyclegan --a demo-day --b demo-night --out $(DEMO) \
		--size 64 --load-size 72 --generator resnet6 --ngf 16 --ndf 16 \
		--steps 600 --sample-every 200 --save-every 300 --workers 2
	$(BIN)/translate convert --model $(DEMO) --direction a2b --input demo-day --output $(DEMO)/converted/day2night

test: install
	$(BIN)/ruff check translate tests tools
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m slow

test-all: test test-slow

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
