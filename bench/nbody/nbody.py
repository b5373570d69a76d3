# Benchmarks Game n-body: float arithmetic and field access.
# A body is a dict with keys x y z vx vy vz mass.
import sys
from math import sqrt

PI = 3.141592653589793
SOLAR_MASS = 4.0 * PI * PI
DAYS_PER_YEAR = 365.24


def body(x, y, z, vx, vy, vz, mass):
    return {"x": x, "y": y, "z": z,
            "vx": vx * DAYS_PER_YEAR, "vy": vy * DAYS_PER_YEAR, "vz": vz * DAYS_PER_YEAR,
            "mass": mass * SOLAR_MASS}


def make_bodies():
    return [
        body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        # Jupiter
        body(4.84143144246472090, -1.16032004402742839, -1.03622044471123109e-1,
             1.66007664274403694e-3, 7.69901118419740425e-3, -6.90460016972063023e-5,
             9.54791938424326609e-4),
        # Saturn
        body(8.34336671824457987, 4.12479856412430479, -4.03523417114321381e-1,
             -2.76742510726862411e-3, 4.99852801234917238e-3, 2.30417297573763929e-5,
             2.85885980666130812e-4),
        # Uranus
        body(12.8943695621391310, -15.1111514016986312, -2.23307578892655734e-1,
             2.96460137564761618e-3, 2.37847173959480950e-3, -2.96589568540237556e-5,
             4.36624404335156298e-5),
        # Neptune
        body(15.3796971148509165, -25.9193146099879641, 1.79258772950371181e-1,
             2.68067772490389322e-3, 1.62824170038242295e-3, -9.51592254519715870e-5,
             5.15138902046611451e-5),
    ]


def offset_momentum(bodies):
    px = py = pz = 0.0
    for b in bodies:
        px = px + b["vx"] * b["mass"]
        py = py + b["vy"] * b["mass"]
        pz = pz + b["vz"] * b["mass"]
    sun = bodies[0]
    sun["vx"] = -px / SOLAR_MASS
    sun["vy"] = -py / SOLAR_MASS
    sun["vz"] = -pz / SOLAR_MASS


def energy(bodies):
    e = 0.0
    n = len(bodies)
    for i in range(n):
        bi = bodies[i]
        e = e + 0.5 * bi["mass"] * (bi["vx"] * bi["vx"] + bi["vy"] * bi["vy"] + bi["vz"] * bi["vz"])
        for j in range(i + 1, n):
            bj = bodies[j]
            dx = bi["x"] - bj["x"]
            dy = bi["y"] - bj["y"]
            dz = bi["z"] - bj["z"]
            e = e - bi["mass"] * bj["mass"] / sqrt(dx * dx + dy * dy + dz * dz)
    return e


def advance(bodies, dt):
    n = len(bodies)
    for i in range(n):
        bi = bodies[i]
        for j in range(i + 1, n):
            bj = bodies[j]
            dx = bi["x"] - bj["x"]
            dy = bi["y"] - bj["y"]
            dz = bi["z"] - bj["z"]
            d2 = dx * dx + dy * dy + dz * dz
            mag = dt / (d2 * sqrt(d2))
            bjm = bj["mass"] * mag
            bi["vx"] = bi["vx"] - dx * bjm
            bi["vy"] = bi["vy"] - dy * bjm
            bi["vz"] = bi["vz"] - dz * bjm
            bim = bi["mass"] * mag
            bj["vx"] = bj["vx"] + dx * bim
            bj["vy"] = bj["vy"] + dy * bim
            bj["vz"] = bj["vz"] + dz * bim
    for b in bodies:
        b["x"] = b["x"] + dt * b["vx"]
        b["y"] = b["y"] + dt * b["vy"]
        b["z"] = b["z"] + dt * b["vz"]


def main(steps):
    bodies = make_bodies()
    offset_momentum(bodies)
    print(f"{energy(bodies):.9f}")
    for _ in range(steps):
        advance(bodies, 0.01)
    print(f"{energy(bodies):.9f}")


main(int(sys.argv[1]) if len(sys.argv) > 1 else 500000)
