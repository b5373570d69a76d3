-- A tight while loop over integers: measures the dispatch loop itself.
local n = tonumber(arg[1] or "10000000")

local s = 0
local i = 0
while i < n do
    s = s + i * i % 7
    i = i + 1
end
print(s)
