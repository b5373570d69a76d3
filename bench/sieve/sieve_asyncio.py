# Go's concurrent prime sieve: a generator task and a chain of one filter task
# per prime. Queue(maxsize=1) stands in for an unbuffered channel.
import asyncio
import sys


async def generate(ch):
    i = 2
    while True:
        await ch.put(i)
        i += 1


async def filter_(inp, out, prime):
    while True:
        i = await inp.get()
        if i % prime != 0:
            await out.put(i)


async def main(n):
    ch = asyncio.Queue(maxsize=1)
    tasks = [asyncio.create_task(generate(ch))]
    prime = 0
    for _ in range(n):
        prime = await ch.get()
        nxt = asyncio.Queue(maxsize=1)
        tasks.append(asyncio.create_task(filter_(ch, nxt, prime)))
        ch = nxt
    print(prime)
    # The generator and filters never end on their own: stop them all.
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
