# Indexing every character of a long string that is not all ASCII,
# a given number of passes (one by default): `s[i]` by character index.
import sys


def main(units, passes):
    s = "aé😀" * units
    count = 0
    for p in range(passes):
        for i in range(len(s)):
            if s[i] == "😀":
                count += 1
    print(len(s), count)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000,
     int(sys.argv[2]) if len(sys.argv) > 2 else 1)
