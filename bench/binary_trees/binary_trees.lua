-- Benchmarks Game binary-trees, single task: allocation and GC pressure.
-- A node is {left, right}; a leaf is {false, false} (a two-slot table, since
-- {nil, nil} would be an empty one and allocate less than the twins do).
local function make(depth)
    if depth == 0 then return { false, false } end
    return { make(depth - 1), make(depth - 1) }
end

local function check(node)
    if not node[1] then return 1 end
    return 1 + check(node[1]) + check(node[2])
end

local n = tonumber(arg[1] or "15")

local min_depth = 4
local max_depth = math.max(min_depth + 2, n)
local stretch = max_depth + 1
print("stretch tree of depth " .. stretch .. "\t check: " .. check(make(stretch)))

local long_lived = make(max_depth)
for depth = min_depth, max_depth, 2 do
    -- math.floor(2 ^ k), not 1 << k: LuaJIT and Luau have no `<<`, and
    -- math.floor makes it an integer in Lua 5.4 (so it prints as 64, not 64.0).
    local iterations = math.floor(2 ^ (max_depth - depth + min_depth))
    local total = 0
    for _ = 1, iterations do
        total = total + check(make(depth))
    end
    print(iterations .. "\t trees of depth " .. depth .. "\t check: " .. total)
end
print("long lived tree of depth " .. max_depth .. "\t check: " .. check(long_lived))
