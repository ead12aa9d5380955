--[[
A small deterministic PRNG (splitmix64) for generating requests.

It keeps its own state instead of using math.random, so that generating
requests never disturbs (or depends on) a script's global random state,
and so that request i is the same whichever modes run, in whatever order.
Lua 5.4 integers wrap on overflow and `>>` is a logical shift, which is
exactly the arithmetic splitmix64 needs.
]]

local Rng = {}
Rng.__index = Rng

local GOLDEN = 0x9E3779B97F4A7C15

local function mix(z)
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- One independent stream per (seed, stream) pair: request i gets stream i,
-- so requests can be generated in any order and still come out the same.
local function new(seed, stream)
  seed = math.tointeger(seed)
  if seed == nil then
    error("seed must be an integer", 2)
  end
  return setmetatable({ state = mix(seed ~ mix((stream or 0) * GOLDEN + 1)) }, Rng)
end

function Rng:next()
  self.state = self.state + GOLDEN
  return mix(self.state)
end

-- An integer in [lo, hi]; the modulo bias is below 2^-40 for our ranges.
function Rng:int(lo, hi)
  return lo + ((self:next() >> 11) % (hi - lo + 1))
end

-- A float in [0, 1).
function Rng:float()
  return (self:next() >> 11) * (1.0 / 9007199254740992.0)
end

function Rng:chance(p)
  return self:float() < p
end

function Rng:pick(list)
  return list[self:int(1, #list)]
end

local LOWER = "abcdefghijklmnopqrstuvwxyz"

-- A string of lo..hi characters drawn from `alphabet` (default a-z).
function Rng:word(lo, hi, alphabet)
  alphabet = alphabet or LOWER
  local n = self:int(lo, hi or lo)
  local out = {}
  for k = 1, n do
    local c = self:int(1, #alphabet)
    out[k] = alphabet:sub(c, c)
  end
  return table.concat(out)
end

return { new = new }
