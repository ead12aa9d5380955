#!/bin/sh
# The C files of lexrt.core, read from their one list, csrc/sources.mk:
#
#   sh scripts/sources.sh [core|bind|all|http]   print them (csrc/x.c), one a
#                                           line (all: lexrt.core's; http:
#                                           lexrt.http_core's)
#   sh scripts/sources.sh --check           compare that list with csrc/*.c
#                                           and with the rockspec's copy
#
# luarocks' builtin build cannot read csrc/sources.mk, so the rockspec
# repeats the list; --check names each file on one side only and fails
# (make check runs it, and so does spec/dist_spec.lua). Needs only sh,
# awk and grep.
set -eu
cd "$(dirname "$0")/.."
LIST=csrc/sources.mk

# $1: LEXRT_CORE, LEXRT_BIND or both (a regular expression).
list() {
    awk -v var="^($1)\$" '$1 ~ var && $2 == "+=" { for (i = 3; i <= NF; i++) print "csrc/" $i }' "$LIST"
}

case ${1:-all} in
core) list LEXRT_CORE ;;
bind) list LEXRT_BIND ;;
all) list 'LEXRT_CORE|LEXRT_BIND' ;;
http) list LEXRT_HTTP ;;
--check)
    set -- lex-runtime-*.rockspec
    if [ $# -ne 1 ] || [ ! -f "$1" ]; then
        echo "sources: expected one lex-runtime-*.rockspec, found: $*" >&2
        exit 1
    fi
    rockspec=$1
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    list 'LEXRT_CORE|LEXRT_BIND|LEXRT_HTTP' | sort >"$tmp/list"
    # The rockspec's only C files are the two modules' sources.
    grep -o '"csrc/[^"]*\.c"' "$rockspec" | tr -d '"' | sort >"$tmp/rockspec"
    printf "%s\n" csrc/*.c | sort >"$tmp/tree"
    bad=0
    # only_in A B WHAT: each file in A but not in B is named, with WHAT.
    only_in() {
        for f in $(comm -23 "$1" "$2"); do
            echo "sources: $f $3" >&2
            bad=1
        done
    }
    only_in "$tmp/list" "$tmp/rockspec" "is in $LIST but not in $rockspec (add it to its module's sources)"
    only_in "$tmp/rockspec" "$tmp/list" "is in $rockspec but not in $LIST (add it to the list, or remove it from the rockspec)"
    only_in "$tmp/tree" "$tmp/list" "exists but is not in $LIST (add it, or remove the file)"
    only_in "$tmp/list" "$tmp/tree" "is in $LIST but does not exist"
    for f in $(uniq -d "$tmp/list"); do
        echo "sources: $LIST lists $f twice" >&2
        bad=1
    done
    [ "$bad" -eq 0 ] && echo "sources: $LIST, csrc/*.c and $rockspec agree ($(wc -l <"$tmp/list") files)"
    exit "$bad"
    ;;
*)
    echo "usage: sh scripts/sources.sh [core|bind|all|http|--check]" >&2
    exit 2
    ;;
esac
