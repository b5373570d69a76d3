# Go's concurrent prime sieve: a generator task and a chain of one filter task
# per prime, all linked by unbuffered memory channels.
import sys

import trio


async def generate(send):
    i = 2
    while True:
        await send.send(i)
        i += 1


async def filter_(recv, send, prime):
    async for i in recv:
        if i % prime != 0:
            await send.send(i)


async def main(n):
    async with trio.open_nursery() as nursery:
        send, recv = trio.open_memory_channel(0)
        nursery.start_soon(generate, send)
        prime = 0
        for _ in range(n):
            prime = await recv.receive()
            next_send, next_recv = trio.open_memory_channel(0)
            nursery.start_soon(filter_, recv, next_send, prime)
            recv = next_recv
        print(prime)
        # The generator and filters never end on their own: stop them all.
        nursery.cancel_scope.cancel()


trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
