# Sorting records by two fields with a user comparator: each comparison is
# a call of a function of several instructions (field reads, a test, a
# `<`).
import sys
from functools import cmp_to_key


def compare(a, b):
    if a["group"] != b["group"]:
        return -1 if a["group"] < b["group"] else 1
    return -1 if a["id"] < b["id"] else (1 if a["id"] > b["id"] else 0)


def main(n):
    # minstd linear congruential generator, seeded with 42.
    xs = []
    x = 42
    for _ in range(n):
        x = x * 16807 % 2147483647
        xs.append({"group": x % 1000, "id": x})

    xs.sort(key=cmp_to_key(compare))
    print(xs[0]["id"], xs[n // 2]["id"], xs[n - 1]["id"])


main(int(sys.argv[1]) if len(sys.argv) > 1 else 300000)
