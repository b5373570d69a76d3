# Cost of spawning and joining many short tasks in one nursery.
import sys

import trio


async def work(results, i):
    results[i] = i * i % 7


async def main(n):
    results = [0] * n
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(work, results, i)
    print(sum(results))


trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
