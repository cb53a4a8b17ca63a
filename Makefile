# Park — see README.md. Every target runs on a fresh machine with Go,
# PostgreSQL 15 server binaries and (for tests) redis-server.

GO        ?= go
BIN       := bin
PKGS      := ./...
TESTFLAGS ?= -race -timeout 15m
BENCHTIME ?= 6s

.PHONY: all build run test unit lint fmt vet bench clean

all: build

build:
	$(GO) build -o $(BIN)/parkd ./cmd/parkd
	$(GO) build -o $(BIN)/parkctl ./cmd/parkctl

# parkd dev: a throwaway local Postgres, roles, migrations, a demo tenant,
# served on 127.0.0.1:8000. Ctrl-C stops everything it started.
run: build
	./$(BIN)/parkd dev

# The whole gate CI runs: formatting, vet, and every test (race detector on,
# testscript scenarios included) against real Postgres and Redis.
test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Benchmarks compare against a baseline in the same run; see BENCHMARKS.md.
# Every benchmark of the module runs (the packages that declare one, so no
# test binary is built for nothing), one package at a time (-p 1, so no two
# load the machine at once), each (sub-)benchmark for BENCHTIME: each side
# of each round of a comparison. benchreport echoes the output and writes
# the figures block of BENCHMARKS.md; it exits 1 when a benchmark failed or
# is missing.
BENCHFLAGS = -p 1 -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 10m
bench:
	$(GO) build -o $(BIN)/benchreport ./internal/benchreport
	pkgs=$$(./$(BIN)/benchreport -packages) && \
	$(GO) test -json $(BENCHFLAGS) $$pkgs | ./$(BIN)/benchreport -file BENCHMARKS.md \
		-command 'make bench' -runs "go test -json $(subst $$,\$$,$(BENCHFLAGS)) $$pkgs | benchreport" \
		-settings "-benchtime $(BENCHTIME) per side and round, packages one at a time (-p 1)"

clean:
	rm -rf $(BIN)
