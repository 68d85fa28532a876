#!/usr/bin/env bash
# Signs the guests `make guests` built with a development release key, made here on first use
# and never committed (target/ is ignored):
#   scripts/sign-dev-guests.sh GUEST_DIR [KEY_DIR]      (default KEY_DIR: target/guest-keys)
# The host trusts that key when ATTACH_GUEST_TRUSTED_KEYS names KEY_DIR/dev.pub (`make demo`
# and `make test` set it). An operator signs a release with their own key instead: see
# "Releasing and updating guests" in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?guest directory}
keys=${2:-target/guest-keys}
target_dir=${CARGO_TARGET_DIR:-target}

cargo build --locked -q -p attachd
attachd="$target_dir/debug/attachd"
if [ ! -f "$keys/dev.key" ]; then
    mkdir -p "$keys"
    chmod 700 "$keys"
    # Unencrypted: a development key signs unattended; it is trusted only by this checkout.
    env -u ATTACH_GUEST_TRUSTED_KEYS "$attachd" guests keygen --secret-key "$keys/dev.key" \
        --public-key "$keys/dev.pub" >/dev/null
fi
for dir in "$out" "$out"/test/*/; do
    ls "$dir"/*.json >/dev/null 2>&1 || continue
    env -u ATTACH_GUEST_TRUSTED_KEYS "$attachd" guests sign "$dir" --secret-key "$keys/dev.key" >/dev/null
done
echo "guests in $out signed with the development key $keys/dev.pub"
