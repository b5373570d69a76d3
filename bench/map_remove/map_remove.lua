-- Removing every key of a large map, in insertion order and then in a
-- shuffled order, each removal beside a lookup.
local n = tonumber(arg[1] or "200000")

local m = {}
for i = 0, n - 1 do m[i] = i end
local total = 0
for i = 0, n - 1 do
    total = total + m[i]
    m[i] = nil
    if i + 1 < n then total = total + m[i + 1] end
end

-- The same keys again, removed in an order shuffled by a small LCG.
for i = 0, n - 1 do m[i] = i end
local order = {}
for i = 0, n - 1 do order[i] = i end
local x = 1
for i = 0, n - 1 do
    local k = n - 1 - i
    x = (x * 75 + 74) % 65537
    local j = x % (k + 1)
    order[k], order[j] = order[j], order[k]
end
local hits = 0
local left = n
for idx = 0, n - 1 do
    local k = order[idx]
    total = total + m[k]
    m[k] = nil
    left = left - 1
    if m[(k + 1) % n] ~= nil then hits = hits + 1 end
end
print(string.format("%d %d %d", total, hits, left))
