# Cost of spawning and joining many short tasks (a TaskGroup is the nursery).
import asyncio
import sys


async def work(results, i):
    results[i] = i * i % 7


async def main(n):
    results = [0] * n
    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(work(results, i))
    print(sum(results))


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000))
