# Building the same long string as str_append, the idiomatic way where
# appending copies: pieces in a list, joined once at the end.
import sys


def main(n):
    parts = []
    for i in range(n):
        parts.append("abcdefghi" + str(i % 10))
    s = "".join(parts)
    print(len(s), s[len(s) - 1])


main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
