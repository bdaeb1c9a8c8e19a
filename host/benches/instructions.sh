#!/usr/bin/env bash
# Instructions of one warm 100k-row batch, with SQLite history and without:
# the figure to compare changes by on a shared, noisy machine, where
# wall-clock medians move more with the machine than with the code.
#
#   host/benches/instructions.sh [DATA_DIR]
#
# Writes the bench's data set (examples/bench_data.rs) to DATA_DIR (a
# temporary directory by default) unless it is there, then runs
# examples/repeat.rs under callgrind with 1 batch and with 3: half the
# difference is one batch, without start-up and compiling. Callgrind counts
# every thread, the history lookups' included. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v valgrind > /dev/null; then
    echo "valgrind is not installed: apt-get install valgrind" >&2
    exit 1
fi
data=${1:-$(mktemp -d)}
cargo build --release --quiet -p presend-host --example repeat --example bench_data
if [ ! -f "$data/history.db" ]; then
    target/release/examples/bench_data "$data"
fi

# Instructions of `runs` batches, start-up and compile included. Fails,
# showing what went wrong, when repeat does (valgrind exits with its status)
# or callgrind counted nothing.
instructions() {
    local log count
    if ! log=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        target/release/examples/repeat "$data/patients.csv" "$1" "$2" 2>&1 > /dev/null); then
        echo "$log" | grep -v '^==' >&2
        echo "examples/repeat failed on $data/patients.csv with history $1" >&2
        return 1
    fi
    count=$(echo "$log" | awk '/Collected/ { gsub(",", "", $4); print $4 }')
    if [ -z "$count" ]; then
        echo "callgrind printed no instruction count for $1, $2 batches" >&2
        return 1
    fi
    echo "$count"
}

for history in "$data/history.db" none; do
    one=$(instructions "$history" 1)
    three=$(instructions "$history" 3)
    label=$([ "$history" = none ] && echo "no history" || echo "SQLite history")
    awk -v one="$one" -v three="$three" -v label="$label" \
        'BEGIN { printf "one batch, %s: %.4f G instructions\n", label, (three - one) / 2 / 1e9 }'
done
