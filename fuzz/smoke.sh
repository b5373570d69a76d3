#!/usr/bin/env bash
# A bounded fuzz smoke for CI: each target for SECONDS (default 60) from
# the suite's seeds. Skips, saying why, when cargo-afl is not installed or
# AFL++ cannot run here; fails when a target crashed.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
if ! cargo afl --version >/dev/null 2>&1; then
    echo "fuzz smoke skipped: cargo-afl is not installed (cargo install cargo-afl)"
    exit 0
fi
status=0
for target in check run; do
    rm -rf "out/$target"
    if ! ./run.sh "$target" "$seconds" >"out-smoke-$target.log" 2>&1 && [ ! -d "out/$target/default" ]; then
        echo "fuzz smoke skipped for $target: AFL++ did not run here:"
        tail -5 "out-smoke-$target.log"
        continue
    fi
    crashes=$(find "out/$target/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
    execs=$(grep -s execs_done "out/$target/default/fuzzer_stats" | awk '{print $3}')
    echo "fuzz smoke $target: ${execs:-?} executions in ${seconds} s, $crashes crashes"
    if [ "$crashes" -gt 0 ]; then
        echo "crashing inputs are in fuzz/out/$target/default/crashes"
        status=1
    fi
done
exit $status
