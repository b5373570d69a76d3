"""Hello world and JSON echo with aiohttp: `python3 server.py PORT`."""
import sys

from aiohttp import web


async def hello(request):
    return web.Response(text="Hello, World!")


async def echo(request):
    return web.json_response(await request.json())


app = web.Application()
app.add_routes([web.get("/hello", hello), web.post("/echo", echo)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
