-- Sorting with a user comparator: calls back into the interpreter per comparison.
local n = tonumber(arg[1] or "300000")

-- minstd linear congruential generator, seeded with 42.
local xs = {}
local x = 42
for i = 1, n do
    x = x * 16807 % 2147483647
    xs[i] = x
end

table.sort(xs, function(a, b) return a < b end)
-- Lua lists start at 1: index k of the others is xs[k + 1] here. math.floor,
-- not //: LuaJIT has no integer division operator.
print(xs[1] .. " " .. xs[math.floor(n / 2) + 1] .. " " .. xs[n])
