-- lexrt.experiment.report on made-up results, so that what the tables
-- say does not depend on how fast the machine ran the requests.
local report = require("lexrt.experiment.report")

local function result(rows)
  return {
    workload = "json", requests = 10, warmup = 1, seed = 1, gc_mode = "incremental",
    modes = { "gc", "arena" }, page_sizes = { 65536 }, rows = rows,
  }
end

local function row_line(text, mode)
  for line in text:gmatch("[^\n]+") do
    if line:match("^" .. mode:gsub("%-", "%%-") .. " ") then return line end
  end
end

describe("lexrt.experiment.report.table", function()
  it("gives each mode its req/s relative to gc", function()
    local text = report.table({ result({
      { mode = "gc", req_per_s = 1000, seconds = 0.01 },
      { mode = "arena", page_size = 65536, req_per_s = 2500, seconds = 0.004 },
    }) })
    assert.matches("^json: 10 requests %(%+1 warm%-up%), page 64 KiB\n", text)
    assert.matches("^gc +1000 .* 1%.00x$", row_line(text, "gc"))
    assert.matches("^arena +2500 .* 2%.50x$", row_line(text, "arena"))
  end)

  it("shows '-' for figures a run too fast for the clock could not give", function()
    local text = report.table({ result({
      { mode = "gc", seconds = 0 },
      { mode = "arena", page_size = 65536, req_per_s = 2500, seconds = 0.004 },
    }) })
    assert.matches("^gc +%- ", row_line(text, "gc"))
    assert.matches(" %-$", row_line(text, "gc"))
    assert.matches(" %-$", row_line(text, "arena"))
  end)
end)
