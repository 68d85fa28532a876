# attachd: the two entry points are `make demo` and `make test`; both set up what they need.
SHELL := /bin/bash
CARGO ?= cargo
GUEST_DIR ?= target/guests
# The development release key `make guests` signs with (made on first use, never committed),
# and what the host is told to trust for the demo, the tests and the benchmarks.
GUEST_KEY_DIR ?= target/guest-keys
TRUSTED_KEYS ?= $(abspath $(GUEST_KEY_DIR))/dev.pub

.PHONY: demo release test setup guests check bench bench-heif bench-fuel bench-queue bench-video bench-swap bench-api fuzz chaos

setup:
	scripts/setup.sh

# Builds the guest components (wasm32-wasip2) with their manifests into $(GUEST_DIR), and
# signs them with the development key.
guests: setup
	scripts/build-guests.sh $(GUEST_DIR)
	scripts/sign-dev-guests.sh $(GUEST_DIR) $(GUEST_KEY_DIR)

# Processes the bundled samples into ./out and prints one JSON line per file, then says which
# build it ran. A debug build on purpose: `make guests` builds it anyway (to sign the guests),
# `make test` shares it, and a cold optimised build costs far more than the demo's few small
# samples save (on this project's loaded 2-core machine, 2026-12-07: 10 min for `make guests`
# with the debug build, 32 min for the optimised build with the benchmarks' dependencies).
# Production runs `make release`'s binary.
# Single-quoted when echoed: the shell must print it, not run anything in it.
DEMO_BUILD_NOTE := demo: debug build (target/debug/attachd), 1.3x to 1.9x slower per upload than the optimised one; for production use "make release" (target/release/attachd)
demo: guests
	$(CARGO) build --locked -q -p attachd
	rm -rf out
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) target/debug/attachd process $(wildcard samples/*.jpg samples/*.png samples/*.gif samples/*.webp samples/*.heic) --out out
	@echo '$(DEMO_BUILD_NOTE)' >&2

# The optimised build users run: target/release/attachd (the worker, `process`, the guest
# commands) and the signed guests in $(GUEST_DIR). Debug builds are 1.3 to 1.9 times slower per
# upload (README), so anything meant for production runs this binary (or `cargo install
# --path host --locked`, which builds the same).
release: guests
	$(CARGO) build --release --locked -p attachd
	@echo "release: target/release/attachd, guests in $(GUEST_DIR)"

# Every test: the media libraries natively, and the host against the real guests.
test: guests
	cd tests/interop && npm ci --no-audit --no-fund
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) $(CARGO) test --locked --no-fail-fast --workspace --exclude guest-probe \
		--exclude guest-thumbnail --exclude guest-scan --exclude hostile-guest --exclude next-guest

# The chaos run (README "Running in production"): 3 workers, 1,000 mixed uploads from a Node
# producer while workers are killed and Redis, PostgreSQL and the object store fail; then the
# end-state checks and throughput with 1, 2 and 3 workers. An optimised build, as production
# runs; `make test` runs a short version (100 uploads) on the debug build.
chaos: guests
	cd tests/interop && npm ci --no-audit --no-fund
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) $(CARGO) test --release --locked \
		-p attachd --test chaos -- --ignored --nocapture --test-threads 1 chaos_full

# Lints the native crates and the guests.
check: guests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	. scripts/wasi-cc-env.sh && CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
		$(CARGO) clippy --locked --profile guest --target wasm32-wasip2 -p guest-probe -p guest-scan \
		-p guest-thumbnail -p hostile-guest -p next-guest -- -D warnings
	. scripts/wasi-cc-env.sh && CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
		$(CARGO) clippy --locked --profile guest --target wasm32-wasip2 -p next-guest --features major \
		-- -D warnings
	. scripts/wasi-cc-env.sh && CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
		$(CARGO) clippy --locked --profile guest --target wasm32-wasip2 -p next-guest --features retyped \
		-- -D warnings
	. scripts/wasi-cc-env.sh && CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS="-C target-feature=+simd128" \
		$(CARGO) clippy --locked --profile guest --target wasm32-wasip2 -p guest-thumbnail --features steps \
		-- -D warnings

# Thumbnail benchmark: sandbox vs the same library native vs sharp; prints a table.
# Built first on every core, then run pinned to one core.
bench: guests
	cd tests/bench && npm ci --no-audit --no-fund
	$(CARGO) bench --locked -p attachd --bench thumbnail --no-run
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) taskset -c 0 $(CARGO) bench --locked -p attachd --bench thumbnail

# HEIC and AVIF benchmark: the heif guest vs the same library native vs Pillow (pillow-heif for
# HEIC, Pillow's own AVIF) vs sharp, 12 MP photos, one core; prints a table. Pillow comes from
# PyPI into a venv under target/ (pinned versions).
bench-heif: guests
	cd tests/bench && npm ci --no-audit --no-fund
	[ -x target/venv-bench/bin/python ] || python3 -m venv target/venv-bench
	target/venv-bench/bin/pip install -q pillow==13.0.0 pillow-heif==1.9.0
	$(CARGO) bench --locked -p attachd --bench heif --no-run
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) taskset -c 0 $(CARGO) bench --locked -p attachd --bench heif

# Fuel benchmark: what each guest call burns on the fixtures next to its default budget (the
# numbers the fuel defaults in host/src/config.rs come from); prints a table.
bench-fuel: guests
	$(CARGO) bench --locked -p attachd --bench fuel --no-run
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) $(CARGO) bench --locked -p attachd --bench fuel

# Guest swap benchmark: what a hot swap of a guest release costs jobs running meanwhile (time to
# the swap, to the first job on the new release, job latency around it); prints a table.
bench-swap: guests
	$(CARGO) bench --locked -p attachd --bench swap --no-run
	ATTACH_GUEST_DIR=$(GUEST_DIR) $(CARGO) bench --locked -p attachd --bench swap

# Queue benchmark: no-op jobs/s through `attachd worker`'s queue path vs the bare
# bullmq-official Worker vs a Node bullmq Worker, on the same Redis; prints a table.
bench-queue: setup
	cd tests/interop && npm ci --no-audit --no-fund
	$(CARGO) bench --locked -p attachd --bench queue

# API benchmark (README "attachd serve"): requests/s of GET /api/attachments/{id} and of
# first completes against the optimised `attachd serve` on loopback, with Debian's wrk.
# API_BENCH_PG=1: on PostgreSQL instead of the embedded SQLite.
bench-api: release
	command -v wrk >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || sudo apt-get install -y -qq wrk
	scripts/api-bench.sh target/release/attachd

# Video benchmark: attachd's transcode command through the ffmpeg sandbox vs the same command
# bare, on a generated 10 s 720p clip; prints a table. Built first, then run.
bench-video: setup
	$(CARGO) bench --locked -p attachd --bench video --no-run
	$(CARGO) bench --locked -p attachd --bench video

# Coverage-guided fuzzing (README "Fuzzing"): builds the libFuzzer binaries (fuzz/) on the pinned
# nightly with the C decoders instrumented too (scripts/fuzz-cc.sh), writes the seeds, runs every
# target for FUZZ_SECONDS (or only FUZZ_TARGETS), folds what it found into the committed corpora
# and prints a table. Not part of `make test`, which replays the corpora on stable instead.
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?=
FUZZ_TOOLCHAIN ?= nightly
FUZZ_BINS := fuzz/target/x86_64-unknown-linux-gnu/release
fuzz: guests
	toolchain=$$(scripts/fuzz-setup.sh $(FUZZ_TOOLCHAIN)) && \
		CC=$(abspath scripts/fuzz-cc.sh) $(CARGO) +$$toolchain fuzz build
	$(CARGO) build --locked -q -p attach-fuzz --bin attach-fuzz
	target/debug/attach-fuzz seeds target/fuzz-seeds
	ATTACH_GUEST_DIR=$(GUEST_DIR) ATTACH_GUEST_TRUSTED_KEYS=$(TRUSTED_KEYS) target/debug/attach-fuzz run \
		--bins $(FUZZ_BINS) --seeds target/fuzz-seeds --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)
