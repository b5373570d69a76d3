# Sorting with a user comparator: calls back into the interpreter per comparison.
import sys
from functools import cmp_to_key


def compare(a, b):
    return -1 if a < b else (1 if a > b else 0)


def main(n):
    # minstd linear congruential generator, seeded with 42.
    xs = []
    x = 42
    for _ in range(n):
        x = x * 16807 % 2147483647
        xs.append(x)

    xs.sort(key=cmp_to_key(compare))
    print(xs[0], xs[n // 2], xs[n - 1])


main(int(sys.argv[1]) if len(sys.argv) > 1 else 300000)
