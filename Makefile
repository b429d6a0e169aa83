# Thin wrapper over Meson/Ninja. `make` builds into build/ (CLI: build/vmsight).
# `make test` and `make demo` first install the dependencies (scripts/deps),
# so both work on a fresh Debian 12 machine.

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON      ?= meson
PREFIX     ?= /usr/local

.PHONY: all deps test test-unit test-lab demo install bench fuzz format clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --prefix=$(PREFIX)

$(ASAN_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

deps:
	bash scripts/deps

# Unit tests, then the lab-guest tests, all twice: optimised, then under
# ASan+UBSan (clang).
test: deps
	$(MAKE) all
	$(MAKE) $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	python3 tests/run --build $(BUILD) --build $(ASAN_BUILD) --fuzz-seconds 5

demo: deps all
	bash lab/demo $(BUILD)/vmsight

# Installs the library, the CLI, the agent, headers, the man page and the
# Python package (python/vmsight, into python3's site-packages).
install: all
	$(MESON) install -C $(BUILD)

bench: all
	bash bench/run $(BUILD)

fuzz: deps
	bash fuzz/run

# The C sources in the style of .clang-format (clang-format 14, Debian 12).
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
