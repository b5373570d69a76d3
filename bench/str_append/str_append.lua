-- Building a long string by appending a piece at a time: `s = s .. piece`.
-- Each append copies the whole string, so this is quadratic in Lua.
local n = tonumber(arg[1] or "100000")

local s = ""
for i = 0, n - 1 do
    s = s .. "abcdefghi" .. tostring(i % 10)
end
print(#s .. " " .. string.sub(s, #s, #s))
