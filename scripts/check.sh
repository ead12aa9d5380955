#!/bin/sh
# make check: the reliability gate run by CI after make test.
#   0. the rockspec's copy of the C file list agrees with csrc/sources.mk
#      (scripts/sources.sh --check), and luacheck over the Lua (.luacheckrc)
#   1. C unit tests of the core (gcc and clang, -Werror, and under ASan)
#   2. the busted suite against an ASan+UBSan build of lexrt.core
#   3. the busted suite under valgrind memcheck
#   (2 and 3 run twice: with page recycling, and with LEXRT_NO_RECYCLE=1 so
#    that every page is really freed and the checkers see each one; the
#    second time every isolate's image is in mapped form too,
#    LEXRT_ISOLATE_IMAGE=mapped, where the first run lets size choose)
#   4. cppcheck and clang-tidy over csrc/
#   5. the libFuzzer harness for FUZZ_SECONDS (default 60)
set -u
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
LUA_INC=${LUA_INC:-/usr/include/lua5.4}
# lexrt.core's C files, from their one list (csrc/sources.mk).
SRC=$(sh scripts/sources.sh all | tr '\n' ' ')
HTTP_SRC=$(sh scripts/sources.sh http | tr '\n' ' ')
# The version, from the rockspec, as make and luarocks pass it.
VERSION_DEF="-DLEXRT_VERSION=\"$(sh scripts/version.sh)\""
passed=0
failed=0
step() { # name, command...
    name=$1
    shift
    echo "== check: $name"
    if "$@"; then
        passed=$((passed + 1))
        echo "== ok: $name"
    else
        failed=$((failed + 1))
        echo "== FAILED: $name"
    fi
}

build_so() { # dir, extra flags...
    dir=$1
    shift
    mkdir -p "$dir/lexrt"
    gcc -std=c99 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wpedantic -Werror \
        -fPIC -shared -I"$LUA_INC" -Icsrc "$VERSION_DEF" "$@" -o "$dir/lexrt/core.so" $SRC &&
    gcc -std=c99 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wpedantic -Werror \
        -fPIC -shared -I"$LUA_INC" -Icsrc "$@" -o "$dir/lexrt/http_core.so" $HTTP_SRC -lh2o-evloop
}

# The interpreter is not instrumented: the sanitizer runtimes are preloaded
# so that they are initialised before lua5.4 allocates anything.
asan_suite() {
    build_so build/asan -fsanitize=address,undefined -fno-sanitize-recover=undefined || return 1
    LEXRT_LUA_PREFIX="env LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LEXRT_CHECKER=1 \
        sh scripts/busted.sh --cpath='build/asan/?.so'
}

valgrind_suite() {
    build_so build/vg -DLX_WITH_VALGRIND || return 1
    LEXRT_CHECKER=1 \
    LEXRT_LUA_PREFIX="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite" \
        sh scripts/busted.sh --cpath='build/vg/?.so'
}

static_analysis() {
    cppcheck --enable=warning,style,performance,portability --std=c99 --error-exitcode=1 \
        --inline-suppr --suppress=missingIncludeSystem --quiet -Icsrc -I"$LUA_INC" csrc/ || return 1
    clang-tidy --quiet csrc/*.c -- -std=c99 -Icsrc -I"$LUA_INC"
}

step "C file list (csrc/sources.mk) and the rockspec's copy" sh scripts/sources.sh --check
step "luacheck" luacheck -q --codes --no-color .
step "C unit tests (gcc, clang, asan)" make -s -C ctest all
step "busted under ASan+UBSan" asan_suite
step "busted under valgrind" valgrind_suite
export LEXRT_NO_RECYCLE=1 LEXRT_ISOLATE_IMAGE=mapped
step "busted under ASan+UBSan, recycling off, images mapped" asan_suite
step "busted under valgrind, recycling off, images mapped" valgrind_suite
unset LEXRT_NO_RECYCLE LEXRT_ISOLATE_IMAGE
step "cppcheck and clang-tidy" static_analysis
step "libFuzzer for ${FUZZ_SECONDS}s" make -s -C fuzz fuzz FUZZ_SECONDS="$FUZZ_SECONDS"

echo
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
