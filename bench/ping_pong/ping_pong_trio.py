# Round trips between two tasks over two unbuffered memory channels.
import sys

import trio


async def ponger(ping_recv, pong_send):
    async for v in ping_recv:
        await pong_send.send(v + 1)


async def main(n):
    ping_send, ping_recv = trio.open_memory_channel(0)
    pong_send, pong_recv = trio.open_memory_channel(0)
    v = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ponger, ping_recv, pong_send)
        for _ in range(n):
            await ping_send.send(v)
            v = await pong_recv.receive()
        await ping_send.aclose()
    print(v)


trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
