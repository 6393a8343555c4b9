# textgan — the two set-up commands of the README.
CARGO ?= cargo
BIN := target/release/textgan
DEMO_MINUTES ?= 5

.PHONY: demo test build lint clean-demo

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

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
