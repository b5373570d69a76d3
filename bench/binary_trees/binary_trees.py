# Benchmarks Game binary-trees, single task: allocation and GC pressure.
# A node is [left, right]; a leaf is [None, None].
import sys


def make(depth):
    if depth == 0:
        return [None, None]
    return [make(depth - 1), make(depth - 1)]


def check(node):
    if node[0] is None:
        return 1
    return 1 + check(node[0]) + check(node[1])


def main(n):
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    stretch = max_depth + 1
    print(f"stretch tree of depth {stretch}\t check: {check(make(stretch))}")

    long_lived = make(max_depth)
    for depth in range(min_depth, max_depth + 1, 2):
        iterations = 2 ** (max_depth - depth + min_depth)
        total = 0
        for _ in range(iterations):
            total += check(make(depth))
        print(f"{iterations}\t trees of depth {depth}\t check: {total}")
    print(f"long lived tree of depth {max_depth}\t check: {check(long_lived)}")


main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
