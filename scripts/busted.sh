#!/bin/sh
# Runs the busted suite and ends with one plain summary line,
#   tests: N passed, M failed
# (busted's own line splits failures and errors; both count as failed).
# Extra arguments go to busted; $LEXRT_LUA_PREFIX (e.g. a valgrind command
# line) is put in front of the interpreter.
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
busted --lua=lua5.4 -o plainTerminal "$@" 2>&1 | tee "$out"
status=$?
line=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$out" | tail -n 1)
if [ -z "$line" ]; then
    echo "tests: 0 passed, 1 failed"
    exit 1
fi
passed=$(echo "$line" | sed -E 's#^([0-9]+) success.*#\1#')
failures=$(echo "$line" | sed -E 's#^[0-9]+ successes? / ([0-9]+) failure.*#\1#')
errors=$(echo "$line" | sed -E 's#.* / ([0-9]+) errors?.*#\1#')
failed=$((failures + errors))
echo
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
