"""Echo server for bench/echo: asyncio streams, one handler per
connection, each line written back as it arrives. Usage:
echo_server_asyncio.py PORT (0: any free port). Prints the port it listens
on, then serves until killed."""
import asyncio
import sys


async def serve(reader, writer):
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
