#!/usr/bin/env bash
# Fuzzes one target with AFL++ for a while: ./run.sh check|run [SECONDS]
# Needs cargo-afl (cargo install cargo-afl); seeds are the .weft files of
# tests/ and examples/; findings land in fuzz/out/TARGET/default/crashes.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh check|run [SECONDS]}
seconds=${2:-3600}
cargo afl build --release --bin "$target"
rm -rf "seeds/$target"
mkdir -p "seeds/$target" out
# Small seeds fuzz faster: the scripts of the suite under 4 KiB, named by
# size, smallest first. AFL fuzzes its queue in name order, and a short run
# spends most of its time on the first seed.
find ../tests ../examples -name '*.weft' -size -4k -print0 |
    while IFS= read -r -d '' f; do
        cp "$f" "seeds/$target/$(printf '%04d' "$(wc -c <"$f")")$(echo "$f" | tr / _)"
    done
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    cargo afl fuzz -i "seeds/$target" -o "out/$target" -x weft.dict -t 5000 -V "$seconds" \
    "target/release/$target"
