#!/usr/bin/env bash
# What `make fuzz` needs beyond `make setup`: a nightly Rust toolchain (libFuzzer's
# instrumentation is behind -Z flags) and cargo-fuzz. Prints the toolchain to use.
#
# The pinned nightly is the one this project's machines ship, rustc 1.97.0-nightly
# (e50aa6fba 2026-05-19); a machine without a nightly gets that build from rustup.
set -euo pipefail
toolchain=${1:-nightly}
pinned=nightly-2026-05-20
pinned_commit=e50aa6fba

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "fuzz-setup: no $toolchain toolchain; installing $pinned" >&2
    rustup toolchain install "$pinned" --profile minimal >&2
    toolchain=$pinned
fi
version=$(rustup run "$toolchain" rustc --version)
case "$version" in
    *"$pinned_commit"*) ;;
    *) echo "fuzz-setup: warning: $toolchain is $version, not the pinned $pinned_commit; the corpora and results may differ" >&2 ;;
esac
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-setup: installing cargo-fuzz 0.13.2" >&2
    cargo install --locked cargo-fuzz --version 0.13.2 >&2
fi
command -v clang-16 >/dev/null || { echo "fuzz-setup: clang-16 missing: run make setup" >&2; exit 1; }
echo "$toolchain"
