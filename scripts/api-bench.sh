#!/usr/bin/env bash
# Requests/second that `attachd serve` answers on loopback, measured with Debian's wrk (a manual
# bench, not part of `make test`: `apt-get install wrk` where it is missing):
#   scripts/api-bench.sh BASE_URL TOKEN ID [COMPLETE_JSON]
# e.g. scripts/api-bench.sh http://127.0.0.1:8080 "$token" 42
#
# Two runs of API_BENCH_SECONDS (default 10) each, API_BENCH_THREADS (2) threads and
# API_BENCH_CONNECTIONS (16) connections, every request with `Authorization: Bearer TOKEN` (it
# needs the upload scope: both routes take it):
#   1. GET /api/attachments/ID
#   2. POST /api/attachments/complete with COMPLETE_JSON as its body, by default the one made
#      from attachment ID itself (its fileKey, size and mimeType, and API_BENCH_CHECKSUM or else
#      64 zeros as the checksum). Before the run one request shows what that body is answered
#      with, so you know which path the figure is for: completing the same upload again is
#      attachd's repeat path (or its refusal), not a first completion.
# Prints a table of requests/s, p50 and p99 latency and non-2xx answers, after each run's own
# `api-bench: {...}` JSON line (scripts/api-bench.lua). Only loopback addresses are accepted:
# this is a load, and it must stay on this machine. The server shares the machine's cores
# with wrk; pin them apart (taskset) for steadier figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: $0 BASE_URL TOKEN ID [COMPLETE_JSON]" >&2
    exit 2
fi
base=${1%/}
token=$2
id=$3
complete_body=${4:-}
seconds=${API_BENCH_SECONDS:-10}
threads=${API_BENCH_THREADS:-2}
connections=${API_BENCH_CONNECTIONS:-16}
[[ $id =~ ^[0-9]+$ ]] || { echo "api-bench: ID must be a number, not $id" >&2; exit 2; }
command -v wrk >/dev/null || { echo "api-bench: wrk is missing: apt-get install wrk" >&2; exit 1; }

# Checks the base URL is on loopback, fetches attachment ID (it must answer 200), makes the
# complete body unless one was given, and sends it once to show its answer. Prints the body.
complete_body=$(API_BENCH_TOKEN=$token python3 - "$base" "$id" "$complete_body" <<'PY'
import ipaddress, json, os, sys, urllib.error, urllib.parse, urllib.request
base, id_, body = sys.argv[1], sys.argv[2], sys.argv[3]
host = urllib.parse.urlsplit(base).hostname or ""
try:
    loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
except ValueError:
    loopback = False
if not loopback:
    sys.exit(f"api-bench: {base} is not a loopback address (127.0.0.0/8, ::1, localhost): refused")
auth = {"Authorization": "Bearer " + os.environ["API_BENCH_TOKEN"], "Accept": "application/json"}

def call(method, path, data=None):
    headers = dict(auth, **({"Content-Type": "application/json"} if data is not None else {}))
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        sys.exit(f"api-bench: {method} {base}{path}: {e}")

status, raw = call("GET", f"/api/attachments/{id_}")
if status != 200:
    sys.exit(f"api-bench: GET /api/attachments/{id_} answered {status}: {raw[:300]!r}")
if not body:
    a = json.loads(raw)
    body = json.dumps({
        "fileKey": a["fileKey"],
        "checksum": os.environ.get("API_BENCH_CHECKSUM") or "0" * 64,
        "size": a["size"],
        "mimeType": a["mimeType"],
    })
status, raw = call("POST", "/api/attachments/complete", body.encode())
print(f"api-bench: POST /api/attachments/complete with {body} answers {status}: {raw[:200].decode(errors='replace')}", file=sys.stderr)
print(body)
PY
)

results=()
run() { # label, then the body for POST (empty: GET), then the path
    local label=$1 body=$2 path=$3 out
    echo "api-bench: $label for ${seconds}s, $threads threads, $connections connections" >&2
    out=$(API_BENCH_TOKEN=$token API_BENCH_BODY=$body timeout $((seconds + 30)) \
        wrk --threads "$threads" --connections "$connections" --duration "${seconds}s" --timeout 5s \
        --script "$root/scripts/api-bench.lua" "$base$path")
    echo "$out" >&2
    local line
    line=$(grep '^api-bench: {' <<<"$out" | tail -n 1)
    [ -n "$line" ] || { echo "api-bench: wrk printed no result for $label" >&2; exit 1; }
    echo "$line"
    results+=("$label	${line#api-bench: }")
}
run "GET /api/attachments/$id" "" "/api/attachments/$id"
run "POST /api/attachments/complete" "$complete_body" "/api/attachments/complete"

python3 - "${results[@]}" <<'PY'
import json, sys
print(f"{'operation':<34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}")
for arg in sys.argv[1:]:
    label, raw = arg.split("\t", 1)
    r = json.loads(raw)
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    print(f"{label:<34} {r['rps']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non_2xx_3xx']:>8} {errors:>7}")
PY
