//go:build windows && cgo

/*
 * iocp.c: the C core of poller's Windows backend, its port and dispatcher.
 * Every function of iocp.h but the overlapped engine's data path is here:
 * the port (one I/O completion port, its lock, its wait and wakes) and the
 * calls on socket states, each passed to the state's engine, AFD
 * (iocp_afd.c) or overlapped (iocp_ovl.c), whose function sets are
 * declared side by side in iocp_int.h. Ownership: iocp.h.
 *
 * Dispatch: a state handle's first field is its engine tag (ENGINE_OF); a
 * dequeued packet belongs to an engine by its completion key (0: an AFD
 * helper, OVL_KEY: an overlapped socket, IOCP_WAKE_KEY_BIT: a wake).
 *
 * Locking: one SRW lock per port guards every state of both engines, the
 * helper list and the in_flight count. It is never held while blocked in
 * GetQueuedCompletionStatusEx.
 */

#include "iocp_int.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

_Static_assert(sizeof(ULONG_PTR) == 8,
	       "iocp.c needs 64-bit completion keys (IOCP_WAKE_KEY_BIT)");

#define WAIT_BATCH 256 /* entries dequeued per wait, at most */

/* ---- allocation accounting and checks ---- */

static volatile LONG64 live_allocs, live_bytes, syscalls;

void *iocp_alloc(size_t size)
{
	void *p = calloc(1, size);
	if (p != NULL) {
		InterlockedIncrement64(&live_allocs);
		InterlockedExchangeAdd64(&live_bytes, (LONG64)_msize(p));
	}
	return p;
}

void iocp_free(void *p)
{
	IOCP_CHECK(p != NULL);
	IOCP_CHECK(InterlockedCompareExchange64(&live_allocs, 0, 0) > 0);
	InterlockedExchangeAdd64(&live_bytes, -(LONG64)_msize(p));
	free(p);
	InterlockedDecrement64(&live_allocs);
}

void iocp_count_syscall(void) { InterlockedIncrement64(&syscalls); }

int64_t iocp_live_allocs(void)
{
	return InterlockedCompareExchange64(&live_allocs, 0, 0);
}

int64_t iocp_live_bytes(void)
{
	return InterlockedCompareExchange64(&live_bytes, 0, 0);
}

uint64_t iocp_syscalls(void)
{
	return (uint64_t)InterlockedCompareExchange64(&syscalls, 0, 0);
}

#ifdef IOCP_CHECKS
void iocp_check_failed(const char *file, int line, const char *cond)
{
	fprintf(stderr, "%s:%d: IOCP_CHECK failed: %s\n", file, line, cond);
	fflush(stderr);
	abort();
}
#endif

/* ---- dispatch by engine ---- */

/* One iocp_rearm entry (or iocp_sock_rearm): a delete, a handover of an
 * overlapped-engine SOCKET, or a re-arm. A handover names an overlapped
 * state only (for an AFD state it is Go's misuse, ignored). */
static void state_apply(iocp_port *port, uintptr_t h, uint32_t bits)
{
	if (ENGINE_OF(h) == IOCP_ENGINE_OVERLAPPED) {
		ovl_state *s = (ovl_state *)h;
		if (bits & IOCP_REARM_DELETE)
			ovl_delete(port, s, (bits & IOCP_REARM_LINGER) != 0);
		else if (bits & IOCP_REARM_HANDOVER)
			ovl_handover(port, s);
		else
			ovl_rearm(port, s, bits);
		return;
	}
	if (bits & IOCP_REARM_DELETE)
		afd_delete(port, (afd_state *)h);
	else if (!(bits & IOCP_REARM_HANDOVER))
		afd_rearm(port, (afd_state *)h, bits);
}

/* Turns one dequeued packet into at most one record. */
static int port_dispatch(iocp_port *port, const OVERLAPPED_ENTRY *e,
			 iocp_event *ev)
{
	uint64_t key = e->lpCompletionKey;

	if (key & IOCP_WAKE_KEY_BIT) {
		ev->id = key & ~IOCP_WAKE_KEY_BIT;
		ev->bits = IOCP_READABLE;
		ev->reserved = 0;
		return ev->id != 0;
	}
	if (e->lpOverlapped == NULL)
		return 0;
	if (key == OVL_KEY)
		return ovl_complete(port, e, ev);
	return afd_complete(port, e, ev);
}

/* ---- port ---- */

/* Dequeues until no packet is owed. Only for iocp_port_close: no other
 * caller may use the port, so the lock is not needed. */
static int port_drain(iocp_port *port)
{
	OVERLAPPED_ENTRY entries[WAIT_BATCH];
	ULONG n, i;

	while (port->in_flight > 0) {
		iocp_count_syscall();
		if (!GetQueuedCompletionStatusEx(port->iocp, entries,
						 WAIT_BATCH, &n, INFINITE,
						 FALSE))
			return (int)GetLastError();
		for (i = 0; i < n; i++) {
			if ((entries[i].lpCompletionKey & IOCP_WAKE_KEY_BIT) ||
			    entries[i].lpOverlapped == NULL)
				continue;
			if (entries[i].lpCompletionKey == OVL_KEY)
				ovl_drain_one(port, &entries[i]);
			else
				afd_drain_one(port, &entries[i]);
		}
	}
	return 0;
}

int iocp_port_open(uintptr_t *port_out)
{
	WSADATA wsa;
	iocp_port *port;
	int err;

	err = WSAStartup(MAKEWORD(2, 2), &wsa);
	if (err != 0)
		return err;
	port = iocp_alloc(sizeof *port);
	if (port == NULL) {
		WSACleanup();
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	port->iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (port->iocp == NULL) {
		err = (int)GetLastError();
		iocp_free(port);
		WSACleanup();
		return err;
	}
	InitializeSRWLock(&port->lock);
	*port_out = (uintptr_t)port;
	return 0;
}

int iocp_port_close(uintptr_t port_handle)
{
	iocp_port *port = (iocp_port *)port_handle;
	int err;

	AcquireSRWLockExclusive(&port->lock);
	afd_cancel_all(port);
	ovl_cancel_all(port);
	ReleaseSRWLockExclusive(&port->lock);

	/* Until every owed packet is in, the kernel may still write into the
	 * states: on failure leak them rather than free them. */
	err = port_drain(port);
	if (err != 0)
		return err;

	IOCP_CHECK(port->in_flight == 0);
	afd_free_all(port);
	ovl_free_all(port);
	IOCP_CHECK(port->afd_states == NULL && port->helpers == NULL);
	IOCP_CHECK(port->ovl_states == NULL && port->ready_head == NULL);
	CloseHandle(port->iocp);
	iocp_free(port);
	WSACleanup();
	return 0;
}

/* ---- engine choice ---- */

/* 0 when s is a socket, else the error. Wine answers SIO_BASE_HANDLE without
 * looking at the handle, and an AFD poll naming a handle that is not a
 * socket (say a closed socket's number, reused for one of our helpers)
 * kills Wine 8's wineserver. So afd_base_socket's callers check this
 * first. */
static int is_socket(SOCKET s)
{
	int type, len = sizeof type;

	if (getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0)
		return WSAGetLastError();
	return 0;
}

int iocp_engine_for(uintptr_t socket)
{
	SOCKET base;
	int err = is_socket((SOCKET)socket);

	if (err != 0)
		return -err;
	err = afd_base_socket((SOCKET)socket, &base);
	if (err == 0)
		return (int)IOCP_ENGINE_AFD;
	return afd_unpollable(err) ? (int)IOCP_ENGINE_OVERLAPPED : -err;
}

void iocp_test_switches(int fail_base_query, int skip_mode)
{
	InterlockedExchange(&afd_test_base_error, fail_base_query);
	InterlockedExchange(&ovl_test_skip_mode, skip_mode);
}

/* ---- socket states ---- */

int iocp_sock_add(uintptr_t port_handle, uintptr_t socket, uint64_t id,
		  uint32_t interest, uintptr_t *sock_out)
{
	uint32_t engine;

	return iocp_sock_add_ex(port_handle, socket, id, interest, 0, NULL, 0,
				sock_out, &engine);
}

int iocp_sock_add_ex(uintptr_t port_handle, uintptr_t socket, uint64_t id,
		     uint32_t interest, uint32_t flags, const void *connect_addr,
		     int connect_addr_len, uintptr_t *sock_out,
		     uint32_t *engine_out)
{
	iocp_port *port = (iocp_port *)port_handle;
	SOCKET base = INVALID_SOCKET;
	int err;

	err = is_socket((SOCKET)socket);
	if (err != 0)
		return err;
	/* The engine: AFD when it can see the base socket, unless told
	 * otherwise; the overlapped engine when a layered provider hides it.
	 * Any other failure fails the registration and binds nothing. */
	if (!(flags & IOCP_ADD_OVERLAPPED) && connect_addr == NULL) {
		err = afd_base_socket((SOCKET)socket, &base);
		if (err != 0 && !afd_unpollable(err))
			return err;
	}
	if ((flags & IOCP_ADD_OVERLAPPED) || connect_addr != NULL || err != 0)
		return ovl_add(port, (SOCKET)socket, id, interest, flags,
			       connect_addr, connect_addr_len, sock_out,
			       engine_out);
	*engine_out = IOCP_ENGINE_AFD;
	return afd_add(port, base, id, interest, sock_out);
}

int iocp_sock_modify(uintptr_t port_handle, uintptr_t sock, uint64_t id,
		     uint32_t interest)
{
	iocp_port *port = (iocp_port *)port_handle;
	int err;

	AcquireSRWLockExclusive(&port->lock);
	if (ENGINE_OF(sock) == IOCP_ENGINE_OVERLAPPED)
		err = ovl_modify(port, (ovl_state *)sock, id, interest);
	else
		err = afd_modify(port, (afd_state *)sock, id, interest);
	ReleaseSRWLockExclusive(&port->lock);
	return err;
}

int iocp_sock_rearm(uintptr_t port_handle, uintptr_t sock, uint32_t bits)
{
	iocp_port *port = (iocp_port *)port_handle;

	AcquireSRWLockExclusive(&port->lock);
	state_apply(port, sock, bits);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

int iocp_sock_delete(uintptr_t port_handle, uintptr_t sock)
{
	iocp_port *port = (iocp_port *)port_handle;

	AcquireSRWLockExclusive(&port->lock);
	state_apply(port, sock, IOCP_REARM_DELETE);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

/* Overlapped-engine states are deleted at once (iocp_ovl_delete), never
 * retired. */
int iocp_sock_retire(uintptr_t port_handle, uintptr_t sock, uint32_t bits)
{
	iocp_port *port = (iocp_port *)port_handle;

	(void)bits;
	AcquireSRWLockExclusive(&port->lock);
	if (ENGINE_OF(sock) == IOCP_ENGINE_AFD)
		afd_retire(port, (afd_state *)sock);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

/* ---- wait ---- */

/* iocp_wait's first half, under the lock: applies the batch, then writes
 * the records of overlapped-engine states already ready. Returns how many
 * it wrote; *done when they fill out (no dequeue then). */
static int wait_prepare(iocp_port *port, const iocp_rearm *rearms,
			int n_rearms, iocp_event *out, int cap, int *done)
{
	int i, emitted;

	for (i = 0; i < n_rearms; i++)
		state_apply(port, rearms[i].sock, rearms[i].bits);
	port->ovl_inside = 1;
	port->wait_seq++;
	ovl_reap(port);
	/* Overlapped-engine states already ready are reported first, but
	 * never more than cap - 1: every wait dequeues at least one packet,
	 * so ready states cannot starve the port (its AFD results, completion
	 * packets and wakes). With records already taken the dequeue only
	 * collects what is queued, without waiting. */
	emitted = ovl_emit(port, out, 0, cap - 1);
	/* Nor can the port starve them (with a capacity of 1, a packet with
	 * a record at every wait): when the last wait's records went to the
	 * port with states still ready, this one is theirs. */
	*done = 0;
	if (port->ovl_turn) {
		port->ovl_turn = 0;
		if (emitted == 0)
			emitted = ovl_emit(port, out, 0, cap);
		*done = emitted == cap;
	}
	return emitted;
}

int iocp_wait(uintptr_t port_handle, const iocp_rearm *rearms, int n_rearms,
	      iocp_event *out, int cap, uint32_t timeout_ms, int *n_out)
{
	iocp_port *port = (iocp_port *)port_handle;
	OVERLAPPED_ENTRY entries[WAIT_BATCH];
	ULONG n = 0, i, max;
	DWORD err = 0;
	int emitted, done;

	*n_out = 0;
	if (cap <= 0 || n_rearms < 0)
		return ERROR_INVALID_PARAMETER;

	AcquireSRWLockExclusive(&port->lock);
	emitted = wait_prepare(port, rearms, n_rearms, out, cap, &done);
	if (done) {
		port->ovl_inside = 0;
		ReleaseSRWLockExclusive(&port->lock);
		*n_out = emitted;
		return 0;
	}
	if (emitted > 0 || port->ready_head != NULL)
		timeout_ms = 0;
	port->blocked = timeout_ms != 0;
	ReleaseSRWLockExclusive(&port->lock);

	/* One packet gives at most one record: dequeuing no more than the
	 * room left keeps the records within out, and leaves the rest queued.
	 * Overlapped-engine packets only mark states ready; ovl_emit below
	 * writes what fits and keeps the rest for the next wait. */
	max = (ULONG)(cap - emitted) < WAIT_BATCH ? (ULONG)(cap - emitted)
						   : WAIT_BATCH;
	iocp_count_syscall();
	if (!GetQueuedCompletionStatusEx(port->iocp, entries, max, &n,
					 timeout_ms, FALSE)) {
		err = GetLastError();
		n = 0;
	}

	AcquireSRWLockExclusive(&port->lock);
	port->blocked = 0;
	port->wake_posted = 0;
	for (i = 0; i < n; i++)
		emitted += port_dispatch(port, &entries[i], &out[emitted]);
	emitted = ovl_emit(port, out, emitted, cap);
	port->ovl_turn = emitted == cap && port->ready_head != NULL;
	port->ovl_inside = 0;
	ReleaseSRWLockExclusive(&port->lock);

	*n_out = emitted;
	/* A failed dequeue is reported only when there is nothing else to
	 * report: records already taken off the ready list must reach Go. */
	return err == 0 || err == WAIT_TIMEOUT || emitted > 0 ? 0 : (int)err;
}

int iocp_wake(uintptr_t port_handle, uint64_t id)
{
	iocp_port *port = (iocp_port *)port_handle;

	iocp_count_syscall();
	if (!PostQueuedCompletionStatus(port->iocp, 0,
					(ULONG_PTR)(id | IOCP_WAKE_KEY_BIT),
					NULL))
		return (int)GetLastError();
	return 0;
}
