/*
 * testlib.h: the harness shared by the C core's test programs
 * (csrc/core_test.c for the AFD engine, csrc/ovl_test.c for the overlapped
 * engine): assertion macros, loopback sockets, waiting for records, handle
 * counting, and the runner with its leak checks. Implemented in
 * csrc/testlib.c, which is linked into both programs.
 */

#ifndef POLLER_TESTLIB_H
#define POLLER_TESTLIB_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../iocp.h"

/* ---- assertions ---- */

/* Failed checks in the running test; the runner zeroes it before each. */
extern int test_failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("    FAIL %s:%d: %s\n", __FILE__, __LINE__, \
			       #cond);                                     \
			test_failures++;                                   \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                      \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		if (a_ != b_) {                                             \
			printf("    FAIL %s:%d: %s == %s (%lld != %lld)\n",    \
			       __FILE__, __LINE__, #a, #b, a_, b_);         \
			test_failures++;                                    \
		}                                                           \
	} while (0)

#define CHECK_OK(call) CHECK_EQ((call), 0)

/* ---- sockets (all overlapped-capable and non-blocking, as poller's are) ---- */

/* A new socket of type SOCK_STREAM (TCP) or SOCK_DGRAM (UDP). */
SOCKET new_socket(int type);

/* *addr = 127.0.0.1:port. */
void loopback(struct sockaddr_in *addr, int port);

/* A listening loopback TCP socket; *addr is its address. */
SOCKET listener(struct sockaddr_in *addr);

/* accept on a non-blocking listener, retried for up to 5 s. */
SOCKET accept_wait(SOCKET l);

/* A connected loopback pair: *c dialed, *s accepted; both non-blocking. */
void tcp_pair(SOCKET *c, SOCKET *s);

void send_bytes(SOCKET s, const char *p, int n);
void send_byte(SOCKET s);

/* recv until WOULDBLOCK; the bytes read. */
int drain(SOCKET s);

/* Closes s with a reset (SO_LINGER on, timeout 0). */
void close_reset(SOCKET s);

/* ---- waiting ---- */

/* Records of one id gathered by collect(). */
typedef struct seen {
	int records; /* for the id */
	uint32_t bits;
	int others; /* records for other ids */
} seen;

/* Waits up to ms for records of id, stopping at the first batch with one
 * when stop is set (else waits the whole time, to prove silence). */
seen collect(uintptr_t port, uint64_t id, DWORD ms, int stop);

/* collect for up to 5 s, stopping at the first record of id. */
seen wait_for(uintptr_t port, uint64_t id);

/* Number of records in ms (expected: 0). */
int quiet(uintptr_t port, DWORD ms);

uintptr_t open_port(void);

/* The end of a test on one pair: deletes h, closes port, then c and s. */
void finish_pair(uintptr_t port, uintptr_t h, SOCKET c, SOCKET s);

/* One iocp_wait on port for up to timeout_ms, in a thread of its own. */
typedef struct waiter {
	uintptr_t port;
	DWORD timeout_ms;
	int n;
	iocp_event ev[8];
	int rc;
} waiter;

/* Starts w's thread; its handle. */
HANDLE start_waiter(waiter *w);

/* ---- leaks ---- */

/* The process's handle count (Wine 8's GetProcessHandleCount succeeds with
 * 0; the system handle table has the real count there). */
DWORD handle_count(void);

/* ---- runner ---- */

typedef struct test {
	const char *name;
	void (*fn)(void);
} test;

/* Adds s to port for id and interest; returns the registration. */
typedef uintptr_t (*test_add_fn)(uintptr_t port, SOCKET s, uint64_t id,
				 uint32_t interest);

/* Starts Winsock and runs one full cycle through add (so that handles
 * Winsock and Wine open once per process on first use do not count as
 * leaks), then takes the handle count every test is held to. Non-zero: exit
 * with it. */
int tests_start(test_add_fn add);

/* Runs the n tests whose names contain filter (all when it is NULL), each
 * held to no C allocation and no handle left behind; variant, if not NULL,
 * is printed after each name ("name/variant"). */
void tests_run(const test *tests, size_t n, const char *filter,
	       const char *variant);

/* The final leak checks (heap, C allocations and bytes, handles), then the
 * summary; the process's exit code. */
int tests_finish(void);

#endif
