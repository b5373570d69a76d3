#!/usr/bin/env python3
"""Run bench/echo: the Weft echo server beside its Go (GOMAXPROCS=1 and
default) and Python asyncio twins, driven in turn by one Go load client on
loopback; then bench/exec_many: N parallel `exec("true")` in Weft, Go's
os/exec and Python's subprocess.

For each server: start it (its descriptor limit raised with `ulimit -n`
to the hard limit), note its RSS once it listens, run the load client
(N connections held open at once, each sending M lines and reading each
echo before sending the next), then read the server's peak RSS (VmHWM)
and stop it. Memory per connection is (peak - RSS at start) / N.

    python3 bench/echo/run.py                    # 10000 connections x 100 lines
    python3 bench/echo/run.py --conns 1000 --lines 20 --execs 200   # quicker
    python3 bench/echo/run.py --only weft,go1    # some servers only
    python3 bench/echo/run.py --no-build         # skip cargo build --release

Servers for --only: weft, go1 (GOMAXPROCS=1), go (default), asyncio.
Needs go and python3 (3.8 or later). Standard library only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WEFT = os.path.join(ROOT, "target", "release", "weft")
EXEC_DIR = os.path.join(ROOT, "bench", "exec_many")


def status_kib(pid, field):
    """A field of /proc/PID/status in KiB (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def raised(command):
    """`command` run by sh after raising the descriptor limit to the hard one."""
    quoted = " ".join("'" + part.replace("'", "'\\''") + "'" for part in command)
    return ["sh", "-c", f"ulimit -n $(ulimit -Hn) && exec {quoted}"]


def serve_and_load(name, command, env, load, conns, lines):
    """One server under load: a dict of what was measured, or an error."""
    server = subprocess.Popen(raised(command), stdout=subprocess.PIPE, env=env, text=True)
    try:
        port = server.stdout.readline().strip()
        if not port.isdigit():
            return {"error": f"{name}: no port printed"}
        time.sleep(0.2)
        start_kib = status_kib(server.pid, "VmRSS")
        run = subprocess.run(raised([load, f"127.0.0.1:{port}", str(conns), str(lines)]),
                             capture_output=True, text=True, timeout=1800)
        peak_kib = status_kib(server.pid, "VmHWM")
        cpu = cpu_seconds(server.pid)
        if run.returncode != 0:
            return {"error": f"{name}: {run.stderr.strip()}"}
        fields = dict(part.split("=") for part in run.stdout.split())
        return {
            "msgs": float(fields["msgs_per_s"]),
            "p50": int(fields["p50_us"]),
            "p99": int(fields["p99_us"]),
            "peak_mib": peak_kib / 1024,
            "per_conn_kib": (peak_kib - start_kib) / conns,
            "cpu": cpu,
        }
    finally:
        server.kill()
        server.wait()


def cpu_seconds(pid):
    """User + system CPU seconds of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def time_execs(name, command, n, env):
    """Seconds for one run of a parallel-exec program, checking it printed n."""
    start = time.perf_counter()
    run = subprocess.run(raised(command + [str(n)]), capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if run.returncode != 0 or run.stdout.strip() != str(n):
        return None, f"{name}: printed {run.stdout.strip()!r}, {run.stderr.strip()}"
    return seconds, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conns", type=int, default=10000)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--execs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="runs of the exec benchmark (median)")
    parser.add_argument("--only", default="weft,go1,go,asyncio")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    only = args.only.split(",")

    if shutil.which("go") is None:
        sys.exit("bench/echo needs go (apt-get install golang-go) for its load client")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    build = tempfile.mkdtemp(prefix="weft-bench-echo-")
    go_env = dict(os.environ, GOCACHE=os.path.join(build, "cache"), GO111MODULE="off")
    for program, source in [("load", os.path.join(HERE, "load.go")),
                            ("echo_server", os.path.join(HERE, "echo_server.go")),
                            ("exec_many", os.path.join(EXEC_DIR, "exec_many.go"))]:
        subprocess.run(["go", "build", "-o", os.path.join(build, program), source], check=True, env=go_env)
    load = os.path.join(build, "load")

    servers = {
        "weft": ([WEFT, os.path.join(HERE, "echo_server.weft"), "0"], {}),
        "go1": ([os.path.join(build, "echo_server"), "0"], {"GOMAXPROCS": "1"}),
        "go": ([os.path.join(build, "echo_server"), "0"], {}),
        "asyncio": ([sys.executable, os.path.join(HERE, "echo_server_asyncio.py"), "0"], {}),
    }
    print(f"## echo: {args.conns} connections x {args.lines} lines "
          f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    print("| server | messages/s | p50 latency | p99 latency | server CPU s | peak RSS | RSS per connection |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in [s for s in servers if s in only]:
        command, extra = servers[name]
        r = serve_and_load(name, command, dict(os.environ, **extra), load, args.conns, args.lines)
        if "error" in r:
            print(f"| {name} | FAIL: {r['error']} | | | | | |")
        else:
            print(f"| {name} | {r['msgs']:.0f} | {r['p50'] / 1000:.1f} ms | {r['p99'] / 1000:.1f} ms "
                  f"| {r['cpu']:.1f} | {r['peak_mib']:.1f} MiB | {r['per_conn_kib']:.1f} KiB |")
        sys.stdout.flush()

    execs = {
        "weft": ([WEFT, os.path.join(EXEC_DIR, "exec_many.weft")], {}),
        "go1": ([os.path.join(build, "exec_many")], {"GOMAXPROCS": "1"}),
        "go": ([os.path.join(build, "exec_many")], {}),
        "python": ([sys.executable, os.path.join(EXEC_DIR, "exec_many.py")], {}),
    }
    print(f"\n## exec_many: {args.execs} parallel `true` (median of {args.runs})\n")
    print("| program | seconds |")
    print("|---|---:|")
    for name, (command, extra) in execs.items():
        if name not in only and not (name == "python" and "asyncio" in only):
            continue
        times, error = [], None
        for _ in range(args.runs):
            seconds, error = time_execs(name, command, args.execs, dict(os.environ, **extra))
            if error:
                break
            times.append(seconds)
        cell = f"FAIL: {error}" if error else f"{sorted(times)[len(times) // 2]:.2f}"
        print(f"| {name} | {cell} |")
    shutil.rmtree(build, ignore_errors=True)


if __name__ == "__main__":
    main()
