-- The luarocks build of lexrt: the C core, the Lua modules and the
-- experiment command. It is also the one place lexrt's version is written: `version`
-- below, "<release>-<rockspec revision>" (luarocks holds this file's name
-- to it). The release is derived from it everywhere else: the source tag
-- here, the C module's LEXRT_VERSION define (below, and in the Makefile
-- through scripts/version.sh), and so lexrt._VERSION and
-- `lexrt-experiment --version`. To release: rename this file and change
-- `version` (README.md, "Installing").
rockspec_format = "3.0"
package = "lex-runtime"
version = "0.1.0-1"
local release = version:match("^(.+)%-%d+$")
-- Where the project is to be published; `make dist` packs the committed
-- tree instead, so the rock it makes needs neither network nor this.
source = {
  url = "git+https://github.com/lex-lang/lex-runtime.git",
  tag = "v" .. release,
}
description = {
  summary = "Request-scoped arenas, effect handlers and a capability policy for Lua 5.4",
  detailed = [[
lexrt re-creates, in C, the runtime layer of the Lex language's lex-runtime
crate: per-request bump-allocator arenas with checked integer handles, an
effect-handler table with request scopes and a page pool, and a capability
policy that gates effects.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "argparse",
  "dkjson",
}
build = {
  type = "builtin",
  modules = {
    ["lexrt.core"] = {
      -- csrc/sources.mk's list, repeated (luarocks cannot read it), one
      -- file a line; make check names any file the two disagree on.
      sources = {
        "csrc/arena.c",
        "csrc/cowmap.c",
        "csrc/image.c",
        "csrc/pattern.c",
        "csrc/pattern_plain.c",
        "csrc/pool.c",
        "csrc/sysmem.c",
        "csrc/lbind.c",
        "csrc/l_arena.c",
        "csrc/l_bridge.c",
        "csrc/l_bridge_copy.c",
        "csrc/l_handler.c",
        "csrc/l_isobuild.c",
        "csrc/l_isocharge.c",
        "csrc/l_isolate.c",
        "csrc/l_isocall.c",
        "csrc/l_isolib.c",
        "csrc/l_isoutf8.c",
        "csrc/l_pool.c",
        "csrc/l_scope.c",
        "csrc/l_strmatch.c",
        "csrc/lexrt.c",
      },
      incdirs = { "csrc" },
      defines = { ('LEXRT_VERSION="%s"'):format(release) },
    },
    ["lexrt.http_core"] = {
      -- csrc/sources.mk's LEXRT_HTTP, repeated as above.
      sources = {
        "csrc/http_wire.c",
        "csrc/l_http.c",
        "csrc/l_httpconn.c",
      },
      libraries = { "h2o-evloop" },
      incdirs = { "csrc" },
    },
    ["lexrt"] = "lua/lexrt/init.lua",
    ["lexrt.http"] = "lua/lexrt/http.lua",
    ["lexrt.handler"] = "lua/lexrt/handler.lua",
    ["lexrt.isolate"] = "lua/lexrt/isolate.lua",
    ["lexrt.policy"] = "lua/lexrt/policy.lua",
    ["lexrt.policy.check"] = "lua/lexrt/policy/check.lua",
    ["lexrt.policy.compile"] = "lua/lexrt/policy/compile.lua",
    ["lexrt.policy.kinds"] = "lua/lexrt/policy/kinds.lua",
    ["lexrt.policy.lexical"] = "lua/lexrt/policy/lexical.lua",
    ["lexrt.serve"] = "lua/lexrt/serve.lua",
    ["lexrt.serve_cli"] = "lua/lexrt/serve_cli.lua",
    ["lexrt.argcheck"] = "lua/lexrt/argcheck.lua",
    ["lexrt.maybe_core"] = "lua/lexrt/maybe_core.lua",
    ["lexrt.experiment"] = "lua/lexrt/experiment.lua",
    ["lexrt.experiment.bundle"] = "lua/lexrt/experiment/bundle.lua",
    ["lexrt.experiment.cli"] = "lua/lexrt/experiment/cli.lua",
    ["lexrt.experiment.ctx"] = "lua/lexrt/experiment/ctx.lua",
    ["lexrt.experiment.format"] = "lua/lexrt/experiment/format.lua",
    ["lexrt.experiment.http"] = "lua/lexrt/experiment/http.lua",
    ["lexrt.experiment.http_cli"] = "lua/lexrt/experiment/http_cli.lua",
    ["lexrt.experiment.http_proc"] = "lua/lexrt/experiment/http_proc.lua",
    ["lexrt.experiment.http_report"] = "lua/lexrt/experiment/http_report.lua",
    ["lexrt.experiment.http_server"] = "lua/lexrt/experiment/http_server.lua",
    ["lexrt.experiment.measure"] = "lua/lexrt/experiment/measure.lua",
    ["lexrt.experiment.modes"] = "lua/lexrt/experiment/modes.lua",
    ["lexrt.experiment.options"] = "lua/lexrt/experiment/options.lua",
    ["lexrt.experiment.report"] = "lua/lexrt/experiment/report.lua",
    ["lexrt.experiment.rng"] = "lua/lexrt/experiment/rng.lua",
    ["lexrt.experiment.runner"] = "lua/lexrt/experiment/runner.lua",
    ["lexrt.experiment.stats"] = "lua/lexrt/experiment/stats.lua",
    ["lexrt.experiment.summary"] = "lua/lexrt/experiment/summary.lua",
    ["lexrt.experiment.svg"] = "lua/lexrt/experiment/svg.lua",
    ["lexrt.experiment.workload"] = "lua/lexrt/experiment/workload/init.lua",
    ["lexrt.experiment.workload.json"] = "lua/lexrt/experiment/workload/json.lua",
    ["lexrt.experiment.workload.template"] = "lua/lexrt/experiment/workload/template.lua",
    ["lexrt.experiment.workload.bulk"] = "lua/lexrt/experiment/workload/bulk.lua",
    -- The sample user workload, so that an installed lexrt-experiment can
    -- point at it (--help); it is a workload file, not meant for require.
    ["lexrt.experiment.example_workload"] = "examples/workload_custom.lua",
  },
  install = {
    bin = { ["lexrt-experiment"] = "bin/lexrt-experiment", ["lexrt-serve"] = "bin/lexrt-serve" },
  },
}
