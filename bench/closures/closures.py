# Closure creation and calls through captured (mutable) variables.
import sys


def make_counter(start):
    c = start

    def counter():
        nonlocal c
        c = c + 1
        return c

    return counter


def main(n):
    counters = []
    for i in range(n):
        counters.append(make_counter(i))
    total = 0
    for counter in counters:
        total = total + counter()
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
