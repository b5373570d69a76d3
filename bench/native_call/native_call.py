# Calls a two-argument function of the standard library in a loop: the
# cost of a call from the interpreter into C and back.
import math
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000000
atan2 = math.atan2
total = 0.0
for i in range(n):
    total += atan2(i % 7, 3)
print(f"{total:.6f}")
