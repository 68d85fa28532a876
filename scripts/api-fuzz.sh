#!/usr/bin/env bash
# Fuzzes `attachd serve`'s JSON API with schemathesis, from the OpenAPI document the server
# itself serves, and fails on any 5xx answer and on any answer its document does not describe:
#   scripts/api-fuzz.sh BASE_URL TOKEN_UPLOAD TOKEN_REVIEW
# e.g. scripts/api-fuzz.sh http://127.0.0.1:8080 "$upload_token" "$review_token".
#
# Two passes, each with the bearer token its operations need, told apart by the document's
# tags: the upload token over every operation not tagged `review` (sign, complete, reading an
# attachment), then the review token over those tagged `review` (the quarantined list, events,
# release, delete). A pass whose tag selects no operation fails (schemathesis exits 2: nothing
# tested). The review pass releases and deletes whatever ids it hits: point it at a throwaway
# database.
#
# Checks: not_a_server_error, response_schema_conformance (schemathesis 4.32.5, pinned with all
# it pulls in by scripts/api-fuzz-requirements.txt; scripts/setup.sh installs it into
# target/venv-schemathesis). scripts/api-fuzz.toml passes the token (from the environment, not
# the command line) and fails a pass whose token was refused everywhere. Bounded by:
#   API_FUZZ_EXAMPLES   test cases per operation and phase (default 100): one pass, then done
#   API_FUZZ_MAX_TIME   seconds; if set, schemathesis keeps generating until this budget is spent
#                       (its --max-time: a budget, not only a cap)
#   API_FUZZ_TIMEOUT    hard cap in seconds on each pass, killed past it (default 300)
#   API_FUZZ_SEED       a seed to replay a run (each run prints its seed)
#   API_FUZZ_REPORT_DIR a JUnit report per pass there (upload.xml, review.xml)
# Exits 0 when both passes pass, 1 when either found a failure or could not run, 2 on bad usage.
# Both run in target/api-fuzz, where schemathesis keeps its cache (.schemathesis) and Hypothesis
# its files (.hypothesis), out of the work tree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -ne 3 ]; then
    echo "usage: $0 BASE_URL TOKEN_UPLOAD TOKEN_REVIEW" >&2
    exit 2
fi
base=${1%/}
token_upload=$2
token_review=$3

st=${SCHEMATHESIS:-$root/target/venv-schemathesis/bin/schemathesis}
if ! "$st" --version >/dev/null 2>&1; then
    echo "api-fuzz: no schemathesis at $st: run scripts/setup.sh first" >&2
    exit 1
fi

# The document must answer first (the server may still be starting: up to 30 s), so that a server
# that is not there fails once, not once per pass.
py=$(dirname "$st")/python
[ -x "$py" ] || py=python3
if ! "$py" - "$base/api/openapi.json" <<'PY'
import json, sys, time, urllib.request
url, deadline, last = sys.argv[1], time.monotonic() + 30, None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            doc = json.load(response)
        if not str(doc.get("openapi", "")).startswith("3.1"):
            sys.exit(f"api-fuzz: {url} is not an OpenAPI 3.1 document (openapi: {doc.get('openapi')!r})")
        sys.exit(0)
    except (OSError, ValueError) as e:
        last = e
        time.sleep(0.5)
sys.exit(f"api-fuzz: no OpenAPI document at {url} within 30 s: {last}")
PY
then
    exit 1
fi

examples=${API_FUZZ_EXAMPLES:-100}
hard_cap=${API_FUZZ_TIMEOUT:-300}
work=$root/target/api-fuzz
mkdir -p "$work"

common=(
    "$base/api/openapi.json"
    --checks not_a_server_error,response_schema_conformance
    --max-examples "$examples"
    --request-timeout 10
    --workers 1
    --generation-database none
    --no-color
)
[ -z "${API_FUZZ_MAX_TIME:-}" ] || common+=(--max-time "$API_FUZZ_MAX_TIME")
[ -z "${API_FUZZ_SEED:-}" ] || common+=(--seed "$API_FUZZ_SEED")

# One pass: a name, its token, then its operation filter.
pass() {
    local name=$1 token=$2
    shift 2
    local report=()
    if [ -n "${API_FUZZ_REPORT_DIR:-}" ]; then
        mkdir -p "$API_FUZZ_REPORT_DIR"
        report=(--report junit --report-junit-path "$(cd "$API_FUZZ_REPORT_DIR" && pwd)/$name.xml")
    fi
    echo "api-fuzz: $name pass against $base" >&2
    local rc=0
    (cd "$work" && API_FUZZ_TOKEN=$token timeout --kill-after=10 "$hard_cap" \
        "$st" --config-file "$root/scripts/api-fuzz.toml" run "${common[@]}" "${report[@]}" "$@") || rc=$?
    case $rc in
        0) echo "api-fuzz: $name pass: no failure" >&2 ;;
        124 | 137) echo "api-fuzz: $name pass: stopped after ${hard_cap}s (API_FUZZ_TIMEOUT)" >&2 ;;
        *) echo "api-fuzz: $name pass: failed (schemathesis exit $rc)" >&2 ;;
    esac
    return "$rc"
}

failed=()
pass upload "$token_upload" --exclude-tag review || failed+=(upload)
pass review "$token_review" --include-tag review || failed+=(review)
if [ ${#failed[@]} -gt 0 ]; then
    echo "api-fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "api-fuzz: both passes passed" >&2
