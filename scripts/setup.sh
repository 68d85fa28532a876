#!/usr/bin/env bash
# Installs what building and testing attachd needs, where it is missing, on a Debian machine:
# the wasm32-wasip2 Rust target, and a wasm C toolchain (clang-16, llvm-16, wasi-libc) for
# libwebp inside the thumbnail guest. Safe to run again: it only installs what is absent.
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
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target" >&2
    rustup target add wasm32-wasip2
fi
