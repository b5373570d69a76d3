# String building, hashing and map lookups, then a large join.
import sys


def main(n, j):
    m = {}
    for i in range(n):
        m["key" + str(i)] = i

    # Rebuild every key rather than iterating the map: this measures lookups.
    len_sum = 0
    value_sum = 0
    for i in range(n):
        key = "key" + str(i)
        len_sum = len_sum + len(key)
        value_sum = value_sum + m[key]

    parts = []
    for i in range(j):
        parts.append(str(i))
    joined = ",".join(parts)
    print(len_sum, value_sum, len(joined))


main(int(sys.argv[1]) if len(sys.argv) > 1 else 200000,
     int(sys.argv[2]) if len(sys.argv) > 2 else 100000)
