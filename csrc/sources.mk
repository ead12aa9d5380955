# The C files of lexrt.core and lexrt.http_core, the one list of them
# (names relative to csrc/).
# The Makefile, ctest/, bench/ and fuzz/ Makefiles include it; scripts/
# check.sh reads it through scripts/sources.sh. The rockspec cannot read a
# file (luarocks' builtin build), so it repeats the list, and
# `sh scripts/sources.sh --check` (make check, spec/dist_spec.lua) names any
# file the two disagree on. Adding a file: one line here, one in the rockspec.
#
# The core: no Lua headers; ctest/ and bench/ link it alone.
LEXRT_CORE += arena.c
LEXRT_CORE += cowmap.c
LEXRT_CORE += image.c
LEXRT_CORE += pattern.c
LEXRT_CORE += pattern_plain.c
LEXRT_CORE += pool.c
LEXRT_CORE += sysmem.c
# The binding: the rest of lexrt.core.
LEXRT_BIND += lbind.c
LEXRT_BIND += l_arena.c
LEXRT_BIND += l_bridge.c
LEXRT_BIND += l_bridge_copy.c
LEXRT_BIND += l_handler.c
LEXRT_BIND += l_isobuild.c
LEXRT_BIND += l_isocharge.c
LEXRT_BIND += l_isolate.c
LEXRT_BIND += l_isocall.c
LEXRT_BIND += l_isolib.c
LEXRT_BIND += l_isoutf8.c
LEXRT_BIND += l_pool.c
LEXRT_BIND += l_scope.c
LEXRT_BIND += l_strmatch.c
LEXRT_BIND += lexrt.c
# lexrt.http_core: the HTTP server, linked with libh2o-evloop. http_wire.c
# has no Lua and no sockets (ctest/ and fuzz/ use it alone).
LEXRT_HTTP += http_wire.c
LEXRT_HTTP += l_http.c
LEXRT_HTTP += l_httpconn.c
