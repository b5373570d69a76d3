-- Sorting records by two fields with a user comparator: each comparison is
-- a call of a function of several instructions (field reads, a test, a
-- `<`).
local n = tonumber(arg[1] or "300000")

-- minstd linear congruential generator, seeded with 42.
local xs = {}
local x = 42
for i = 1, n do
    x = x * 16807 % 2147483647
    xs[i] = {group = x % 1000, id = x}
end

table.sort(xs, function(a, b)
    if a.group ~= b.group then return a.group < b.group end
    return a.id < b.id
end)
-- Lua lists start at 1: index k of the others is xs[k + 1] here. math.floor,
-- not //: LuaJIT has no integer division operator.
print(xs[1].id .. " " .. xs[math.floor(n / 2) + 1].id .. " " .. xs[n].id)
