-- Building the same long string as str_append, the idiomatic Lua way:
-- pieces in a table, joined once with table.concat.
local n = tonumber(arg[1] or "100000")

local parts = {}
for i = 0, n - 1 do
    parts[#parts + 1] = "abcdefghi" .. tostring(i % 10)
end
local s = table.concat(parts)
print(#s .. " " .. string.sub(s, #s, #s))
