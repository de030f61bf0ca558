# poller: `make demo` runs the delay demo, `make test` runs every check:
# formatting, vet for each supported OS, the Linux suite with -race, then the
# Windows suite under Wine (mingw.mk installs what that needs).

GO ?= go
export GOFLAGS ?=
UNIX_VET_OS := darwin freebsd netbsd openbsd dragonfly

.PHONY: all demo test test-linux fmt-check vet

all: test

demo:
	$(GO) run ./examples/delay

test: fmt-check vet test-linux test-windows

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

test-linux:
	$(GO) test -race -count=1 ./...

include mingw.mk
-include bench.mk
-include stress.mk
