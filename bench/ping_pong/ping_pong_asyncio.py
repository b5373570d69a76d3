# Round trips between two tasks. asyncio has no rendezvous channel, so
# Queue(maxsize=1) stands in; None plays the part of close().
import asyncio
import sys


async def ponger(ping, pong):
    while True:
        v = await ping.get()
        if v is None:
            return
        await pong.put(v + 1)


async def main(n):
    ping = asyncio.Queue(maxsize=1)
    pong = asyncio.Queue(maxsize=1)
    v = 0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(ponger(ping, pong))
        for _ in range(n):
            await ping.put(v)
            v = await pong.get()
        await ping.put(None)
    print(v)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000))
