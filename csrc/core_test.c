/*
 * core_test.c: tests of the C core (iocp.c) through its API in iocp.h.
 *
 * Build (make test-csrc does it; from the repository root; the harness
 * is csrc/testlib.c, shared with csrc/ovl_test.c):
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -DIOCP_CHECKS=1 -I. -o build/core_test.exe \
 *       csrc/core_test.c csrc/testlib.c iocp.c iocp_afd.c iocp_ovl.c \
 *       -lws2_32 -lmswsock -lntdll
 * Run:
 *   WINEPREFIX=$PWD/build/wineprefix WINEDEBUG=-all \
 *       /usr/lib/wine/wine64 build/core_test.exe [test-name-substring]
 *
 * Every test uses loopback TCP sockets of its own and a port of its own, and
 * must leave no C allocation behind (iocp_live_allocs).
 */

#include "testlib.h"

#include <string.h>

static uintptr_t add(uintptr_t port, SOCKET s, uint64_t id, uint32_t interest)
{
	uintptr_t h = 0;
	CHECK_OK(iocp_sock_add(port, (uintptr_t)s, id, interest, &h));
	return h;
}

/* ---- tests ---- */

static void test_readable_after_send(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE);
	CHECK_EQ(quiet(port, 50), 0);
	send_byte(c);
	r = wait_for(port, 1);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);
	CHECK_EQ(r.others, 0);
	CHECK_EQ(quiet(port, 50), 0);

	finish_pair(port, h, c, s);
}

static void test_no_event_until_rearm(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	iocp_rearm rearm;
	iocp_event ev[4];
	seen r;
	int n;

	tcp_pair(&c, &s);
	h = add(port, s, 7, IOCP_READABLE);
	send_byte(c);
	CHECK_EQ(wait_for(port, 7).records, 1);

	/* Reported and not re-armed: more data gives nothing. */
	send_byte(c);
	CHECK_EQ(quiet(port, 100), 0);

	/* Re-arm through iocp_wait's list after WOULDBLOCK. */
	CHECK_EQ(drain(s), 2);
	rearm.sock = h;
	rearm.bits = IOCP_READABLE;
	rearm.reserved = 0;
	CHECK_OK(iocp_wait(port, &rearm, 1, ev, 4, 50, &n));
	CHECK_EQ(n, 0);
	send_byte(c);
	r = wait_for(port, 7);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);
	send_byte(c);
	CHECK_EQ(quiet(port, 100), 0);

	/* Re-arm through iocp_sock_rearm. */
	CHECK_EQ(drain(s), 2);
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_READABLE));
	CHECK_EQ(quiet(port, 50), 0);
	send_byte(c);
	CHECK_EQ(wait_for(port, 7).records, 1);

	/* Re-arm with data still unread: one event at once, only one. */
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_READABLE));
	r = collect(port, 7, 300, 0);
	CHECK_EQ(r.records, 1);

	/* Re-arming the other direction (not in interest) does nothing. */
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_WRITABLE));
	CHECK_EQ(quiet(port, 100), 0);

	finish_pair(port, h, c, s);
}

static void test_writable_after_connect(void)
{
	struct sockaddr_in addr;
	SOCKET l = listener(&addr), c, s;
	uintptr_t port = open_port(), h;
	seen r;
	int rc;

	c = new_socket(SOCK_STREAM);
	rc = connect(c, (struct sockaddr *)&addr, sizeof addr);
	CHECK(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
	h = add(port, c, 3, IOCP_READABLE | IOCP_WRITABLE);
	r = wait_for(port, 3);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_WRITABLE);
	s = accept_wait(l);

	/* Writable stays reported; readable still polled. */
	CHECK_EQ(quiet(port, 50), 0);
	send_byte(s);
	r = wait_for(port, 3);
	CHECK_EQ(r.bits, IOCP_READABLE);

	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_port_close(port));
	closesocket(l);
	closesocket(c);
	closesocket(s);
}

static void test_connect_refused(void)
{
	struct sockaddr_in addr;
	SOCKET l = listener(&addr), c;
	uintptr_t port = open_port(), h;
	seen r;
	int rc;

	closesocket(l); /* nobody listens on addr any more */
	c = new_socket(SOCK_STREAM);
	rc = connect(c, (struct sockaddr *)&addr, sizeof addr);
	CHECK(rc == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK);
	h = add(port, c, 4, IOCP_WRITABLE);
	r = wait_for(port, 4);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits & (IOCP_WRITABLE | IOCP_ERROR),
		 IOCP_WRITABLE | IOCP_ERROR);
	CHECK_EQ(r.bits & IOCP_READABLE, 0);

	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_port_close(port));
	closesocket(c);
}

static void test_lifecycle(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s, c2, s2;
	uintptr_t port = open_port(), h, h2;
	seen r;

	CHECK_EQ(iocp_live_allocs(), base + 1); /* port */
	tcp_pair(&c, &s);
	tcp_pair(&c2, &s2);

	h = add(port, s, 1, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(iocp_live_allocs(), base + 3); /* + state + helper */
	r = wait_for(port, 1);
	CHECK_EQ(r.bits, IOCP_WRITABLE);

	/* Modify: new id and interest; the new id is the one reported. */
	CHECK_OK(iocp_sock_modify(port, h, 2, IOCP_READABLE));
	CHECK_EQ(quiet(port, 50), 0);
	send_byte(c);
	r = wait_for(port, 2);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);

	/* Modify forgets what was reported: both directions come again. */
	CHECK_OK(iocp_sock_modify(port, h, 3, IOCP_READABLE | IOCP_WRITABLE));
	r = collect(port, 3, 300, 0);
	CHECK_EQ(r.bits, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(r.others, 0);

	/* Both directions reported: nothing wanted, so the state is idle and
	 * delete frees it at once. */
	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_EQ(iocp_live_allocs(), base + 2);

	/* Delete while pending: kept until its packet is dequeued. */
	h2 = add(port, s2, 5, IOCP_READABLE);
	CHECK_EQ(iocp_live_allocs(), base + 3);
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_EQ(iocp_live_allocs(), base + 3);
	send_byte(c2); /* must not be reported: deleted */
	CHECK_EQ(quiet(port, 200), 0);
	CHECK_EQ(iocp_live_allocs(), base + 2);

	/* Interest 0: nothing polled, idle, freed at once. */
	h2 = add(port, s2, 6, 0);
	CHECK_EQ(quiet(port, 50), 0);
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_EQ(iocp_live_allocs(), base + 2);

	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(s);
	closesocket(c2);
	closesocket(s2);
}

static void test_modify_widens_pending_poll(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE); /* pending: no data */
	CHECK_EQ(quiet(port, 50), 0);
	/* The pending poll lacks SEND: it is cancelled and resubmitted. */
	CHECK_OK(iocp_sock_modify(port, h, 1, IOCP_READABLE | IOCP_WRITABLE));
	r = wait_for(port, 1);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_WRITABLE);

	/* Narrowing needs no cancel; the stale poll's answer is filtered. */
	CHECK_OK(iocp_sock_modify(port, h, 1, IOCP_WRITABLE));
	r = wait_for(port, 1);
	CHECK_EQ(r.bits, IOCP_WRITABLE);
	send_byte(c);
	CHECK_EQ(quiet(port, 100), 0);

	finish_pair(port, h, c, s);
}

static void test_delete_after_completion_queued(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s;
	uintptr_t port = open_port(), h;

	tcp_pair(&c, &s);
	send_byte(c);
	Sleep(50);
	/* Completes at once: its packet is queued before delete runs. */
	h = add(port, s, 9, IOCP_READABLE);
	Sleep(50);
	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_EQ(iocp_live_allocs(), base + 3);
	CHECK_EQ(quiet(port, 100), 0); /* dequeued, freed, not reported */
	CHECK_EQ(iocp_live_allocs(), base + 2);

	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(s);
}

static void test_at_once_completion_delivered_once(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	send_byte(c);
	Sleep(50);
	h = add(port, s, 11, IOCP_READABLE);
	r = collect(port, 11, 300, 0);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);
	CHECK_EQ(r.others, 0);

	/* Same with both directions ready at add. */
	CHECK_OK(iocp_sock_delete(port, h));
	h = add(port, s, 12, IOCP_READABLE | IOCP_WRITABLE);
	r = collect(port, 12, 300, 0);
	CHECK(r.records >= 1 && r.records <= 2);
	CHECK_EQ(r.bits, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(r.others, 0);

	finish_pair(port, h, c, s);
}

static void test_close_port_with_pending(void)
{
	int64_t base = iocp_live_allocs();
	enum { N = 40 };
	SOCKET c[N], s[N];
	uintptr_t port = open_port(), h;
	int i;

	for (i = 0; i < N; i++) {
		tcp_pair(&c[i], &s[i]);
		h = add(port, s[i], i + 1, IOCP_READABLE);
		if (i % 5 == 0)
			CHECK_OK(iocp_sock_delete(port, h)); /* delete-pending */
		if (i % 7 == 0)
			send_byte(c[i]); /* completes: packet queued */
	}
	CHECK_OK(iocp_wake(port, 99));
	CHECK_OK(iocp_wake(port, 0));
	CHECK_EQ(iocp_live_allocs(), base + 1 + N + 2); /* 2 helpers */
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	for (i = 0; i < N; i++) {
		closesocket(c[i]);
		closesocket(s[i]);
	}
}

static void test_wake(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	iocp_event ev[8];
	ULONGLONG t0;
	int n, i, found = 0;

	CHECK_OK(iocp_wake(port, 42));
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 8, 1000, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].id, 42);
	CHECK_EQ(ev[0].bits, IOCP_READABLE);

	/* Id 0 wakes without an event. */
	CHECK_OK(iocp_wake(port, 0));
	t0 = GetTickCount64();
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 8, 5000, &n));
	CHECK_EQ(n, 0);
	CHECK(GetTickCount64() - t0 < 1000);

	/* Timeout: 0 records, not an error. */
	t0 = GetTickCount64();
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 8, 100, &n));
	CHECK_EQ(n, 0);
	CHECK(GetTickCount64() - t0 >= 90);

	/* Real events in the batch of a wake are all delivered. */
	tcp_pair(&c, &s);
	h = add(port, s, 5, IOCP_READABLE);
	CHECK_OK(iocp_wake(port, 0));
	send_byte(c);
	Sleep(100);
	CHECK_OK(iocp_wake(port, 77));
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 8, 1000, &n));
	CHECK_EQ(n, 2);
	for (i = 0; i < n; i++)
		found |= ev[i].id == 5 ? 1 : ev[i].id == 77 ? 2 : 4;
	CHECK_EQ(found, 3);

	finish_pair(port, h, c, s);
}

static void test_other_thread(void)
{
	SOCKET c, s;
	waiter w = {0};
	HANDLE t;
	uintptr_t h;

	/* A wait blocked in another thread returns on an id-0 wake. */
	w.port = open_port();
	w.timeout_ms = INFINITE;
	t = start_waiter(&w);
	Sleep(50);
	CHECK_EQ(WaitForSingleObject(t, 0), WAIT_TIMEOUT);
	CHECK_OK(iocp_wake(w.port, 0));
	CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
	CloseHandle(t);
	CHECK_OK(w.rc);
	CHECK_EQ(w.n, 0);

	/* Add and re-arm while the wait is blocked elsewhere. */
	tcp_pair(&c, &s);
	t = start_waiter(&w);
	Sleep(50);
	h = add(w.port, s, 21, IOCP_READABLE);
	send_byte(c);
	CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
	CloseHandle(t);
	CHECK_OK(w.rc);
	CHECK_EQ(w.n, 1);
	CHECK_EQ(w.ev[0].id, 21);

	CHECK_EQ(drain(s), 1);
	t = start_waiter(&w);
	Sleep(50);
	CHECK_OK(iocp_sock_rearm(w.port, h, IOCP_READABLE));
	send_byte(c);
	CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
	CloseHandle(t);
	CHECK_EQ(w.n, 1);
	CHECK_EQ(w.ev[0].id, 21);

	finish_pair(w.port, h, c, s);
}

static void test_cap_respected(void)
{
	enum { N = 10, CAP = 4 };
	SOCKET c[N], s[N];
	uintptr_t port = open_port(), h[N];
	iocp_event ev[CAP + 1];
	int count[N] = {0};
	int i, n, batches = 0, total = 0;

	for (i = 0; i < N; i++) {
		tcp_pair(&c[i], &s[i]);
		send_byte(c[i]);
	}
	Sleep(50);
	for (i = 0; i < N; i++)
		h[i] = add(port, s[i], 100 + i, IOCP_READABLE);
	Sleep(100);
	while (total < N && batches < 50) {
		ev[CAP].id = 0xdead;
		CHECK_OK(iocp_wait(port, NULL, 0, ev, CAP, 1000, &n));
		CHECK(n >= 0 && n <= CAP);
		CHECK_EQ(ev[CAP].id, 0xdead);
		for (i = 0; i < n; i++) {
			if (ev[i].id >= 100 && ev[i].id < 100 + N)
				count[ev[i].id - 100]++;
			else
				CHECK(!"unexpected id");
		}
		total += n;
		batches++;
	}
	CHECK_EQ(total, N);
	CHECK(batches >= 3);
	for (i = 0; i < N; i++)
		CHECK_EQ(count[i], 1);
	CHECK_EQ(quiet(port, 50), 0);

	/* Cap 1 with wakes queued: one record per call. */
	CHECK_OK(iocp_wake(port, 1));
	CHECK_OK(iocp_wake(port, 2));
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 1, 1000, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].id, 1);
	CHECK_OK(iocp_wait(port, NULL, 0, ev, 1, 1000, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].id, 2);

	CHECK_EQ(iocp_wait(port, NULL, 0, ev, 0, 0, &n),
		 ERROR_INVALID_PARAMETER);

	for (i = 0; i < N; i++) {
		CHECK_OK(iocp_sock_delete(port, h[i]));
		closesocket(c[i]);
		closesocket(s[i]);
	}
	CHECK_OK(iocp_port_close(port));
}

static void test_many_sockets_many_helpers(void)
{
	int64_t base = iocp_live_allocs();
	enum { N = 70 };
	SOCKET c[N], s[N];
	uintptr_t port = open_port(), h[N];
	iocp_event ev[32];
	int count[N] = {0};
	int i, n, total = 0, tries = 0;

	for (i = 0; i < N; i++) {
		tcp_pair(&c[i], &s[i]);
		h[i] = add(port, s[i], 1000 + i, IOCP_READABLE);
	}
	CHECK_EQ(iocp_live_allocs(), base + 1 + N + 3); /* ceil(70/32) */
	for (i = 0; i < N; i++)
		send_byte(c[i]);
	while (total < N && tries++ < 100) {
		CHECK_OK(iocp_wait(port, NULL, 0, ev, 32, 1000, &n));
		for (i = 0; i < n; i++) {
			CHECK(ev[i].id >= 1000 && ev[i].id < 1000 + N);
			if (ev[i].id >= 1000 && ev[i].id < 1000 + N)
				count[ev[i].id - 1000]++;
		}
		total += n;
	}
	CHECK_EQ(total, N);
	for (i = 0; i < N; i++)
		CHECK_EQ(count[i], 1);

	/* Freed slots of a helper are reused before a new one is opened. */
	for (i = 0; i < 10; i++)
		CHECK_OK(iocp_sock_delete(port, h[i])); /* idle: freed */
	CHECK_EQ(iocp_live_allocs(), base + 1 + N - 10 + 3);
	for (i = 0; i < 10; i++)
		h[i] = add(port, s[i], 1000 + i, IOCP_READABLE);
	CHECK_EQ(iocp_live_allocs(), base + 1 + N + 3);

	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	for (i = 0; i < N; i++) {
		closesocket(c[i]);
		closesocket(s[i]);
	}
}

static void test_peer_close(void)
{
	SOCKET c, s, c2, s2;
	uintptr_t port = open_port(), h, h2;
	seen r;

	/* Orderly close: readable and read-closed. */
	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE);
	closesocket(c);
	r = wait_for(port, 1);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits & (IOCP_READABLE | IOCP_READ_CLOSED),
		 IOCP_READABLE | IOCP_READ_CLOSED);
	CHECK_EQ(r.bits & IOCP_WRITABLE, 0);

	/* Reset: readable and read-closed at least (ABORT adds the rest). */
	tcp_pair(&c2, &s2);
	h2 = add(port, s2, 2, IOCP_READABLE);
	close_reset(c2);
	r = wait_for(port, 2);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits & (IOCP_READABLE | IOCP_READ_CLOSED),
		 IOCP_READABLE | IOCP_READ_CLOSED);
	printf("    (reset gave bits 0x%x)\n", (unsigned)r.bits);

	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_OK(iocp_port_close(port));
	closesocket(s);
	closesocket(s2);
}

static void test_local_close(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s, c2, s2;
	uintptr_t port = open_port(), h, h2;

	seen w;

	/* Closed with a poll pending: LOCAL_CLOSE, one IOCP_CLOSED record and
	 * no event, dead. */
	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE);
	closesocket(s);
	w = wait_for(port, 1);
	CHECK_EQ(w.records, 1);
	CHECK_EQ(w.bits, IOCP_CLOSED);
	CHECK_EQ(quiet(port, 200), 0);
	CHECK_EQ(iocp_live_allocs(), base + 3); /* still Go's until delete */
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_READABLE));
	CHECK_OK(iocp_sock_modify(port, h, 1, IOCP_READABLE));
	CHECK_EQ(quiet(port, 100), 0);
	CHECK_OK(iocp_sock_delete(port, h)); /* idle: freed at once */
	CHECK_EQ(iocp_live_allocs(), base + 2);

	/* Closed while idle (all reported), then re-armed: no event. */
	tcp_pair(&c2, &s2);
	h2 = add(port, s2, 2, IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 2).records, 1);
	closesocket(s2);
	CHECK_OK(iocp_sock_rearm(port, h2, IOCP_WRITABLE));
	CHECK_EQ(quiet(port, 100), 0);
	CHECK_OK(iocp_sock_delete(port, h2));

	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(c2);
}

static HANDLE event_at(HANDLE want);

/* iocp_sock_retire (a Deregister while a wait is blocked): the poll is
 * cancelled at once and never submitted again, nothing is reported, and
 * the state lives on until the delete that follows, here a rearm-list
 * entry of the next wait, as Go sends it. */
static void test_retire(void)
{
	int64_t base = iocp_live_allocs(), bad = iocp_bad_submits();
	SOCKET c, s, c2, s2;
	uintptr_t port = open_port(), h, h2;
	iocp_rearm del;
	iocp_event ev[4];
	HANDLE reuse;
	int n;

	/* A poll pending: retired, then the socket closed and its number
	 * given to an event. Nothing is polled again (a poll naming the event
	 * would kill Wine's wineserver). */
	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 1).records, 1); /* writable; readable polled */
	CHECK_OK(iocp_sock_retire(port, h, 0));
	closesocket(s);
	reuse = event_at((HANDLE)s);
	send_byte(c);
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_READABLE | IOCP_WRITABLE));
	CHECK_EQ(quiet(port, 200), 0); /* the cancelled poll's packet came */
	CHECK_EQ(iocp_live_allocs(), base + 3); /* still Go's: not freed */
	del.sock = h;
	del.bits = IOCP_REARM_DELETE;
	del.reserved = 0;
	CHECK_OK(iocp_wait(port, &del, 1, ev, 4, 50, &n));
	CHECK_EQ(n, 0);
	CHECK_EQ(iocp_live_allocs(), base + 2); /* idle: freed by the entry */
	if (reuse != NULL)
		CloseHandle(reuse);

	/* Its completion already queued (data there at add): not reported. */
	tcp_pair(&c2, &s2);
	send_byte(c2);
	Sleep(50);
	h2 = add(port, s2, 2, IOCP_READABLE);
	Sleep(50);
	CHECK_OK(iocp_sock_retire(port, h2, 0));
	CHECK_EQ(quiet(port, 100), 0);
	CHECK_EQ(iocp_live_allocs(), base + 3);
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_EQ(iocp_live_allocs(), base + 2);

	CHECK_EQ(iocp_bad_submits(), bad);
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(c2);
	closesocket(s2);
}

/* A retired state that Go forgets to delete is freed by iocp_port_close. */
static void test_retire_then_port_close(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s;
	uintptr_t port = open_port(), h;

	tcp_pair(&c, &s);
	h = add(port, s, 1, IOCP_READABLE);
	CHECK_OK(iocp_sock_retire(port, h, 0));
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(s);
}

/* An event handle with the number `want` (just freed), if it comes back
 * among the next few handles created. */
static HANDLE event_at(HANDLE want)
{
	HANDLE made[64], ev = NULL;
	int i, n;

	for (n = 0; n < 64; n++) {
		made[n] = CreateEventW(NULL, FALSE, FALSE, NULL);
		if (made[n] == want) {
			ev = made[n++];
			break;
		}
	}
	for (i = 0; i < n; i++)
		if (made[i] != ev)
			CloseHandle(made[i]);
	return ev;
}

/* A poll the kernel refuses during a re-arm (here: the socket's handle
 * number now names an event) is reported once as ERROR; it does not spin. */
static void test_refused_poll_reported(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	HANDLE ev;
	seen r;

	tcp_pair(&c, &s);
	h = add(port, s, 3, IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 3).records, 1);
	closesocket(s);
	ev = event_at((HANDLE)s);
	if (ev != (HANDLE)s) {
		printf("    (handle not reused: refused-poll path not reached)\n");
	} else {
		iocp_rearm rearm = {h, IOCP_WRITABLE, 0};
		iocp_event out[4];
		int n, err;

		CHECK_OK(iocp_sock_rearm(port, h, IOCP_WRITABLE));
		r = collect(port, 3, 200, 0);
		/* Through the rearm list of iocp_wait as well. */
		CHECK_OK(iocp_wait(port, &rearm, 1, out, 4, 200, &n));
		/* modify returns the refusal itself: an invalid handle makes
		 * the state dead (no records); any other refusal must have
		 * been reported once per re-arm. */
		err = iocp_sock_modify(port, h, 3, IOCP_WRITABLE);
		printf("    (refused poll: %d record(s), bits 0x%x, "
		       "modify error %d)\n", r.records, (unsigned)r.bits, err);
		if (err != 0) {
			CHECK_EQ(r.records, 1);
			CHECK_EQ(r.bits, IOCP_ERROR);
			CHECK_EQ(n, 1);
			CHECK_EQ(out[0].id, 3);
			CHECK_EQ(out[0].bits, IOCP_ERROR);
		} else {
			CHECK_EQ(r.records, 0);
			CHECK_EQ(n, 0);
		}
		CHECK_EQ(quiet(port, 100), 0);
	}
	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_port_close(port));
	if (ev != NULL)
		CloseHandle(ev);
	closesocket(c);
}

/* Many re-arms in one iocp_wait call. */
static void test_rearm_list(void)
{
	enum { N = 5 };
	SOCKET c[N], s[N];
	uintptr_t port = open_port(), h[N];
	iocp_rearm rearms[N];
	iocp_event ev[N];
	int count[N] = {0};
	int i, n, total = 0, tries = 0;

	for (i = 0; i < N; i++) {
		tcp_pair(&c[i], &s[i]);
		h[i] = add(port, s[i], 50 + i, IOCP_READABLE);
		send_byte(c[i]);
		CHECK_EQ(wait_for(port, 50 + i).records, 1);
		CHECK_EQ(drain(s[i]), 1);
		rearms[i].sock = h[i];
		rearms[i].bits = IOCP_READABLE;
		rearms[i].reserved = 0;
	}
	CHECK_OK(iocp_wait(port, rearms, N, ev, N, 0, &n));
	CHECK_EQ(n, 0);
	for (i = 0; i < N; i++)
		send_byte(c[i]);
	while (total < N && tries++ < 20) {
		CHECK_OK(iocp_wait(port, NULL, 0, ev, N, 1000, &n));
		for (i = 0; i < n; i++)
			if (ev[i].id >= 50 && ev[i].id < 50 + N)
				count[ev[i].id - 50]++;
		total += n;
	}
	CHECK_EQ(total, N);
	for (i = 0; i < N; i++)
		CHECK_EQ(count[i], 1);

	for (i = 0; i < N; i++) {
		CHECK_OK(iocp_sock_delete(port, h[i]));
		closesocket(c[i]);
		closesocket(s[i]);
	}
	CHECK_OK(iocp_port_close(port));
}

static void test_add_errors(void)
{
	int64_t base = iocp_live_allocs();
	uintptr_t port = open_port(), h = 0;
	SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	int err;

	closesocket(s);
	err = iocp_sock_add(port, (uintptr_t)s, 1, IOCP_READABLE, &h);
	CHECK(err != 0);
	printf("    (add of a closed socket: error %d)\n", err);
	CHECK_EQ(h, 0);
	CHECK_EQ(iocp_live_allocs(), base + 1);
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
}

/* add, then delete or leave registered in several ways, closing and
 * reopening the port now and then; no record may name a deleted id. */
static void test_stress(void)
{
	enum { CYCLES = 2000, PAIRS = 8 };
	int64_t base = iocp_live_allocs();
	SOCKET c[PAIRS], s[PAIRS];
	uintptr_t port = open_port(), h;
	static unsigned char deleted[CYCLES];
	iocp_event ev[16];
	int i, j, n, bad = 0, records = 0;

	for (i = 0; i < PAIRS; i++)
		tcp_pair(&c[i], &s[i]);
	for (i = 0; i < CYCLES; i++) {
		int p = i % PAIRS;

		if (i % 3 == 0)
			send_byte(c[p]);
		h = add(port, s[p], i + 1, IOCP_READABLE | (i & 8 ? IOCP_WRITABLE : 0));
		switch (i % 4) {
		case 0: /* delete while pending (or completed and queued) */
			deleted[i] = 1;
			CHECK_OK(iocp_sock_delete(port, h));
			break;
		case 1: /* wait a little, then delete */
			CHECK_OK(iocp_wait(port, NULL, 0, ev, 16, 0, &n));
			for (j = 0; j < n; j++)
				bad += ev[j].id == 0 || ev[j].id > CYCLES ||
				       deleted[ev[j].id - 1];
			records += n;
			deleted[i] = 1;
			CHECK_OK(iocp_sock_delete(port, h));
			break;
		case 2: /* modify, then delete */
			CHECK_OK(iocp_sock_modify(port, h, i + 1, IOCP_WRITABLE));
			deleted[i] = 1;
			CHECK_OK(iocp_sock_delete(port, h));
			break;
		default: /* left registered until the port closes */
			break;
		}
		if (i % 16 == 15)
			drain(s[p]);
		if (i % 100 == 99) {
			CHECK_OK(iocp_port_close(port));
			CHECK_EQ(iocp_live_allocs(), base);
			port = open_port();
		}
	}
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	CHECK_EQ(bad, 0);
	printf("    (%d records seen while cycling)\n", records);
	for (i = 0; i < PAIRS; i++) {
		closesocket(c[i]);
		closesocket(s[i]);
	}
}

typedef struct waker_arg {
	uintptr_t port;
	uint64_t first_id;
	int count;
} waker_arg;

static DWORD WINAPI waker_main(void *arg)
{
	waker_arg *a = arg;
	int i;

	for (i = 0; i < a->count; i++)
		if (iocp_wake(a->port, a->first_id + i) != 0)
			return 1;
	return 0;
}

/* Wakes posted from several threads all arrive, each once. */
static void test_wakes_from_threads(void)
{
	enum { THREADS = 4, EACH = 100 };
	uintptr_t port = open_port();
	static int count[THREADS * EACH];
	waker_arg args[THREADS];
	HANDLE t[THREADS];
	iocp_event ev[64];
	int i, n, total = 0, tries = 0;
	DWORD code;

	memset(count, 0, sizeof count);
	for (i = 0; i < THREADS; i++) {
		args[i].port = port;
		args[i].first_id = 1 + (uint64_t)i * EACH;
		args[i].count = EACH;
		t[i] = CreateThread(NULL, 0, waker_main, &args[i], 0, NULL);
	}
	while (total < THREADS * EACH && tries++ < 1000) {
		CHECK_OK(iocp_wait(port, NULL, 0, ev, 64, 1000, &n));
		for (i = 0; i < n; i++) {
			CHECK(ev[i].id >= 1 && ev[i].id <= THREADS * EACH);
			CHECK_EQ(ev[i].bits, IOCP_READABLE);
			if (ev[i].id >= 1 && ev[i].id <= THREADS * EACH)
				count[ev[i].id - 1]++;
		}
		total += n;
	}
	CHECK_EQ(total, THREADS * EACH);
	for (i = 0; i < THREADS * EACH; i++)
		if (count[i] != 1)
			CHECK_EQ(count[i], 1);
	for (i = 0; i < THREADS; i++) {
		CHECK_EQ(WaitForSingleObject(t[i], 5000), WAIT_OBJECT_0);
		CHECK(GetExitCodeThread(t[i], &code) && code == 0);
		CloseHandle(t[i]);
	}
	CHECK_OK(iocp_port_close(port));
}

typedef struct loop_arg {
	uintptr_t port;
	volatile LONG stop;
	long records;
	int rc;
} loop_arg;

static DWORD WINAPI loop_main(void *arg)
{
	loop_arg *a = arg;
	iocp_event ev[32];
	int n;

	while (!a->stop) {
		a->rc = iocp_wait(a->port, NULL, 0, ev, 32, 1000, &n);
		if (a->rc != 0)
			return 1;
		a->records += n;
	}
	return 0;
}

/* The stress cycle again while another thread dequeues all the time, as
 * when Go registers from one goroutine while another polls. */
static void test_stress_concurrent(void)
{
	enum { CYCLES = 2000, PAIRS = 8, LIVE = 16 };
	SOCKET c[PAIRS], s[PAIRS];
	uintptr_t live[LIVE] = {0};
	loop_arg a = {0};
	HANDLE t;
	int i;

	a.port = open_port();
	for (i = 0; i < PAIRS; i++)
		tcp_pair(&c[i], &s[i]);
	t = CreateThread(NULL, 0, loop_main, &a, 0, NULL);
	for (i = 0; i < CYCLES; i++) {
		int p = i % PAIRS, slot = i % LIVE;
		uintptr_t other;

		if (i % 3 == 0)
			send_byte(c[p]);
		if (live[slot] != 0) /* the oldest: it lived LIVE cycles */
			CHECK_OK(iocp_sock_delete(a.port, live[slot]));
		live[slot] = add(a.port, s[p], i + 1,
				 IOCP_READABLE | IOCP_WRITABLE);
		other = live[(i * 7) % LIVE];
		if (other != 0 && i % 2)
			CHECK_OK(iocp_sock_rearm(a.port, other,
						 IOCP_READABLE | IOCP_WRITABLE));
		if (other != 0 && i % 5 == 0)
			CHECK_OK(iocp_sock_modify(a.port, other, i + 1,
						  i % 10 ? IOCP_READABLE
							 : IOCP_WRITABLE));
		if (i % 16 == 15) {
			drain(s[p]);
			Sleep(1); /* let the other thread in, even on one CPU */
		}
	}
	for (i = 0; i < LIVE / 2; i++) /* the rest: closed with the port */
		CHECK_OK(iocp_sock_delete(a.port, live[i]));
	InterlockedExchange(&a.stop, 1);
	CHECK_OK(iocp_wake(a.port, 0));
	CHECK_EQ(WaitForSingleObject(t, 5000), WAIT_OBJECT_0);
	CloseHandle(t);
	CHECK_OK(a.rc);
	printf("    (%ld records seen by the other thread)\n", a.records);
	CHECK_OK(iocp_port_close(a.port));
	for (i = 0; i < PAIRS; i++) {
		closesocket(c[i]);
		closesocket(s[i]);
	}
}

/* ---- main ---- */

static const test tests[] = {
	{"readable_after_send", test_readable_after_send},
	{"no_event_until_rearm", test_no_event_until_rearm},
	{"writable_after_connect", test_writable_after_connect},
	{"connect_refused", test_connect_refused},
	{"lifecycle", test_lifecycle},
	{"modify_widens_pending_poll", test_modify_widens_pending_poll},
	{"delete_after_completion_queued", test_delete_after_completion_queued},
	{"at_once_completion_delivered_once",
	 test_at_once_completion_delivered_once},
	{"close_port_with_pending", test_close_port_with_pending},
	{"wake", test_wake},
	{"other_thread", test_other_thread},
	{"cap_respected", test_cap_respected},
	{"many_sockets_many_helpers", test_many_sockets_many_helpers},
	{"peer_close", test_peer_close},
	{"local_close", test_local_close},
	{"retire", test_retire},
	{"retire_then_port_close", test_retire_then_port_close},
	{"refused_poll_reported", test_refused_poll_reported},
	{"rearm_list", test_rearm_list},
	{"add_errors", test_add_errors},
	{"wakes_from_threads", test_wakes_from_threads},
	{"stress", test_stress},
	{"stress_concurrent", test_stress_concurrent},
};

int main(int argc, char **argv)
{
	int rc = tests_start(add);

	if (rc != 0)
		return rc;
	tests_run(tests, sizeof tests / sizeof tests[0],
		  argc > 1 ? argv[1] : NULL, NULL);
	return tests_finish();
}
