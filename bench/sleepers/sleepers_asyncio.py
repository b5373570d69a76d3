# N tasks alive at once, each sleeping one second: timer cost and memory per task.
import asyncio
import sys


async def main(n):
    finished = 0

    async def sleeper():
        nonlocal finished
        await asyncio.sleep(1)
        finished += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(n):
            tg.create_task(sleeper())
    print(finished)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100000))
