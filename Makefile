# offtake — the two commands a new machine needs:
#   make demo   runs the whole job end to end on embedded defaults
#   make test   runs every test against real PostgreSQL and an in-process Kafka broker
# Both start or install what they need (see scripts/ensure-postgres.sh).

export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO ?= go
BIN := bin/offtake

.PHONY: demo test build vet fuzz bench check-go clean

build: check-go
	$(GO) build -o $(BIN) ./cmd/offtake

demo: build
	@scripts/ensure-postgres.sh
	./$(BIN) demo

test: check-go
	@scripts/ensure-postgres.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# Each fuzz target briefly. make test fuzzes by count (a duration can trip
# golang/go#75804, a fuzz-coordinator race); FUZZTIME=1m make fuzz runs longer.
FUZZTIME ?= 30s
fuzz: check-go
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./contracts
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReading$$' -fuzztime $(FUZZTIME) ./messages
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePrice$$' -fuzztime $(FUZZTIME) ./messages
	$(GO) test -run '^$$' -fuzz '^FuzzBuild$$' -fuzztime $(FUZZTIME) ./replay

bench: check-go
	@scripts/ensure-postgres.sh
	$(GO) test -run '^$$' -bench . -benchmem ./matching ./ledger/postgres ./devbroker

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "make: Go is not installed: install Go 1.26 or later (https://go.dev/doc/install) and put it on PATH" >&2; exit 1; }

clean:
	rm -rf bin out
