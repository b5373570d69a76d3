-- Indexing every character of a long string that is not all ASCII, a
-- given number of passes (one by default). Lua strings are bytes: the
-- i-th character is found with utf8.offset, a walk from the start (Lua
-- 5.4's utf8 library).
local units = tonumber(arg[1] or "20000")
local passes = tonumber(arg[2] or "1")

local s = string.rep("aé😀", units)
local chars = utf8.len(s)
local count = 0
for p = 1, passes do
    for i = 1, chars do
        local at = utf8.offset(s, i)
        local after = utf8.offset(s, i + 1)
        if string.sub(s, at, after - 1) == "😀" then count = count + 1 end
    end
end
print(chars .. " " .. count)
