# lexrt: `make test` and `make run` set everything up themselves.
# Each target first installs the Debian packages it needs, and only those
# (scripts/deps.sh TARGET; `make deps` installs every target's).
LUA      ?= lua5.4
LUA_INC  ?= /usr/include/lua5.4
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Wpedantic
LUAROCKS := luarocks --lua-version=5.4

# The C files, from their one list (the rockspec's copy is checked against
# it: scripts/sources.sh --check).
include csrc/sources.mk
CORE_SRC := $(addprefix csrc/,$(LEXRT_CORE))
BIND_SRC := $(addprefix csrc/,$(LEXRT_BIND))
HEADERS  := $(wildcard csrc/*.h)
HTTP_SRC := $(addprefix csrc/,$(LEXRT_HTTP))
SO       := build/lexrt/core.so
HTTP_SO  := build/lexrt/http_core.so
# The version is written once, in the rockspec; scripts/version.sh reads it
# (only when a recipe needs it, so that a broken rockspec stops only those).
ROCKSPEC := $(wildcard lex-runtime-*.rockspec)
VERSION   = $(shell sh scripts/version.sh)

# Runs Lua against this checkout rather than anything installed.
LUA_ENV  := LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
            LUA_CPATH="$(CURDIR)/build/?.so;;"

.PHONY: all deps build test spec test-installed dist run bench install install-local clean check fuzz

all: build

DEPS     := @sh scripts/deps.sh
# Builds in a recipe line of its own, so that the packages are in place
# first even under make -j.
BUILD    := @$(MAKE) --no-print-directory build

deps:
	$(DEPS) all

build: $(SO) $(HTTP_SO)

$(SO): $(CORE_SRC) $(BIND_SRC) $(HEADERS) csrc/sources.mk $(ROCKSPEC)
	@mkdir -p $(@D)
	@test -n "$(VERSION)"
	$(CC) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -shared -I$(LUA_INC) -Icsrc \
	  -DLEXRT_VERSION='"$(VERSION)"' -o $@ $(CORE_SRC) $(BIND_SRC)

$(HTTP_SO): $(HTTP_SRC) $(HEADERS) csrc/sources.mk
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -shared -I$(LUA_INC) -Icsrc \
	  -o $@ $(HTTP_SRC) -lh2o-evloop

test:
	$(DEPS) test
	$(BUILD)
	@sh scripts/busted.sh

# One spec file, with make test's set-up: make spec FILE=spec/x_spec.lua
spec:
	$(DEPS) test
	@if [ -z "$(FILE)" ]; then echo "usage: make spec FILE=spec/<name>_spec.lua" >&2; exit 2; fi
	$(BUILD)
	@sh scripts/busted.sh "$(FILE)"

# The whole suite against lexrt as a user gets it: packs the rock (make
# dist), installs it into a fresh, empty luarocks tree, and runs the specs
# with only that tree's lexrt on Lua 5.4's paths (scripts/test-installed.sh).
test-installed:
	$(DEPS) test-installed
	@sh scripts/test-installed.sh

# dist/lex-runtime-<version>.src.rock, from the committed tree (HEAD), with
# no network: a rock to hand out (README.md, "Installing").
dist:
	$(DEPS) dist
	@sh scripts/dist.sh

# The default experiment: every built-in workload under every mode.
run:
	$(DEPS) run
	$(BUILD)
	@./bin/lexrt-experiment

# Lua-side figures first, so that the C comparison's verdict is the last line.
bench:
	$(DEPS) bench
	$(BUILD)
	@$(LUA_ENV) $(LUA) bench/lua_bench.lua
	@echo
	@$(LUA_ENV) $(LUA) bench/isolate_bench.lua
	@echo
	@$(LUA_ENV) $(LUA) bench/http_bench.lua
	@echo
	@$(MAKE) --no-print-directory -C bench run

# Sanitizers, valgrind, C unit tests, static analysis and the fuzzer.
check:
	$(DEPS) check
	$(BUILD)
	@sh scripts/check.sh

fuzz:
	$(DEPS) fuzz
	$(MAKE) -C fuzz fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-20}

# System-wide (root, or sudo make install), or for the current user only
# under ~/.luarocks: see README.md, "Installing". luarocks make builds
# where it runs (csrc/*.o, lexrt/), which fails in a read-only checkout
# and litters a writable one, so it runs in a temporary copy of what the
# rockspec needs, removed afterwards (made writable first: cp keeps a
# read-only checkout's modes).
ROCK_FILES := csrc lua bin examples
IN_COPY   = tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT INT TERM && \
            cp -R $(ROCK_FILES) $(ROCKSPEC) "$$tmp" && chmod -R u+w "$$tmp" && cd "$$tmp" &&

install:
	$(DEPS) install
	@$(IN_COPY) $(LUAROCKS) make --deps-mode=none $(ROCKSPEC)

install-local:
	$(DEPS) install
	@$(IN_COPY) $(LUAROCKS) make --local --deps-mode=none $(ROCKSPEC)
	@echo "installed under ~/.luarocks; for lua5.4 to find it (README.md, Installing):"
	@echo '  export LUA_PATH_5_4="$$($(LUAROCKS) path --lr-path);;"'
	@echo '  export LUA_CPATH_5_4="$$($(LUAROCKS) path --lr-cpath);;"'
	@echo '  export PATH="$$HOME/.luarocks/bin:$$PATH"'

# csrc/*.o and lexrt/: what an older luarocks make left in the checkout.
clean:
	rm -rf build dist lexrt csrc/*.o
	-$(MAKE) -C bench clean
	-$(MAKE) -C ctest clean
	-$(MAKE) -C fuzz clean
