#!/bin/sh
# Runs the benchmarks on an optimised build and prints name=value lines,
# each against a reference measured in the same run.
#   tests/bench/run.sh [rows]   (bench_store rows; then bench_farm.sh and bench_api.sh)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ -f build/release/CMakeCache.txt ] || cmake --preset release >/dev/null
cmake --build --preset release --target bench_store >/dev/null
echo "# store: SQLCipher through the Framehouse driver vs plain SQLite, same code path"
build/release/tests/bench/bench_store "${1:-100000}"
echo
tests/bench/bench_farm.sh
echo
tests/bench/bench_api.sh
