# edgeio: `make run` starts the server, `make test` runs every test. Both install what they
# need first (npm packages, Debian's python3-socketio and redis-server).
GO        ?= go
BIN       := bin/edgeio
COVER_BIN := bin/edgeio-cover
COVER_DIR := $(CURDIR)/.cover
MIN_COVERAGE ?= 80
# Fuzz budgets are counts of inputs, not durations: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" as time runs out, with no
# failing input (go.dev/issue/75804). 100,000 inputs took 3-5 s a target on this 2-core VM.
FUZZTIME  ?= 500000x
TEST_FUZZTIME ?= 100000x
ARGS      ?=

.PHONY: build web run deps test unit e2e lint bench bench-go profile conformance fuzz clean

build: web
	$(GO) build -o $(BIN) .

# The TypeScript SDK (hub/sdk/dist) and the demo's bundle (hub/demo/static/dist), which the
# binary embeds; quick when nothing changed.
web:
	bash scripts/build-web.sh

run: build
	./$(BIN) $(ARGS)

deps:
	bash scripts/install-deps.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# Unit tests (with the race detector) and the end-to-end suites against a coverage build of
# the binary; the coverage of both together must reach MIN_COVERAGE.
test: deps lint
	rm -rf $(COVER_DIR) && mkdir -p $(COVER_DIR)/unit $(COVER_DIR)/e2e
	$(MAKE) unit e2e
	bash scripts/coverage.sh $(COVER_DIR) $(MIN_COVERAGE)
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

unit:
	$(GO) test -race -count=1 -cover -coverpkg=edgeio/... ./... -args -test.gocoverdir=$(COVER_DIR)/unit

e2e: web
	$(GO) build -cover -covermode=atomic -coverpkg=edgeio/... -o $(COVER_BIN) .
	cd e2e && EDGEIO_BIN=$(CURDIR)/$(COVER_BIN) GOCOVERDIR=$(COVER_DIR)/e2e npm test

# The bundled harness, full scenario (10,000 connections, rooms of 100, 1,000 messages/s),
# against edgeio, the bare relay (the floor) and the Node peer in one run, compared;
# TARGETS=, RATES=, CONNS=, DURATION=... (scripts/bench.sh).
bench: build
	bash scripts/bench.sh

# Go benchmarks of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./codec ./shard ./server/... ./hub/...

# A benchmark run with CPU, heap, allocs and goroutine profiles saved under profiles/.
profile: build
	PROFILE=1 bash scripts/bench.sh

# Runs the official protocol suites from copies the user points at:
#   EIO_SUITE=... SIO_SUITE=... EIO3_SUITE=... make conformance
conformance: build
	bash scripts/conformance.sh

fuzz:
	@for pkg in ./codec ./server/engine ./server/recovery ./server/security; do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

clean:
	rm -rf bin $(COVER_DIR)
