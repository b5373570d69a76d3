# Building a long string by appending a piece at a time: `s += piece`.
import sys


def main(n):
    s = ""
    for i in range(n):
        s += "abcdefghi" + str(i % 10)
    print(len(s), s[len(s) - 1])


main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
