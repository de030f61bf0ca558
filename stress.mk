# stress.mk - full-size load and soak tests, and bounded fuzzing. Included by
# the top-level Makefile after mingw.mk, whose Wine setup (WINENV,
# wine-prefix, WINE_STOP) the Windows runs use.
#
# Targets:
#   stress          stress-linux, then stress-windows
#   stress-linux    TestLoadEcho full size (10,000 connections, 1 MB each,
#                   echoed and checked byte for byte), 1,000,000 Wake/Wait
#                   cycles, 100,000 register/deregister cycles, Poll.Close
#                   with 1,000 pending sockets; prints the counts checked
#   stress-windows  the same under Wine with 500 connections, once with the
#                   C core and once with the pure-Go core (CGO_ENABLED=0)
#   fuzz            fuzzes FuzzRegistry for FUZZTIME (default 60s) and prints
#                   how long it ran and how many inputs it executed; a
#                   failing input is saved under testdata/fuzz/FuzzRegistry

STRESS_RUN ?= ^(TestLoadEcho|TestSoakWakeWait|TestSoakRegisterDeregister|TestFaultCloseWithThousandPending)$$
STRESS_TESTFLAGS ?= -count=1 -v -timeout 30m -run '$(STRESS_RUN)'
FUZZTIME ?= 60s

# $(call stress-run,LABEL,ENV,ON_FAILURE): runs the full-size tests with
# ENV, keeps the log in build/, shows the results and the counts the tests
# checked; if they fail, shows the log's end, runs ON_FAILURE and fails.
stress-run = @mkdir -p $(BUILD); log=$(BUILD)/stress-$(1).log; \
	echo "== stress ($(1)): $(2) $(GO) test $(STRESS_TESTFLAGS) . -poller.stress"; \
	start=$$(date +%s); \
	$(2) $(GO) test $(STRESS_TESTFLAGS) . -poller.stress >$$log 2>&1; st=$$?; \
	grep -E '^(--- |ok|FAIL|panic)' $$log; sed -n 's/.*STRESS /   /p' $$log; \
	echo "== stress ($(1)): exit $$st after $$(( $$(date +%s) - start )) s, log $$log"; \
	[ $$st = 0 ] || { tail -40 $$log; $(if $(3),$(3);) exit $$st; }

.PHONY: stress stress-linux stress-windows fuzz

stress: stress-linux stress-windows

stress-linux:
	$(call stress-run,linux,)

stress-windows: wine-prefix
	$(call stress-run,wine-c-core,$(WINENV),$(WINE_STOP))
	$(call stress-run,wine-go-core,$(WINENV) CGO_ENABLED=0,$(WINE_STOP))
	@$(WINE_STOP)

fuzz:
	@mkdir -p $(BUILD); log=$(BUILD)/fuzz.log; \
	echo "== fuzz: $(GO) test -run '^$$' -fuzz '^FuzzRegistry$$' -fuzztime $(FUZZTIME) ."; \
	start=$$(date +%s); \
	$(GO) test -run '^$$' -fuzz '^FuzzRegistry$$' -fuzztime $(FUZZTIME) . 2>&1 | tee $$log; \
	st=$$(grep -q '^ok' $$log && echo 0 || echo 1); \
	last=$$(grep 'fuzz: elapsed' $$log | tail -1); \
	echo "== fuzz: FuzzRegistry ran $$(( $$(date +%s) - start )) s;" \
		"executions: $$(echo "$$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')" \
		"(last progress line: $$last)"; \
	exit $$st
