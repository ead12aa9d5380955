#!/bin/sh
# Prints lexrt's version, read from the one place it is written: the
# `version` field of the rockspec, lex-runtime-<release>-<revision>.rockspec.
#
#   sh scripts/version.sh [--rock] [ROCKSPEC]
#
# prints the release (0.1.0), or with --rock the rock's version (0.1.0-1).
# ROCKSPEC defaults to the one rockspec at the top of the checkout. Fails,
# as luarocks would, when the file's name and its `version` disagree.
# Needs only sed: make builds the C module with it before Lua is there.
set -eu
rock=0
if [ "${1:-}" = "--rock" ]; then
    rock=1
    shift
fi
if [ $# -gt 0 ]; then
    spec=$1
else
    root=$(dirname "$0")/..
    set -- "$root"/lex-runtime-*.rockspec
    if [ $# -ne 1 ] || [ ! -f "$1" ]; then
        echo "version.sh: expected one lex-runtime-*.rockspec in $root, found: $*" >&2
        exit 1
    fi
    spec=$1
fi
[ -f "$spec" ] || { echo "version.sh: no such file: $spec" >&2; exit 1; }
version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$spec")
if ! printf '%s\n' "$version" | grep -Eq '^[0-9][0-9A-Za-z.]*-[0-9]+$'; then
    echo "version.sh: $spec: expected a line version = \"<release>-<revision>\", got '$version'" >&2
    exit 1
fi
name=$(basename "$spec")
if [ "$name" != "lex-runtime-$version.rockspec" ]; then
    echo "version.sh: $name says version $version: the file must be named lex-runtime-$version.rockspec" >&2
    exit 1
fi
if [ "$rock" -eq 1 ]; then
    echo "$version"
else
    echo "${version%-*}"
fi
