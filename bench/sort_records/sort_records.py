# Sorting records by a field with a user comparator: each comparison is a
# call of a function of several instructions (two field reads and a `<`).
import sys
from functools import cmp_to_key


def compare(a, b):
    return -1 if a["key"] < b["key"] else (1 if a["key"] > b["key"] else 0)


def main(n):
    # minstd linear congruential generator, seeded with 42.
    xs = []
    x = 42
    for _ in range(n):
        x = x * 16807 % 2147483647
        xs.append({"key": x})

    xs.sort(key=cmp_to_key(compare))
    print(xs[0]["key"], xs[n // 2]["key"], xs[n - 1]["key"])


main(int(sys.argv[1]) if len(sys.argv) > 1 else 300000)
