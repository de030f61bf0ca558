# bench.mk - `make bench`: poller measured side by side with package net,
# gnet and redis-server on this machine (Linux), in one run that rewrites the
# "Linux" section of BENCHMARKS.md and draws BENCHMARKS.svg. Included by the top-level Makefile, which
# defines GO. The benchmarks live in bench/, a module of its own, so that the
# library keeps no dependencies.
#
# Targets:
#   bench        bench-deps, bench-build, then every suite (about 6 minutes)
#   bench-deps   install redis-server, redis-tools and wrk with apt when missing
#   bench-build  build the servers, clients, the C epoll loop and the C echo
#                floor into build/bench/bin
#   bench-vet    go vet and gofmt for the bench module
#
# BENCHFLAGS passes flags to the driver, e.g. BENCHFLAGS='-suites echo -runs 7'.

BENCH_BIN := $(CURDIR)/build/bench/bin
BENCHFLAGS ?=
BENCH_CC ?= gcc

.PHONY: bench bench-deps bench-build bench-vet

bench: bench-deps bench-build
	$(BENCH_BIN)/bench -bin $(BENCH_BIN) -out $(CURDIR)/BENCHMARKS.md $(BENCHFLAGS)

bench-deps:
	@if [ "$$(uname -s)" != Linux ]; then echo "bench: Linux only"; exit 1; fi
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "apt-get install redis-server redis-tools"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null || exit 1; \
		else \
			echo "bench: needs redis-server and redis-benchmark: apt-get install redis-server redis-tools (as root)"; exit 1; \
		fi; \
	fi
	@command -v $(BENCH_CC) >/dev/null 2>&1 || { echo "bench: needs a C compiler ($(BENCH_CC))"; exit 1; }
	@$(MAKE) --no-print-directory test-deps # wrk, for the HTTP plaintext suite

bench-build:
	@mkdir -p $(BENCH_BIN)
	$(GO) build -o $(BENCH_BIN)/ ./examples/echo ./examples/resp ./examples/http
	cd bench && $(GO) build -o $(BENCH_BIN)/ ./cmd/...
	$(BENCH_CC) -O2 -Wall -o $(BENCH_BIN)/epollwait bench/c/epollwait.c
	$(BENCH_CC) -O2 -Wall -o $(BENCH_BIN)/cecho bench/c/echo.c

bench-vet:
	cd bench && $(GO) vet ./... && test -z "$$(gofmt -l .)"
