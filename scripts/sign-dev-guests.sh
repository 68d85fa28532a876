#!/usr/bin/env bash
# Signs the guests `make guests` built with a development release key, made here on first use
# and never committed (target/ is ignored):
#   scripts/sign-dev-guests.sh GUEST_DIR [KEY_DIR]      (default KEY_DIR: target/guest-keys)
# The host trusts that key when ATTACH_GUEST_TRUSTED_KEYS names KEY_DIR/dev.pub (`make demo`
# and `make test` set it). The test guests under GUEST_DIR/test/ (hostile ones among them) are
# signed with a second key, KEY_DIR/test.key, that only the sandbox test suites trust: copied
# into a guest directory, they never load under the development key. An operator signs a
# release with their own key instead: see "Releasing and updating guests" in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?guest directory}
keys=${2:-target/guest-keys}
target_dir=${CARGO_TARGET_DIR:-target}

cargo build --locked -q -p attachd
attachd="$target_dir/debug/attachd"
mkdir -p "$keys"
chmod 700 "$keys"
for key in dev test; do
    [ -f "$keys/$key.key" ] && continue
    # Unencrypted: a development key signs unattended; it is trusted only by this checkout.
    env -u ATTACH_GUEST_TRUSTED_KEYS "$attachd" guests keygen --secret-key "$keys/$key.key" \
        --public-key "$keys/$key.pub" >/dev/null
done
sign() { # dir key
    env -u ATTACH_GUEST_TRUSTED_KEYS "$attachd" guests sign "$1" --secret-key "$keys/$2.key" >/dev/null
}
sign "$out" dev
for dir in "$out"/test/*/; do
    if ls "$dir"/*.json >/dev/null 2>&1; then sign "$dir" test; fi
done
echo "guests in $out signed with the development key $keys/dev.pub (test guests: $keys/test.pub)"
