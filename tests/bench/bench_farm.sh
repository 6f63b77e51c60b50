#!/bin/sh
# The farm against plain ffmpeg on the same batch, in the same run:
# 8 copies of a 10 s 1280x720 30 fps H.264+AAC clip through preset
# web-720p-h264 (libx264 veryfast CRF 23, AAC 128k), once as `ffmpeg` CLI
# runs under `xargs -P<cores>`, once through framehoused. Then the latency
# from submission to the first encoded frame on an idle farm.
#   tests/bench/bench_farm.sh [workers...]   (default: the engine's own pool size)
# Prints name=value lines.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
[ -f build/release/CMakeCache.txt ] || cmake --preset release >/dev/null
cmake --build --preset release --target framehoused framehousectl framehouse-worker >/dev/null
bin="$root/build/release/bin"
cores=$(nproc)
copies=8

work=$(mktemp -d)
engine_pid=
cleanup() {
    [ -z "$engine_pid" ] || kill "$engine_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$work/in" "$work/ref" "$work/out"

ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10 \
    -f lavfi -i sine=frequency=440:sample_rate=48000:duration=10 \
    -c:v libx264 -preset veryfast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -shortest \
    "$work/in/source.mp4"
i=1
while [ "$i" -le "$copies" ]; do
    cp "$work/in/source.mp4" "$work/in/clip$i.mp4"
    i=$((i + 1))
done
rm "$work/in/source.mp4"

# Busy and total jiffies of all CPUs, from /proc/stat.
cpu_sample() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 }' /proc/stat; }
utilisation() { # before after
    echo "$1 $2" | awk '{ d = $4 - $2; printf "%.2f", (d > 0 ? ($3 - $1) / d : 0) }'
}
now_ms() { date +%s%3N; }

# Reference: the best plain-ffmpeg batch, one process per core.
before=$(cpu_sample)
t0=$(now_ms)
ls "$work"/in/*.mp4 | xargs -P"$cores" -I{} sh -c \
    'ffmpeg -nostdin -loglevel error -y -i "$1" -c:v libx264 -preset veryfast -crf 23 \
        -pix_fmt yuv420p -c:a aac -b:a 128k "$2/$(basename "$1")"' _ {} "$work/ref"
t1=$(now_ms)
after=$(cpu_sample)
ffmpeg_ms=$((t1 - t0))
ffmpeg_cpu=$(utilisation "$before" "$after")

ctl() { "$bin/framehousectl" --store "$work/store" --key-file "$work/store.key" "$@"; }
ctl store init >/dev/null
ctl farm roots add input "$work/in" >/dev/null
ctl farm roots add output "$work/out" >/dev/null

start_engine() {
    "$bin/framehoused" --store "$work/store" --key-file "$work/store.key" \
        --log-file "$work/engine.log" 2>/dev/null &
    engine_pid=$!
    # Ready once it has published its pool.
    n=0
    until ctl farm status --json 2>/dev/null | tr -d ' \n' |
        grep -q "\"pid\":$engine_pid,\"running\":true"; do
        n=$((n + 1))
        [ "$n" -lt 600 ] || { echo "framehoused did not start" >&2; exit 1; }
        sleep 0.1
    done
}
stop_engine() { kill "$engine_pid"; wait "$engine_pid" || true; engine_pid=; }

# Polled slowly: every framehousectl run costs CPU that the farm would
# otherwise have; the times come from the store, not from the polling.
wait_all_final() {
    while ctl jobs list --json --limit 1000 | grep -q '"state": *"\(queued\|running\)"'; do
        sleep 1
    done
}

# The earliest value of an ISO time field in jobs list --json, or the latest.
job_time_ms() { # field min|max
    ctl jobs list --json --limit 1000 | grep -o "\"$1\": *\"[^\"]*\"" | cut -d'"' -f4 |
        while read -r t; do date -d "$t" +%s%3N; done | sort -n |
        if [ "$2" = min ]; then head -n 1; else tail -n 1; fi
}

run_farm() { # workers (0: the engine's default)
    ctl settings set farm.workers "$1" >/dev/null
    rm -f "$work"/out/*
    start_engine
    before=$(cpu_sample)
    for f in "$work"/in/*.mp4; do
        ctl jobs submit "$f" --preset web-720p-h264 >/dev/null
    done
    wait_all_final
    after=$(cpu_sample)
    t0=$(job_time_ms submitted_at min)
    t1=$(job_time_ms finished_at max)
    stop_engine
    failed=$(ctl jobs list --json --limit 1000 | grep -c '"state": *"failed"' || true)
    [ "$failed" -eq 0 ] || { echo "farm: $failed job(s) failed" >&2; exit 1; }
    ctl jobs list --json --limit 1000 | grep -o '"id": *[0-9]*' | grep -o '[0-9]*' |
        while read -r id; do ctl jobs purge "$id" --yes >/dev/null; done
    farm_ms=$((t1 - t0))
    farm_cpu=$(utilisation "$before" "$after")
}

echo "# farm: $copies x 10 s 1280x720 30 fps, web-720p-h264, $cores cores"
echo "ffmpeg_wall_s=$(echo "$ffmpeg_ms" | awk '{ printf "%.2f", $1 / 1000 }')"
echo "ffmpeg_cpu_utilisation=$ffmpeg_cpu"
for workers in ${*:-0}; do
    run_farm "$workers"
    suffix=""
    [ "$workers" -eq 0 ] || suffix="_workers$workers"
    echo "farm_wall_s$suffix=$(echo "$farm_ms" | awk '{ printf "%.2f", $1 / 1000 }')"
    echo "farm_cpu_utilisation$suffix=$farm_cpu"
    echo "farm_vs_ffmpeg$suffix=$(echo "$farm_ms $ffmpeg_ms" | awk '{ printf "%.3f", $1 / $2 }')"
done

# Submission to first encoded frame on an idle farm, from the job's own
# events (the engine notes the first progress report with its time).
ctl settings set farm.workers 0 >/dev/null
start_engine
sleep 1
total=0
runs=5
i=1
while [ "$i" -le "$runs" ]; do
    id=$(ctl jobs submit "$work/in/clip1.mp4" --preset web-720p-h264 --name "latency$i" --json |
        grep -o '"id": *[0-9]*' | head -n 1 | grep -o '[0-9]*')
    wait_all_final
    ms=$(ctl jobs show "$id" --json | grep -o 'first frame [0-9]* ms' | head -n 1 | grep -o '[0-9][0-9]*')
    total=$((total + ms))
    echo "first_frame_ms_run$i=$ms"
    ctl jobs purge "$id" --yes >/dev/null
    i=$((i + 1))
done
stop_engine
echo "first_frame_ms=$((total / runs))"
