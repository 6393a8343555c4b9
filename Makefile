# textgan — the two set-up commands of the README.
CARGO ?= cargo
# The release binary wherever cargo puts it (CARGO_TARGET_DIR, build.target-dir respected).
BIN := $(CARGO) run --release --quiet --
DEMO_MINUTES ?= 5

.PHONY: demo test build install lint doc check-lib check-cuda clean-demo

build:
	$(CARGO) build --release

# Train on the shipped corpus for a few minutes (into models/demo, replacing an earlier demo),
# then print samples from what was trained.
demo: build
	$(BIN) train corpora/wordnet.txt --out models/demo --minutes $(DEMO_MINUTES) --force
	@echo
	@echo "samples from models/demo:"
	$(BIN) generate --model models/demo -n 20

test:
	$(CARGO) test

# `textgan` on the PATH: cargo installs it into ~/.cargo/bin (or $$CARGO_INSTALL_ROOT/bin).
install:
	$(CARGO) install --locked --path .

# The library alone, without the command line's dependencies (the `cli` feature).
check-lib:
	$(CARGO) check --lib --no-default-features

# The CUDA build compiled (no GPU needed; nvcc comes from PyPI into target/cuda-venv).
check-cuda:
	scripts/check-cuda.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# The API documentation; a warning (a broken or private intra-doc link, a malformed doc
# comment) fails the build, so the links cannot rot unseen.
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps
