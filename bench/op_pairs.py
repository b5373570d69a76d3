#!/usr/bin/env python3
"""Which instruction pairs Weft executes most, over the interpreter
benchmarks and the examples: the table that says which superinstructions
could pay (docs/performance.md).

    cargo build --release --features op-pairs --target-dir target/op-pairs
    python3 bench/op_pairs.py [--top 20] [--weft target/op-pairs/release/weft]

Each program runs once (the benchmarks at a tenth of their default sizes)
with `WEFT_OP_PAIRS` naming a file, where the build writes how often each
pair (instruction a, then instruction b) ran. Each program's counts are
turned into shares of its own pairs, and the table ranks pairs by their
mean share over all programs, so that one long benchmark does not decide
it alone; programs that run fewer than 10,000 pairs are left out. Only Python's standard library is used.
"""

import argparse
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile

# A program that runs fewer pairs than this is mostly its top level
# defining functions; it would weigh as much as a loop running millions.
MIN_PAIRS = 10000

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def benchmarks():
    """The interpreter benchmarks and their default sizes, from run.py."""
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(ROOT, "bench", "run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    for name, kind, _expect, sizes, _quick, _large in run.BENCHMARKS:
        if kind == "interp":
            # A tenth of the default work: the second size (a count of passes)
            # kept, and fib and binary_trees, exponential in theirs, smaller by 5 and 3.
            first = {"fib": sizes[0] - 5, "binary_trees": sizes[0] - 3}.get(name, sizes[0] // 10)
            scaled = [first] + sizes[1:]
            yield name, [os.path.join("bench", name, name + ".weft")] + [str(s) for s in scaled]


def examples():
    folder = os.path.join(ROOT, "examples")
    for f in sorted(os.listdir(folder)):
        if f.endswith(".weft"):
            yield f[: -len(".weft")], [os.path.join("examples", f)]


def count(weft, argv):
    """The pair counts of one run: {(a, b): n}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pairs.tsv")
        env = dict(os.environ, WEFT_OP_PAIRS=out)
        subprocess.run([weft] + argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        counts = collections.Counter()
        if os.path.exists(out):
            for line in open(out):
                n, a, b = line.split()
                counts[(a, b)] += int(n)
        return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--weft", default=os.path.join(ROOT, "target", "op-pairs", "release", "weft"))
    args = parser.parse_args()
    if not os.path.exists(args.weft):
        sys.exit(f"{args.weft} is missing: build it with "
                 "`cargo build --release --features op-pairs --target-dir target/op-pairs`")
    shares = collections.defaultdict(float)
    programs = 0
    for name, argv in list(benchmarks()) + list(examples()):
        counts = count(args.weft, argv)
        total = sum(counts.values())
        if total == 0:
            print(f"{name}: no counts (is this an op-pairs build?)", file=sys.stderr)
            continue
        if total < MIN_PAIRS:
            print(f"{name}: {total} pairs, left out (fewer than {MIN_PAIRS})", file=sys.stderr)
            continue
        programs += 1
        top = counts.most_common(1)[0]
        print(f"{name}: {total} pairs, commonest {top[0][0]} -> {top[0][1]} ({100 * top[1] / total:.1f}%)",
              file=sys.stderr)
        for pair, n in counts.items():
            shares[pair] += n / total
    print(f"| rank | pair | mean share over {programs} programs |")
    print("|---|---|---|")
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    for rank, ((a, b), share) in enumerate(ranked[: args.top], 1):
        print(f"| {rank} | {a} -> {b} | {100 * share / programs:.2f}% |")


if __name__ == "__main__":
    main()
