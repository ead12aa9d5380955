# lexrt: `make test` and `make run` set everything up themselves.
LUA      ?= lua5.4
LUA_INC  ?= /usr/include/lua5.4
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Wpedantic
LUAROCKS := luarocks --lua-version=5.4

CORE_SRC := csrc/arena.c csrc/image.c csrc/pool.c csrc/sysmem.c
BIND_SRC := csrc/l_arena.c csrc/l_copy.c csrc/l_handler.c csrc/l_isolate.c csrc/lexrt.c
HEADERS  := $(wildcard csrc/*.h)
SO       := build/lexrt/core.so

# Runs Lua against this checkout rather than anything installed.
LUA_ENV  := LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;" \
            LUA_CPATH="$(CURDIR)/build/?.so;;"

.PHONY: all deps build test test-installed run bench install clean check fuzz

all: build

deps:
	@sh scripts/deps.sh

build: $(SO)

$(SO): $(CORE_SRC) $(BIND_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -shared -I$(LUA_INC) -Icsrc -o $@ $(CORE_SRC) $(BIND_SRC)

test: deps build
	@sh scripts/busted.sh

# The specs against the module luarocks installed (after `make install`).
test-installed: deps
	@sh scripts/busted.sh --run=installed

# The default experiment: every built-in workload under every mode.
run: deps build
	@./bin/lexrt-experiment

# Lua-side figures first, so that the C comparison's verdict is the last line.
bench: deps build
	@$(LUA_ENV) $(LUA) bench/lua_bench.lua
	@echo
	@$(MAKE) --no-print-directory -C bench run

# Sanitizers, valgrind, C unit tests, static analysis and the fuzzer.
check: deps build
	@sh scripts/check.sh

fuzz: deps
	$(MAKE) -C fuzz fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-20}

install: deps
	$(LUAROCKS) make --deps-mode=none

clean:
	rm -rf build
	-$(MAKE) -C bench clean
	-$(MAKE) -C ctest clean
	-$(MAKE) -C fuzz clean
