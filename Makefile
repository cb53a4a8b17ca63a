# Park — see README.md. Every target runs on a fresh machine with Go,
# PostgreSQL 15 server binaries and (for tests) redis-server.

GO        ?= go
BIN       := bin
PKGS      := ./...
TESTFLAGS ?= -race -timeout 15m
BENCHTIME ?= 6s

.PHONY: all build run test unit lint fmt vet bench bench-scale clean

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
# is missing. BENCHSKIP names the benchmarks left out on purpose (go test
# -skip; benchreport lists them as such): the many-tenants one, which is
# make bench-scale.
BENCHSKIP = ^BenchmarkScale$$
BENCHFLAGS = -p 1 -run '^$$' -bench . -skip '$(BENCHSKIP)' -benchtime $(BENCHTIME) -timeout 10m
bench:
	$(GO) build -o $(BIN)/benchreport ./internal/benchreport
	pkgs=$$(./$(BIN)/benchreport -packages) && \
	$(GO) test -json $(BENCHFLAGS) $$pkgs | ./$(BIN)/benchreport -file BENCHMARKS.md -save $(BIN)/bench.json -exclude '$(BENCHSKIP)' \
		-command 'make bench' -runs "go test -json $(subst $$,\$$,$(BENCHFLAGS)) $$pkgs | benchreport" \
		-settings "-benchtime $(BENCHTIME) per side and round, packages one at a time (-p 1)"

# The many-tenants benchmark (BENCHMARKS.md), not part of bench: 1,000
# tenants, 500,000 spaces and 10 million readings made server-side in a
# durable cluster of its own (about 6 GB under /tmp), then the API list read
# and the ingest load for one tenant among them against the same tenant
# alone, in the same run. -v prints the set-up times and the query plans.
bench-scale:
	PARK_BENCH_SCALE=1 $(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime $(BENCHTIME) -timeout 30m -v ./internal/httpapi

clean:
	rm -rf $(BIN)
