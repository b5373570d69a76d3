# N tasks alive at once, each sleeping one second: timer cost and memory per task.
import sys

import trio


async def main(n):
    finished = 0

    async def sleeper():
        nonlocal finished
        await trio.sleep(1)
        finished += 1

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(sleeper)
    print(finished)


trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100000)
