# Removing every key of a large map, in insertion order and then in a
# shuffled order, each removal beside a lookup.
import sys


def main(n):
    m = {}
    for i in range(n):
        m[i] = i
    total = 0
    for i in range(n):
        total += m.pop(i)
        if i + 1 < n:
            total += m[i + 1]

    # The same keys again, removed in an order shuffled by a small LCG.
    for i in range(n):
        m[i] = i
    order = list(range(n))
    x = 1
    for i in range(n):
        k = n - 1 - i
        x = (x * 75 + 74) % 65537
        j = x % (k + 1)
        order[k], order[j] = order[j], order[k]
    hits = 0
    for k in order:
        total += m.pop(k)
        if (k + 1) % n in m:
            hits += 1
    print(total, hits, len(m))


main(int(sys.argv[1]) if len(sys.argv) > 1 else 200000)
