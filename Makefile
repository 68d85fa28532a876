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
	ATTACH_GUEST_DIR=$(GUEST_DIR) target/debug/attachd process samples/*.* --out out

# Every test: the media libraries natively, and the host against the real guests.
test: guests
	ATTACH_GUEST_DIR=$(GUEST_DIR) $(CARGO) test --locked --workspace --exclude guest-probe \
		--exclude guest-thumbnail --exclude guest-scan --exclude hostile-guest

# Lints the native crates and the guests.
check: guests
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
