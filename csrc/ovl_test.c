/*
 * ovl_test.c: tests of the C core's overlapped engine (iocp_ovl.c) through
 * iocp.h, each run with skip-on-success decided per socket (on under Wine)
 * and again with it forced off.
 *
 * Build (make test-csrc does it; from the repository root; the harness
 * is csrc/testlib.c, shared with csrc/core_test.c):
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -DIOCP_CHECKS=1 -I. -o build/ovl_test.exe \
 *       csrc/ovl_test.c csrc/testlib.c iocp.c iocp_afd.c iocp_ovl.c \
 *       -lws2_32 -lmswsock -lntdll
 * Run:
 *   WINEPREFIX=$PWD/build/wineprefix WINEDEBUG=-all \
 *       /usr/lib/wine/wine64 build/ovl_test.exe [test-name-substring]
 *
 * Every test must leave no C allocation and no handle behind.
 */

#include "testlib.h"

#include <string.h>

static int skip_mode = -1; /* the run's iocp_test_switches skip_mode */

/* Adds with the overlapped engine forced. */
static uintptr_t add_ovl(uintptr_t port, SOCKET s, uint64_t id,
			 uint32_t interest)
{
	uintptr_t h = 0;
	uint32_t engine = 99;

	CHECK_OK(iocp_sock_add_ex(port, (uintptr_t)s, id, interest,
				  IOCP_ADD_OVERLAPPED, NULL, 0, &h, &engine));
	CHECK_EQ(engine & 0xff, IOCP_ENGINE_OVERLAPPED);
	if (skip_mode == 0)
		CHECK_EQ(engine & IOCP_ENGINE_SKIP, 0);
	return h;
}

static void rearm(uintptr_t port, uintptr_t h, uint32_t bits)
{
	iocp_rearm r;
	iocp_event ev[4];
	int n;

	r.sock = h;
	r.bits = bits;
	r.reserved = 0;
	CHECK_OK(iocp_wait(port, &r, 1, ev, 4, 0, &n));
	CHECK_EQ(n, 0);
}

/* ---- tests ---- */

static void test_stream_readable_and_rearm(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	h = add_ovl(port, s, 1, IOCP_READABLE);
	CHECK_EQ(quiet(port, 50), 0);
	send_bytes(c, "x", 1);
	r = wait_for(port, 1);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);
	CHECK_EQ(r.others, 0);

	/* Reported, not re-armed: more data gives nothing. */
	send_bytes(c, "y", 1);
	CHECK_EQ(quiet(port, 100), 0);

	/* Re-armed after WOULDBLOCK: the next data is an event. */
	CHECK_EQ(drain(s), 2);
	rearm(port, h, IOCP_READABLE);
	CHECK_EQ(quiet(port, 50), 0);
	send_bytes(c, "z", 1);
	CHECK_EQ(wait_for(port, 1).records, 1);

	/* Re-armed with data unread: one event at once, only one. */
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_READABLE));
	r = collect(port, 1, 300, 0);
	CHECK_EQ(r.records, 1);

	finish_pair(port, h, c, s);
}

/* Data already there at add: the receive completes at once. With skip on
 * success that is handled on the spot, without it through its packet: one
 * record either way. */
static void test_at_once_delivered_once(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	send_bytes(c, "abc", 3);
	Sleep(50);
	h = add_ovl(port, s, 11, IOCP_READABLE | IOCP_WRITABLE);
	r = collect(port, 11, 300, 0);
	CHECK(r.records >= 1 && r.records <= 2);
	CHECK_EQ(r.bits, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(r.others, 0);
	CHECK_EQ(quiet(port, 100), 0);

	finish_pair(port, h, c, s);
}

static void test_peer_close_and_reset(void)
{
	SOCKET c, s, c2, s2;
	uintptr_t port = open_port(), h, h2;
	seen r;

	tcp_pair(&c, &s);
	h = add_ovl(port, s, 1, IOCP_READABLE);
	closesocket(c); /* FIN */
	r = wait_for(port, 1);
	CHECK_EQ(r.bits, IOCP_READABLE | IOCP_READ_CLOSED);

	tcp_pair(&c2, &s2);
	h2 = add_ovl(port, s2, 2, IOCP_READABLE | IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 2).bits, IOCP_WRITABLE);
	close_reset(c2); /* RST */
	r = wait_for(port, 2);
	CHECK(r.bits & IOCP_READABLE);
	printf("    (reset gave bits 0x%x)\n", (unsigned)r.bits);

	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_OK(iocp_port_close(port));
	closesocket(s);
	closesocket(s2);
}

/* Writes go through the C buffer; while one is in flight a send would
 * block; its completion is the writable event; every accepted byte
 * arrives. Without skip-on-success each send stays in flight until its
 * packet is dequeued, so the fill loop waits for the writable event. */
static void test_send_buffer_and_writable(void)
{
	enum { CHUNK = 100000 };
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	static char chunk[CHUNK];
	long long accepted = 0, got = 0;
	int n, rc, i, blocked = 0, records = 0;
	seen r;

	for (i = 0; i < CHUNK; i++)
		chunk[i] = (char)i;
	tcp_pair(&c, &s);
	h = add_ovl(port, c, 3, IOCP_WRITABLE);
	r = wait_for(port, 3);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_WRITABLE);
	CHECK_EQ(quiet(port, 50), 0);

	/* Small write: accepted whole. */
	CHECK_OK(iocp_ovl_send(port, h, "hello", 5, NULL, 0, &n));
	CHECK_EQ(n, 5);
	accepted += n;

	/* Fill until a send stays in flight (nobody reads). */
	for (i = 0; i < 2000 && !blocked; i++) {
		rc = iocp_ovl_send(port, h, chunk, CHUNK, NULL, 0, &n);
		accepted += n;
		if (rc == 0 && n == CHUNK)
			continue;
		CHECK(rc == 0 || rc == WSAEWOULDBLOCK);
		/* Would block: the completion is the next writable. */
		r = collect(port, 3, 200, 1);
		CHECK(r.bits == 0 || r.bits == IOCP_WRITABLE);
		blocked = r.records == 0;
	}
	CHECK(blocked);
	rc = iocp_ovl_send(port, h, chunk, CHUNK, NULL, 0, &n);
	CHECK_EQ(rc, WSAEWOULDBLOCK);
	CHECK_EQ(n, 0);

	/* The peer reads: the send completes, and that is the event. */
	while (got < accepted) {
		got += drain(s);
		r = collect(port, 3, 10, 1);
		records += r.records;
		CHECK(r.bits == 0 || r.bits == IOCP_WRITABLE);
	}
	CHECK_EQ(got, accepted);
	if (records == 0)
		records = wait_for(port, 3).records;
	CHECK_EQ(records, 1);
	CHECK_OK(iocp_ovl_send(port, h, "tail", 4, NULL, 0, &n));
	CHECK_EQ(n, 4);
	printf("    (%lld bytes accepted before a send stayed in flight)\n",
	       accepted);

	finish_pair(port, h, c, s);
}

static void test_deferred_connect(void)
{
	struct sockaddr_in addr, any;
	SOCKET l = listener(&addr), c, a, c2;
	uintptr_t port = open_port(), h, h2;
	uint32_t engine;
	seen r;
	int n;

	c = new_socket(SOCK_STREAM);
	loopback(&any, 0);
	any.sin_addr.s_addr = htonl(INADDR_ANY);
	CHECK_OK(bind(c, (struct sockaddr *)&any, sizeof any));
	CHECK_OK(iocp_sock_add_ex(port, (uintptr_t)c, 4,
				  IOCP_READABLE | IOCP_WRITABLE, 0, &addr,
				  sizeof addr, &h, &engine));
	CHECK_EQ(engine & 0xff, IOCP_ENGINE_OVERLAPPED);
	r = wait_for(port, 4);
	CHECK_EQ(r.bits, IOCP_WRITABLE);
	CHECK_OK(iocp_ovl_connect_status(port, h, 1));
	a = accept_wait(l);
	send_bytes(a, "q", 1);
	CHECK_EQ(wait_for(port, 4).bits, IOCP_READABLE);
	CHECK_OK(iocp_ovl_send(port, h, "pong", 4, NULL, 0, &n));
	CHECK_EQ(n, 4);

	/* Refused: WRITABLE | ERROR, and the status tells why. */
	closesocket(l);
	c2 = new_socket(SOCK_STREAM);
	CHECK_OK(bind(c2, (struct sockaddr *)&any, sizeof any));
	CHECK_OK(iocp_sock_add_ex(port, (uintptr_t)c2, 5, IOCP_WRITABLE, 0,
				  &addr, sizeof addr, &h2, &engine));
	r = wait_for(port, 5);
	CHECK_EQ(r.bits & (IOCP_WRITABLE | IOCP_ERROR),
		 IOCP_WRITABLE | IOCP_ERROR);
	n = iocp_ovl_connect_status(port, h2, 0);
	CHECK(n == ERROR_CONNECTION_REFUSED || n == WSAECONNREFUSED);
	CHECK_EQ(iocp_ovl_connect_status(port, h2, 1), n);
	CHECK_OK(iocp_ovl_connect_status(port, h2, 1)); /* taken */

	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_sock_delete(port, h2));
	CHECK_OK(iocp_port_close(port));
	closesocket(c);
	closesocket(c2);
	closesocket(a);
}

static void test_accept(void)
{
	struct sockaddr_in addr, remote;
	SOCKET l = listener(&addr), c[3], a;
	uintptr_t port = open_port(), h, as;
	int i, rc, len, accepted = 0;
	seen r;

	h = add_ovl(port, l, 6, IOCP_READABLE);
	CHECK_EQ(quiet(port, 50), 0);
	for (i = 0; i < 3; i++) {
		c[i] = new_socket(SOCK_STREAM);
		rc = connect(c[i], (struct sockaddr *)&addr, sizeof addr);
		CHECK(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
	}
	while (accepted < 3) {
		r = wait_for(port, 6);
		CHECK_EQ(r.bits, IOCP_READABLE);
		if (r.records == 0)
			break;
		for (;;) {
			len = sizeof remote;
			rc = iocp_ovl_accept(port, h, &as, &remote, &len);
			if (rc == WSAEWOULDBLOCK)
				break;
			CHECK_OK(rc);
			if (rc != 0)
				break;
			a = (SOCKET)as;
			CHECK_EQ(len, sizeof remote);
			CHECK_EQ(remote.sin_addr.s_addr,
				 htonl(INADDR_LOOPBACK));
			/* A working, non-blocking connection. */
			CHECK_EQ(recv(a, (char *)&len, 1, 0), -1);
			CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
			closesocket(a);
			accepted++;
		}
	}
	CHECK_EQ(accepted, 3);

	/* Deleted with an AcceptEx pending: cancelled, its socket closed. */
	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_port_close(port));
	closesocket(l);
	for (i = 0; i < 3; i++)
		closesocket(c[i]);
}

static void test_udp(void)
{
	SOCKET a = new_socket(SOCK_DGRAM), b = new_socket(SOCK_DGRAM);
	struct sockaddr_in aa, ba, from;
	uintptr_t port = open_port(), ha, hb;
	static char big[60000];
	char buf[16];
	int len, n;
	seen r;

	loopback(&aa, 0);
	loopback(&ba, 0);
	CHECK_OK(bind(a, (struct sockaddr *)&aa, sizeof aa));
	CHECK_OK(bind(b, (struct sockaddr *)&ba, sizeof ba));
	len = sizeof aa;
	CHECK_OK(getsockname(a, (struct sockaddr *)&aa, &len));
	len = sizeof ba;
	CHECK_OK(getsockname(b, (struct sockaddr *)&ba, &len));

	ha = add_ovl(port, a, 7, IOCP_WRITABLE);
	hb = add_ovl(port, b, 8, IOCP_READABLE);
	CHECK_EQ(wait_for(port, 7).bits, IOCP_WRITABLE);
	len = sizeof from;
	CHECK_EQ(iocp_ovl_recvfrom(port, hb, buf, sizeof buf, &from, &len, &n),
		 WSAEWOULDBLOCK);

	CHECK_OK(iocp_ovl_send(port, ha, "one", 3, &ba, sizeof ba, &n));
	CHECK_EQ(n, 3);
	n = iocp_ovl_send(port, ha, big, sizeof big, &ba, sizeof ba, &len);
	r.others = 0;
	if (skip_mode == 0) {
		/* The first datagram's send is in flight until its packet is
		 * dequeued; that packet is the writable event. (The batch may
		 * hold b's readable too: the only other id.) */
		CHECK_EQ(n, WSAEWOULDBLOCK);
		r = wait_for(port, 7);
		CHECK_EQ(r.bits, IOCP_WRITABLE);
		n = iocp_ovl_send(port, ha, big, sizeof big, &ba, sizeof ba,
				  &len);
	}
	CHECK_OK(n);
	CHECK_EQ(len, (int)sizeof big);
	if (r.others == 0) {
		r = wait_for(port, 8);
		CHECK_EQ(r.bits, IOCP_READABLE);
	}

	/* Datagrams whole, in order, with their sender. */
	len = sizeof from;
	CHECK_OK(iocp_ovl_recvfrom(port, hb, buf, sizeof buf, &from, &len, &n));
	CHECK_EQ(n, 3);
	CHECK(memcmp(buf, "one", 3) == 0);
	CHECK_EQ(len, sizeof from);
	CHECK_EQ(from.sin_port, aa.sin_port);
	len = sizeof from;
	if (iocp_ovl_recvfrom(port, hb, buf, sizeof buf, &from, &len, &n) ==
	    WSAEWOULDBLOCK) {
		wait_for(port, 8); /* second one not in yet */
		len = sizeof from;
		CHECK_OK(iocp_ovl_recvfrom(port, hb, buf, sizeof buf, &from,
					   &len, &n));
	}
	CHECK_EQ(n, (int)sizeof buf); /* truncated to the caller's buffer */
	len = sizeof from;
	CHECK_EQ(iocp_ovl_recvfrom(port, hb, buf, sizeof buf, &from, &len, &n),
		 WSAEWOULDBLOCK);
	CHECK_EQ(quiet(port, 50), 0);

	CHECK_OK(iocp_sock_delete(port, ha));
	CHECK_OK(iocp_sock_delete(port, hb));
	CHECK_OK(iocp_port_close(port));
	closesocket(a);
	closesocket(b);
}

static void test_modify_and_delete(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	h = add_ovl(port, s, 1, IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 1).bits, IOCP_WRITABLE);
	CHECK_EQ(iocp_live_allocs(), base + 2); /* port, state */

	/* New id and interest; reported directions forgotten. */
	CHECK_OK(iocp_sock_modify(port, h, 2, IOCP_READABLE));
	CHECK_EQ(quiet(port, 50), 0);
	send_bytes(c, "a", 1);
	r = wait_for(port, 2);
	CHECK_EQ(r.records, 1);
	CHECK_EQ(r.bits, IOCP_READABLE);
	CHECK_EQ(drain(s), 1);
	CHECK_OK(iocp_sock_modify(port, h, 3, IOCP_READABLE | IOCP_WRITABLE));
	r = collect(port, 3, 200, 0);
	CHECK_EQ(r.bits, IOCP_WRITABLE);
	CHECK_EQ(r.others, 0);

	/* Delete with the zero-byte receive pending: cancelled, freed when its
	 * packet is dequeued, never reported. */
	CHECK_OK(iocp_sock_delete(port, h));
	send_bytes(c, "b", 1);
	CHECK_EQ(quiet(port, 100), 0);
	CHECK_EQ(iocp_live_allocs(), base + 1);

	/* Same socket, same port again: bound already. */
	{
		uintptr_t h2;
		uint32_t engine;
		uintptr_t port2 = open_port(), h3;

		CHECK_EQ(iocp_sock_add_ex(port, (uintptr_t)s, 4, IOCP_READABLE,
					  IOCP_ADD_OVERLAPPED, NULL, 0, &h2,
					  &engine),
			 IOCP_E_BOUND_ELSEWHERE);
		CHECK_OK(iocp_sock_add_ex(
			port, (uintptr_t)s, 4, IOCP_READABLE,
			IOCP_ADD_OVERLAPPED | IOCP_ADD_BOUND |
				(skip_mode != 0 ? IOCP_ADD_BOUND_SKIP : 0),
			NULL, 0, &h2, &engine));
		CHECK_EQ(wait_for(port, 4).bits, IOCP_READABLE);
		/* Another port: refused, for good. */
		CHECK_EQ(iocp_sock_add_ex(port2, (uintptr_t)s, 5,
					  IOCP_READABLE, IOCP_ADD_OVERLAPPED,
					  NULL, 0, &h3, &engine),
			 IOCP_E_BOUND_ELSEWHERE);
		CHECK_OK(iocp_port_close(port2));
		CHECK_OK(iocp_sock_delete(port, h2));
	}
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	closesocket(c);
	closesocket(s);
}

/* Port closed with every kind of operation in flight, and deleted states
 * still owing packets: all dequeued, all freed, no handle left. */
static void test_close_port_with_everything_pending(void)
{
	enum { N = 8 };
	int64_t base = iocp_live_allocs();
	struct sockaddr_in addr, any;
	SOCKET c[N], s[N], l = listener(&addr), u = new_socket(SOCK_DGRAM),
			   d = new_socket(SOCK_STREAM);
	uintptr_t port = open_port(), h;
	static char chunk[65536];
	uint32_t engine;
	int i, n, k, rc;

	for (i = 0; i < N; i++) {
		tcp_pair(&c[i], &s[i]);
		h = add_ovl(port, s[i], i + 1, IOCP_READABLE | IOCP_WRITABLE);
		if (i % 3 == 0)
			CHECK_OK(iocp_sock_delete(port, h));
		if (i == 1) /* a send left pending: nobody reads */
			for (n = 0; n < 2000; n++) {
				rc = iocp_ovl_send(port, h, chunk,
						   sizeof chunk, NULL, 0, &k);
				if (rc != 0 || k < (int)sizeof chunk)
					break;
				quiet(port, 0);
			}
	}
	add_ovl(port, l, 50, IOCP_READABLE);
	loopback(&any, 0);
	CHECK_OK(bind(u, (struct sockaddr *)&any, sizeof any));
	add_ovl(port, u, 51, IOCP_READABLE);
	any.sin_addr.s_addr = htonl(INADDR_ANY);
	CHECK_OK(bind(d, (struct sockaddr *)&any, sizeof any));
	CHECK_OK(iocp_sock_add_ex(port, (uintptr_t)d, 52, IOCP_WRITABLE, 0,
				  &addr, sizeof addr, &h, &engine));
	CHECK_OK(iocp_wake(port, 99));
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	for (i = 0; i < N; i++) {
		closesocket(c[i]);
		closesocket(s[i]);
	}
	closesocket(l);
	closesocket(u);
	closesocket(d);
}

/* The automatic choice: a socket whose base-handle query fails gets the
 * overlapped engine through plain iocp_sock_add. */
static void test_automatic_fallback(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	seen r;

	tcp_pair(&c, &s);
	CHECK_EQ(iocp_engine_for((uintptr_t)s), IOCP_ENGINE_AFD);
	iocp_test_switches(WSAEOPNOTSUPP, skip_mode);
	CHECK_EQ(iocp_engine_for((uintptr_t)s), IOCP_ENGINE_OVERLAPPED);
	CHECK_OK(iocp_sock_add(port, (uintptr_t)s, 9, IOCP_READABLE, &h));
	iocp_test_switches(0, skip_mode);
	send_bytes(c, "auto", 4);
	r = wait_for(port, 9);
	CHECK_EQ(r.bits, IOCP_READABLE);
	CHECK_EQ(drain(s), 4);
	CHECK(iocp_engine_for((uintptr_t)INVALID_SOCKET) < 0);

	finish_pair(port, h, c, s);
}

/* A state made ready by another thread (a re-arm with data unread) wakes a
 * wait blocked with nothing queued. */
static void test_ready_wakes_blocked_wait(void)
{
	SOCKET c, s;
	waiter w = {0};
	HANDLE t;
	uintptr_t h;

	w.port = open_port();
	w.timeout_ms = 5000;
	tcp_pair(&c, &s);
	h = add_ovl(w.port, s, 1, IOCP_READABLE);
	send_bytes(c, "x", 1);
	CHECK_EQ(wait_for(w.port, 1).records, 1);
	Sleep(20);
	t = start_waiter(&w);
	Sleep(100);
	CHECK_EQ(WaitForSingleObject(t, 0), WAIT_TIMEOUT);
	/* The data is still unread: re-arming reports it (at once with skip
	 * on success, through a packet without). */
	CHECK_OK(iocp_sock_rearm(w.port, h, IOCP_READABLE));
	CHECK_EQ(WaitForSingleObject(t, 3000), WAIT_OBJECT_0);
	CloseHandle(t);
	CHECK_OK(w.rc);
	CHECK_EQ(w.n, 1);
	CHECK_EQ(w.ev[0].id, 1);

	finish_pair(w.port, h, c, s);
}

/* More ready states than a wait's cap: every record within cap, every
 * state reported across waits. */
static void test_cap_respected(void)
{
	enum { N = 20 };
	SOCKET u[N];
	uintptr_t port = open_port(), h[N];
	struct sockaddr_in a;
	iocp_event ev[3];
	int i, n, seen[N] = {0}, total = 0, waits = 0;

	for (i = 0; i < N; i++) {
		u[i] = new_socket(SOCK_DGRAM);
		loopback(&a, 0);
		CHECK_OK(bind(u[i], (struct sockaddr *)&a, sizeof a));
		h[i] = add_ovl(port, u[i], (uint64_t)i + 1, IOCP_WRITABLE);
	}
	while (total < N && waits++ < 100) {
		CHECK_OK(iocp_wait(port, NULL, 0, ev, 3, 1000, &n));
		CHECK(n <= 3);
		for (i = 0; i < n; i++)
			if (ev[i].id >= 1 && ev[i].id <= N &&
			    !seen[ev[i].id - 1]++)
				total++;
	}
	CHECK_EQ(total, N);
	CHECK_EQ(quiet(port, 50), 0);
	for (i = 0; i < N; i++) {
		CHECK_OK(iocp_sock_delete(port, h[i]));
		closesocket(u[i]);
	}
	CHECK_OK(iocp_port_close(port));
}

/* Fills c's send side (h, nobody reads s) until a send stays in flight;
 * the bytes accepted. */
static long long fill_until_in_flight(uintptr_t port, uintptr_t h)
{
	static char chunk[65536];
	long long accepted = 0;
	int i, n, rc;

	for (i = 0; i < 4000; i++) {
		rc = iocp_ovl_send(port, h, chunk, sizeof chunk, NULL, 0, &n);
		accepted += n;
		if (rc == WSAEWOULDBLOCK || (rc == 0 && n < (int)sizeof chunk))
			return accepted;
		CHECK_OK(rc);
		quiet(port, 0); /* the completion, if it came already */
	}
	CHECK(0); /* never in flight */
	return accepted;
}

/* Reads s (non-blocking) while dequeuing port, until EOF; the byte count. */
static long long read_to_eof(uintptr_t port, SOCKET s)
{
	static char buf[65536];
	ULONGLONG deadline = GetTickCount64() + 10000;
	long long got = 0;
	int n;

	for (;;) {
		n = recv(s, buf, sizeof buf, 0);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n == 0)
			return got;
		if (port == 0 && WSAGetLastError() == WSAECONNRESET)
			return got; /* aborted: only after a port close */
		CHECK_EQ(WSAGetLastError(), WSAEWOULDBLOCK);
		CHECK(GetTickCount64() < deadline);
		if (port != 0)
			quiet(port, 5);
		else
			Sleep(5);
	}
}

/* The lingering close: a stream closed (deleted with LINGER, then handed
 * over) while a send is in flight. C closes the SOCKET only once the send's
 * completion is dequeued, so the peer gets every accepted byte, then EOF;
 * the state is freed then. Applied directly and through iocp_wait's batch;
 * and at iocp_port_close, which closes a handed-over SOCKET itself. */
static void test_lingering_close(void)
{
	int64_t base = iocp_live_allocs();
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	iocp_rearm batch[2];
	iocp_event ev[4];
	long long accepted;
	int type, len = sizeof type, n, round;

	for (round = 0; round < 2; round++) {
		tcp_pair(&c, &s);
		h = add_ovl(port, c, 7, IOCP_WRITABLE);
		CHECK_EQ(wait_for(port, 7).bits, IOCP_WRITABLE);
		accepted = fill_until_in_flight(port, h);
		if (round == 0) {
			CHECK_OK(iocp_sock_rearm(port, h,
						 IOCP_REARM_DELETE |
							 IOCP_REARM_LINGER));
			/* Go still owns c: the state waits for it. */
			CHECK(iocp_live_allocs() > base + 1);
			CHECK_OK(iocp_sock_rearm(port, h, IOCP_REARM_HANDOVER));
		} else {
			batch[0].sock = batch[1].sock = h;
			batch[0].bits = IOCP_REARM_DELETE | IOCP_REARM_LINGER;
			batch[1].bits = IOCP_REARM_HANDOVER;
			batch[0].reserved = batch[1].reserved = 0;
			CHECK_OK(iocp_wait(port, batch, 2, ev, 4, 0, &n));
			CHECK_EQ(n, 0); /* deleted: never reported */
		}
		/* C's now, and still open: the send is in flight. */
		CHECK(iocp_live_allocs() > base + 1);
		CHECK_OK(getsockopt(c, SOL_SOCKET, SO_TYPE, (char *)&type,
				    &len));
		CHECK_EQ(read_to_eof(port, s), accepted);
		CHECK_EQ(iocp_live_allocs(), base + 1); /* the port only */
		CHECK_EQ(quiet(port, 20), 0);
		closesocket(s);
	}

	/* Handed over with the send in flight, then the port closes: the send
	 * is cancelled and C closes the SOCKET (the harness counts handles). */
	tcp_pair(&c, &s);
	h = add_ovl(port, c, 8, IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 8).bits, IOCP_WRITABLE);
	fill_until_in_flight(port, h);
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_REARM_DELETE | IOCP_REARM_LINGER));
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_REARM_HANDOVER));
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	read_to_eof(0, s); /* closed by port close: EOF (or reset) */
	closesocket(s);

	/* Deleted with LINGER, never handed over: port close frees the state
	 * and leaves the SOCKET to its owner. */
	port = open_port();
	tcp_pair(&c, &s);
	h = add_ovl(port, c, 9, IOCP_WRITABLE);
	CHECK_EQ(wait_for(port, 9).bits, IOCP_WRITABLE);
	CHECK_OK(iocp_sock_rearm(port, h, IOCP_REARM_DELETE | IOCP_REARM_LINGER));
	CHECK_EQ(quiet(port, 20), 0);
	CHECK(iocp_live_allocs() > base + 1);
	CHECK_OK(iocp_port_close(port));
	CHECK_EQ(iocp_live_allocs(), base);
	CHECK_OK(getsockopt(c, SOL_SOCKET, SO_TYPE, (char *)&type, &len));
	closesocket(c);
	closesocket(s);
}

/* Waits up to 5 s for s to be readable; then recv's answer (0: EOF). */
static int recv_within(SOCKET s, char *buf, int len)
{
	fd_set rd;
	struct timeval tv = {5, 0};

	FD_ZERO(&rd);
	FD_SET(s, &rd);
	if (select(0, &rd, NULL, NULL, &tv) != 1)
		return -2; /* nothing within 5 s */
	return recv(s, buf, len, 0);
}

/* iocp_ovl_delete hands back what the state held: the connection AcceptEx
 * accepted (working, the client reads no EOF) and the datagram received. */
static void test_delete_hands_back(void)
{
	struct sockaddr_in addr;
	SOCKET l = listener(&addr), c = new_socket(SOCK_STREAM);
	SOCKET u = new_socket(SOCK_DGRAM), v = new_socket(SOCK_DGRAM);
	uintptr_t port = open_port(), h;
	iocp_held held;
	char buf[16];
	int rc;

	h = add_ovl(port, l, 1, IOCP_READABLE);
	rc = connect(c, (struct sockaddr *)&addr, sizeof addr);
	CHECK(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
	CHECK_EQ(wait_for(port, 1).records, 1);
	CHECK_OK(iocp_ovl_delete(port, h, 0, &held));
	CHECK(held.socket != (uintptr_t)INVALID_SOCKET);
	CHECK_EQ(held.addr_len, sizeof(struct sockaddr_in));
	CHECK(held.data == NULL);
	CHECK_EQ(held.flags & IOCP_HELD_LINGER, 0);
	if (held.socket != (uintptr_t)INVALID_SOCKET) {
		send_bytes((SOCKET)held.socket, "ok", 2);
		CHECK_EQ(recv_within(c, buf, sizeof buf), 2);
		closesocket((SOCKET)held.socket);
	}

	loopback(&addr, 0);
	CHECK_OK(bind(u, (struct sockaddr *)&addr, sizeof addr));
	rc = sizeof addr;
	CHECK_OK(getsockname(u, (struct sockaddr *)&addr, &rc));
	h = add_ovl(port, u, 2, IOCP_READABLE);
	CHECK_EQ(sendto(v, "datagram", 8, 0, (struct sockaddr *)&addr,
			sizeof addr),
		 8);
	CHECK_EQ(wait_for(port, 2).records, 1);
	CHECK_OK(iocp_ovl_delete(port, h, 0, &held));
	CHECK(held.data != NULL);
	CHECK_EQ(held.data_len, 8);
	CHECK_EQ(held.addr_len, sizeof(struct sockaddr_in));
	if (held.data != NULL)
		CHECK_EQ(memcmp(held.data, "datagram", 8), 0);
	iocp_ovl_free(held.data);

	CHECK_OK(iocp_port_close(port));
	closesocket(l);
	closesocket(c);
	closesocket(u);
	closesocket(v);
}

/* States that are ready again at every wait (modified each time), more of
 * them than the capacity of 1: every wait still dequeues, so a wake
 * posted behind them gets through. */
static void test_wait_never_starves(void)
{
	enum { N = 20 };
	SOCKET u[N];
	uintptr_t port = open_port(), h[N];
	struct sockaddr_in a;
	iocp_event ev[1];
	int i, n, waits, woken = 0;

	for (i = 0; i < N; i++) {
		u[i] = new_socket(SOCK_DGRAM);
		loopback(&a, 0);
		CHECK_OK(bind(u[i], (struct sockaddr *)&a, sizeof a));
		h[i] = add_ovl(port, u[i], (uint64_t)i + 1, IOCP_WRITABLE);
	}
	CHECK_OK(iocp_wake(port, 77));
	for (waits = 0; !woken && waits < 10 * N; waits++) {
		CHECK_OK(iocp_wait(port, NULL, 0, ev, 1, 1000, &n));
		CHECK(n <= 1);
		if (n == 1 && ev[0].id == 77)
			woken = 1;
		else if (n == 1 && ev[0].id >= 1 && ev[0].id <= N)
			CHECK_OK(iocp_sock_modify(port, h[ev[0].id - 1],
						  ev[0].id, IOCP_WRITABLE));
	}
	CHECK(woken);
	for (i = 0; i < N; i++) {
		CHECK_OK(iocp_sock_delete(port, h[i]));
		closesocket(u[i]);
	}
	CHECK_OK(iocp_port_close(port));
}

/* The other way round: with a capacity of 1 and a wake queued before every
 * wait (a busy port), a ready state is still reported (every other wait
 * at least). */
static void test_ready_state_not_starved_by_port(void)
{
	SOCKET u = new_socket(SOCK_DGRAM);
	uintptr_t port = open_port(), h;
	struct sockaddr_in a;
	iocp_event ev[1];
	int n, waits, reported = 0;

	loopback(&a, 0);
	CHECK_OK(bind(u, (struct sockaddr *)&a, sizeof a));
	h = add_ovl(port, u, 1, IOCP_WRITABLE);
	for (waits = 0; !reported && waits < 20; waits++) {
		CHECK_OK(iocp_wake(port, 77));
		CHECK_OK(iocp_wait(port, NULL, 0, ev, 1, 1000, &n));
		CHECK_EQ(n, 1);
		if (n == 1 && ev[0].id == 1)
			reported = 1;
	}
	CHECK(reported);
	CHECK(waits <= 2);
	while (quiet(port, 0) > 0) /* the wakes left */
		;
	CHECK_OK(iocp_sock_delete(port, h));
	closesocket(u);
	CHECK_OK(iocp_port_close(port));
}

/* The handover of an idle lingering state closes the SOCKET at once, its
 * cancelled receive still owed: the peer reads EOF with no wait run. */
static void test_handover_closes_at_once(void)
{
	SOCKET c, s;
	uintptr_t port = open_port(), h;
	iocp_held held;
	char buf[4];

	tcp_pair(&c, &s);
	h = add_ovl(port, s, 1, IOCP_READABLE); /* zero-byte receive pending */
	CHECK_OK(iocp_ovl_delete(port, h, IOCP_REARM_LINGER, &held));
	CHECK(held.flags & IOCP_HELD_LINGER);
	CHECK_OK(iocp_ovl_handover(port, h));
	CHECK_EQ(recv_within(c, buf, sizeof buf), 0);
	CHECK_OK(iocp_port_close(port)); /* frees the state, s stays closed */
	closesocket(c);
}

/* ---- main ---- */

static const test tests[] = {
	{"stream_readable_and_rearm", test_stream_readable_and_rearm},
	{"at_once_delivered_once", test_at_once_delivered_once},
	{"peer_close_and_reset", test_peer_close_and_reset},
	{"send_buffer_and_writable", test_send_buffer_and_writable},
	{"deferred_connect", test_deferred_connect},
	{"accept", test_accept},
	{"udp", test_udp},
	{"modify_and_delete", test_modify_and_delete},
	{"close_port_with_everything_pending",
	 test_close_port_with_everything_pending},
	{"automatic_fallback", test_automatic_fallback},
	{"ready_wakes_blocked_wait", test_ready_wakes_blocked_wait},
	{"cap_respected", test_cap_respected},
	{"lingering_close", test_lingering_close},
	{"delete_hands_back", test_delete_hands_back},
	{"wait_never_starves", test_wait_never_starves},
	{"handover_closes_at_once", test_handover_closes_at_once},
	{"ready_state_not_starved_by_port",
	 test_ready_state_not_starved_by_port},
};

int main(int argc, char **argv)
{
	static const int modes[] = {-1, 0};
	size_t m;
	int rc = tests_start(add_ovl);

	if (rc != 0)
		return rc;
	for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		skip_mode = modes[m];
		iocp_test_switches(0, skip_mode);
		tests_run(tests, sizeof tests / sizeof tests[0],
			  argc > 1 ? argv[1] : NULL,
			  skip_mode ? "skip-auto" : "skip-off");
	}
	iocp_test_switches(0, -1);
	return tests_finish();
}
