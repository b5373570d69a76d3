-- String building, hashing and map lookups, then a large join.
local n = tonumber(arg[1] or "200000")
local j = tonumber(arg[2] or "100000")

local m = {}
for i = 0, n - 1 do
    m["key" .. tostring(i)] = i
end

-- Rebuild every key rather than iterating the map: this measures lookups.
local len_sum = 0
local value_sum = 0
for i = 0, n - 1 do
    local key = "key" .. tostring(i)
    len_sum = len_sum + #key
    value_sum = value_sum + m[key]
end

local parts = {}
for i = 0, j - 1 do
    parts[#parts + 1] = tostring(i)
end
local joined = table.concat(parts, ",")
print(len_sum .. " " .. value_sum .. " " .. #joined)
