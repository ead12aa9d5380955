--[[
The statistics behind the experiment's verdicts: pure functions of lists
of numbers, so that the specs can check them on known data.

Every figure an experiment compares is measured once per round, with the
modes interleaved inside each round (schedule). A mode's figure is the
median over the rounds, and its 95% interval is the distribution-free
interval of the median from order statistics: with n rounds, the k-th
smallest and k-th largest values, k chosen from the binomial(n, 1/2)
distribution so that the interval misses the true median with
probability at most 5% (median_interval). It needs no assumption about
the shape of the noise, and no random resampling, so the same data always
give the same interval. A comparison with the baseline is made per round
(paired: both ran in the same round, under the same machine load) and the
verdict comes from the interval of those ratios, never from the median
alone (compare).
]]

local M = {}

M.LEVEL = 0.95

-- Below this coverage an interval is too unsure to give a verdict on: a
-- run with fewer rounds (under 5) reports its ratios but calls nothing
-- faster or slower (verdict_allowed, coverage_label).
M.MIN_VERDICT_COVERAGE = 0.90

-- A sorted copy of list[1..n].
function M.sorted(list, n)
  local out = table.move(list, 1, n or #list, 1, {})
  table.sort(out)
  return out
end

-- The median of a sorted list: the middle value, or the mean of the
-- middle two.
function M.median(sorted)
  local n = #sorted
  if n == 0 then
    return nil
  end
  if n % 2 == 1 then
    return sorted[(n + 1) // 2]
  end
  return (sorted[n // 2] + sorted[n // 2 + 1]) / 2
end

-- The nearest-rank p-th percentile (0 < p <= 100) of a sorted list: the
-- smallest value with at least p% of the list at or below it.
function M.percentile(sorted, p)
  local n = #sorted
  if n == 0 then
    return nil
  end
  local rank = math.max(1, math.ceil(p / 100 * n - 1e-9))
  return sorted[math.min(rank, n)]
end

-- P(X <= k) for X ~ binomial(n, 1/2), summed in log space so that large
-- n do not underflow.
function M.binomial_cdf(n, k)
  if k < 0 then
    return 0
  end
  if k >= n then
    return 1
  end
  local log_half_n = n * math.log(0.5)
  local log_c, sum = 0, math.exp(log_half_n)
  for i = 1, k do
    log_c = log_c + math.log(n - i + 1) - math.log(i)
    sum = sum + math.exp(log_c + log_half_n)
  end
  return math.min(sum, 1)
end

--[[
Which order statistics bound the median of n values at `level` (default
0.95): the k-th smallest and the k-th largest, with the largest k for
which P(X < k) <= (1 - level) / 2, X ~ binomial(n, 1/2). Returns k and
the interval's exact coverage, which is at least `level`, except below 6
values (at 95%), where no such k exists: then k is 1 (the interval is
[min, max]) and its coverage, 1 - 2^(1-n), is less.
]]
function M.interval_ranks(n, level)
  local tail = (1 - (level or M.LEVEL)) / 2
  local k = 0
  while k + 1 <= n // 2 and M.binomial_cdf(n, k) <= tail + 1e-12 do
    k = k + 1
  end
  k = math.max(k, 1)
  return k, 1 - 2 * M.binomial_cdf(n, k - 1)
end

-- The fewest values whose interval reaches `coverage` (at `level`).
function M.values_for(coverage, level)
  local n = 1
  while select(2, M.interval_ranks(n, level)) + 1e-12 < coverage do
    n = n + 1
  end
  return n
end

-- Whether intervals of this coverage may give a verdict.
function M.verdict_allowed(coverage)
  return coverage + 1e-12 >= M.MIN_VERDICT_COVERAGE
end

--[[
How an interval of exact `coverage` is labelled, for tables and plots:
"95%" when it reaches `level` (the exact figure, a little above, is for
the legend), else its real coverage rounded down to a tenth of a percent
("75%", "87.5%"), so that a few rounds never pass for 95%.
]]
function M.coverage_label(coverage, level)
  level = level or M.LEVEL
  if coverage + 1e-12 >= level then
    return ("%d%%"):format(math.floor(level * 100 + 0.5))
  end
  local tenths = math.floor(coverage * 1000 + 1e-9)
  if tenths % 10 == 0 then
    return ("%d%%"):format(tenths // 10)
  end
  return ("%.1f%%"):format(tenths / 10)
end

-- The median of `values` and its distribution-free interval (see
-- interval_ranks): returns median, lo, hi, coverage.
function M.median_interval(values, level)
  local n = #values
  if n == 0 then
    return nil
  end
  local s = M.sorted(values)
  local k, coverage = M.interval_ranks(n, level)
  return M.median(s), s[k], s[n + 1 - k], coverage
end

-- a[i] / b[i] for every i where both exist and b[i] is not 0.
function M.ratios(a, b)
  local out = {}
  for i = 1, math.min(#a, #b) do
    if a[i] and b[i] and b[i] ~= 0 then
      out[#out + 1] = a[i] / b[i]
    end
  end
  return out
end

-- Where an interval of ratios lies against 1: "above" (lo > 1), "below"
-- (hi < 1), or "within" (it holds or touches 1: no difference shown).
function M.compare(lo, hi)
  if lo == nil or hi == nil then
    return nil
  elseif lo > 1 then
    return "above"
  elseif hi < 1 then
    return "below"
  end
  return "within"
end

M.VERDICTS = { above = "faster", below = "slower", within = "no difference within the noise" }

-- The verdict on a throughput ratio's interval (mode over baseline).
function M.verdict(lo, hi)
  return M.VERDICTS[M.compare(lo, hi)]
end

--[[
The order of `m` variants (numbered 1..m) in each of `rounds` rounds: a
Williams design. Its first row is 1, 2, m, 3, m-1, ...; row i adds i-1 to
each entry (mod m), so every variant runs in every position equally
often; for odd m the mirrored rows follow, so that, over a full design
(m rows, or 2m for odd m), every variant runs directly after every other
one equally often. Drift in the machine's speed, and whatever one variant
leaves behind (a fragmented heap, a warm cache), then fall on all alike.
Rounds past a full design start it again.
]]
function M.schedule(m, rounds)
  local first = { 0 }
  for j = 1, m - 1 do
    first[j + 1] = j % 2 == 1 and (j + 1) // 2 or m - j // 2
  end
  local design = {}
  for i = 0, m - 1 do
    local row = {}
    for j = 1, m do
      row[j] = (first[j] + i) % m + 1
    end
    design[#design + 1] = row
  end
  if m % 2 == 1 and m > 1 then
    for i = 1, m do
      local row, src = {}, design[i]
      for j = 1, m do
        row[j] = src[m + 1 - j]
      end
      design[#design + 1] = row
    end
  end
  local out = {}
  for r = 1, rounds do
    out[r] = design[(r - 1) % #design + 1]
  end
  return out
end

return M
