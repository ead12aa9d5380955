#!/bin/sh
# make test-installed: the whole busted suite against lexrt as a user gets
# it from the rock file. Packs the committed tree (scripts/dist.sh),
# installs the .src.rock with luarocks into a fresh, empty tree, puts that
# tree first on Lua 5.4's paths (as `luarocks path` tells a user to) and
# runs the specs of this checkout with busted's "installed" run, which
# adds neither lua/ nor build/. LEXRT_INSTALLED_TREE tells the specs where
# lexrt must come from (spec/version_spec.lua checks every module does)
# and which lexrt-experiment to run.
set -eu
cd "$(dirname "$0")/.."
LUAROCKS="luarocks --lua-version=5.4"

rock=$(sh scripts/dist.sh | tail -n 1)
tree=$(mktemp -d "${TMPDIR:-/tmp}/lexrt-tree.XXXXXX")
trap 'rm -rf "$tree"' EXIT
trap 'exit 130' INT TERM
if ! $LUAROCKS install --tree "$tree" --deps-mode=none "$rock" >"$tree/install.log" 2>&1; then
    cat "$tree/install.log"
    echo "test-installed: luarocks could not install $rock"
    echo "tests: 0 passed, 1 failed"
    exit 1
fi
echo "installed $rock into $tree"

# The _5_4 variables, so that Lua 5.1 programs (busted's launcher) are
# left alone; the trailing ;; keeps Lua's defaults (Debian's argparse,
# dkjson and busted) after the tree.
LUA_PATH_5_4="$($LUAROCKS --tree "$tree" path --lr-path);;"
LUA_CPATH_5_4="$($LUAROCKS --tree "$tree" path --lr-cpath);;"
LEXRT_INSTALLED_TREE=$tree
PATH="$tree/bin:$PATH"
export LUA_PATH_5_4 LUA_CPATH_5_4 LEXRT_INSTALLED_TREE PATH
lua5.4 -e 'for _, m in ipairs({ "lexrt", "lexrt.core" }) do
  local p = m == "lexrt" and package.path or package.cpath
  print(("%-10s from %s"):format(m, package.searchpath(m, p)))
end'
sh scripts/busted.sh --run=installed
