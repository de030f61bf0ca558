//go:build windows && cgo

/*
 * iocp_ovl.c: the overlapped engine of the C core, for sockets AFD cannot
 * poll (a non-IFS layered service provider hides the base socket). The
 * socket itself is bound to the port (key OVL_KEY, once, forever) and its
 * readiness is read off overlapped operations, as in the seed's chapter:
 *
 *   stream    READABLE: a zero-byte WSARecv completed (data, FIN or error;
 *             a one-byte MSG_PEEK tells FIN apart: READ_CLOSED);
 *             WRITABLE: connected and no WSASend in flight.
 *   listener  READABLE: an AcceptEx into a pre-created socket completed;
 *             the socket is held until iocp_ovl_accept takes it.
 *   UDP       READABLE: a WSARecvFrom into a C-owned 64 KiB buffer
 *             completed; the datagram is held until iocp_ovl_recvfrom
 *             takes it (a zero-byte receive could discard a datagram);
 *             WRITABLE: no WSASendTo in flight. A raw one (IOCP_ADD_RAW,
 *             the caller reads it itself): the WSARecvFrom is a MSG_PEEK,
 *             the datagram stays in the socket (what the buffer holds is
 *             never handed to anyone).
 *   connect   a stream dialed with its connect deferred gets ConnectEx at
 *             add: WRITABLE when it completes, with ERROR if it failed.
 *   writes    iocp_ovl_send copies into a C-owned buffer (at most 64 KiB
 *             at a time) and issues WSASend / WSASendTo from it.
 *
 * Operations. A state has three OVERLAPPED records, rd (WSARecv, WSARecvFrom
 * or AcceptEx), cn (ConnectEx) and wr (WSASend or WSASendTo), each with at
 * most one operation in flight:
 *
 *   IDLE --- issue: pending (WSA_IO_PENDING), or success without
 *    ^       FILE_SKIP_COMPLETION_PORT_ON_SUCCESS ---> PENDING (packet owed)
 *    |                                                   |
 *    +------------ its packet dequeued -----------------+
 *   IDLE --- issue: failed, or success with skip-on-success: no packet;
 *            the result is handled at once, as a dequeued one would be.
 *
 *  - op.pending is set exactly when a packet is owed; port->in_flight
 *    counts them. A pending OVERLAPPED (and the buffers its operation
 *    names) is the kernel's: the state is never freed while either op is
 *    pending. Each packet is handled exactly once, when dequeued (by
 *    iocp_wait, or by iocp_port_close's drain).
 *  - Skip-on-success is set only where safe: when the socket's provider has
 *    IFS handles (a non-IFS provider may queue a packet anyway). Without
 *    it, an operation that succeeds at once still queues its packet and is
 *    handled only then: one result, never two.
 *  - deleted (delete_state): the pending receive or accept is cancelled
 *    (CancelIoEx; its packet comes back with 995, or 676 under Wine); a
 *    send in flight is left to finish, so bytes Write accepted are not
 *    dropped by Deregister, and so is a connect (a cancelled ConnectEx
 *    cannot be restarted: the SOCKET's next state takes it over,
 *    take_prior). hand_back gives Go what the read side held, also a
 *    result its OVERLAPPED already shows. free_if_done frees the state
 *    once iocp.h's rules allow it (release_state: outside iocp_wait, after
 *    the next one applied its batch).
 *  - lingering close (iocp.h's ownership rules): await_sock, deleted with
 *    linger and not handed over (a send completing with part of its buffer
 *    sent sends the rest); owns_sock, handed over; maybe_close closes the
 *    SOCKET once C owns it and no send of its chain is in flight (at the
 *    handover itself when it is idle, so the peer gets the FIN without a
 *    wait); sock_closed, closed.
 *  - chain: a SOCKET registered again while an earlier state of it still
 *    lingers gets a state whose prior is that one (take_prior, heir and
 *    prior); chain_sending asks every send of the chain.
 *
 * Readiness, edge-triggered like the AFD engine: a direction is reported
 * when its condition (above) holds, it is in the interest and not already
 * reported; reported directions wait for a re-arm (Go hit WSAEWOULDBLOCK:
 * the rearm list, iocp_sock_rearm, or iocp_ovl_* returning WSAEWOULDBLOCK,
 * which re-arms by itself) or a modify. Records are not written where the
 * condition changes but queued: the state goes on the port's ready list,
 * which iocp_wait empties into its records before and after dequeuing (cap
 * respected; what does not fit waits for the next wait; a state already
 * written in this wait adds its bits to its record, ovl_emit). A state made ready
 * outside iocp_wait while a wait is blocked posts one internal wake (id 0)
 * so that the blocked wait returns with it.
 *
 * Locking: everything runs under the port lock, as the AFD engine does.
 * Ownership: iocp.h.
 */

#include "iocp_int.h"

#include <mswsock.h>
#include <string.h>
#include <ws2tcpip.h>

__declspec(dllimport) ULONG NTAPI RtlNtStatusToDosError(LONG status);

#define DGRAM_MAX 65536 /* the largest UDP datagram fits */
#define SEND_MAX 65536	/* bytes one WSASend carries, at most */
#define ACCEPT_ADDR_LEN (sizeof(struct sockaddr_in6) + 16)

/* iocp_test_switches' skip_mode: -1 per socket, 0 never, 1 always. */
volatile LONG ovl_test_skip_mode = -1;

/* iocp_test_fail_send: sends left before the injected failure (-1: none),
 * and its error. */
static volatile LONG test_sends_left = -1;
static volatile LONG test_send_err;

void iocp_test_fail_send(int after, int err)
{
	InterlockedExchange(&test_send_err, err);
	InterlockedExchange(&test_sends_left, after);
}

/* Whether this send is the one iocp_test_fail_send asked to fail. */
static int test_send_fails(void)
{
	LONG left = test_sends_left;

	while (left >= 0) {
		if (InterlockedCompareExchange(&test_sends_left, left - 1,
					       left) == left)
			return left == 0;
		left = test_sends_left;
	}
	return 0;
}

typedef enum op_kind {
	OP_RECV,     /* zero-byte WSARecv */
	OP_RECVFROM, /* WSARecvFrom into s->dgram */
	OP_ACCEPT,   /* AcceptEx into s->accept_sock */
	OP_CONNECT,  /* ConnectEx to s->waddr */
	OP_SEND	     /* WSASend / WSASendTo of s->wbuf[woff:wlen] */
} op_kind;

typedef enum sock_kind { K_STREAM, K_LISTENER, K_DGRAM } sock_kind;

typedef struct ovl_op {
	OVERLAPPED ov; /* the kernel's while pending; the packet points here */
	ovl_state *s;
	unsigned char kind; /* op_kind of the operation in flight or last */
	unsigned char pending; /* one packet owed */
} ovl_op;

struct ovl_state {
	uint32_t engine; /* IOCP_ENGINE_OVERLAPPED; first in every state (ENGINE_OF) */
	ovl_state *prev, *next;	 /* port->ovl_states */
	ovl_state *rprev, *rnext; /* port's ready list, when on_ready */
	SOCKET sock;
	uint64_t id;
	uint32_t interest; /* IOCP_READABLE | IOCP_WRITABLE */
	uint32_t reported; /* directions reported and not re-armed */
	uint32_t ready;	   /* directions to report at the next emit */
	uint32_t rd_hints; /* READ_CLOSED / WRITE_CLOSED / ERROR seen by rd */
	uint32_t wr_hints; /* WRITE_CLOSED / ERROR seen by wr */
	unsigned char kind; /* sock_kind */
	unsigned char skip; /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set */
	unsigned char deleted;
	unsigned char await_sock; /* deleted with LINGER, not handed over */
	unsigned char owns_sock;  /* handed over: C closes sock at free */
	unsigned char on_ready;
	unsigned char connecting; /* ConnectEx in flight */
	/* The connect's result was taken from its OVERLAPPED before its packet
	 * was dequeued (connect_peek): that packet only settles cn. */
	unsigned char connect_early;
	unsigned char connected;  /* stream: reads and writes may be issued */
	unsigned short family;
	unsigned char sock_closed; /* owns_sock, and C has closed sock */
	unsigned char retired;	   /* freed at the next wait (release_state) */
	unsigned char raw; /* IOCP_ADD_RAW: UDP polled with a peek, never read */
	ovl_state *retire_next;	   /* port->ovl_retired, when retired */
	/* Deleted states of the same SOCKET, newest first (heir) to oldest
	 * (prior): a state deleted while its send was in flight stays as the
	 * prior of the socket's next state, so that whoever closes the SOCKET
	 * waits for every send of the chain (chain_sending). */
	ovl_state *prior, *heir;
	/* The iocp_wait (port->wait_seq) that last wrote a record of this
	 * state, and that record's index (ovl_emit). */
	uint64_t emit_wait;
	int emit_at;

	/* Read side. rd_done: the read side has a result Go has not taken:
	 * stream, the zero-byte receive completed (until re-armed); listener,
	 * an accepted socket (or rd_err) is held; UDP, a datagram (or rd_err)
	 * is held. No receive is issued while it is set. */
	ovl_op rd;
	unsigned char rd_done;
	int rd_err;
	DWORD rd_bytes;
	DWORD rd_flags;	     /* WSARecvFrom's flags: the kernel's while pending */
	INT raddr_len;	     /* WSARecvFrom's from length: likewise */
	SOCKADDR_STORAGE raddr; /* WSARecvFrom's sender: likewise */
	char *dgram;	     /* UDP: DGRAM_MAX bytes, allocated at first use */
	SOCKET accept_sock;  /* listener: AcceptEx's socket, in flight or held */
	LPFN_ACCEPTEX acceptex;
	char accept_buf[2 * ACCEPT_ADDR_LEN]; /* AcceptEx's addresses */

	/* The deferred connect (ConnectEx), apart from the sends: a Write
	 * made once it completed sends also before its packet is dequeued. */
	ovl_op cn;

	/* Write side. wbuf is allocated for a send and freed once nothing is
	 * in flight: an idle state holds no send buffer. */
	ovl_op wr;
	int send_err;	 /* a send failed: every later send fails with it */
	int connect_err; /* the deferred connect failed (until taken) */
	char *wbuf;
	DWORD wlen, woff;
	SOCKADDR_STORAGE waddr; /* ConnectEx's peer, or the datagram's */
	int waddr_len;
};

typedef enum issued { ISSUED_DONE, ISSUED_OWED, ISSUED_FAILED } issued;

static void rd_complete(iocp_port *port, ovl_state *s, int err, DWORD bytes);
static void connect_complete(iocp_port *port, ovl_state *s, int err);
static void wr_complete(iocp_port *port, ovl_state *s, int err, DWORD bytes);

/* ---- helpers ---- */

static int status_error(ULONG_PTR internal)
{
	LONG status = (LONG)(ULONG)internal;

	return status >= 0 ? 0 : (int)RtlNtStatusToDosError(status);
}

static void op_reset(ovl_op *op, op_kind kind)
{
	IOCP_CHECK(!op->pending); /* the kernel's OVERLAPPED */
	memset(&op->ov, 0, sizeof op->ov);
	op->kind = (unsigned char)kind;
}

/* What an issued operation left us: ok is the call's success, err its
 * WSAGetLastError otherwise. A packet is owed when it is pending, or when
 * it succeeded at once without skip-on-success. */
static issued op_issued(iocp_port *port, ovl_state *s, ovl_op *op, BOOL ok,
			int err)
{
	if (ok ? !s->skip : err == WSA_IO_PENDING) {
		IOCP_CHECK(!op->pending);
		op->pending = 1;
		port->in_flight++;
		return ISSUED_OWED;
	}
	return ok ? ISSUED_DONE : ISSUED_FAILED;
}

/* Pending -> idle: op's packet is in (dequeued by iocp_wait or by
 * iocp_port_close's drain). */
static void op_packet_in(iocp_port *port, ovl_op *op)
{
	IOCP_CHECK(op->pending);
	IOCP_CHECK(port->in_flight > 0);
	op->pending = 0;
	port->in_flight--;
}

/* How long cancel_op retries a cancel that found nothing while the
 * operation still shows STATUS_PENDING. */
#define CANCEL_RETRY_MS 2000

static int op_still_pending(const ovl_op *op)
{
	return *(volatile ULONG_PTR *)&op->ov.Internal ==
	       (ULONG_PTR)STATUS_PENDING;
}

static void cancel_op(ovl_state *s, ovl_op *op)
{
	ULONGLONG deadline;

	/* Whatever CancelIoEx answers (ERROR_NOT_FOUND when the operation
	 * just completed), the packet is still owed: op stays pending. */
	if (!op->pending)
		return;
	iocp_count_syscall();
	if (CancelIoEx((HANDLE)s->sock, &op->ov) ||
	    GetLastError() != ERROR_NOT_FOUND || !op_still_pending(op))
		return;
	/* Not found, yet not completed: the operation is between the kernel's
	 * wake-up and its result. Wine (8) shows this for a receive woken by
	 * arriving data whose issuing thread has not run its completion yet:
	 * the cancel is lost, and if that thread finds no data (another
	 * thread read it) the receive is restarted and stays pending for
	 * good, its SOCKET closed by Go or C afterwards never completing it:
	 * the state would never be freed and iocp_port_close would hang. So
	 * cancel again until it takes or the operation completes; the caller
	 * may close the SOCKET (and the system reuse its number) as soon as
	 * the delete returns, so it cannot be retried later. Bounded: on
	 * Windows a completed operation shows its status at once. */
	deadline = GetTickCount64() + CANCEL_RETRY_MS;
	do {
		SwitchToThread();
		iocp_count_syscall();
		if (CancelIoEx((HANDLE)s->sock, &op->ov) ||
		    GetLastError() != ERROR_NOT_FOUND)
			return;
	} while (op_still_pending(op) && GetTickCount64() < deadline);
}

static int want_skip(SOCKET sock)
{
	WSAPROTOCOL_INFOW info;
	int len = sizeof info;
	LONG mode = ovl_test_skip_mode;

	if (mode >= 0)
		return mode != 0;
	iocp_count_syscall();
	if (getsockopt(sock, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info,
		       &len) != 0)
		return 0;
	return (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
}

static void set_nonblocking(SOCKET s)
{
	u_long on = 1;

	iocp_count_syscall();
	ioctlsocket(s, FIONBIO, &on);
}

/* ---- the ready list ---- */

static void ready_unlink(iocp_port *port, ovl_state *s)
{
	if (!s->on_ready)
		return;
	if (s->rprev != NULL)
		s->rprev->rnext = s->rnext;
	else
		port->ready_head = s->rnext;
	if (s->rnext != NULL)
		s->rnext->rprev = s->rprev;
	else
		port->ready_tail = s->rprev;
	s->rprev = s->rnext = NULL;
	s->on_ready = 0;
}

static void ready_push(iocp_port *port, ovl_state *s)
{
	IOCP_CHECK(!s->deleted && !s->retired);
	if (!s->on_ready) {
		s->rprev = port->ready_tail;
		s->rnext = NULL;
		if (port->ready_tail != NULL)
			port->ready_tail->rnext = s;
		else
			port->ready_head = s;
		port->ready_tail = s;
		s->on_ready = 1;
	}
	if (port->blocked && !port->wake_posted) {
		iocp_count_syscall();
		if (PostQueuedCompletionStatus(port->iocp, 0,
					       (ULONG_PTR)IOCP_WAKE_KEY_BIT,
					       NULL))
			port->wake_posted = 1;
	}
}

/* One record per state per iocp_wait: a state reported earlier in the same
 * wait (before the dequeue, say, with a packet of it dequeued after) adds
 * its directions to that record. Two records of one source in a batch
 * would read as an event after its Deregister to a caller that closes the
 * source on the first (an echo loop at EOF). */
int ovl_emit(iocp_port *port, iocp_event *out, int n, int cap)
{
	ovl_state *s;
	uint32_t bits;

	while ((s = port->ready_head) != NULL) {
		bits = s->ready | s->rd_hints | s->wr_hints;
		if (s->ready != 0 && s->emit_wait == port->wait_seq &&
		    s->emit_at < n && out[s->emit_at].id == s->id) {
			ready_unlink(port, s);
			out[s->emit_at].bits |= bits;
			s->ready = 0;
			continue;
		}
		if (n >= cap)
			break;
		ready_unlink(port, s);
		if (s->ready == 0)
			continue;
		out[n].id = s->id;
		out[n].bits = bits;
		out[n].reserved = 0;
		s->ready = 0;
		s->emit_wait = port->wait_seq;
		s->emit_at = n;
		n++;
	}
	return n;
}

/* ---- readiness ---- */

static uint32_t condition(const ovl_state *s)
{
	uint32_t c = s->rd_done ? IOCP_READABLE : 0;

	switch (s->kind) {
	case K_STREAM:
		if (!s->connecting && !s->wr.pending &&
		    (s->connected || s->connect_err != 0))
			c |= IOCP_WRITABLE;
		/* A failed connect reads as on Linux: readable too (the read
		 * returns the failure), for a Readable-only registration. */
		if (s->connect_err != 0)
			c |= IOCP_READABLE;
		break;
	case K_DGRAM:
		if (!s->wr.pending)
			c |= IOCP_WRITABLE;
		break;
	}
	return c;
}

/* Queues the directions that became reportable. */
static void evaluate(iocp_port *port, ovl_state *s)
{
	uint32_t fresh;

	if (s->deleted)
		return;
	fresh = condition(s) & s->interest & ~s->reported;
	if (fresh == 0)
		return;
	s->reported |= fresh;
	s->ready |= fresh;
	ready_push(port, s);
}

/* ---- the read side ---- */

/* The read side's operations, one per kind: each issues it on s->rd and
 * returns 1 with *ok (the call's success) and *bytes, or returns 0 having
 * issued nothing (a failure before the call is handled as its result). */
static int rd_start_recv(ovl_state *s, BOOL *ok, DWORD *bytes)
{
	WSABUF buf;
	DWORD flags = 0;

	/* Not before the connect is done; not while Go is reading
	 * (reported, not re-armed). */
	if (!s->connected || (s->reported & IOCP_READABLE))
		return 0;
	op_reset(&s->rd, OP_RECV);
	buf.len = 0;
	buf.buf = NULL;
	iocp_count_syscall();
	*ok = WSARecv(s->sock, &buf, 1, bytes, &flags, &s->rd.ov, NULL) == 0;
	return 1;
}

static int rd_start_recvfrom(iocp_port *port, ovl_state *s, BOOL *ok,
			     DWORD *bytes)
{
	WSABUF buf;

	if (s->dgram == NULL && (s->dgram = iocp_alloc(DGRAM_MAX)) == NULL) {
		rd_complete(port, s, ERROR_NOT_ENOUGH_MEMORY, 0);
		return 0;
	}
	op_reset(&s->rd, OP_RECVFROM);
	buf.len = DGRAM_MAX;
	buf.buf = s->dgram;
	/* Raw: a peek, leaving the datagram to the caller's own recv; into
	 * the whole buffer, so that it succeeds (a truncating peek's warning
	 * status may still queue a packet). */
	s->rd_flags = s->raw ? MSG_PEEK : 0;
	s->raddr_len = sizeof s->raddr;
	iocp_count_syscall();
	*ok = WSARecvFrom(s->sock, &buf, 1, bytes, &s->rd_flags,
			  (struct sockaddr *)&s->raddr, &s->raddr_len,
			  &s->rd.ov, NULL) == 0;
	return 1;
}

static int rd_start_accept(iocp_port *port, ovl_state *s, BOOL *ok,
			   DWORD *bytes)
{
	if (s->accept_sock == INVALID_SOCKET) {
		iocp_count_syscall();
		s->accept_sock = WSASocketW(s->family, SOCK_STREAM,
					    IPPROTO_TCP, NULL, 0,
					    WSA_FLAG_OVERLAPPED |
						    WSA_FLAG_NO_HANDLE_INHERIT);
		if (s->accept_sock == INVALID_SOCKET) {
			rd_complete(port, s, WSAGetLastError(), 0);
			return 0;
		}
	}
	op_reset(&s->rd, OP_ACCEPT);
	iocp_count_syscall();
	*ok = s->acceptex(s->sock, s->accept_sock, s->accept_buf, 0,
			  ACCEPT_ADDR_LEN, ACCEPT_ADDR_LEN, bytes, &s->rd.ov);
	return 1;
}

/* Issues the read side's operation when one is wanted and none is in
 * flight or held. */
static void rd_issue(iocp_port *port, ovl_state *s)
{
	DWORD bytes = 0;
	BOOL ok = FALSE;
	int err = 0, started;
	issued r;

	if (s->deleted || s->rd.pending || s->rd_done ||
	    !(s->interest & IOCP_READABLE))
		return;
	if (s->kind == K_STREAM)
		started = rd_start_recv(s, &ok, &bytes);
	else if (s->kind == K_DGRAM)
		started = rd_start_recvfrom(port, s, &ok, &bytes);
	else
		started = rd_start_accept(port, s, &ok, &bytes);
	if (!started)
		return;
	if (!ok)
		err = WSAGetLastError();
	r = op_issued(port, s, &s->rd, ok, err);
	if (r != ISSUED_OWED)
		rd_complete(port, s, r == ISSUED_DONE ? 0 : err, bytes);
}

/* The read side's operation finished (dequeued, or at once) on a live
 * state. */
static void rd_complete(iocp_port *port, ovl_state *s, int err, DWORD bytes)
{
	char c;
	int n;

	IOCP_CHECK(!s->deleted && !s->rd.pending && !s->rd_done);
	s->rd_done = 1;
	s->rd_err = err;
	s->rd_bytes = bytes;
	s->rd_hints = err != 0 ? IOCP_ERROR : 0;
	switch (s->kind) {
	case K_STREAM:
		if (err != 0) {
			/* Reset, abort, socket closed under us. */
			s->rd_hints |= IOCP_READ_CLOSED | IOCP_WRITE_CLOSED;
			break;
		}
		/* Zero bytes either way: data or FIN. Peek to tell. */
		iocp_count_syscall();
		n = recv(s->sock, &c, 1, MSG_PEEK);
		if (n == 0)
			s->rd_hints = IOCP_READ_CLOSED;
		break;
	case K_DGRAM:
		if (err == ERROR_MORE_DATA || err == WSAEMSGSIZE) {
			s->rd_err = 0; /* truncated datagram: deliver it */
			s->rd_hints = 0;
			s->rd_bytes = DGRAM_MAX;
		}
		break;
	case K_LISTENER:
		if (err == 0) {
			iocp_count_syscall();
			setsockopt(s->accept_sock, SOL_SOCKET,
				   SO_UPDATE_ACCEPT_CONTEXT, (char *)&s->sock,
				   sizeof s->sock);
		} else if (s->accept_sock != INVALID_SOCKET) {
			/* A failed AcceptEx's socket is not reused. */
			iocp_count_syscall();
			closesocket(s->accept_sock);
			s->accept_sock = INVALID_SOCKET;
		}
		/* A client gone before its accept completed: as accept()
		 * says, so that Accept skips it and goes on. */
		if (err == ERROR_NETNAME_DELETED ||
		    err == ERROR_CONNECTION_ABORTED || err == WSAECONNABORTED)
			s->rd_err = WSAECONNRESET;
		break;
	}
	evaluate(port, s);
}

/* ---- the write side ---- */

/* Issues a send of wbuf[woff:wlen]; repeats while a stream send completes
 * at once with part of it. */
static issued wr_issue_send(iocp_port *port, ovl_state *s, int *err_out)
{
	WSABUF buf;
	DWORD bytes;
	BOOL ok;
	issued r;

	for (;;) {
		op_reset(&s->wr, OP_SEND);
		buf.len = s->wlen - s->woff;
		buf.buf = s->wbuf + s->woff;
		bytes = 0;
		if (test_send_fails()) {
			*err_out = (int)test_send_err;
			return ISSUED_FAILED;
		}
		iocp_count_syscall();
		if (s->kind == K_DGRAM)
			ok = WSASendTo(s->sock, &buf, 1, &bytes, 0,
				       (struct sockaddr *)&s->waddr,
				       s->waddr_len, &s->wr.ov, NULL) == 0;
		else
			ok = WSASend(s->sock, &buf, 1, &bytes, 0, &s->wr.ov,
				     NULL) == 0;
		*err_out = ok ? 0 : WSAGetLastError();
		r = op_issued(port, s, &s->wr, ok, *err_out);
		if (r == ISSUED_DONE && s->kind == K_STREAM && bytes > 0 &&
		    bytes < buf.len) {
			s->woff += bytes;
			continue;
		}
		return r;
	}
}

static void wr_free_buffer(ovl_state *s)
{
	if (s->wbuf != NULL) {
		iocp_free(s->wbuf);
		s->wbuf = NULL;
	}
	s->wlen = s->woff = 0;
}

/* The connect completed (its packet, at once, or connect_peek). */
static void connect_complete(iocp_port *port, ovl_state *s, int err)
{
	IOCP_CHECK(!s->deleted && s->connecting);
	s->connecting = 0;
	/* A connect restarted after a cancelled one that had in fact
	 * completed: connected. */
	if (err == WSAEISCONN)
		err = 0;
	if (err == 0) {
		iocp_count_syscall();
		setsockopt(s->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL,
			   0);
		s->connected = 1;
		s->wr_hints = 0;
	} else {
		s->connect_err = err;
		s->wr_hints = IOCP_ERROR | IOCP_READ_CLOSED | IOCP_WRITE_CLOSED;
	}
	rd_issue(port, s);
	evaluate(port, s);
}

/* A Write (iocp_ovl_send) while the connect's packet is not in yet: the
 * peer may already have answered, as a Read finds (it reads the socket
 * itself). If the connect's OVERLAPPED shows it done, its result is
 * applied now, so the Write sends (or fails) instead of waiting for a
 * Wait that has not run. */
static void connect_peek(iocp_port *port, ovl_state *s)
{
	if (!s->connecting || !s->cn.pending || s->connect_early ||
	    op_still_pending(&s->cn))
		return;
	s->connect_early = 1;
	connect_complete(port, s, status_error(s->cn.ov.Internal));
}

static void wr_complete(iocp_port *port, ovl_state *s, int err, DWORD bytes)
{
	int err2;

	IOCP_CHECK(!s->deleted && !s->wr.pending);
	if (err == 0 && s->kind == K_STREAM && bytes < s->wlen - s->woff) {
		/* Part of it went: send the rest, nothing is dropped. */
		s->woff += bytes;
		if (wr_issue_send(port, s, &err2) == ISSUED_OWED)
			return;
		err = err2;
	}
	if (err != 0) {
		s->send_err = err;
		s->wr_hints = IOCP_WRITE_CLOSED | IOCP_ERROR;
	}
	wr_free_buffer(s);
	evaluate(port, s);
}

/* ---- states ---- */

/* A send of s, or of a prior state of its SOCKET, is in flight: closing
 * the SOCKET now would abort it. */
static int chain_sending(const ovl_state *s)
{
	for (; s != NULL; s = s->prior)
		if (s->wr.pending && s->wr.kind == OP_SEND)
			return 1;
	return 0;
}

/* Closes a handed-over SOCKET as soon as no send of its chain is in
 * flight: a pending receive or accept (cancelled at delete), or connect,
 * only completes with an abort, so the peer gets its FIN now, not at the packet
 * (the state itself stays until its packets are in). */
static void maybe_close(ovl_state *s)
{
	if (!s->owns_sock || s->sock_closed || chain_sending(s))
		return;
	IOCP_CHECK(s->deleted && !s->await_sock);
	iocp_count_syscall();
	closesocket(s->sock);
	s->sock_closed = 1;
}

/* Out of the SOCKET's chain (at release: a retired state is in no chain,
 * so a new add finds the prior whose connect is in flight). */
static void chain_unlink(ovl_state *s)
{
	if (s->heir != NULL)
		s->heir->prior = s->prior;
	if (s->prior != NULL)
		s->prior->heir = s->heir;
	s->heir = s->prior = NULL;
}

static void state_free(iocp_port *port, ovl_state *s)
{
	IOCP_CHECK(!s->rd.pending && !s->cn.pending && !s->wr.pending);
	ready_unlink(port, s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		port->ovl_states = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	chain_unlink(s);
	if (s->accept_sock != INVALID_SOCKET) {
		iocp_count_syscall();
		closesocket(s->accept_sock); /* ours until Go took it */
	}
	if (s->owns_sock && !s->sock_closed) {
		iocp_count_syscall();
		closesocket(s->sock); /* handed over: ours (port close) */
	}
	if (s->dgram != NULL)
		iocp_free(s->dgram);
	wr_free_buffer(s);
	iocp_free(s);
}

/* Frees a state nobody uses any more. Go may have taken a batch naming it
 * (a re-arm queued before its delete) that iocp_wait has not applied yet:
 * outside iocp_wait (port->ovl_inside clear) the memory is kept until the
 * next iocp_wait has applied its batch (ovl_reap). */
static void release_state(iocp_port *port, ovl_state *s)
{
	IOCP_CHECK(s->deleted && !s->await_sock);
	IOCP_CHECK(!s->rd.pending && !s->cn.pending && !s->wr.pending);
	if (port->ovl_inside) {
		state_free(port, s);
		return;
	}
	if (s->retired)
		return;
	ready_unlink(port, s);
	chain_unlink(s);
	s->retired = 1;
	s->retire_next = port->ovl_retired;
	port->ovl_retired = s;
}

void ovl_reap(iocp_port *port)
{
	ovl_state *s;

	while ((s = port->ovl_retired) != NULL) {
		IOCP_CHECK(s->retired && s->deleted);
		port->ovl_retired = s->retire_next;
		state_free(port, s);
	}
}

/* A deleted state goes once nothing of it is in flight, Go no longer owns
 * its SOCKET for it (await_sock) and, if C owns that SOCKET, C has closed
 * it (maybe_close). A prior whose send ended may let its heir close. */
static void free_if_done(iocp_port *port, ovl_state *s)
{
	ovl_state *top;

	if (!s->deleted)
		return;
	maybe_close(s); /* its send just ended, say */
	if (s->rd.pending || s->cn.pending || s->wr.pending)
		return;
	for (top = s; top->heir != NULL; top = top->heir)
		;
	if (top != s && top->deleted) {
		maybe_close(top);
		if (!top->await_sock && !top->rd.pending && !top->cn.pending &&
		    !top->wr.pending &&
		    (!top->owns_sock || top->sock_closed))
			release_state(port, top);
	}
	if (s->await_sock || (s->owns_sock && !s->sock_closed))
		return;
	release_state(port, s);
}

/* Gives Go what the read side holds (iocp_ovl_delete): the accepted
 * socket or the datagram, completed and not yet taken. A receive or accept
 * in flight was just cancelled; if it had completed already (its packet
 * not dequeued yet), its result is taken too: the kernel is done with it. */
static void hand_back(ovl_state *s, iocp_held *held)
{
	ULONG_PTR status;
	int len;

	if (s->rd.pending && s->kind != K_STREAM) {
		status = *(volatile ULONG_PTR *)&s->rd.ov.Internal;
		if (status == (ULONG_PTR)STATUS_PENDING || status_error(status))
			return;
		/* Completed successfully: as if dequeued, without the event. */
		s->rd_bytes = (DWORD)s->rd.ov.InternalHigh;
		if (s->kind == K_LISTENER) {
			iocp_count_syscall();
			setsockopt(s->accept_sock, SOL_SOCKET,
				   SO_UPDATE_ACCEPT_CONTEXT, (char *)&s->sock,
				   sizeof s->sock);
		}
	} else if (!s->rd_done || s->rd_err != 0) {
		return;
	}
	len = (int)sizeof held->addr;
	if (s->kind == K_LISTENER && s->accept_sock != INVALID_SOCKET) {
		held->socket = (uintptr_t)s->accept_sock; /* Go's now */
		s->accept_sock = INVALID_SOCKET;
		set_nonblocking((SOCKET)held->socket);
		iocp_count_syscall();
		if (getpeername((SOCKET)held->socket,
				(struct sockaddr *)held->addr, &len) != 0)
			len = 0;
		held->addr_len = len;
	} else if (s->kind == K_DGRAM && s->dgram != NULL && !s->raw) {
		held->data = s->dgram; /* Go's now: iocp_ovl_free */
		held->data_len = (int32_t)(s->rd_bytes < DGRAM_MAX ? s->rd_bytes
								   : DGRAM_MAX);
		s->dgram = NULL;
		held->addr_len = s->raddr_len < len ? s->raddr_len : len;
		memcpy(held->addr, &s->raddr, (size_t)held->addr_len);
	}
	s->rd_done = 0;
}

/* iocp_ovl_delete's work, under the lock; held may be NULL (its contents
 * are then dropped, as iocp_sock_delete does). */
static void delete_state(iocp_port *port, ovl_state *s, int linger,
			 iocp_held *held)
{
	IOCP_CHECK(!s->deleted);
	s->deleted = 1;
	s->ready = 0;
	ready_unlink(port, s);
	cancel_op(s, &s->rd);
	/* A connect in flight is not cancelled: Deregister must not abort it
	 * (a cancelled ConnectEx leaves the socket unable to connect). Its
	 * packet frees the state, or completes the connect of the SOCKET's
	 * next state (take_prior). */
	if (held != NULL) {
		hand_back(s, held);
		if (s->connecting)
			held->flags |= IOCP_HELD_CONNECT_CANCELLED;
		else if (s->connect_err != 0)
			held->flags |= IOCP_HELD_CONNECT_FAILED;
		else if (s->connected)
			held->flags |= IOCP_HELD_CONNECTED;
		held->connect_err = s->connect_err;
	}
	/* Go keeps the SOCKET open for a send in flight (of this state or a
	 * prior one): it hands the SOCKET over at its close. Only callers of
	 * iocp_ovl_delete learn that (IOCP_HELD_LINGER); for iocp_sock_delete
	 * the SOCKET is Go's to close at any time, as before. */
	s->await_sock = linger || (held != NULL && chain_sending(s));
	if (held != NULL && s->await_sock)
		held->flags |= IOCP_HELD_LINGER;
	free_if_done(port, s);
}

void ovl_delete(iocp_port *port, ovl_state *s, int linger)
{
	delete_state(port, s, linger, NULL);
}

void ovl_handover(iocp_port *port, ovl_state *s)
{
	if (!s->deleted || !s->await_sock)
		return; /* not a lingering state: Go's misuse, ignored */
	s->await_sock = 0;
	s->owns_sock = 1;
	maybe_close(s);
	free_if_done(port, s);
}

/* A SOCKET registered again while a deleted state of it still lingers
 * (deleted with a send in flight, Go keeping the SOCKET open for it): the
 * new state becomes its heir, and the old one is released (C frees it once
 * its send is done; Go forgets it). Whoever closes the SOCKET waits for the
 * chain's sends. */
static int connect_in_flight(const ovl_state *p)
{
	return p->cn.pending && !p->connect_early;
}

/* Also for a deleted state whose connect is still in flight: the new state
 * takes that connect over (returns 1: it must not issue its own), and the
 * connect's packet completes it (ovl_complete). */
static int take_prior(iocp_port *port, ovl_state *s)
{
	ovl_state *p;

	for (p = port->ovl_states; p != NULL; p = p->next) {
		if (p->deleted && p->heir == NULL && p->sock == s->sock &&
		    ((p->await_sock && !p->owns_sock) || connect_in_flight(p))) {
			p->await_sock = 0;
			p->heir = s;
			s->prior = p;
			if (connect_in_flight(p))
				return 1;
			free_if_done(port, p);
			return 0;
		}
	}
	return 0;
}

/* ---- add, in its steps ---- */

/* The socket's kind (add's first step), and whether a deferred connect
 * fits it. */
static int probe_kind(SOCKET sock, const void *connect_addr,
		      int connect_addr_len, sock_kind *kind_out)
{
	int type = 0, listening = 0, len;

	len = sizeof type;
	iocp_count_syscall();
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0)
		return WSAGetLastError();
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return WSAEOPNOTSUPP;
	if (type == SOCK_STREAM) {
		len = sizeof listening;
		iocp_count_syscall();
		if (getsockopt(sock, SOL_SOCKET, SO_ACCEPTCONN,
			       (char *)&listening, &len) != 0)
			listening = 0;
	}
	if (connect_addr != NULL &&
	    (type != SOCK_STREAM || listening || connect_addr_len <= 0 ||
	     connect_addr_len > (int)sizeof(SOCKADDR_STORAGE)))
		return WSAEINVAL;
	*kind_out = type == SOCK_DGRAM ? K_DGRAM
		    : listening	       ? K_LISTENER
				       : K_STREAM;
	return 0;
}

/* A new state for sock, not yet bound nor linked; NULL with *err_out. */
static ovl_state *state_new(SOCKET sock, sock_kind kind, uint64_t id,
			    uint32_t interest, uint32_t flags, int *err_out)
{
	SOCKADDR_STORAGE local;
	ovl_state *s;
	int len;

	s = iocp_alloc(sizeof *s);
	if (s == NULL) {
		*err_out = ERROR_NOT_ENOUGH_MEMORY;
		return NULL;
	}
	s->engine = IOCP_ENGINE_OVERLAPPED;
	s->sock = sock;
	s->id = id;
	s->interest = interest & DIRECTIONS;
	s->kind = (unsigned char)kind;
	s->raw = (flags & IOCP_ADD_RAW) != 0;
	if (s->raw && s->kind == K_LISTENER) {
		iocp_free(s);
		*err_out = IOCP_E_RAW_LISTENER;
		return NULL;
	}
	s->rd.s = s->cn.s = s->wr.s = s;
	s->accept_sock = INVALID_SOCKET;
	len = sizeof local;
	memset(&local, 0, sizeof local);
	iocp_count_syscall();
	if (getsockname(sock, (struct sockaddr *)&local, &len) == 0)
		s->family = local.ss_family;
	else
		s->family = AF_INET;
	return s;
}

/* The extension functions, from the socket's own provider: AcceptEx for a
 * listener (kept in s), ConnectEx for a deferred connect (*connectex). */
static int load_extensions(ovl_state *s, int connect,
			   LPFN_CONNECTEX *connectex)
{
	GUID accept_guid = WSAID_ACCEPTEX, connect_guid = WSAID_CONNECTEX;
	DWORD bytes;
	int err = 0;

	if (s->kind == K_LISTENER && (iocp_count_syscall(), 1) &&
	    WSAIoctl(s->sock, SIO_GET_EXTENSION_FUNCTION_POINTER,
		     &accept_guid, sizeof accept_guid, &s->acceptex,
		     sizeof s->acceptex, &bytes, NULL, NULL) != 0)
		err = WSAGetLastError();
	if (connect && (iocp_count_syscall(), 1) &&
	    WSAIoctl(s->sock, SIO_GET_EXTENSION_FUNCTION_POINTER,
		     &connect_guid, sizeof connect_guid, connectex,
		     sizeof *connectex, &bytes, NULL, NULL) != 0)
		err = WSAGetLastError();
	return err;
}

/* Binds the socket to the port: once, forever (it cannot be undone, and
 * Wine does not implement detaching), with skip-on-success where safe.
 * IOCP_ADD_BOUND: an earlier registration may have bound it already. */
static int bind_port(iocp_port *port, ovl_state *s, uint32_t flags)
{
	int skip, err;

	iocp_count_syscall();
	if (CreateIoCompletionPort((HANDLE)s->sock, port->iocp, OVL_KEY, 0) !=
	    NULL) {
		skip = want_skip(s->sock);
		iocp_count_syscall();
		if (skip && !SetFileCompletionNotificationModes(
				    (HANDLE)s->sock,
				    FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
					    FILE_SKIP_SET_EVENT_ON_HANDLE))
			skip = 0;
	} else {
		err = (int)GetLastError();
		if (err != ERROR_INVALID_PARAMETER)
			return err;
		if (!(flags & IOCP_ADD_BOUND))
			return IOCP_E_BOUND_ELSEWHERE;
		skip = (flags & IOCP_ADD_BOUND_SKIP) != 0;
	}
	s->skip = (unsigned char)skip;
	return 0;
}

/* Starts the deferred connect with ConnectEx (under the lock). */
static void connect_start(iocp_port *port, ovl_state *s,
			  LPFN_CONNECTEX connectex, const void *addr,
			  int addr_len)
{
	BOOL ok;
	int err;
	issued r;

	memcpy(&s->waddr, addr, (size_t)addr_len);
	s->waddr_len = addr_len;
	s->connecting = 1;
	op_reset(&s->cn, OP_CONNECT);
	iocp_count_syscall();
	ok = connectex(s->sock, (const struct sockaddr *)&s->waddr,
		       s->waddr_len, NULL, 0, NULL, &s->cn.ov);
	err = ok ? 0 : WSAGetLastError();
	r = op_issued(port, s, &s->cn, ok, err);
	if (r != ISSUED_OWED)
		connect_complete(port, s, r == ISSUED_DONE ? 0 : err);
}

/* Links the bound state into the port and starts it: takes a prior
 * state's connect over, starts its own, or is connected already. */
static void state_start(iocp_port *port, ovl_state *s, uint32_t flags,
			LPFN_CONNECTEX connectex, const void *connect_addr,
			int connect_addr_len)
{
	int inherited = (flags & IOCP_ADD_BOUND) && take_prior(port, s);

	s->next = port->ovl_states;
	if (port->ovl_states != NULL)
		port->ovl_states->prev = s;
	port->ovl_states = s;
	if (inherited) {
		/* The prior's connect goes on: its packet completes ours. */
		s->connecting = 1;
		op_reset(&s->cn, OP_CONNECT);
	} else if (connect_addr != NULL) {
		connect_start(port, s, connectex, connect_addr,
			      connect_addr_len);
	} else {
		s->connected = s->kind == K_STREAM;
	}
	rd_issue(port, s);
	evaluate(port, s);
}

int ovl_add(iocp_port *port, SOCKET sock, uint64_t id, uint32_t interest,
	    uint32_t flags, const void *connect_addr, int connect_addr_len,
	    uintptr_t *sock_out, uint32_t *engine_out)
{
	LPFN_CONNECTEX connectex = NULL;
	sock_kind kind = K_STREAM;
	ovl_state *s;
	int err;

	err = probe_kind(sock, connect_addr, connect_addr_len, &kind);
	if (err != 0)
		return err;
	s = state_new(sock, kind, id, interest, flags, &err);
	if (s == NULL)
		return err;
	err = load_extensions(s, connect_addr != NULL, &connectex);
	if (err == 0)
		err = bind_port(port, s, flags);
	if (err != 0) {
		iocp_free(s);
		return err;
	}
	*engine_out = IOCP_ENGINE_OVERLAPPED |
		      (s->skip ? IOCP_ENGINE_SKIP : 0);

	AcquireSRWLockExclusive(&port->lock);
	state_start(port, s, flags, connectex, connect_addr, connect_addr_len);
	ReleaseSRWLockExclusive(&port->lock);

	*sock_out = (uintptr_t)s;
	return 0;
}

int ovl_modify(iocp_port *port, ovl_state *s, uint64_t id, uint32_t interest)
{
	IOCP_CHECK(!s->deleted);
	s->id = id;
	s->interest = interest & DIRECTIONS;
	s->reported = 0;
	s->ready = 0;
	ready_unlink(port, s);
	/* Polled afresh, as after add: a stream's completed receive may be
	 * stale (Go may have read since), so it is issued again. A receive
	 * no longer wanted stays in flight; its result is held. */
	if ((s->kind == K_STREAM || s->raw) && !s->rd.pending) {
		s->rd_done = 0;
		s->rd_err = 0;
	}
	rd_issue(port, s);
	evaluate(port, s);
	return 0;
}

void ovl_rearm(iocp_port *port, ovl_state *s, uint32_t bits)
{
	bits &= DIRECTIONS;
	s->reported &= ~bits;
	/* A stream's (or raw UDP socket's) completed zero-byte receive has
	 * been read past: wait for the next data. Listeners and UDP keep what
	 * they hold. */
	if ((bits & IOCP_READABLE) && (s->kind == K_STREAM || s->raw) &&
	    !s->rd.pending) {
		s->rd_done = 0;
		s->rd_err = 0;
	}
	rd_issue(port, s);
	evaluate(port, s);
}

/* The connect of deleted state s completed: the SOCKET's newest state, if
 * live and waiting for that connect (take_prior), completes with it. */
static void pass_connect(iocp_port *port, ovl_state *s, int err)
{
	ovl_state *top;

	for (top = s->heir; top->heir != NULL; top = top->heir)
		;
	if (!top->deleted && top->connecting && !top->cn.pending &&
	    top->cn.kind == OP_CONNECT)
		connect_complete(port, top, err);
}

/* A packet of deleted state s: a lingering stream send that went in part
 * sends the rest (the SOCKET is open: Go's, ours, or kept open by the
 * heir's chain_sending) before the close; otherwise s may go. */
static void deleted_packet_in(iocp_port *port, ovl_state *s, ovl_op *op,
			      int err, DWORD bytes)
{
	int err2;

	if (op == &s->cn && !s->connect_early && s->heir != NULL)
		pass_connect(port, s, err);
	if (!s->sock_closed &&
	    (s->await_sock || s->owns_sock || s->heir != NULL) &&
	    op == &s->wr && s->wr.kind == OP_SEND && err == 0 &&
	    s->kind == K_STREAM && bytes < s->wlen - s->woff) {
		s->woff += bytes;
		if (wr_issue_send(port, s, &err2) == ISSUED_OWED)
			return;
	}
	free_if_done(port, s);
}

/* Its records come from ovl_emit: ev is not written. */
int ovl_complete(iocp_port *port, const OVERLAPPED_ENTRY *e, iocp_event *ev)
{
	ovl_op *op = container_of(e->lpOverlapped, ovl_op, ov);
	ovl_state *s = op->s;
	int err;

	(void)ev;
	if (!op->pending)
		return 0; /* owes nothing: not one of our packets */
	op_packet_in(port, op);
	err = status_error(op->ov.Internal);
	if (s->deleted)
		deleted_packet_in(port, s, op, err,
				  e->dwNumberOfBytesTransferred);
	else if (op == &s->rd)
		rd_complete(port, s, err, e->dwNumberOfBytesTransferred);
	else if (op == &s->cn && s->connect_early)
		s->connect_early = 0; /* applied by connect_peek */
	else if (op == &s->cn)
		connect_complete(port, s, err);
	else
		wr_complete(port, s, err, e->dwNumberOfBytesTransferred);
	return 0;
}

void ovl_cancel_all(iocp_port *port)
{
	ovl_state *s;

	for (s = port->ovl_states; s != NULL; s = s->next) {
		cancel_op(s, &s->rd);
		cancel_op(s, &s->cn);
		cancel_op(s, &s->wr);
	}
}

void ovl_drain_one(iocp_port *port, const OVERLAPPED_ENTRY *e)
{
	ovl_op *op = container_of(e->lpOverlapped, ovl_op, ov);

	if (op->pending)
		op_packet_in(port, op);
}

void ovl_free_all(iocp_port *port)
{
	while (port->ovl_states != NULL)
		state_free(port, port->ovl_states);
	port->ovl_retired = NULL;
}

/* ---- the data path ---- */

/* iocp_ovl_send for UDP: one datagram to `to`. */
static int send_dgram(iocp_port *port, ovl_state *s, const void *buf,
		      int len, const void *to, int to_len, int *n_out)
{
	int err2;

	if (to == NULL || to_len <= 0 || to_len > (int)sizeof s->waddr)
		return WSAEINVAL;
	if ((s->wbuf = iocp_alloc(len > 0 ? (size_t)len : 1)) == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	memcpy(&s->waddr, to, (size_t)to_len);
	s->waddr_len = to_len;
	memcpy(s->wbuf, buf, (size_t)len);
	s->wlen = (DWORD)len;
	s->woff = 0;
	if (wr_issue_send(port, s, &err2) == ISSUED_FAILED)
		return err2;
	*n_out = len;
	return 0;
}

/* iocp_ovl_send for a stream: copy and send while the kernel takes it at
 * once; stop at the first send left in flight. */
static int send_stream(iocp_port *port, ovl_state *s, const void *buf,
		       int len, int *n_out)
{
	int n = 0, err = 0, err2, chunk;
	issued r;

	while (n < len) {
		chunk = len - n < SEND_MAX ? len - n : SEND_MAX;
		if (s->wbuf == NULL && (s->wbuf = iocp_alloc(chunk)) == NULL) {
			err = ERROR_NOT_ENOUGH_MEMORY;
			break;
		}
		memcpy(s->wbuf, (const char *)buf + n, (size_t)chunk);
		s->wlen = (DWORD)chunk;
		s->woff = 0;
		r = wr_issue_send(port, s, &err2);
		if (r == ISSUED_FAILED) {
			/* What was accepted before stays accepted; the error
			 * comes with the next send. */
			s->send_err = err2;
			s->wr_hints = IOCP_WRITE_CLOSED | IOCP_ERROR;
			if (n == 0)
				err = err2;
			break;
		}
		n += chunk;
		if (r == ISSUED_OWED)
			break;
	}
	*n_out = n;
	return err;
}

int iocp_ovl_send(uintptr_t port_handle, uintptr_t sock, const void *buf,
		  int len, const void *to, int to_len, int *n_out)
{
	iocp_port *port = (iocp_port *)port_handle;
	ovl_state *s = (ovl_state *)sock;
	int n = 0, err;

	*n_out = 0;
	if (len < 0 || ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return ERROR_INVALID_PARAMETER;
	AcquireSRWLockExclusive(&port->lock);
	connect_peek(port, s);
	if (s->send_err != 0)
		err = s->send_err;
	else if (s->kind == K_LISTENER)
		err = WSAENOTCONN;
	else if (s->connecting || s->wr.pending)
		err = WSAEWOULDBLOCK;
	else if (s->kind == K_STREAM && !s->connected)
		err = s->connect_err != 0 ? s->connect_err : WSAENOTCONN;
	else if (s->kind == K_DGRAM)
		err = send_dgram(port, s, buf, len, to, to_len, &n);
	else
		err = send_stream(port, s, buf, len, &n);
	if (!s->wr.pending)
		wr_free_buffer(s);
	/* Go sees WSAEWOULDBLOCK (or a short count): the next completion of
	 * the write side is reported. */
	if (n < len && (err == 0 || err == WSAEWOULDBLOCK)) {
		s->reported &= ~IOCP_WRITABLE;
		/* A send that failed at once after others were accepted left
		 * nothing in flight: the write side is reportable now. */
		evaluate(port, s);
	}
	ReleaseSRWLockExclusive(&port->lock);
	*n_out = n;
	return err;
}

int iocp_ovl_recvfrom(uintptr_t port_handle, uintptr_t sock, void *buf,
		      int len, void *from, int *from_len, int *n_out)
{
	iocp_port *port = (iocp_port *)port_handle;
	ovl_state *s = (ovl_state *)sock;
	int err = 0, n = 0;

	*n_out = 0;
	if (len < 0 || ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return ERROR_INVALID_PARAMETER;
	AcquireSRWLockExclusive(&port->lock);
	if (s->kind != K_DGRAM) {
		err = WSAEOPNOTSUPP;
	} else if (s->rd_done) {
		err = s->rd_err;
		if (err == 0) {
			n = (int)s->rd_bytes < len ? (int)s->rd_bytes : len;
			memcpy(buf, s->dgram, (size_t)n);
			if (s->raddr_len < *from_len)
				*from_len = s->raddr_len;
			memcpy(from, &s->raddr, (size_t)*from_len);
		}
		s->rd_done = 0;
		s->rd_err = 0;
		s->rd_hints = 0;
		rd_issue(port, s); /* the next one, held if it comes at once */
	} else if (s->rd.pending) {
		err = WSAEWOULDBLOCK;
	} else {
		/* Nothing issued (no READABLE interest): read directly. */
		iocp_count_syscall();
		n = recvfrom(s->sock, buf, len, 0, from, from_len);
		if (n < 0) {
			err = WSAGetLastError();
			n = 0;
			if (err == WSAEMSGSIZE) {
				err = 0;
				n = len;
			}
		}
	}
	if (err == WSAEWOULDBLOCK)
		s->reported &= ~IOCP_READABLE;
	ReleaseSRWLockExclusive(&port->lock);
	*n_out = n;
	return err;
}

int iocp_ovl_accept(uintptr_t port_handle, uintptr_t sock,
		    uintptr_t *socket_out, void *remote, int *remote_len)
{
	iocp_port *port = (iocp_port *)port_handle;
	ovl_state *s = (ovl_state *)sock;
	SOCKET a = INVALID_SOCKET;
	int err = 0;

	*socket_out = (uintptr_t)INVALID_SOCKET;
	if (ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return ERROR_INVALID_PARAMETER;
	AcquireSRWLockExclusive(&port->lock);
	if (s->kind != K_LISTENER) {
		err = WSAEOPNOTSUPP;
	} else if (s->rd_done) {
		err = s->rd_err;
		if (err == 0) {
			a = s->accept_sock; /* Go's from here on */
			s->accept_sock = INVALID_SOCKET;
		}
		s->rd_done = 0;
		s->rd_err = 0;
		s->rd_hints = 0;
		rd_issue(port, s);
	} else if (s->rd.pending) {
		err = WSAEWOULDBLOCK;
	} else {
		iocp_count_syscall();
		a = accept(s->sock, NULL, NULL);
		if (a == INVALID_SOCKET) {
			err = WSAGetLastError();
		} else {
			iocp_count_syscall();
			SetHandleInformation((HANDLE)a, HANDLE_FLAG_INHERIT, 0);
		}
	}
	if (err == WSAEWOULDBLOCK)
		s->reported &= ~IOCP_READABLE;
	ReleaseSRWLockExclusive(&port->lock);

	if (a != INVALID_SOCKET) {
		set_nonblocking(a);
		iocp_count_syscall();
		if (getpeername(a, (struct sockaddr *)remote, remote_len) != 0)
			*remote_len = 0;
		*socket_out = (uintptr_t)a;
	}
	return err;
}

int iocp_ovl_connect_status(uintptr_t port_handle, uintptr_t sock, int take)
{
	iocp_port *port = (iocp_port *)port_handle;
	ovl_state *s = (ovl_state *)sock;
	int err = 0;

	if (ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return 0;
	AcquireSRWLockExclusive(&port->lock);
	if (s->connecting) {
		err = WSAEWOULDBLOCK;
	} else if (s->connect_err != 0) {
		err = s->connect_err;
		if (take)
			s->connect_err = 0;
	}
	ReleaseSRWLockExclusive(&port->lock);
	return err;
}

int iocp_ovl_delete(uintptr_t port_handle, uintptr_t sock, uint32_t flags,
		    iocp_held *held)
{
	iocp_port *port = (iocp_port *)port_handle;

	memset(held, 0, sizeof *held);
	held->socket = (uintptr_t)INVALID_SOCKET;
	if (ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return ERROR_INVALID_PARAMETER;
	AcquireSRWLockExclusive(&port->lock);
	delete_state(port, (ovl_state *)sock, (flags & IOCP_REARM_LINGER) != 0,
		     held);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

int iocp_ovl_handover(uintptr_t port_handle, uintptr_t sock)
{
	iocp_port *port = (iocp_port *)port_handle;

	if (ENGINE_OF(sock) != IOCP_ENGINE_OVERLAPPED)
		return ERROR_INVALID_PARAMETER;
	AcquireSRWLockExclusive(&port->lock);
	ovl_handover(port, (ovl_state *)sock);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

void iocp_ovl_free(void *p)
{
	if (p != NULL)
		iocp_free(p);
}
