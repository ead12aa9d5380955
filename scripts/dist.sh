#!/bin/sh
# make dist: packs the committed tree (HEAD) into a source rock that
# luarocks installs anywhere, with no network and no checkout:
#
#   sh scripts/dist.sh [OUTDIR]                 OUTDIR/lex-runtime-<version>.src.rock
#   sh scripts/dist.sh --source-only OUTDIR     only what the rock is made of
#
# The rock holds a `git archive` of HEAD (lex-runtime-<release>.tar.gz)
# and HEAD's rockspec with its `source` pointed at that file instead of the
# published git tag, so `luarocks pack` copies it rather than cloning.
# --source-only writes those two files into OUTDIR and stops before
# luarocks (the specs check them without it). OUTDIR defaults to dist.
# The last line of the output is the path of what was made.
set -eu
cd "$(dirname "$0")/.."
LUAROCKS="luarocks --lua-version=5.4"

source_only=0
if [ "${1:-}" = "--source-only" ]; then
    source_only=1
    shift
    [ $# -eq 1 ] || { echo "usage: sh scripts/dist.sh --source-only OUTDIR" >&2; exit 2; }
fi
[ $# -le 1 ] || { echo "usage: sh scripts/dist.sh [OUTDIR]" >&2; exit 2; }
out=${1:-dist}

if ! head=$(git rev-parse --verify --quiet HEAD); then
    echo "dist: not a git checkout with a commit: the rock is made from HEAD" >&2
    exit 1
fi
# The committed rockspec, not the working tree's: the rock is HEAD alone.
rockspec=$(git ls-tree --name-only HEAD | grep '^lex-runtime-.*\.rockspec$' || true)
if [ "$(printf '%s\n' "$rockspec" | grep -c .)" -ne 1 ]; then
    echo "dist: expected one lex-runtime-*.rockspec in HEAD, found: $rockspec" >&2
    exit 1
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "dist: note: uncommitted changes are not in the rock (it is HEAD, $(git rev-parse --short HEAD))" >&2
fi

if [ "$source_only" -eq 1 ]; then
    work=$out
else
    work=build/dist
    rm -rf "$work"
fi
mkdir -p "$work"
case $work in
/*) abs=$work ;;
*) abs=$PWD/$work ;;
esac
git show "HEAD:$rockspec" >"$work/$rockspec"
version=$(sh scripts/version.sh --rock "$work/$rockspec")
release=${version%-*}
base=lex-runtime-$release

git archive --format=tar.gz --prefix="$base/" -o "$work/$base.tar.gz" "$head"
# A later assignment wins in a rockspec (it is Lua), so the published
# source stays above for the reader and this one is used. luarocks packs
# from a temporary directory, so the URL must be absolute; installing the
# rock never reads it (the archive is inside the rock).
cat >>"$work/$rockspec" <<EOF

-- Written by make dist (scripts/dist.sh): this rock's source is the
-- committed tree at $head, packed beside this file.
source = {
  url = "file://$abs/$base.tar.gz",
  dir = "$base",
}
EOF

if [ "$source_only" -eq 1 ]; then
    echo "$work/$rockspec"
    exit 0
fi

log=$work/pack.log
if ! (cd "$work" && $LUAROCKS pack "$rockspec") >"$log" 2>&1; then
    cat "$log" >&2
    echo "dist: luarocks pack failed" >&2
    exit 1
fi
mkdir -p "$out"
mv "$work/lex-runtime-$version.src.rock" "$out/"
echo "$out/lex-runtime-$version.src.rock"
