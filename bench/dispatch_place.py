#!/usr/bin/env python3
"""Where the interpreter's dispatch falls in a built binary.

The dispatch is the block every handler jumps back to: the opcode fetch,
the jump-table load and the indirect jump. Whether it lies within one
32-byte fetch block or across two moved whole benchmark rows by up to 40%
on an AMD Zen 4 (see "Zen 4" in docs/performance.md), so after a change to
the loop in vm/src/exec/interp.rs, check it:

    python3 bench/dispatch_place.py [target/release/weft]

It prints the function's address, the dispatch's first and last bytes,
and whether the dispatch crosses a 32- or 64-byte boundary. Exits 1 if
it crosses a 32-byte one. Needs objdump (binutils).
"""

import collections
import re
import shutil
import subprocess
import sys

FUNCTION = "weft_vm::exec::interp::run"


def disassemble(binary):
    """The function's instructions, as (address, length, text)."""
    symbols = subprocess.run(["nm", "-C", binary], capture_output=True, text=True, check=True).stdout
    start = None
    for line in symbols.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[2] == FUNCTION:
            start = int(parts[0], 16)
    if start is None:
        sys.exit(f"{binary}: no symbol {FUNCTION}")
    # Far enough for the whole loop; the function is about 24 KB.
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", f"--start-address={start}", f"--stop-address={start + 65536}", binary],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listing = []
    for line in out.splitlines():
        m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if m:
            listing.append([int(m.group(1), 16), 0, m.group(2)])
    for here, after in zip(listing, listing[1:]):
        here[1] = after[0] - here[0]
    return start, listing


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/weft"
    for tool in ("nm", "objdump"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: install binutils")
    start, listing = disassemble(binary)
    # The dispatch is the commonest target of the handlers' direct jumps.
    targets = collections.Counter()
    for _, _, text in listing:
        m = re.match(r"jmp\s+([0-9a-f]+) <", text)
        if m:
            targets[int(m.group(1), 16)] += 1
    head, jumps = targets.most_common(1)[0]
    at = next(i for i, (address, _, _) in enumerate(listing) if address == head)
    end = next(i for i in range(at, len(listing)) if listing[i][2].startswith("jmp    *"))
    last = listing[end][0] + listing[end][1] - 1
    print(f"{FUNCTION} at {start:#x} ({start % 64} bytes past a 64-byte boundary)")
    print(f"dispatch at {head:#x}-{last:#x} (offset {head - start:#x}, {last - head + 1} bytes, {jumps} jumps to it)")
    crosses = {size: head // size != last // size for size in (32, 64)}
    for size, crossed in crosses.items():
        print(f"  {'crosses' if crossed else 'within'} a {size}-byte block")
    sys.exit(1 if crosses[32] else 0)


if __name__ == "__main__":
    main()
