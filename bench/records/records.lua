-- Short-lived records: a table of three fields an iteration, read back and
-- dropped; every hundredth is kept, so the heap grows too.
local n = tonumber(arg[1] or "1000000")

local kept = {}
local total = 0
for i = 0, n - 1 do
    local p = {x = i, y = i * 2, name = "p"}
    total = total + p.x + p.y
    if i % 100 == 0 then kept[#kept + 1] = p end
end
local sum = 0
for _, p in ipairs(kept) do sum = sum + p.y end
print(string.format("%d %d %d", total, #kept, sum))
