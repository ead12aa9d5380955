--[[
Workload "template": assemble an HTML page from many small pieces (a
header, a navigation bar, one fragment per product, a footer), each
fragment built from literals and escaped values, then joined section by
section. The catalogue is derived from the request's seed, as a page
handler would read it from a cache.
]]

local Rng = require("lexrt.experiment.rng")

local CATEGORIES = { "Books", "Garden", "Tools", "Kitchen", "Toys", "Music", "Outdoor", "Office" }
local ADJECTIVES = { "Small", "Large", "Red", "Quiet", "Fast", "Classic", "Smart", "Rustic" }
local NOUNS = { "Lamp", "Kettle", "Chair", "Guitar", "Tent", "Notebook", "Drill", "Robot" }
local EXTRAS = { "", "", "", " & Co", " <Deluxe>", ' "Pro"', " (2-pack)" }

local function generate(rng, i)
  return {
    index = i,
    seed = rng:int(0, 0x7fffffff),
    title = rng:pick(CATEGORIES) .. " " .. rng:word(4, 9),
    user = rng:word(3, 10),
    products = rng:int(20, 120),
    page = rng:int(1, 20),
  }
end

local HTML = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

local function esc(s)
  return (s:gsub("[&<>\"']", HTML))
end

local function nav(ctx, current)
  local parts = { '<nav class="top">' }
  for k, name in ipairs(CATEGORIES) do
    parts[#parts + 1] = name == current and '<a class="current" href="/c/' or '<a href="/c/'
    parts[#parts + 1] = ctx:str(name:lower())
    parts[#parts + 1] = '">'
    parts[#parts + 1] = ctx:str(name)
    parts[#parts + 1] = k < #CATEGORIES and "</a> | " or "</a>"
  end
  parts[#parts + 1] = "</nav>\n"
  return ctx:concat(parts)
end

local function product(ctx, rng, id)
  local name = rng:pick(ADJECTIVES) .. " " .. rng:pick(NOUNS) .. rng:pick(EXTRAS)
  local cents = rng:int(199, 99999)
  local sale = rng:chance(0.2)
  local parts = {
    sale and '<li class="product sale" data-id="' or '<li class="product" data-id="',
    ctx:str(tostring(id)),
    '"><a href="/p/',
    ctx:str(tostring(id)),
    '">',
    ctx:str(esc(name)),
    '</a> <span class="price">$',
    ctx:str(("%d.%02d"):format(cents // 100, cents % 100)),
    "</span>",
  }
  for _ = 1, rng:int(0, 3) do
    parts[#parts + 1] = "<em>"
    parts[#parts + 1] = ctx:str(esc(rng:word(3, 8)))
    parts[#parts + 1] = "</em>"
  end
  parts[#parts + 1] = "</li>\n"
  return ctx:concat(parts)
end

local function handler(ctx, req)
  local rng = Rng.new(req.seed, 0)
  local title = ctx:str(esc(req.title))
  local category = req.title:match("^(%S+)")
  local head = ctx:concat({
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>', title,
    '</title><link rel="stylesheet" href="/static/site.css"></head>\n<body><header><h1>', title,
    "</h1>", nav(ctx, category), "</header>\n",
  })
  ctx:wait() -- the catalogue would come from a cache server
  local items = { '<main><p class="greeting">Hello, ', ctx:str(esc(req.user)), '!</p>\n<ul class="products">\n' }
  for k = 1, req.products do
    items[#items + 1] = product(ctx, rng, req.page * 1000 + k)
  end
  items[#items + 1] = "</ul></main>\n"
  local main = ctx:concat(items)
  local foot = ctx:concat({
    '<footer><span class="count">', ctx:str(tostring(req.products)),
    " products</span> &middot; page ", ctx:str(tostring(req.page)), " of 20</footer></body></html>\n",
  })
  return ctx:concat({ head, main, foot })
end

-- requests: per round and mode in lexrt-experiment's default run, about
-- a twentieth of a second each on a quiet 2-core machine.
return { name = "template", generate = generate, handler = handler, requests = 80 }
