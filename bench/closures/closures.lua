-- Closure creation and calls through captured (mutable) variables.
local function make_counter(start)
    local c = start
    return function()
        c = c + 1
        return c
    end
end

local n = tonumber(arg[1] or "1000000")

local counters = {}
for i = 0, n - 1 do
    counters[#counters + 1] = make_counter(i)
end
local total = 0
for _, counter in ipairs(counters) do
    total = total + counter()
end
print(total)
