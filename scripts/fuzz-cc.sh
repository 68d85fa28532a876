#!/usr/bin/env bash
# The C compiler `make fuzz` gives the `cc` crate. The media libraries' decoders and encoders
# are C (libjpeg-turbo, libwebp): compiled plainly, libFuzzer would see none of their branches
# and AddressSanitizer none of their memory errors. This adds both, for those two libraries
# only: every other C dependency (ring, SQLite) is built as usual, so a sanitizer flag can't
# break a build the fuzzing doesn't need.
set -euo pipefail
cc=${FUZZ_CLANG:-clang-16}
for arg in "$@"; do
    case "$arg" in
        */mozjpeg-sys/*.c | */libwebp-sys*/*.c)
            exec "$cc" "$@" -g -fsanitize=address \
                -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp
            ;;
    esac
done
exec "$cc" "$@"
