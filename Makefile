# poller: `make demo` runs the delay demo, `make test` runs every check:
# formatting, vet for each supported OS, the Linux suite with -race, then the
# Windows suite under Wine (mingw.mk installs what that needs).

GO ?= go
export GOFLAGS ?=
UNIX_VET_OS := darwin freebsd netbsd openbsd dragonfly

.PHONY: all demo test test-linux test-deps fmt-check vet

all: test

demo:
	$(GO) run ./examples/delay

# windows-deps first: vet (which installs nothing) needs mingw-w64 for the
# windows/amd64 cgo build.
test: windows-deps fmt-check vet test-linux test-windows

fmt-check:
	@out=$$(gofmt -l . | grep -v '^bench/vendor' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: vet-windows
	$(GO) vet ./...
	@for os in $(UNIX_VET_OS); do \
		echo "CGO_ENABLED=0 GOOS=$$os $(GO) vet ./..."; \
		CGO_ENABLED=0 GOOS=$$os $(GO) vet ./... || exit 1; \
	done
	CGO_ENABLED=0 $(GO) build ./...

# The whole suite in the default wait mode (netpoll on Linux), then the root
# package again in the other one (POLLER_WAIT, read by New: poller_unix_netpoll.go).
test-linux: test-deps
	$(GO) test -race -count=1 ./...
	POLLER_WAIT=block $(GO) test -race -count=1 .

# Clients nobody here wrote drive the examples in their tests:
# redis-benchmark (Debian's redis-tools) examples/resp, wrk examples/http;
# ip (iproute2) sets up the network namespace of the multicast test.
TEST_DEPS := redis-benchmark:redis-tools wrk:wrk ip:iproute2

test-deps:
	@missing=; for dep in $(TEST_DEPS); do \
		command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "test-deps: missing: apt-get install$$missing (as root)" >&2; exit 1; fi; \
	echo "test-deps: apt-get install$$missing"; \
	apt-get update -qq </dev/null && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null >/dev/null

include mingw.mk
include bench.mk
include stress.mk
