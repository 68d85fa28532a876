#!/usr/bin/env bash
# Builds the guest components for wasm32-wasip2 and installs them, each with a manifest, into
# a guest directory the host loads at run time:
#   scripts/build-guests.sh [OUT_DIR]        (default: target/guests)
# The hostile test guest goes to OUT_DIR/test/, never beside the real ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/guests}
target_dir=${CARGO_TARGET_DIR:-target}

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# libwebp's C sources need a wasm C compiler and wasi-libc headers.
source scripts/wasi-cc-env.sh

# simd128: fast_image_resize and libwebp have wasm SIMD paths; wasmtime supports it.
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128"
cargo build --locked --profile guest --target wasm32-wasip2 \
    -p guest-probe -p guest-thumbnail -p guest-scan -p hostile-guest

version=$(sed -n 's/^package attach:media@\(.*\);/\1/p' wit/media.wit)
install_guest() { # name world crate dir
    local name=$1 world=$2 crate=$3 dir=$4
    mkdir -p "$dir"
    cp "$target_dir/wasm32-wasip2/guest/${crate//-/_}.wasm" "$dir/$name.wasm"
    local sum
    sum=$(sha256sum "$dir/$name.wasm" | cut -d' ' -f1)
    cat > "$dir/$name.json" <<JSON
{"name":"$name","world":"attach:media/$world@$version","file":"$name.wasm","sha256":"$sum"}
JSON
}
install_guest probe prober guest-probe "$out"
install_guest thumbnail thumbnailer guest-thumbnail "$out"
install_guest scan scanner guest-scan "$out"
# One hostile component exports both interfaces: the tests put it in place of either guest.
install_guest thumbnail thumbnailer hostile-guest "$out/test/hostile"
install_guest probe prober hostile-guest "$out/test/hostile"
# The same component importing the network, which the host must refuse to load.
cargo build --locked --profile guest --target wasm32-wasip2 -p hostile-guest --features sockets
install_guest thumbnail thumbnailer hostile-guest "$out/test/hostile-sockets"
# Leave the plain build as the crate's artifact, so a rebuild starts from it.
cargo build --locked --profile guest --target wasm32-wasip2 -p hostile-guest
echo "guests installed in $out"
