#!/usr/bin/env bash
# Installs what building and testing attachd needs, where it is missing, on a Debian machine:
# the wasm32-wasip2 Rust target, a wasm C toolchain (clang-16, llvm-16, wasi-libc) for libwebp
# inside the thumbnail guest, Node.js, ffmpeg, minisign, libheif's tools, clamd, promtool, amtool,
# systemd-analyze, docker-compose, Chromium and schemathesis (in a venv under target/) for the
# tests; and it starts PostgreSQL and Redis on loopback where none answers. Safe to run again:
# it only installs or starts what is absent.
set -euo pipefail

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing $* (apt-get)" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pkgs=()
command -v clang-16 >/dev/null || pkgs+=(clang-16)
command -v llvm-ar-16 >/dev/null || pkgs+=(llvm-16)
[ -f /usr/include/wasm32-wasi/stdlib.h ] || pkgs+=(wasi-libc)
command -v node >/dev/null || pkgs+=(nodejs npm)
# ffmpeg and ffprobe for video uploads and their tests (the tests generate their clips with
# ffmpeg's lavfi sources at run time).
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || pkgs+=(ffmpeg)
# The minisign tool, for the tests that check release signatures interoperate with it both
# ways (host/tests/guest_releases.rs).
command -v minisign >/dev/null || pkgs+=(minisign)
# libheif's heif-enc (with x265): the HEIC tests check that a file from that independent
# encoder renders.
command -v heif-enc >/dev/null || pkgs+=(libheif-examples)
# libavif's avifenc (with libaom): the AVIF tests encode their inputs with it at run time.
command -v avifenc >/dev/null || pkgs+=(libavif-bin)
# Debian's docker-compose, which validates deploy/compose.yaml against the Compose schema
# (host/tests/container.rs). Its `config` asks no container engine, and none is installed:
# --no-install-recommends leaves out the docker.io it recommends.
command -v docker-compose >/dev/null || pkgs+=(docker-compose)
# Debian's Chromium, which the review page's browser test drives headless through npm
# puppeteer-core (tests/interop/review.mjs, pinned in its package.json; puppeteer-core
# downloads no browser of its own and is pointed at /usr/bin/chromium).
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
# Python 3 with its venv module for schemathesis's venv below (Debian ships venv's ensurepip
# apart, in python3-venv).
{ command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } || pkgs+=(python3 python3-venv)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

# Packages whose services attachd's tests must not see running: clamd for the antivirus tests
# (host/tests/vscan.rs; each test starts its own clamd with a private config and a signature
# directory holding only the signatures it writes, so neither the packaged service nor
# freshclam is needed: no network), Prometheus for its promtool, which checks and unit-tests
# the alert rules, and Alertmanager for its amtool, which checks ops/alertmanager/alertmanager.yml
# and tests its routes (both in host/tests/ops.rs). policy-rc.d keeps the packages from starting
# services.
quiet=()
{ [ -x /usr/sbin/clamd ] || [ -n "${ATTACH_TEST_CLAMD:-}" ]; } || quiet+=(clamav-daemon)
command -v promtool >/dev/null || quiet+=(prometheus)
command -v amtool >/dev/null || quiet+=(prometheus-alertmanager)
# The chaos test (host/tests/chaos.rs) runs a PostgreSQL cluster of its own, made with
# Debian's initdb, so it can crash and restart it without touching the shared server.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || quiet+=(postgresql)
# systemd-analyze verifies the shipped service unit (host/tests/ops.rs).
command -v systemd-analyze >/dev/null || quiet+=(systemd)
if [ ${#quiet[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
        made_policy=1
    fi
    apt_install "${quiet[@]}"
    [ "$made_policy" -eq 0 ] || $sudo rm -f "$policy"
fi

# schemathesis, which fuzzes `attachd serve`'s JSON API from the OpenAPI document it serves
# (scripts/api-fuzz.sh): a venv of its own in target/venv-schemathesis, with every package
# pinned by scripts/api-fuzz-requirements.txt. Made again (about 20 s) when that file changes,
# when the venv no longer runs (its Python went away) and in a fresh clone.
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/target/venv-schemathesis
reqs=$root/scripts/api-fuzz-requirements.txt
if ! { cmp -s "$reqs" "$venv/requirements.txt" && "$venv/bin/schemathesis" --version >/dev/null 2>&1; }; then
    echo "setup: installing schemathesis into $venv (pip)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$reqs"
    cp "$reqs" "$venv/requirements.txt"
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target" >&2
    rustup target add wasm32-wasip2
fi

# PostgreSQL on 127.0.0.1:5432 (trust auth for loopback, database `test`) for the database
# tests. Machines that already run one are left alone; elsewhere Debian's server is installed
# and its cluster started and opened to loopback connections without a password.
pg_ready() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }
if [ -z "${ATTACH_TEST_PG_URL:-}" ] && ! pg_ready; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -d "/etc/postgresql/$ver/main" ] || pg_createcluster "$ver" main
    hba="/etc/postgresql/$ver/main/pg_hba.conf"
    grep -q '^host all all 127.0.0.1/32 trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    for _ in $(seq 30); do pg_ready && break; sleep 1; done
    pg_ready || { echo "setup: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
    su postgres -c "psql -tAc \"select 1 from pg_database where datname='test'\"" | grep -q 1 \
        || su postgres -c "createdb test"
fi

# Redis on 127.0.0.1:6379 for the queue tests and bench (ATTACH_TEST_REDIS_URL points them
# elsewhere). A running server is left alone; elsewhere Debian's is installed and started
# without persistence: test queues are throwaway.
redis_ready() { command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if [ -z "${ATTACH_TEST_REDIS_URL:-}" ] && ! redis_ready; then
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 30); do redis_ready && break; sleep 1; done
    redis_ready || { echo "setup: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi
