#!/usr/bin/env bash
# Requests per second of `attachd serve` on loopback, measured with Debian's wrk (`make
# bench-api`; installs wrk where it is missing). Self-contained: it starts the optimised
# `attachd serve` (and, for one upload, a worker) on a data directory, Redis prefix and, with
# API_BENCH_PG=1, PostgreSQL database of its own, and removes them afterwards.
#
#   scripts/api-bench.sh [ATTACHD]        ATTACHD: the binary (default target/release/attachd)
#
# Two timed runs, API_BENCH_SECONDS (default 10) each, API_BENCH_THREADS (2) wrk threads and
# API_BENCH_CONNECTIONS (16) connections:
#   1. GET /api/attachments/ID of a `ready` upload (its variants' and original's download URLs
#      signed on every request): what a client polls;
#   2. POST /api/attachments/complete, each request a different upload, signed and uploaded
#      beforehand (API_BENCH_UPLOADS of them, default 20000; a run that uses them all counts
#      the repeats as non-2xx): a first completion, with its HEAD on the store, its enqueue in
#      Redis and its row update.
# The rate limit is set out of the way. wrk shares the 2 cores with the server (and Redis and
# the database): these are this machine's figures, not a server's alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/release/attachd}
seconds=${API_BENCH_SECONDS:-10}
threads=${API_BENCH_THREADS:-2}
connections=${API_BENCH_CONNECTIONS:-16}
uploads=${API_BENCH_UPLOADS:-20000}
[ -x "$bin" ] || { echo "api-bench: no $bin: run make release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "api-bench: wrk is missing: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d)
prefix=bench-api-$$
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
pids=()
database=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli unlink >/dev/null || true
    [ -z "$database" ] || psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $database" >/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export ATTACH_DATA_DIR=$work/data ATTACH_QUEUE_PREFIX=$prefix ATTACH_API_ADDR=127.0.0.1:$port
export ATTACH_API_TOKENS_FILE=$work/tokens ATTACH_API_RATE=10000000 ATTACH_API_BURST=10000000
export ATTACH_GUEST_DIR=${ATTACH_GUEST_DIR:-$root/target/guests}
export ATTACH_GUEST_TRUSTED_KEYS=${ATTACH_GUEST_TRUSTED_KEYS:-$root/target/guest-keys/dev.pub}
export ATTACH_METRICS_ADDR=127.0.0.1:0 ATTACH_CLEANUP_CRON=off ATTACH_WORKER_LOG_LEVEL=warn
unset ATTACH_STORAGE ATTACH_S3_BUCKET ATTACH_VSCAN_ENDPOINT ATTACH_CONFIG
if [ "${API_BENCH_PG:-0}" = 1 ]; then
    database=attachd_bench_$$
    psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $database" >/dev/null
    export ATTACH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$database
    "$bin" migrate >/dev/null
    store="PostgreSQL, local store"
else
    unset ATTACH_DATABASE_URL
    store="SQLite, local store"
fi
"$bin" api-token bench --scopes upload,review >"$work/token" 2>"$work/tokens"
token=$(cat "$work/token")
"$bin" serve >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$work/serve.out" || { cat "$work/serve.log" >&2; exit 1; }

# The uploads: one processed to `ready` (for GET), then the fresh ones for complete.
echo "api-bench: preparing $uploads uploads ($store)" >&2
API_BENCH_TOKEN=$token python3 - "$base" "$uploads" "$work" "$root/samples" <<'PY'
import concurrent.futures, hashlib, json, os, sys, urllib.request
base, count, work, samples = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
auth = {"Authorization": "Bearer " + os.environ["API_BENCH_TOKEN"]}

def call(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=dict(auth, **(headers or {})))
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read() or b"null")

def upload(data):
    signed = call("POST", base + "/api/attachments/sign", json.dumps(
        {"fileName": "bench.jpg", "size": len(data), "mimeType": "image/jpeg"}).encode(),
        {"Content-Type": "application/json"})
    link = signed["upload"]
    request = urllib.request.Request(link["url"], data=data, method=link["method"], headers=link["headers"])
    urllib.request.urlopen(request, timeout=30).read()
    return {"fileKey": signed["fileKey"], "checksum": hashlib.sha256(data).hexdigest(),
            "size": len(data), "mimeType": "image/jpeg"}, signed["id"]

photo = open(os.path.join(samples, "progressive.jpg"), "rb").read()
first, first_id = upload(photo)
call("POST", base + "/api/attachments/complete", json.dumps(first).encode(), {"Content-Type": "application/json"})
open(os.path.join(work, "ready-id"), "w").write(str(first_id))
small = b"\xff\xd8" + b"\0" * 998
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    bodies = [b for b, _ in pool.map(lambda _: upload(small), range(count))]
with open(os.path.join(work, "bodies"), "w") as f:
    for b in bodies:
        f.write(json.dumps(b) + "\n")
PY
id=$(cat "$work/ready-id")
"$bin" worker >"$work/worker.out" 2>"$work/worker.log" &
worker=$!
for _ in $(seq 600); do
    status=$(curl -s -H "Authorization: Bearer $token" "$base/api/attachments/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = ready ] && break
    sleep 0.1
done
kill "$worker"; wait "$worker" 2>/dev/null || true
[ "$status" = ready ] || { echo "api-bench: upload $id is $status, not ready" >&2; cat "$work/worker.log" >&2; exit 1; }
# The worker is gone: the completes below queue jobs nobody takes (removed with the prefix).

results=()
run() { # label, path, then the bodies file for POST (empty: GET)
    local label=$1 path=$2 bodies=${3:-} out line
    echo "api-bench: $label for ${seconds}s, $threads threads, $connections connections" >&2
    out=$(API_BENCH_TOKEN=$token API_BENCH_BODIES=$bodies API_BENCH_THREADS_N=$threads timeout $((seconds + 30)) \
        wrk --threads "$threads" --connections "$connections" --duration "${seconds}s" --timeout 5s \
        --script "$root/scripts/api-bench.lua" "$base$path")
    echo "$out" >&2
    line=$(grep '^api-bench: {' <<<"$out" | tail -n 1)
    [ -n "$line" ] || { echo "api-bench: wrk printed no result for $label" >&2; exit 1; }
    results+=("$label	${line#api-bench: }")
}
run "GET /api/attachments/{id} (ready)" "/api/attachments/$id"
run "POST /api/attachments/complete" "/api/attachments/complete" "$work/bodies"

echo "attachd serve on $base, $store, $(nproc) cores shared with wrk ($threads threads, $connections connections), ${seconds}s a run"
python3 - "${results[@]}" <<'PY'
import json, sys
print(f"{'operation':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}")
for arg in sys.argv[1:]:
    label, raw = arg.split("\t", 1)
    r = json.loads(raw)
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    print(f"{label:<36} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non_2xx_3xx']:>8} {errors:>7}")
PY
