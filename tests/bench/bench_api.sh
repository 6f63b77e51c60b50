#!/bin/sh
# The HTTPS API against nginx with the same TLS settings, in the same run:
# wrk with 32 keep-alive connections doing authenticated
# GET /v1/jobs/{id} against framehoused, and the same wrk against nginx
# returning a fixed JSON body of the same size; then new TLS connections
# per second (Connection: close) against both. Both servers use the same
# ECDSA P-256 certificate, TLS 1.2/1.3 with the same suites and groups, and
# as many workers/threads as there are cores.
#   tests/bench/bench_api.sh [seconds]   (default 10 per run)
# Prints name=value lines.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
for tool in wrk nginx openssl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
        { echo "bench_api: $tool is missing (./setup.sh deps installs it)" >&2; exit 1; }
done
[ -f build/release/CMakeCache.txt ] || cmake --preset release >/dev/null
cmake --build --preset release --target framehoused framehousectl framehouse-worker >/dev/null
bin="$root/build/release/bin"
seconds=${1:-10}
cores=$(nproc)
engine_port=18643
nginx_port=18644

work=$(mktemp -d)
engine_pid=
nginx_pid=
cleanup() {
    for pid in $engine_pid $nginx_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ctl() { "$bin/framehousectl" "$@" --store "$work/store" --key-file "$work/store.key"; }

# The job is the operator's, so the key needs admin to see it.
# One certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 600 "$work/key.pem"
cat >"$work/engine.ini" <<INI
[api]
listen = 127.0.0.1:$engine_port
tls_certificate = cert.pem
tls_private_key = key.pem
INI
chmod 600 "$work/engine.ini"

ctl store init >/dev/null
key=$(ctl keys create --name bench --owner-id bench --scopes jobs:read,admin \
    --expires-in-days 1 --json | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
[ -n "$key" ] || { echo "bench_api: no key was created" >&2; exit 1; }
# The benchmark measures throughput, not the guards: lift the rate limits.
ctl settings set api.ip_rate_per_s 1000000 >/dev/null
ctl settings set api.ip_burst 1000000 >/dev/null
ctl settings set api.key_rate_per_hour 1000000000 >/dev/null
ctl settings set api.key_burst 1000000 >/dev/null
ctl settings set farm.paused 1 >/dev/null
mkdir -p "$work/in" "$work/out"
ctl farm roots add input "$work/in" >/dev/null
ctl farm roots add output "$work/out" >/dev/null
printf 'x' >"$work/in/clip.mp4"
id=$(ctl jobs submit "$work/in/clip.mp4" --preset web-720p-h264 --json 2>/dev/null |
    sed -n 's/.*"id": *\([0-9]*\).*/\1/p' | head -n 1)

"$bin/framehoused" --store "$work/store" --key-file "$work/store.key" \
    --config "$work/engine.ini" --log-file "$work/engine.log" 2>/dev/null &
engine_pid=$!
n=0
until grep -q "API listening" "$work/engine.log" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -lt 600 ] || { echo "framehoused did not start" >&2; exit 1; }
    sleep 0.1
done
url="https://127.0.0.1:$engine_port/v1/jobs/$id"
body=$(curl -s --cacert "$work/cert.pem" -H "X-API-Key: $key" "$url")
case "$body" in *'"state"'*) ;; *) echo "bench_api: unexpected answer: $body" >&2; exit 1 ;; esac

# nginx: same certificate, protocols, suites, groups; a body of the same size.
printf '%s' "$body" >"$work/job.json"
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $cores;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers on;
        ssl_session_tickets off;
        location / {
            default_type application/json;
            alias $work/job.json;
        }
    }
}
CONF
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
n=0
until curl -s --cacert "$work/cert.pem" -o /dev/null "https://127.0.0.1:$nginx_port/x"; do
    n=$((n + 1))
    [ "$n" -lt 100 ] || { echo "nginx did not start" >&2; exit 1; }
    sleep 0.1
done

# wrk prints "Requests/sec: N" and, with --latency, "99% Xms|Xus|Xs".
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'; }
p99_ms() {
    awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; print v }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0 ? a / b : 0) }'; }
run_wrk() { wrk -t "$cores" -c 32 -d "${seconds}s" --latency "$@"; }

api_out=$(run_wrk -H "X-API-Key: $key" "$url")
nginx_out=$(run_wrk "https://127.0.0.1:$nginx_port/v1/jobs/$id")
api_rps=$(echo "$api_out" | rps)
nginx_rps=$(echo "$nginx_out" | rps)
errors=$(echo "$api_out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
echo "# keep-alive: wrk -c32 ${seconds}s, GET /v1/jobs/$id with a key (authenticated, read from the encrypted store) vs nginx static JSON"
echo "api_rps=$api_rps"
echo "nginx_rps=$nginx_rps"
echo "api_vs_nginx=$(ratio "$api_rps" "$nginx_rps") (goal >= 0.5)"
echo "api_p99_ms=$(echo "$api_out" | p99_ms) (goal < 10)"
echo "nginx_p99_ms=$(echo "$nginx_out" | p99_ms)"
echo "api_non_2xx=${errors:-0}"

api_close=$(run_wrk -H "Connection: close" -H "X-API-Key: $key" "$url" | rps)
nginx_close=$(run_wrk -H "Connection: close" "https://127.0.0.1:$nginx_port/v1/jobs/$id" | rps)
echo "# new TLS connection per request (Connection: close)"
echo "api_new_tls_per_s=$api_close"
echo "nginx_new_tls_per_s=$nginx_close"
echo "api_vs_nginx_new_tls=$(ratio "$api_close" "$nginx_close")"
