# P producers share ONE unbuffered memory channel; the main task consumes everything.
import sys

import trio


async def producer(send, k, m):
    for j in range(m):
        await send.send(k * m + j)


async def main(p, m):
    send, recv = trio.open_memory_channel(0)
    total = 0
    async with trio.open_nursery() as nursery:
        for k in range(p):
            nursery.start_soon(producer, send, k, m)
        for _ in range(p * m):
            total += await recv.receive()
    print(total)


trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100,
         int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
