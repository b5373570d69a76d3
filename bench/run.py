#!/usr/bin/env python3
"""Run Weft's benchmarks beside their Lua, Luau, Rhai, Rune, Python, Go and Trio twins.

Every program's printed result is checked against the expected one before any
time is recorded: a program that prints something else, or fails, is marked
FAIL and not timed. Times are of whole processes (start-up included): one
warm-up run of each, then --runs rounds in which every language's program runs
once, in turn, and each one's median is reported. The output is
a Markdown table, with ratios Weft / twin (above 1 means Weft is slower).

    python3 bench/run.py                      # everything, default sizes
    python3 bench/run.py fib sort --runs 3    # some benchmarks only
    python3 bench/run.py --quick              # small sizes: a smoke test
    python3 bench/run.py --only weft,lua      # some languages only
    python3 bench/run.py --build-peers        # also build bench/peers (Luau, Rhai, Rune)
    python3 bench/run.py --markdown out.md    # also write the table to a file

Standard library only. See bench/README.md.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
WEFT = os.path.join(ROOT, "target", "release", "weft")
# The runner for the embedded interpreters (Luau, Rhai, Rune): bench/peers.
PEERS_DIR = os.path.join(BENCH_DIR, "peers")
PEERS = os.path.join(PEERS_DIR, "target", "release", "weft-bench-peers")


# ---------------------------------------------------------------------------
# Expected results, computed here independently of every program under test.
# Each takes the sizes as integers and returns the exact expected stdout.

def period7_sum(n):
    """Sum of i * i % 7 for i in 0..n (the sequence repeats every 7)."""
    one_period = [i * i % 7 for i in range(7)]
    return n // 7 * sum(one_period) + sum(one_period[:n % 7])


def expect_fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return f"{a}\n"


def expect_native_call(n):
    import math
    total = 0.0
    for i in range(n):
        total += math.atan2(i % 7, 3)
    return f"{total:.6f}\n"


def expect_loop(n):
    return f"{period7_sum(n)}\n"


def expect_binary_trees(n):
    def nodes(depth):  # a full tree of this depth
        return 2 ** (depth + 1) - 1

    min_depth = 4
    max_depth = max(min_depth + 2, n)
    lines = [f"stretch tree of depth {max_depth + 1}\t check: {nodes(max_depth + 1)}"]
    for depth in range(min_depth, max_depth + 1, 2):
        iterations = 2 ** (max_depth - depth + min_depth)
        lines.append(f"{iterations}\t trees of depth {depth}\t check: {iterations * nodes(depth)}")
    lines.append(f"long lived tree of depth {max_depth}\t check: {nodes(max_depth)}")
    return "\n".join(lines) + "\n"


# n-body has no closed form: these are the Benchmarks Game's published values
# (500000 steps) and the value all twins agree on for the quick size.
NBODY_ENERGIES = {
    500000: ("-0.169075164", "-0.169096567"),
    1000: ("-0.169075164", "-0.169087605"),
}


def expect_nbody(steps):
    if steps not in NBODY_ENERGIES:
        raise ValueError(f"no known n-body result for {steps} steps; known: {sorted(NBODY_ENERGIES)}")
    before, after = NBODY_ENERGIES[steps]
    return f"{before}\n{after}\n"


def expect_strings_maps(n, j):
    len_sum = sum(len("key" + str(i)) for i in range(n))
    value_sum = n * (n - 1) // 2
    joined_len = len(",".join(str(i) for i in range(j)))
    return f"{len_sum} {value_sum} {joined_len}\n"


def expect_str_append(n):
    # n pieces of 10 characters, the last ending in the digit (n - 1) % 10.
    return f"{10 * n} {(n - 1) % 10}\n"


def expect_map_remove(n):
    # Removing 0..n-1 in order, each beside a lookup of the next key.
    total = n * (n - 1) // 2 + (n - 1) * n // 2
    order = list(range(n))
    x = 1
    for k in range(n - 1, -1, -1):
        x = (x * 75 + 74) % 65537
        j = x % (k + 1)
        order[k], order[j] = order[j], order[k]
    removed = set()
    hits = 0
    for k in order:
        removed.add(k)
        total += k
        if (k + 1) % n not in removed:
            hits += 1
    return f"{total} {hits} 0\n"


def expect_str_index(units, passes):
    # "aé😀" repeated: three characters a unit, one of them the emoji.
    return f"{3 * units} {units * passes}\n"


def expect_records(n):
    kept = range(0, n, 100)
    return f"{3 * n * (n - 1) // 2} {len(kept)} {sum(2 * i for i in kept)}\n"


def expect_closures(n):
    return f"{n * (n + 1) // 2}\n"


def minstd(n):
    """The first n numbers of the minstd generator seeded with 42, as the
    sorting benchmarks make them."""
    xs = []
    x = 42
    for _ in range(n):
        x = x * 16807 % 2147483647
        xs.append(x)
    return xs


def expect_sort(n):
    xs = sorted(minstd(n))
    return f"{xs[0]} {xs[n // 2]} {xs[n - 1]}\n"


def expect_sort_pairs(n):
    xs = sorted(minstd(n), key=lambda x: (x % 1000, x))
    return f"{xs[0]} {xs[n // 2]} {xs[n - 1]}\n"


def expect_spawn_join(n):
    return f"{period7_sum(n)}\n"


def expect_count(n):
    return f"{n}\n"


def expect_sieve(n):
    limit = 100
    while True:
        is_prime = [True] * limit
        primes = []
        for i in range(2, limit):
            if is_prime[i]:
                primes.append(i)
                for k in range(i * i, limit, i):
                    is_prime[k] = False
        if len(primes) >= n:
            return f"{primes[n - 1]}\n"
        limit *= 2


def expect_fan_in(p, m):
    total = p * m
    return f"{total * (total - 1) // 2}\n"


def expect_cancel_many(tasks, j):
    """Every one of the j timeouts expires; the idle tasks print nothing."""
    return f"{j}\n"


# ---------------------------------------------------------------------------
# The benchmarks. `sizes` are the default sizes (bench/README.md), `quick`
# the smoke-test sizes, `large` the extra sizes run with --large. The waiting
# patterns ("wait") always run at two sizes, the given one and a tenth of it
# (see smaller_sizes), and record peak RSS, so that linear growth shows.

INTERP_LANGS = ["weft", "lua", "luajit-joff", "luajit", "luau", "rhai", "rune", "python"]
CONC_LANGS = ["weft", "go1", "go", "asyncio", "trio"]
WAIT_LANGS = ["weft", "go1", "go"]
ALL_LANGS = ["weft", "lua", "luajit-joff", "luajit", "luau", "rhai", "rune", "python",
             "go1", "go", "asyncio", "trio"]

# The interpreters run from bench/peers, and the file extension of their twins.
PEER_ENGINES = {"luau": ".lua", "rhai": ".rhai", "rune": ".rn"}

HEADINGS = {
    "weft": "Weft",
    "lua": "Lua",
    "luajit-joff": "LuaJIT -joff",
    "luajit": "LuaJIT",
    "luau": "Luau",
    "rhai": "Rhai",
    "rune": "Rune",
    "python": "Python",
    "go1": "Go (GOMAXPROCS=1)",
    "go": "Go",
    "asyncio": "asyncio",
    "trio": "Trio",
}

BENCHMARKS = [
    # name, kind, expected, sizes, quick, large
    ("fib", "interp", expect_fib, [32], [20], None),
    ("loop", "interp", expect_loop, [10000000], [100000], None),
    ("binary_trees", "interp", expect_binary_trees, [15], [6], None),
    ("nbody", "interp", expect_nbody, [500000], [1000], None),
    ("strings_maps", "interp", expect_strings_maps, [200000, 100000], [2000, 1000], None),
    ("map_remove", "interp", expect_map_remove, [200000], [2000], None),
    ("str_index", "interp", expect_str_index, [20000, 1], [200, 1], None),
    ("str_append", "interp", expect_str_append, [100000], [1000], None),
    ("str_append_concat", "interp", expect_str_append, [100000], [1000], None),
    ("records", "interp", expect_records, [1000000], [10000], None),
    ("closures", "interp", expect_closures, [1000000], [10000], None),
    ("sort", "interp", expect_sort, [300000], [3000], None),
    ("sort_records", "interp", expect_sort, [300000], [3000], None),
    ("sort_pairs", "interp", expect_sort_pairs, [300000], [3000], None),
    ("native_call", "interp", expect_native_call, [3000000], [30000], None),
    ("spawn_join", "conc", expect_spawn_join, [100000], [1000], [1000000]),
    ("ping_pong", "conc", expect_count, [1000000], [10000], None),
    ("sieve", "conc", expect_sieve, [2000], [100], None),
    ("sleepers", "conc", expect_count, [100000], [1000], [1000000]),
    ("fan_in", "conc", expect_fan_in, [100, 10000], [10, 100], None),
    ("select_loop", "wait", expect_count, [20000], [2000], None),
    ("timeouts", "wait", expect_count, [1000000], [20000], None),
    ("cancel_many", "wait", expect_cancel_many, [100000, 1000], [2000, 50], None),
]


def langs_of(kind):
    return {"interp": INTERP_LANGS, "conc": CONC_LANGS, "wait": WAIT_LANGS}[kind]


def smaller_sizes(size_list):
    """The second size of a waiting pattern: every size divided by 10."""
    return [max(1, s // 10) for s in size_list]


# ---------------------------------------------------------------------------
# Building and finding the programs.

def build_weft():
    print("building Weft: cargo build --release", file=sys.stderr)
    result = subprocess.run(["cargo", "build", "--release"], cwd=ROOT)
    if result.returncode != 0:
        print("warning: cargo build failed; using the existing binary if any", file=sys.stderr)


def build_go(names, out_dir):
    """Build each concurrency benchmark's Go twin once; return name -> binary."""
    binaries = {}
    for name in names:
        source = os.path.join(BENCH_DIR, name, name + ".go")
        binary = os.path.join(out_dir, name)
        result = subprocess.run(["go", "build", "-o", binary, source],
                                cwd=os.path.dirname(source), capture_output=True, text=True)
        if result.returncode == 0:
            binaries[name] = binary
        else:
            print(f"warning: go build failed for {name}:\n{result.stderr}", file=sys.stderr)
    return binaries


def build_peers():
    """Build the runner for Luau, Rhai and Rune (its own workspace)."""
    print("building the peers runner: cargo build --release in bench/peers", file=sys.stderr)
    result = subprocess.run(["cargo", "build", "--release"], cwd=PEERS_DIR)
    if result.returncode != 0:
        print("warning: building bench/peers failed; using the existing binary if any",
              file=sys.stderr)


def missing_reason(lang):
    """Why a language cannot run on this machine, or None when it can."""
    if lang == "lua" and not shutil.which("lua5.4"):
        return "lua5.4 is not on the PATH (apt-get install lua5.4)"
    if lang in ("luajit-joff", "luajit") and not shutil.which("luajit"):
        return "luajit is not on the PATH (apt-get install luajit)"
    if lang in PEER_ENGINES and not os.path.exists(PEERS):
        return ("the peers runner is not built (python3 bench/run.py --build-peers, "
                "or cargo build --release in bench/peers)")
    return None


# Lua twins that only Lua 5.4 runs: native_call's uses the two-argument
# math.atan, which LuaJIT's and Luau's math.atan (one argument) are not;
# str_index's uses Lua 5.4's utf8 library.
LUA54_ONLY = {"native_call", "str_index"}


def twin_path(name, lang):
    """The source file of a benchmark's twin in an interpreter group language,
    or None when it has none."""
    folder = os.path.join(BENCH_DIR, name)
    if lang in ("luajit-joff", "luajit", "luau") and name in LUA54_ONLY:
        return None
    if lang in PEER_ENGINES:
        # Luau runs the Lua twin unless a Luau-only copy exists.
        if lang == "luau" and os.path.exists(os.path.join(folder, name + ".luau")):
            return os.path.join(folder, name + ".luau")
        return os.path.join(folder, name + PEER_ENGINES[lang])
    if lang in ("lua", "luajit-joff", "luajit"):
        return os.path.join(folder, name + ".lua")
    if lang == "python":
        return os.path.join(folder, name + ".py")
    return None


def has_twin(name, lang):
    """Whether an interpreter benchmark has a program for this language."""
    if lang == "weft":
        return True
    path = twin_path(name, lang)
    return path is not None and os.path.exists(path)


def command_for(name, lang, go_binaries):
    """The command (and extra environment) that runs one program, or None."""
    folder = os.path.join(BENCH_DIR, name)
    if lang == "weft":
        return [WEFT, os.path.join(folder, name + ".weft")], {}
    if lang == "lua":
        return ["lua5.4", os.path.join(folder, name + ".lua")], {}
    if lang == "luajit-joff":
        return ["luajit", "-joff", os.path.join(folder, name + ".lua")], {}
    if lang == "luajit":
        return ["luajit", os.path.join(folder, name + ".lua")], {}
    if lang in PEER_ENGINES:
        return [PEERS, lang, twin_path(name, lang)], {}
    if lang == "python":
        return [sys.executable, os.path.join(folder, name + ".py")], {}
    if lang in ("asyncio", "trio"):
        return [sys.executable, os.path.join(folder, f"{name}_{lang}.py")], {}
    if lang in ("go1", "go"):
        if name not in go_binaries:
            return None
        env = {"GOMAXPROCS": "1"} if lang == "go1" else {}
        return [go_binaries[name]], env
    raise ValueError(lang)


# ---------------------------------------------------------------------------
# Running one process.

class Run:
    """One finished process: its output, exit status, wall time and peak RSS."""

    def __init__(self, stdout, stderr, status, seconds, max_rss_bytes, timed_out):
        self.stdout = stdout
        self.stderr = stderr
        self.status = status
        self.seconds = seconds
        self.max_rss_bytes = max_rss_bytes
        self.timed_out = timed_out


def peak_rss_so_far(pid):
    """VmHWM of a live process, in bytes (0 once it has exited).

    Not ru_maxrss from wait4: Linux carries the parent's peak RSS over the
    fork and exec into the child's ru_maxrss, so every child of this Python
    process would seem to use at least as much memory as Python itself.
    VmHWM belongs to the new program's own address space.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_once(command, extra_env, timeout, track_memory=False):
    """Run a whole process and measure its wall time.

    With track_memory, also sample its peak RSS while it runs: every 0.2 ms
    at first, slowing down to every 5 ms. Sampling costs a little time, so only the sleepers and the
    waiting patterns do it.
    """
    env = dict(os.environ)
    env.pop("GOMAXPROCS", None)
    env.update(extra_env)
    killed = []

    def kill():
        killed.append(True)
        proc.kill()

    with tempfile.TemporaryFile() as stderr_file:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, env=env)
        timer = threading.Timer(timeout, kill)
        timer.start()
        chunks = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))
        reader.start()
        peak = 0
        delay = 0.0002  # sample often at first, so short processes are seen too
        while True:
            pid, wait_status, _ = os.wait4(proc.pid, os.WNOHANG if track_memory else 0)
            if pid != 0:
                break
            peak = max(peak, peak_rss_so_far(proc.pid))
            time.sleep(delay)
            delay = min(0.005, delay * 1.5)
        seconds = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        reader.join()
        proc.stdout.close()
        stderr_file.seek(0)
        stderr = stderr_file.read()
    return Run(chunks[0].decode(errors="replace"), stderr.decode(errors="replace"),
               proc.returncode, seconds, peak, bool(killed))


def failure_reason(run, expected):
    """Why a run does not count, or None when it printed the expected result."""
    if run.timed_out:
        return "timed out"
    if run.status != 0:
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        first = lines[0].strip() if lines else "(no message)"
        return f"exit status {run.status}: {first}"
    if run.stdout != expected:
        return f"printed {run.stdout!r}, expected {expected!r}"
    return None


class Result:
    """A program's measurements for one benchmark size, or why it failed."""

    def __init__(self, median=None, max_rss_bytes=None, error=None):
        self.median = median
        self.max_rss_bytes = max_rss_bytes
        self.error = error


def measure(programs, expected, runs, timeout, track_memory):
    """One warm-up run of each program (also the result check), then `runs`
    rounds in which each runs once, in turn: a machine whose speed drifts
    (other loads on its host) slows every program of a round alike, so the
    ratios hold where back-to-back runs of one program would not.

    `programs` maps a language to its (command, extra_env); gives a Result
    for each."""
    results = {}
    live = {}
    for lang, (command, extra_env) in programs.items():
        reason = failure_reason(run_once(command, extra_env, timeout, track_memory), expected)
        if reason:
            results[lang] = Result(error=reason)
        else:
            live[lang] = ([], [])
    for _ in range(runs):
        for lang, (times, peaks) in list(live.items()):
            command, extra_env = programs[lang]
            run = run_once(command, extra_env, timeout, track_memory)
            reason = failure_reason(run, expected)
            if reason:
                results[lang] = Result(error=reason)
                del live[lang]
                continue
            times.append(run.seconds)
            peaks.append(run.max_rss_bytes)
    for lang, (times, peaks) in live.items():
        results[lang] = Result(statistics.median(times), statistics.median(peaks))
    return results


# ---------------------------------------------------------------------------
# Formatting.

def fmt_seconds(result):
    if result is None:
        return "-"
    if result.error:
        return "FAIL"
    return f"{result.median:.3f}"


def fmt_ratio(weft, other):
    if weft is None or other is None or weft.error or other.error:
        return "-"
    return f"{weft.median / other.median:.2f}"


def fmt_mb(result):
    if result is None or result.error:
        return "-"
    return f"{result.max_rss_bytes / 1e6:.1f}"


def markdown_table(headings, rows):
    lines = ["| " + " | ".join(headings) + " |",
             "|" + "|".join("---" for _ in headings) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def time_table(kind, rows, langs):
    """rows: (name, size text, {lang: Result}). Columns for the chosen langs."""
    shown = [lang for lang in langs_of(kind) if lang in langs]
    others = [lang for lang in shown if lang != "weft"]
    headings = ["benchmark", "size"] + [HEADINGS[lang] + " (s)" for lang in shown]
    if "weft" in shown:
        headings += ["Weft/" + HEADINGS[lang] for lang in others]
    table_rows = []
    for name, size, results in rows:
        row = [name, size] + [fmt_seconds(results.get(lang)) for lang in shown]
        if "weft" in shown:
            row += [fmt_ratio(results.get("weft"), results.get(lang)) for lang in others]
        table_rows.append(row)
    return markdown_table(headings, table_rows)


def memory_table(rows, langs):
    """rows: (size text, n, {lang: Result at n}, {lang: Result at 1})."""
    shown = [lang for lang in CONC_LANGS if lang in langs]
    headings = ["sleepers", "language", "wall (s)", "peak RSS N (MB)", "peak RSS 1 (MB)", "bytes/task"]
    table_rows = []
    for size, n, at_n, at_one in rows:
        for lang in shown:
            big, small = at_n.get(lang), at_one.get(lang)
            per_task = "-"
            if big and small and not big.error and not small.error:
                per_task = f"{(big.max_rss_bytes - small.max_rss_bytes) / n:.0f}"
            table_rows.append([size, HEADINGS[lang], fmt_seconds(big), fmt_mb(big),
                               fmt_mb(small), per_task])
    return markdown_table(headings, table_rows)


def wait_table(rows, langs):
    """rows: (name, size text, {lang: Result}), each benchmark at N then N/10.
    Median seconds and peak RSS (VmHWM) per language, then the ratios."""
    shown = [lang for lang in WAIT_LANGS if lang in langs]
    others = [lang for lang in shown if lang != "weft"]
    headings = (["benchmark", "size"] + [HEADINGS[lang] + " (s)" for lang in shown]
                + [HEADINGS[lang] + " peak RSS (MB)" for lang in shown])
    if "weft" in shown:
        headings += ["Weft/" + HEADINGS[lang] for lang in others]
    table_rows = []
    for name, size, results in rows:
        row = ([name, size] + [fmt_seconds(results.get(lang)) for lang in shown]
               + [fmt_mb(results.get(lang)) for lang in shown])
        if "weft" in shown:
            row += [fmt_ratio(results.get("weft"), results.get(lang)) for lang in others]
        table_rows.append(row)
    return markdown_table(headings, table_rows)


# What one operation of a concurrency benchmark is, and how many it does.
OPERATIONS = {
    "spawn_join": ("spawn + join", lambda sizes: sizes[0]),
    "ping_pong": ("round trip", lambda sizes: sizes[0]),
    "fan_in": ("message", lambda sizes: sizes[0] * sizes[1]),
}


def cost_table(rows, langs):
    """Nanoseconds per operation: the median time over the operation count
    (start-up included, so a little high for every language)."""
    shown = [lang for lang in CONC_LANGS if lang in langs]
    headings = ["benchmark", "operation"] + [HEADINGS[lang] + " (ns)" for lang in shown]
    table_rows = []
    for name, size, results in rows:
        if name not in OPERATIONS:
            continue
        what, count = OPERATIONS[name]
        n = count([int(x) for x in size.split()])
        cells = []
        for lang in shown:
            r = results.get(lang)
            cells.append("-" if r is None or r.error else f"{r.median * 1e9 / n:.0f}")
        table_rows.append([name, what] + cells)
    return markdown_table(headings, table_rows)


# ---------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description="Run Weft's benchmarks beside their twins.")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs after the warm-up (default 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--large", action="store_true",
                        help="also run spawn_join and sleepers at 1000000 tasks")
    parser.add_argument("--only", help="comma-separated languages: " + ",".join(ALL_LANGS))
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    parser.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    parser.add_argument("--build-peers", action="store_true",
                        help="also build bench/peers, the runner for Luau, Rhai and Rune")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per process")
    args = parser.parse_args()

    known = [b[0] for b in BENCHMARKS]
    for name in args.names:
        if name not in known:
            parser.error(f"unknown benchmark {name!r}; known: {', '.join(known)}")
    args.langs = ALL_LANGS
    if args.only:
        args.langs = [lang.strip() for lang in args.only.split(",")]
        for lang in args.langs:
            if lang not in ALL_LANGS:
                parser.error(f"unknown language {lang!r}; known: {', '.join(ALL_LANGS)}")
    return args


def main():
    args = parse_args()
    chosen = [b for b in BENCHMARKS if not args.names or b[0] in args.names]

    if "weft" in args.langs and not args.no_build:
        build_weft()
    if args.build_peers and any(lang in PEER_ENGINES for lang in args.langs):
        build_peers()
    # A language whose interpreter is missing is skipped, with the reason.
    args.skipped = []
    if any(b[1] == "interp" for b in chosen):
        for lang in INTERP_LANGS:
            reason = missing_reason(lang) if lang in args.langs else None
            if reason:
                print(f"skipping {HEADINGS[lang]}: {reason}", file=sys.stderr)
                args.skipped.append(f"- {HEADINGS[lang]}: {reason}")
        args.langs = [lang for lang in args.langs if not missing_reason(lang)]
    go_langs = [lang for lang in ("go1", "go") if lang in args.langs]
    if go_langs and any(b[1] in ("conc", "wait") for b in chosen) and not shutil.which("go"):
        reason = "go is not on the PATH (apt-get install golang-go)"
        for lang in go_langs:
            print(f"skipping {HEADINGS[lang]}: {reason}", file=sys.stderr)
            args.skipped.append(f"- {HEADINGS[lang]}: {reason}")
        args.langs = [lang for lang in args.langs if lang not in go_langs]
    with tempfile.TemporaryDirectory(prefix="weft-bench-go-") as go_dir:
        go_binaries = {}
        if "go" in args.langs or "go1" in args.langs:
            go_binaries = build_go([b[0] for b in chosen if b[1] in ("conc", "wait")], go_dir)
        tables = run_all(chosen, args, go_binaries)

    print()
    print(tables)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(tables + "\n")


def run_all(chosen, args, go_binaries):
    rows = {"interp": [], "conc": [], "wait": []}
    memory_rows = []
    failures = []
    for name, kind, expect, sizes, quick, large in chosen:
        size_lists = [quick] if args.quick else [sizes]
        if args.large and large and not args.quick:
            size_lists.append(large)
        if kind == "wait":
            size_lists.append(smaller_sizes(size_lists[0]))
        langs = [lang for lang in langs_of(kind) if lang in args.langs]
        for size_list in size_lists:
            size_text = " ".join(str(s) for s in size_list)
            expected = expect(*size_list)
            # A language with no twin is left out: shown as "-".
            twins = [lang for lang in langs if kind != "interp" or has_twin(name, lang)]
            results = run_programs(name, kind, twins, size_list, expected, args, go_binaries)
            for lang, result in results.items():
                if result.error:
                    failures.append(f"- {name} {size_text}, {HEADINGS[lang]}: {result.error}")
            rows[kind].append((name, size_text, results))
            if name == "sleepers":
                # Peak RSS with a single task is the baseline for bytes per task.
                baseline = run_programs(name, kind, langs, [1], expect(1), args, go_binaries)
                memory_rows.append((size_text, size_list[0], results, baseline))

    parts = []
    if rows["interp"]:
        parts.append("### Interpreter speed (median seconds, whole process)\n\n"
                     + time_table("interp", rows["interp"], args.langs))
    if rows["conc"]:
        parts.append("### Concurrency (median seconds, whole process)\n\n"
                     + time_table("conc", rows["conc"], args.langs))
    if any(name in OPERATIONS for name, _, _ in rows["conc"]):
        parts.append("### Concurrency: cost per operation (median time / operations)\n\n"
                     + cost_table(rows["conc"], args.langs))
    if rows["wait"]:
        parts.append("### Waiting patterns (median seconds and peak RSS, whole process, "
                     "at N and N/10)\n\n" + wait_table(rows["wait"], args.langs))
    if memory_rows:
        parts.append("### Sleepers: memory (bytes/task = (RSS(N) - RSS(1)) / N)\n\n"
                     + memory_table(memory_rows, args.langs))
    if failures:
        parts.append("### Failures\n\n" + "\n".join(failures))
    if args.skipped:
        parts.append("### Skipped (not installed)\n\n" + "\n".join(args.skipped))
    parts.append(f"Runs: 1 warm-up + {args.runs} timed, median. Ratios are Weft time / twin time "
                 f"(above 1: Weft is slower). Machine: {machine()}.")
    return "\n\n".join(parts)


def machine():
    """The CPU and its core count, for the tables: ratios taken on one CPU
    do not compare with another's."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                # The first processor's lines: every core says the same.
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name", "an unknown CPU")
    if "cpu family" in fields and "model" in fields:
        model += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{model}, {os.cpu_count()} cores"


def run_programs(name, kind, langs, size_list, expected, args, go_binaries):
    """Times each language's program at one size, in alternation; a Result each."""
    results = {}
    programs = {}
    for lang in langs:
        found = command_for(name, lang, go_binaries)
        if found is None or (lang == "weft" and not os.path.exists(WEFT)):
            results[lang] = Result(error="program not built")
            continue
        command, extra_env = found
        programs[lang] = (command + [str(s) for s in size_list], extra_env)
    size_text = " ".join(map(str, size_list))
    print(f"{name} {size_text} {', '.join(programs)} ...", end=" ", file=sys.stderr, flush=True)
    track_memory = name == "sleepers" or kind == "wait"
    results.update(measure(programs, expected, args.runs, args.timeout, track_memory))
    print(", ".join(f"{lang} {r.error or f'{r.median:.3f}s'}" for lang, r in results.items()),
          file=sys.stderr, flush=True)
    return {lang: results[lang] for lang in langs}


if __name__ == "__main__":
    main()
