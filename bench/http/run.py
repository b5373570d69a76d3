"""HTTP servers under load: Weft, Go net/http (GOMAXPROCS=1 and default)
and Python (aiohttp), each serving hello world and a JSON echo, driven by
wrk with 100 and 1,000 keep-alive connections. Prints a Markdown table of
requests/s, p99 latency and the server's peak RSS.

    cargo build --release && python3 bench/http/run.py [SECONDS]
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def servers(go_binary):
    weft = os.path.join(ROOT, "target", "release", "weft")
    return {
        "Weft": lambda port, kind: ([weft, os.path.join(HERE, f"{kind}.weft"), str(port)], {}),
        "Go (GOMAXPROCS=1)": lambda port, kind: ([go_binary, str(port)], {"GOMAXPROCS": "1"}),
        "Go": lambda port, kind: ([go_binary, str(port)], {}),
        "Python (aiohttp)": lambda port, kind: ([sys.executable, os.path.join(HERE, "server.py"), str(port)], {}),
    }


def wrk(port, kind, connections):
    path = "/hello" if kind == "hello" else "/echo"
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if kind == "echo":
        cmd[1:1] = ["-s", os.path.join(HERE, "echo.lua")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return rps, float(p99.group(1)) * scale, (errors.group(1) if errors else "0"), (socket_errors.group(1) if socket_errors else "")


def check(port, kind):
    """The server answers right before it is timed."""
    if kind == "hello":
        out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/hello"], capture_output=True, text=True).stdout
        assert out.strip() == "Hello, World!", out
    else:
        body = '{"a": [1, 2], "b": "x"}'
        out = subprocess.run(
            ["curl", "-s", "-H", "content-type: application/json", "-d", body, f"http://127.0.0.1:{port}/echo"],
            capture_output=True,
            text=True,
        ).stdout
        assert out.replace(" ", "").strip() == body.replace(" ", ""), out


def main():
    for tool in ["wrk", "go", "curl"]:
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    go_binary = os.path.join("/tmp", "weft-bench-http-go")
    subprocess.run(["go", "build", "-o", go_binary, os.path.join(HERE, "server.go")], check=True)
    print("| server | benchmark | connections | requests/s | p99 latency (ms) | peak RSS (MiB) | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ["hello", "echo"]:
        for connections in [100, 1000]:
            for name, make in servers(go_binary).items():
                port = free_port()
                cmd, env = make(port, kind)
                proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
                try:
                    wait_listening(port)
                    check(port, kind)
                    rps, p99, errors, socket_errors = wrk(port, kind, connections)
                    rss = peak_rss_kib(proc.pid) / 1024
                finally:
                    proc.kill()
                    proc.wait()
                print(f"| {name} | {kind} | {connections} | {rps:.0f} | {p99:.2f} | {rss:.1f} | {errors} | {socket_errors} |", flush=True)


main()
