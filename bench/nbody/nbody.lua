-- Benchmarks Game n-body: float arithmetic and field access.
-- A body is a table with string keys x y z vx vy vz mass.
local sqrt = math.sqrt

local PI = 3.141592653589793
local SOLAR_MASS = 4.0 * PI * PI
local DAYS_PER_YEAR = 365.24

local function body(x, y, z, vx, vy, vz, mass)
    return {
        x = x, y = y, z = z,
        vx = vx * DAYS_PER_YEAR, vy = vy * DAYS_PER_YEAR, vz = vz * DAYS_PER_YEAR,
        mass = mass * SOLAR_MASS,
    }
end

local function make_bodies()
    return {
        body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        -- Jupiter
        body(4.84143144246472090, -1.16032004402742839, -1.03622044471123109e-1,
             1.66007664274403694e-3, 7.69901118419740425e-3, -6.90460016972063023e-5,
             9.54791938424326609e-4),
        -- Saturn
        body(8.34336671824457987, 4.12479856412430479, -4.03523417114321381e-1,
             -2.76742510726862411e-3, 4.99852801234917238e-3, 2.30417297573763929e-5,
             2.85885980666130812e-4),
        -- Uranus
        body(12.8943695621391310, -15.1111514016986312, -2.23307578892655734e-1,
             2.96460137564761618e-3, 2.37847173959480950e-3, -2.96589568540237556e-5,
             4.36624404335156298e-5),
        -- Neptune
        body(15.3796971148509165, -25.9193146099879641, 1.79258772950371181e-1,
             2.68067772490389322e-3, 1.62824170038242295e-3, -9.51592254519715870e-5,
             5.15138902046611451e-5),
    }
end

local function offset_momentum(bodies)
    local px, py, pz = 0.0, 0.0, 0.0
    for _, b in ipairs(bodies) do
        px = px + b.vx * b.mass
        py = py + b.vy * b.mass
        pz = pz + b.vz * b.mass
    end
    local sun = bodies[1]
    sun.vx = -px / SOLAR_MASS
    sun.vy = -py / SOLAR_MASS
    sun.vz = -pz / SOLAR_MASS
end

local function energy(bodies)
    local e = 0.0
    local n = #bodies
    for i = 1, n do
        local bi = bodies[i]
        e = e + 0.5 * bi.mass * (bi.vx * bi.vx + bi.vy * bi.vy + bi.vz * bi.vz)
        for j = i + 1, n do
            local bj = bodies[j]
            local dx = bi.x - bj.x
            local dy = bi.y - bj.y
            local dz = bi.z - bj.z
            e = e - bi.mass * bj.mass / sqrt(dx * dx + dy * dy + dz * dz)
        end
    end
    return e
end

local function advance(bodies, dt)
    local n = #bodies
    for i = 1, n do
        local bi = bodies[i]
        for j = i + 1, n do
            local bj = bodies[j]
            local dx = bi.x - bj.x
            local dy = bi.y - bj.y
            local dz = bi.z - bj.z
            local d2 = dx * dx + dy * dy + dz * dz
            local mag = dt / (d2 * sqrt(d2))
            local bjm = bj.mass * mag
            bi.vx = bi.vx - dx * bjm
            bi.vy = bi.vy - dy * bjm
            bi.vz = bi.vz - dz * bjm
            local bim = bi.mass * mag
            bj.vx = bj.vx + dx * bim
            bj.vy = bj.vy + dy * bim
            bj.vz = bj.vz + dz * bim
        end
    end
    for _, b in ipairs(bodies) do
        b.x = b.x + dt * b.vx
        b.y = b.y + dt * b.vy
        b.z = b.z + dt * b.vz
    end
end

local steps = tonumber(arg[1] or "500000")

local bodies = make_bodies()
offset_momentum(bodies)
print(string.format("%.9f", energy(bodies)))
for _ = 1, steps do
    advance(bodies, 0.01)
end
print(string.format("%.9f", energy(bodies)))
