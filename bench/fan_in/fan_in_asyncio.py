# P producers share ONE channel; the main task consumes everything.
# Queue(maxsize=1) stands in for an unbuffered channel.
import asyncio
import sys


async def producer(ch, k, m):
    for j in range(m):
        await ch.put(k * m + j)


async def main(p, m):
    ch = asyncio.Queue(maxsize=1)
    total = 0
    async with asyncio.TaskGroup() as tg:
        for k in range(p):
            tg.create_task(producer(ch, k, m))
        for _ in range(p * m):
            total += await ch.get()
    print(total)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100,
                 int(sys.argv[2]) if len(sys.argv) > 2 else 10000))
