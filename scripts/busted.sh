#!/bin/sh
# Runs the busted suite and ends with one plain summary line,
#   tests: N passed, M failed
# (busted's own line splits failures and errors; both count as failed).
# Extra arguments go to busted; $LEXRT_LUA_PREFIX (e.g. a valgrind command
# line) is put in front of the interpreter. A Lua warning fails the run.
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -n "${LEXRT_LUA_PREFIX:-}" ]; then
    # A checker (valgrind, sanitizer preload) wraps the interpreter itself.
    # shellcheck disable=SC2086
    $LEXRT_LUA_PREFIX lua5.4 "$(command -v busted)" -o plainTerminal "$@" >"$out" 2>&1
    status=$?
    cat "$out"
else
    busted --lua=lua5.4 -o plainTerminal "$@" >"$out" 2>&1
    status=$?
    cat "$out"
fi
line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$out" | tail -n 1)
if [ -z "$line" ]; then
    echo "tests: 0 passed, 1 failed"
    exit 1
fi
passed=$(echo "$line" | sed -E 's#^([0-9]+) success.*#\1#')
failures=$(echo "$line" | sed -E 's#^[0-9]+ successes? / ([0-9]+) failure.*#\1#')
errors=$(echo "$line" | sed -E 's#.* / ([0-9]+) errors?.*#\1#')
failed=$((failures + errors))
# Errors inside __gc only become warnings (spec/helper.lua turns them on):
# any warning fails the run.
warnings=$(grep -c "Lua warning" "$out")
if [ "$warnings" -gt 0 ]; then
    echo "$warnings Lua warning(s) in the run"
    failed=$((failed + warnings))
fi
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
