-- Sorting records by a field with a user comparator: each comparison is a
-- call of a function of several instructions (two field reads and a `<`).
local n = tonumber(arg[1] or "300000")

-- minstd linear congruential generator, seeded with 42.
local xs = {}
local x = 42
for i = 1, n do
    x = x * 16807 % 2147483647
    xs[i] = {key = x}
end

table.sort(xs, function(a, b) return a.key < b.key end)
-- Lua lists start at 1: index k of the others is xs[k + 1] here. math.floor,
-- not //: LuaJIT has no integer division operator.
print(xs[1].key .. " " .. xs[math.floor(n / 2) + 1].key .. " " .. xs[n].key)
