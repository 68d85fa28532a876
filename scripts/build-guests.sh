#!/usr/bin/env bash
# Builds the guest components for wasm32-wasip2 and installs them, each with a manifest, into
# a guest directory the host loads at run time:
#   scripts/build-guests.sh [OUT_DIR]        (default: target/guests)
# The test guests (hostile, and the probe built against newer WITs) go to OUT_DIR/test/, never
# beside the real ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/guests}
target_dir=${CARGO_TARGET_DIR:-target}

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# libwebp's C sources need a wasm C compiler and wasi-libc headers.
source scripts/wasi-cc-env.sh

# simd128: fast_image_resize and libwebp have wasm SIMD paths; wasmtime supports it.
export CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128"
build() { cargo build --locked --profile guest --target wasm32-wasip2 "$@"; }

# The WIT package version a WIT file declares (`package attach:media@X;`).
wit_version() { sed -n 's/^package attach:media@\(.*\);/\1/p' "$1"; }
# A workspace crate's version, as cargo resolves it (`…#name@0.1.0` or `…#0.1.0`).
crate_version() { local id; id=$(cargo pkgid --locked -p "$1"); echo "${id##*[#@]}"; }

wit=$(wit_version wit/media.wit)
# What built every guest: recorded in each manifest, so a release can be traced to its source.
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
rustc_version=$(rustc -V)

install_guest() { # name world crate dir wit-version [release-version, default the crate's]
    local name=$1 world=$2 crate=$3 dir=$4 wit_ver=$5 release=${6:-}
    [[ -n $release ]] || release=$(crate_version "$crate")
    mkdir -p "$dir"
    cp "$target_dir/wasm32-wasip2/guest/${crate//-/_}.wasm" "$dir/$name.wasm"
    local sum
    sum=$(sha256sum "$dir/$name.wasm" | cut -d' ' -f1)
    cat > "$dir/$name.json" <<JSON
{"name":"$name","version":"$release","world":"attach:media/$world@$wit_ver","file":"$name.wasm","sha256":"$sum","build":{"commit":"$commit","rustc":"$rustc_version","profile":"guest"}}
JSON
}

# The probe built against attach:media@0.2.0: a release a 0.1.x host must refuse. Built before
# the plain build below, which is left as the crate's artifact.
next_major=$(wit_version tests/next-guest/wit/major/media.wit)
build -p next-guest --features major
install_guest probe prober next-guest "$out/test/next-major" "$next_major" "$next_major"
# The probe built against a 0.1.2 WIT that changes a record: in the host's series by its name,
# refused by its types.
next_retyped=$(wit_version tests/next-guest/wit/retyped/media.wit)
build -p next-guest --features retyped
install_guest probe prober next-guest "$out/test/next-retyped" "$next_retyped" "$next_retyped"

# The thumbnail guest that times its steps (feature `steps`), for `make bench` only: among the
# test guests (signed with the test key). The released thumbnail never reads a clock. Built
# before the plain build below, which is left as the crate's artifact.
build -p guest-thumbnail --features steps
install_guest thumbnail thumbnailer guest-thumbnail "$out/test/steps" "$wit"

# The heif guest: the thumbnail crate with the HEIC decoder and no other (feature `heif`), its
# own component and release, so each guest carries only its own codecs. Built before the plain
# build below, which is left as the crate's artifact.
build -p guest-thumbnail --no-default-features --features heif
install_guest heif thumbnailer guest-thumbnail "$out" "$wit"
scripts/guest-notice.py "$out/heif.NOTICE.txt" -- -p guest-thumbnail --no-default-features --features heif

build -p guest-probe -p guest-thumbnail -p guest-scan -p hostile-guest -p next-guest
install_guest probe prober guest-probe "$out" "$wit"
install_guest thumbnail thumbnailer guest-thumbnail "$out" "$wit"
install_guest scan scanner guest-scan "$out" "$wit"
# Each released guest's licence notice (every crate compiled into it, with its licence files),
# installed beside it and copied with it by `attachd guests install`.
for crate in probe thumbnail scan; do
    scripts/guest-notice.py "$out/$crate.NOTICE.txt" -- -p "guest-$crate"
done
# The real probe, scan and heif beside the steps thumbnail, so that directory is a whole guest set.
for guest in probe scan heif; do cp "$out/$guest.json" "$out/$guest.wasm" "$out/test/steps/"; done
# One hostile component exports both interfaces: the tests put it in place of either guest.
install_guest thumbnail thumbnailer hostile-guest "$out/test/hostile" "$wit"
install_guest probe prober hostile-guest "$out/test/hostile" "$wit"
# The probe built against attach:media@0.1.1, whose probe interface has one more function: a
# release a 0.1.0 host must still bind. Its release is the WIT version it was built against.
next_minor=$(wit_version tests/next-guest/wit/minor/media.wit)
install_guest probe prober next-guest "$out/test/next-minor" "$next_minor" "$next_minor"
# The same hostile component importing the network, which the host must refuse to load.
build -p hostile-guest --features sockets
install_guest thumbnail thumbnailer hostile-guest "$out/test/hostile-sockets" "$wit"
# Leave the plain build as the crate's artifact, so a rebuild starts from it.
build -p hostile-guest
# Signing is a separate step with the release key: scripts/sign-dev-guests.sh (make guests) or
# `attachd guests sign DIR --secret-key KEY` (README "Releasing and updating guests").
echo "guests installed in $out"
