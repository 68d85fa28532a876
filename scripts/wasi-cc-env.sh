# shellcheck shell=bash
# Sourced (never executed) before building guest components for wasm32-wasip2:
#   source scripts/wasi-cc-env.sh && cargo build --target wasm32-wasip2 ...
#
# It owns the C side of the guest build. media-thumbnail links libwebp and libjpeg-turbo (C,
# compiled by the `cc` crate from libwebp-sys's and mozjpeg-sys's build scripts), so a wasm
# build needs a clang that targets wasm32 and wasi-libc's headers. Debian ships both
# (clang-16, wasi-libc), but the headers sit under /usr/include/wasm32-wasi while clang, given `--target=wasm32-wasip2
# --sysroot=$WASI_SYSROOT`, looks in $WASI_SYSROOT/include/wasm32-wasip2. So this builds a
# tiny sysroot of symlinks under the target dir (idempotent, nothing outside it is touched)
# and exports the variables the `cc` crate reads for that one target only, so native builds
# in the same shell keep using the host compiler.
#
# Linking is left to rustc: the wasm32-wasip2 target brings its own wasi-libc, which provides
# what the C objects call: malloc/free and string functions, and for libjpeg's defaults that
# attachd replaces or never calls (printing messages, reading a FILE, the JPEGMEM variable),
# stdio and getenv, which can only reach the WASI imports the sandbox allows.

# Executed instead of sourced, the exports would vanish with the child shell.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "wasi-cc-env.sh: source this file (source scripts/wasi-cc-env.sh), don't run it" >&2
    exit 2
fi

_wasi_cc_env() {
    local cc=clang-16 ar=llvm-ar-16
    local headers=/usr/include/wasm32-wasi libs=/usr/lib/wasm32-wasi
    local hint="install them with: apt-get install clang-16 llvm-16 wasi-libc"

    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "wasi-cc-env.sh: $cc not found (it compiles libwebp for wasm32); $hint" >&2
        return 1
    fi
    if ! command -v "$ar" >/dev/null 2>&1; then
        echo "wasi-cc-env.sh: $ar not found (it archives libwebp for wasm32); $hint" >&2
        return 1
    fi
    if [ ! -f "$headers/stdlib.h" ]; then
        echo "wasi-cc-env.sh: wasi-libc headers not found in $headers; $hint" >&2
        return 1
    fi

    # Same place cargo puts its output: the workspace's target/ unless CARGO_TARGET_DIR says
    # otherwise (cargo resolves a relative one against the current directory, and so do we).
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
    local target_dir=${CARGO_TARGET_DIR:-$root/target}
    case $target_dir in
        /*) ;;
        *) target_dir=$PWD/$target_dir ;;
    esac
    local sysroot=$target_dir/wasi-sysroot
    mkdir -p "$sysroot/include" "$sysroot/lib" || return 1
    # -n replaces an existing link instead of creating one inside the linked directory.
    ln -sfn "$headers" "$sysroot/include/wasm32-wasip2" || return 1
    # Not used while only compiling objects, but keeps the sysroot whole should clang ever be
    # asked to link (for example by a build script probing the compiler).
    if [ -d "$libs" ]; then
        ln -sfn "$libs" "$sysroot/lib/wasm32-wasip2" || return 1
    fi

    export WASI_SYSROOT=$sysroot
    export CC_wasm32_wasip2=$cc
    export AR_wasm32_wasip2=$ar
    # -DNDEBUG keeps libwebp's assert()s out: a failed assert in a guest would abort (a trap)
    # where the encoder otherwise returns an error. libwebp-sys already defines it; repeating
    # it costs nothing and keeps it if the build script changes.
    # -O3 because debug-profile guests would otherwise compile the C (libwebp, libjpeg-turbo)
    # at -O0, making decoding and encoding several times slower inside the sandbox's CPU
    # budget; and -O3, not libwebp's own default -O2, because libjpeg-turbo's Huffman decoder
    # gained from it in the guest when issue 16 was filed (68.9 -> 66.4 ms, 24 MP photo at
    # 1/8), and it is what cc gives the same C in the native release build the benchmark
    # compares against.
    # No -msimd128: libwebp's SIMD code is SSE2/NEON intrinsics (its wasm SIMD build relies on
    # Emscripten's SSE emulation headers, which clang lacks), so the flag only enables
    # autovectorisation; measured on lossy encodes it made no difference. It builds and
    # passes the crate's tests if someone wants it anyway.
    # -Wno-unused-command-line-argument: libwebp-sys's build script passes -march=<arch>,
    # which clang accepts but ignores for wasm32 and warns about once per C file (~120 lines
    # of noise in every guest build).
    # Threads need no flag: libwebp-sys without its `std` feature leaves WEBP_USE_THREAD
    # undefined, and wasi-libc has no pthreads to offer anyway.
    case " ${CFLAGS_wasm32_wasip2:-} " in
        *" -O3 -DNDEBUG -Wno-unused-command-line-argument "*) ;; # sourced twice: don't repeat
        *) export CFLAGS_wasm32_wasip2="${CFLAGS_wasm32_wasip2:+$CFLAGS_wasm32_wasip2 }-O3 -DNDEBUG -Wno-unused-command-line-argument" ;;
    esac
}

# `return` (not `exit`) so a failure does not close an interactive shell that sourced this.
if _wasi_cc_env; then
    unset -f _wasi_cc_env
else
    unset -f _wasi_cc_env
    return 1 2>/dev/null || exit 1
fi
