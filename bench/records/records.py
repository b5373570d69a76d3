# Short-lived records: a dict of three fields an iteration, read back and
# dropped; every hundredth is kept, so the heap grows too.
import sys


def main(n):
    kept = []
    total = 0
    for i in range(n):
        p = {"x": i, "y": i * 2, "name": "p"}
        total += p["x"] + p["y"]
        if i % 100 == 0:
            kept.append(p)
    s = 0
    for p in kept:
        s += p["y"]
    print(total, len(kept), s)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
