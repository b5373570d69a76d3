-- Calls a two-argument function of the standard library in a loop: the
-- cost of a call from the interpreter into C and back.
local n = tonumber(arg[1] or "3000000")
local atan = math.atan
local total = 0.0
for i = 0, n - 1 do
    total = total + atan(i % 7, 3)
end
print(string.format("%.6f", total))
