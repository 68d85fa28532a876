# attachd: the two entry points are `make demo` and `make test`; both set up what they need.
CARGO ?= cargo
GUEST_DIR ?= target/guests

.PHONY: demo test setup guests check bench

setup:
	scripts/setup.sh

# Builds the guest components (wasm32-wasip2) with their manifests into $(GUEST_DIR).
guests: setup
	scripts/build-guests.sh $(GUEST_DIR)

# Processes the bundled samples into ./out and prints one JSON line per file.
demo: guests
	$(CARGO) build --locked -q -p attachd
	rm -rf out
	ATTACH_GUEST_DIR=$(GUEST_DIR) target/debug/attachd process $(wildcard samples/*.jpg samples/*.png samples/*.gif samples/*.webp) --out out

# Every test: the media libraries natively, and the host against the real guests.
test: guests
	ATTACH_GUEST_DIR=$(GUEST_DIR) $(CARGO) test --locked --workspace --exclude guest-probe \
		--exclude guest-thumbnail --exclude guest-scan --exclude hostile-guest

# Lints the native crates and the guests.
check: guests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Thumbnail benchmark: sandbox vs the same library native vs sharp; prints a table.
# Built first on every core, then run pinned to one core.
bench: guests
	cd tests/bench && npm ci --no-audit --no-fund
	$(CARGO) bench --locked -p attachd --bench thumbnail --no-run
	ATTACH_GUEST_DIR=$(GUEST_DIR) taskset -c 0 $(CARGO) bench --locked -p attachd --bench thumbnail
