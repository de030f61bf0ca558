/*
 * iocp.h: the C core of poller's Windows backend (AFD poll on an I/O
 * completion port).
 *
 * Ownership, the rules every caller and the implementation keep:
 *  - iocp_port and iocp_sock live in C memory. Go holds them only as opaque
 *    uintptr_t handles; C never keeps a pointer into Go memory beyond a call.
 *  - A socket state belongs to Go from iocp_sock_add until iocp_sock_delete.
 *    After iocp_sock_delete Go never touches it again; C frees it exactly
 *    once, at once when idle, otherwise when the completion of its pending
 *    poll has been dequeued (its IO_STATUS_BLOCK is the kernel's until then).
 *  - iocp_port_close cancels every pending poll, waits for every completion,
 *    frees every state (deleted or not) and the port. No handle of that port
 *    may be used afterwards.
 *  - All functions are safe to call from any thread while another thread is
 *    blocked in iocp_wait on the same port; the port lock is never held while
 *    blocked in GetQueuedCompletionStatusEx.
 *
 * Readiness (edge-triggered, as mio):
 *  - A direction (READABLE, WRITABLE) once reported is not polled for again
 *    until Go re-arms it after WOULDBLOCK (the rearm list of iocp_wait, or
 *    iocp_sock_rearm) or calls iocp_sock_modify.
 *  - READ_CLOSED, WRITE_CLOSED and ERROR come with the directions whenever
 *    the driver reports them (not for interest 0). A poll that fails is
 *    reported once as {id, IOCP_ERROR}; its directions then wait for a
 *    re-arm or modify, so a lasting failure cannot spin.
 *  - A socket closed while registered gets no event and is never polled
 *    again; its state is still Go's to delete.
 *
 * Return values: 0 on success, otherwise a Win32 / Winsock error code
 * (NTSTATUS values are mapped with RtlNtStatusToDosError).
 *
 * Needs 64-bit Windows (the wake bit lives in a pointer-sized key) and
 * -lws2_32 -lntdll. iocp_port_open calls WSAStartup, iocp_port_close
 * WSACleanup.
 */
#ifndef POLLER_IOCP_H
#define POLLER_IOCP_H

#include <stdint.h>

/* Readiness bits of iocp_event.bits; also the interest bits (READABLE,
 * WRITABLE) of add, modify and rearm. Same values as poller's Go flags. */
#define IOCP_READABLE 0x01u
#define IOCP_WRITABLE 0x02u
#define IOCP_READ_CLOSED 0x04u
#define IOCP_WRITE_CLOSED 0x08u
#define IOCP_ERROR 0x10u

/* Wake packets carry the waker's id in the completion key with this bit set;
 * id 0 is the port's internal wake (returns from iocp_wait, no event). Go
 * registration ids are below 2^63. */
#define IOCP_WAKE_KEY_BIT (1ull << 63)

typedef struct iocp_port iocp_port;
typedef struct iocp_sock iocp_sock;

/* One readiness record written by iocp_wait. */
typedef struct iocp_event {
	uint64_t id;   /* registration id given to add/modify, or a waker id */
	uint32_t bits; /* IOCP_* readiness bits */
	uint32_t reserved;
} iocp_event;

/* One queued re-arm passed to iocp_wait: the caller hit WOULDBLOCK on the
 * directions in bits, so poll for them again. */
/* In iocp_rearm.bits: delete the state, as iocp_sock_delete would. Go defers
 * deletes made while a wait is blocked to the next wait, because the blocked
 * wait may be applying a batch that names the state. */
#define IOCP_REARM_DELETE 0x80000000u

typedef struct iocp_rearm {
	uintptr_t sock; /* iocp_sock * */
	uint32_t bits;  /* IOCP_READABLE and/or IOCP_WRITABLE */
	uint32_t reserved;
} iocp_rearm;

int iocp_port_open(uintptr_t *port_out);
int iocp_port_close(uintptr_t port);

/* Registers socket with the id and interest; submits the AFD poll at once.
 * Errors: the base-handle query's error (WSAENOTSOCK for a handle that is
 * not a socket), or the poll submission's; nothing is registered then. */
int iocp_sock_add(uintptr_t port, uintptr_t socket, uint64_t id,
		  uint32_t interest, uintptr_t *sock_out);
/* New id and interest; forgets reported bits; submits at once. On error
 * (ERROR_INVALID_HANDLE: the socket was closed) the state keeps the new id
 * and interest with no poll in flight; it must still be deleted. */
int iocp_sock_modify(uintptr_t port, uintptr_t sock, uint64_t id,
		     uint32_t interest);
/* Re-arms at once (used when a wait is blocked on another thread). Returns
 * 0: like the rearm list of iocp_wait, a poll the kernel refuses is
 * reported as {id, IOCP_ERROR} by a later iocp_wait. */
int iocp_sock_rearm(uintptr_t port, uintptr_t sock, uint32_t bits);
/* Cancels any pending poll; the handle is C's from here on. */
int iocp_sock_delete(uintptr_t port, uintptr_t sock);

/* Applies the re-arms, then dequeues up to cap completions, waiting at most
 * timeout_ms (INFINITE = 0xFFFFFFFF), and writes at most cap records to out.
 * *n_out may be 0 (timeout, internal wake, cancelled polls only).
 * Timeout is not an error. One call = one Go-to-C crossing per batch. */
int iocp_wait(uintptr_t port, const iocp_rearm *rearms, int n_rearms,
	      iocp_event *out, int cap, uint32_t timeout_ms, int *n_out);

/* Posts a wake packet: id != 0 gives an event {id, IOCP_READABLE}; id 0 only
 * makes a blocked iocp_wait return. */
int iocp_wake(uintptr_t port, uint64_t id);

/* Number of live C allocations made by this core (ports, states, helpers),
 * process-wide: 0 once every port is closed. */
int64_t iocp_live_allocs(void);

#endif
