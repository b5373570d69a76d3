"""N children of `true` at once with subprocess: all started, then all
waited for (output captured, as Weft's exec does). Usage: exec_many.py N"""
import subprocess
import sys

n = int(sys.argv[1])
children = [subprocess.Popen(["true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
ok = sum(1 for c in children if c.wait() == 0)
for c in children:
    c.stdout.close()
    c.stderr.close()
print(ok)
