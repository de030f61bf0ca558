# mingw.mk - build and test the Windows backend on Linux: cross-compile with
# mingw-w64, run under Wine. Included by the top-level Makefile, which defines
# GO (?= go). Nothing here touches the user's ~/.wine: every Wine run uses the
# project's own prefix, $(WINEPREFIX) under build/.
#
# Targets:
#   windows-deps         install mingw-w64 and Wine if missing (as root), else explain
#   wine-prefix          build the ProcessPrng shim DLL, install it and the
#                        go_windows_amd64_exec wrapper, create the prefix once
#   test-windows         every Windows run: the parts below, in the order listed
#                        (its one definition, after wine-prefix)
#   test-windows-cgo     go test (cgo: the C core), under Wine
#   test-windows-race    go test -race (cgo) with the C core, then with the
#                        pure-Go core (POLLER_CORE=go), under Wine
#   test-windows-purego  go test with CGO_ENABLED=0 (pure-Go core), under Wine
#   test-csrc            the C core's own tests (csrc/core_test.c, csrc/ovl_test.c,
#                        built with -DIOCP_CHECKS=1), under Wine
#   demo-windows         go run ./examples/delay under Wine, then examples/echo
#                        with its -load client: a Wine smoke figure
#   vet-windows          go vet for windows/amd64 (cgo on and off), windows/386 and
#                        windows/arm64 (cgo off); installs nothing
#   test-windows-386     the suite as windows/386 (pure-Go core) under 32-bit Wine;
#                        installs wine32 and gcc-mingw-w64-i686 as root, else skips
#                        loudly (end of file)
#   wine-stop            stop this prefix's wineserver (never anyone else's)
#   wine-clean           stop it and delete the prefix (~700 MB)
#   bench-windows        both Windows cores' crossings into BENCHMARKS.md (end of file)
#   test-windows-overlapped  the suite with the overlapped engine forced (end of file)
#   bench-engines        AFD and overlapped engines into BENCHMARKS.md (end of file)

MINGW_CC ?= x86_64-w64-mingw32-gcc

# The Wine loader. Debian's wine64 package puts it at /usr/lib/wine/wine64,
# not on PATH. Recursive (=) on purpose: evaluated when a recipe runs, so it
# is found even when windows-deps has just installed it.
WINE ?= $(shell if [ -x /usr/lib/wine/wine64 ]; then echo /usr/lib/wine/wine64; \
	else command -v wine64 || command -v wine; fi 2>/dev/null)
WINESERVER ?= $(shell if [ -x /usr/lib/wine/wineserver64 ]; then echo /usr/lib/wine/wineserver64; \
	else command -v wineserver64 || command -v wineserver; fi 2>/dev/null)

BUILD := $(CURDIR)/build
WINEPREFIX := $(BUILD)/wineprefix

# Environment for building windows/amd64 with cgo and running the results
# under Wine: go test and go run find build/bin/go_windows_amd64_exec on PATH.
WINENV = CC=$(MINGW_CC) CGO_ENABLED=1 GOOS=windows GOARCH=amd64 \
	PATH=$(BUILD)/bin:$$PATH WINEPREFIX=$(WINEPREFIX) WINEDEBUG=-all WINE=$(WINE) WINESERVER=$(WINESERVER)

# Packages tested under Wine, and go test's flags there.
WINDOWS_PKGS ?= . ./evloop/
WINDOWS_TESTFLAGS ?= -count=1 -timeout 15m

# Libraries the C core links with.
CSRC_LIBS ?= -lws2_32 -lmswsock -lntdll

WINE_SHIM := $(BUILD)/bcryptprimitives.dll
WINE_SHIM_INSTALLED := $(WINEPREFIX)/drive_c/windows/system32/bcryptprimitives.dll
WINE_EXEC := $(BUILD)/bin/go_windows_amd64_exec
WINE_STAMP := $(WINEPREFIX)/.poller-prefix-ready

# Stops this prefix's wineserver; tolerant of there being none.
WINE_STOP = if [ -n "$(WINESERVER)" ]; then WINEPREFIX=$(WINEPREFIX) $(WINESERVER) -k 2>/dev/null; fi; true
# Appended to a recipe line: on failure, stop the wineserver, then fail.
OR_WINE_STOP = || { st=$$?; $(WINE_STOP); exit $$st; }
# $(call wine-run,COMMAND): show COMMAND, run it, and on failure stop the
# wineserver and fail.
wine-run = @echo '$(subst ','\'',$(1))'; $(1) $(OR_WINE_STOP)

.PHONY: windows-deps wine-prefix test-windows test-windows-cgo test-windows-race \
	test-windows-purego test-csrc demo-windows vet-windows wine-stop wine-clean

windows-deps:
	@missing=; \
	command -v $(MINGW_CC) >/dev/null 2>&1 || missing="$$missing gcc-mingw-w64-x86-64"; \
	[ -n "$(WINE)" ] && command -v "$(WINE)" >/dev/null 2>&1 || missing="$$missing wine64"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "windows-deps: not found: $(MINGW_CC) (Debian package gcc-mingw-w64-x86-64) and/or" \
			"the Wine loader (/usr/lib/wine/wine64, Debian package wine64)." >&2; \
		echo "windows-deps: install them as root:" \
			"apt-get install -y --no-install-recommends$$missing" >&2; \
		exit 1; \
	fi; \
	echo "windows-deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q </dev/null && \
	apt-get install -y -q --no-install-recommends$$missing </dev/null || exit 1; \
	command -v $(MINGW_CC) >/dev/null 2>&1 || { echo "windows-deps: $(MINGW_CC) still not found" >&2; exit 1; }; \
	[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || command -v wine >/dev/null 2>&1 || \
		{ echo "windows-deps: Wine still not found" >&2; exit 1; }

# Go >= 1.22 needs bcryptprimitives.dll!ProcessPrng, which Wine 8 lacks.
$(WINE_SHIM): csrc/bcryptprimitives.c | windows-deps
	@mkdir -p $(@D)
	$(MINGW_CC) -O2 -Wall -Wextra -shared -s -o $@ $< -ladvapi32

# Go loads it from system32 only; it goes in before the prefix is first
# created, and creating the prefix keeps it.
$(WINE_SHIM_INSTALLED): $(WINE_SHIM)
	@mkdir -p $(@D)
	cp $< $@

$(WINE_EXEC): csrc/go_windows_amd64_exec
	@mkdir -p $(@D)
	cp $< $@
	chmod 755 $@

# Create the prefix once (about 10 s). No display, no stdin; mscoree/mshtml
# disabled so Wine does not offer to install Mono/Gecko. The one line
# "...syswow64\rundll32.exe ... c0000135" it may print is harmless (no 32-bit
# Wine installed). wineserver -w waits until the prefix is written out.
$(WINE_STAMP): | $(WINE_SHIM_INSTALLED) windows-deps
	@echo "wine-prefix: creating $(WINEPREFIX)"
	env -u DISPLAY -u WAYLAND_DISPLAY WINEPREFIX=$(WINEPREFIX) WINEARCH=win64 WINEDEBUG=-all \
		WINEDLLOVERRIDES="mscoree,mshtml=" $(WINE) wineboot -i </dev/null
	WINEPREFIX=$(WINEPREFIX) $(WINESERVER) -w
	@cmp -s $(WINE_SHIM) $(WINE_SHIM_INSTALLED) || \
		{ echo "wine-prefix: $(WINE_SHIM_INSTALLED) lost during prefix creation" >&2; exit 1; }
	@touch $@

wine-prefix: $(WINE_STAMP) $(WINE_SHIM_INSTALLED) $(WINE_EXEC)

# Every Windows run. test-windows-overlapped and test-windows-386 are
# defined further down, with what they need.
test-windows: test-windows-cgo test-windows-race test-windows-purego test-csrc \
	test-windows-overlapped test-windows-386

test-windows-cgo: wine-prefix
	$(call wine-run,$(WINENV) $(GO) test $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS))
	@$(WINE_STOP)

test-windows-race: wine-prefix
	$(call wine-run,$(WINENV) $(GO) test -race $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS))
	$(call wine-run,$(WINENV) POLLER_CORE=go $(GO) test -race $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS))
	@$(WINE_STOP)

test-windows-purego: wine-prefix
	$(call wine-run,$(WINENV) CGO_ENABLED=0 $(GO) test $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS))
	@$(WINE_STOP)

# The C core's tests: build/NAME.exe from csrc/NAME.c, linked with the
# shared harness (csrc/testlib.c) and the core's three sources (whose
# //go:build lines are C comments), with the core's assertions on
# (IOCP_CHECK, iocp_int.h). csrc/core_test.c tests the core through
# iocp.h, csrc/ovl_test.c its overlapped engine.
CSRC_TESTS = core_test ovl_test
CORE_SRCS = iocp.c iocp_afd.c iocp_ovl.c
CORE_HDRS = iocp.h iocp_int.h

$(BUILD)/%.exe: csrc/%.c csrc/testlib.c csrc/testlib.h $(CORE_SRCS) $(CORE_HDRS) mingw.mk | windows-deps
	@mkdir -p $(@D)
	$(MINGW_CC) -O2 -Wall -Wextra -DIOCP_CHECKS=1 -I. -o $@ $< csrc/testlib.c $(CORE_SRCS) $(CSRC_LIBS)

test-csrc: wine-prefix $(CSRC_TESTS:%=$(BUILD)/%.exe)
	@for t in $(CSRC_TESTS); do \
		echo "$(WINE_EXEC) $(BUILD)/$$t.exe"; \
		WINEPREFIX=$(WINEPREFIX) WINE=$(WINE) WINESERVER=$(WINESERVER) $(WINE_EXEC) $(BUILD)/$$t.exe \
			$(OR_WINE_STOP); \
	done
	@$(WINE_STOP)

demo-windows: wine-prefix
	$(call wine-run,$(WINENV) $(GO) run ./examples/delay)
	@echo "examples/echo under Wine, with a client: a Wine smoke figure (Wine is 10-100x slower than Windows; not a Windows number)"
	$(call wine-run,$(WINENV) $(GO) run ./examples/echo -addr 127.0.0.1:0 -load 3s)
	@$(WINE_STOP)

# Installs nothing: without mingw-w64 the cgo vet fails and says what to
# install (make test runs windows-deps before it).
vet-windows:
	@command -v $(MINGW_CC) >/dev/null 2>&1 || { echo "vet-windows: $(MINGW_CC) not found:" \
		"apt-get install gcc-mingw-w64-x86-64 (or make windows-deps, as root)" >&2; exit 1; }
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=$(MINGW_CC) $(GO) vet ./...
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) vet ./...
	GOOS=windows GOARCH=386 CGO_ENABLED=0 $(GO) vet ./...
	GOOS=windows GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./...

wine-stop:
	@$(WINE_STOP)
	@$(WINE_STOP32)

wine-clean: wine-stop
	rm -rf $(WINEPREFIX) $(WINEPREFIX32)

# ---------------------------------------------------------------------------
# bench-windows: the two Windows cores side by side (the C core, iocp.c, and
# the pure-Go core, core_go_windows.go). Runs BenchmarkCores
# (bench_windows_test.go) under Wine in one cgo binary holding both cores:
# Go-to-OS crossings per Wait, per event and per Read-until-ErrWouldBlock at
# 1, 64 and 1,024 ready sockets, plus ns per event (Wine smoke figures).
# It rewrites the "Windows cores" section of BENCHMARKS.md, between
# <!-- windows:begin --> and <!-- windows:end -->, and nothing else.

WINDOWS_BENCHFLAGS ?= -benchtime 20x

.PHONY: bench-windows

bench-windows: wine-prefix
	$(call wine-run,$(WINENV) POLLER_BENCH_MD=BENCHMARKS.md $(GO) test -count=1 -run '^$$' -bench '^BenchmarkCores$$' $(WINDOWS_BENCHFLAGS) .)
	@$(WINE_STOP)

# ---------------------------------------------------------------------------
# The overlapped engine (iocp_ovl.c: the C core's fallback for sockets AFD
# cannot poll).
#
# test-windows-overlapped: the package's tests under Wine with -race, with
# the engine forced for every socket (POLLER_WINDOWS_ENGINE=overlapped). A
# test that cannot apply to this engine skips itself and says why
# (requireAFD in helpers_windows_test.go: the pure-Go core has no overlapped
# engine; tests of the automatic choice; streams accepted before they are
# registered, which a connect deferred to Register cannot serve); they run
# in test-windows. test-windows runs it.
#
# bench-engines: AFD and the overlapped engine side by side (C memory per
# idle registration, crossings per event); rewrites BENCHMARKS.md between
# <!-- engines:begin --> and <!-- engines:end -->, and nothing else.

.PHONY: test-windows-overlapped bench-engines

test-windows-overlapped: wine-prefix
	$(call wine-run,$(WINENV) POLLER_WINDOWS_ENGINE=overlapped $(GO) test -race $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS))
	@$(WINE_STOP)

bench-engines: wine-prefix
	$(call wine-run,$(WINENV) POLLER_ENGINES_MD=BENCHMARKS.md $(GO) test -count=1 -run '^TestOverlappedEngineFigures$$' .)
	@$(WINE_STOP)

# ---------------------------------------------------------------------------
# test-windows-386: the suite built as windows/386 (CGO_ENABLED=0: the
# pure-Go core with its 32-bit layouts, core_go_windows_386.go) under
# Debian's 32-bit Wine (WoW64: the 386 shim goes to syswow64). It keeps a
# prefix of its own, $(WINEPREFIX32), created once wine32 is there: a
# prefix created before (as $(WINEPREFIX) is on a fresh machine, where
# wine32 comes later) has no 32-bit side, and wineboot -u does not add one.
# Needs the i386 architecture, wine32 and gcc-mingw-w64-i686 (for the
# 32-bit shim). As root they are installed when missing (measured on
# bookworm: apt-get update 6 s, install 51 s, 113 packages, 260 MB of
# archives); otherwise, or if the install fails, the target prints SKIPPED
# and what to install, and does not fail, so that make test passes on a
# machine without i386 packages. The 32-bit shim is linked with --kill-at:
# Go looks up "ProcessPrng", not stdcall's "ProcessPrng@8".

MINGW_CC32 ?= i686-w64-mingw32-gcc
WINE32 ?= /usr/lib/wine/wine
WINEPREFIX32 := $(BUILD)/wineprefix-wow64
WINE_SHIM32 := $(BUILD)/bcryptprimitives32.dll
WINE_SHIM32_INSTALLED := $(WINEPREFIX32)/drive_c/windows/syswow64/bcryptprimitives.dll
WINE_EXEC32 := $(BUILD)/bin/go_windows_386_exec
WINE_STAMP32 := $(WINEPREFIX32)/.poller-prefix-ready
WINENV386 = CGO_ENABLED=0 GOOS=windows GOARCH=386 \
	PATH=$(BUILD)/bin:$$PATH WINEPREFIX=$(WINEPREFIX32) WINEDEBUG=-all WINE=$(WINE32) WINESERVER=$(WINESERVER)
WINE_STOP32 = if [ -n "$(WINESERVER)" ]; then WINEPREFIX=$(WINEPREFIX32) $(WINESERVER) -k 2>/dev/null; fi; true

.PHONY: windows-deps-386 test-windows-386

# Exits 0 with the tools there, 1 (having said why) without.
windows-deps-386:
	@have() { [ -x $(WINE32) ] && command -v $(MINGW_CC32) >/dev/null 2>&1; }; \
	have && exit 0; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "windows-deps-386: not root: install 32-bit Wine and mingw as root:" \
			"dpkg --add-architecture i386 && apt-get update && apt-get install --no-install-recommends wine32 gcc-mingw-w64-i686" >&2; \
		exit 1; fi; \
	echo "windows-deps-386: installing wine32:i386 and gcc-mingw-w64-i686"; \
	export DEBIAN_FRONTEND=noninteractive; \
	dpkg --add-architecture i386 && apt-get update -q </dev/null && \
	apt-get install -y -q --no-install-recommends wine32 gcc-mingw-w64-i686 </dev/null && have || \
		{ echo "windows-deps-386: the install failed" >&2; exit 1; }

$(WINE_SHIM32): csrc/bcryptprimitives.c
	@mkdir -p $(@D)
	$(MINGW_CC32) -O2 -Wall -Wextra -shared -s -Wl,--kill-at -o $@ $< -ladvapi32

# Like $(WINE_STAMP): the shims go in before the prefix is created, which
# keeps them.
$(WINE_STAMP32): $(WINE_SHIM32) $(WINE_SHIM)
	@mkdir -p $(dir $(WINE_SHIM32_INSTALLED)) $(WINEPREFIX32)/drive_c/windows/system32
	cp $(WINE_SHIM32) $(WINE_SHIM32_INSTALLED)
	cp $(WINE_SHIM) $(WINEPREFIX32)/drive_c/windows/system32/bcryptprimitives.dll
	@echo "wine-prefix: creating $(WINEPREFIX32)"
	env -u DISPLAY -u WAYLAND_DISPLAY WINEPREFIX=$(WINEPREFIX32) WINEARCH=win64 WINEDEBUG=-all \
		WINEDLLOVERRIDES="mscoree,mshtml=" $(WINE) wineboot -i </dev/null
	WINEPREFIX=$(WINEPREFIX32) $(WINESERVER) -w
	@[ -f $(WINEPREFIX32)/drive_c/windows/syswow64/kernel32.dll ] || \
		{ echo "wine-prefix: $(WINEPREFIX32) has no 32-bit side" >&2; exit 1; }
	@cmp -s $(WINE_SHIM32) $(WINE_SHIM32_INSTALLED) || \
		{ echo "wine-prefix: $(WINE_SHIM32_INSTALLED) lost during prefix creation" >&2; exit 1; }
	@touch $@

test-windows-386: wine-prefix
	@if ! $(MAKE) --no-print-directory windows-deps-386; then \
		echo "test-windows-386: SKIPPED: no 32-bit Wine (see above); windows/386 is only vetted"; exit 0; fi; \
	$(MAKE) --no-print-directory $(WINE_STAMP32) && \
	cp csrc/go_windows_amd64_exec $(WINE_EXEC32) && chmod 755 $(WINE_EXEC32) && \
	echo '$(WINENV386) $(GO) test $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS)' && \
	$(WINENV386) $(GO) test $(WINDOWS_TESTFLAGS) $(WINDOWS_PKGS) || { st=$$?; $(WINE_STOP32); exit $$st; }
	@$(WINE_STOP32)
