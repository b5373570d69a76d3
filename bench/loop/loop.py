# A tight while loop over integers: measures the dispatch loop itself.
import sys


def main(n):
    # Inside a function so that s and i are fast locals, as in the other twins.
    s = 0
    i = 0
    while i < n:
        s = s + i * i % 7
        i = i + 1
    print(s)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000000)
