/*
 * iocp.h: the C core of poller's Windows backend: one I/O completion port,
 * and two engines that feed it, AFD poll (iocp_afd.c) and overlapped
 * Winsock operations (iocp_ovl.c), behind one set of functions (iocp.c).
 *
 * Ownership: the rules every caller and the implementation keep. They are
 * stated here only; the C files (iocp.c the port and dispatcher, iocp_afd.c
 * and iocp_ovl.c the two engines) point here.
 *
 * Memory.
 *  - The port, the socket states, the AFD helper records and every buffer
 *    of the overlapped engine live in C memory, allocated and freed by C.
 *    Go holds a port or a state only as an opaque uintptr_t handle
 *    (iocp_port *, iocp_sock *); C never keeps a pointer into Go memory
 *    beyond a call.
 *  - What an operation in flight names is the kernel's from its
 *    submission until its completion packet is dequeued: an AFD poll's
 *    IO_STATUS_BLOCK and AFD_POLL_INFO, an overlapped operation's
 *    OVERLAPPED and the buffers it reads or writes (send buffer, datagram
 *    buffer, AcceptEx's socket and addresses). A state is never freed,
 *    nor its operation reissued, before that packet is handled, exactly
 *    once, by iocp_wait or by iocp_port_close's drain.
 *  - The AFD helper handles are the port's, closed by iocp_port_close. An
 *    overlapped state holds a send buffer only while a send is in flight.
 *
 * A state's life.
 *  - A state belongs to Go from its add until its delete (iocp_sock_delete,
 *    an IOCP_REARM_DELETE entry, iocp_ovl_delete). After the delete Go
 *    never touches it again; C frees it exactly once: at once when nothing
 *    of it is in flight, otherwise when its last owed packet is dequeued.
 *  - An overlapped-engine state deleted outside iocp_wait may still be
 *    named by a batch Go took before the delete: its memory is kept until
 *    the next iocp_wait has applied its batch (never used, only freed).
 *  - Retire (iocp_sock_retire, AFD states only) stops a state at once but
 *    leaves it Go's: for a delete made while a wait is blocked, when the
 *    batch that wait is applying may still name the state (overlapped
 *    states are deleted at once, iocp_ovl_delete). C cancels its poll and
 *    never polls or reports it again, so Go may close the socket as soon
 *    as retire returns; Go's delete follows (the next wait's batch) and
 *    frees it as above. Between the two, rearm entries and
 *    iocp_sock_rearm on it are no-ops.
 *  - What an overlapped-engine state holds for Go when deleted (an
 *    accepted SOCKET, a received datagram) is handed back by
 *    iocp_ovl_delete, never dropped: Go owns it from then on (iocp_held).
 *
 * The SOCKET, and the lingering close.
 *  - The SOCKET Go registers is Go's; C closes it only after a handover.
 *    After a delete with no send in flight C calls Winsock on it no more:
 *    Go may close it at once.
 *  - Lingering close (overlapped engine only): a state deleted while a
 *    send of its SOCKET is in flight, with IOCP_REARM_LINGER or with
 *    iocp_ovl_delete answering IOCP_HELD_LINGER, is kept by C, which lets
 *    the send finish (sending the rest of its buffer); Go keeps the SOCKET
 *    open meanwhile and C calls Winsock on it only for that send. Once
 *    Go's last use of the SOCKET ended, Go hands it over
 *    (IOCP_REARM_HANDOVER or iocp_ovl_handover): C owns the SOCKET from
 *    then on, closes it as soon as no send of it is in flight (at once
 *    when none is) and frees the state once its packets are in. One owner
 *    at a time: after the handover Go never uses the SOCKET or the state.
 *  - A SOCKET added again to the port (IOCP_ADD_BOUND) while an earlier
 *    state of it lingers: the new state takes the handover over (the old
 *    one is then C's alone, and only the newest state is handed over),
 *    and whoever closes the SOCKET waits for the sends of both.
 *  - iocp_port_close cancels every operation (a lingering send too),
 *    waits for every completion, frees every state (deleted or not), the
 *    helpers and the port, and closes the SOCKETs handed over to C; a
 *    state deleted with linger and never handed over leaves its SOCKET to
 *    Go. No handle of that port may be used afterwards.
 *
 * Threads: all functions are safe to call from any thread while another
 * thread is blocked in iocp_wait on the same port; the port lock is never
 * held while blocked in GetQueuedCompletionStatusEx.
 *
 * Readiness (edge-triggered, as mio):
 *  - A direction (READABLE, WRITABLE) once reported is not polled for again
 *    until Go re-arms it after WOULDBLOCK (the rearm list of iocp_wait, or
 *    iocp_sock_rearm) or calls iocp_sock_modify.
 *  - READ_CLOSED, WRITE_CLOSED and ERROR come with the directions whenever
 *    the driver reports them (not for interest 0). A poll that fails is
 *    reported once as {id, IOCP_ERROR}; its directions then wait for a
 *    re-arm or modify, so a lasting failure cannot spin.
 *  - One record per state per iocp_wait: directions that become
 *    reportable during one wait (before its dequeue and from a packet it
 *    dequeues) come in the same record, as epoll_wait reports an fd once.
 *  - A socket closed while registered is never polled again; when a poll in
 *    flight sees the close (AFD_POLL_LOCAL_CLOSE) it gets one record
 *    {id, IOCP_CLOSED} and no event. Its state is still Go's to delete.
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
/* Only alone in a record: AFD saw the socket closed while registered (Go's
 * misuse: closed before Deregister). The state is dead; Go drops the
 * registration and deletes the state. */
#define IOCP_CLOSED 0x40u

/* Wake packets carry the waker's id in the completion key with this bit set;
 * id 0 is the port's internal wake (returns from iocp_wait, no event). Go
 * registration ids are below 2^63. */
#define IOCP_WAKE_KEY_BIT (1ull << 63)

/* Opaque handles: a port, and a socket state (of either engine). Neither
 * type is defined outside the core; Go passes them as uintptr_t. */
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
 * wait may be applying a batch that names the state; it retires the state
 * at once (iocp_sock_retire), so only the free waits. */
#define IOCP_REARM_DELETE 0x80000000u
/* Lingering close of an overlapped-engine socket (iocp_sock_rearm or a
 * batch entry of iocp_wait; never for AFD states; the rules: Ownership,
 * at the top): IOCP_REARM_DELETE | IOCP_REARM_LINGER deletes the state and
 * lets its send finish, Go keeping the SOCKET; IOCP_REARM_HANDOVER, later,
 * on such a deleted state, hands the SOCKET to C. */
#define IOCP_REARM_LINGER 0x40000000u
#define IOCP_REARM_HANDOVER 0x20000000u

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
 * reported as {id, IOCP_ERROR} by a later iocp_wait. bits may also be an
 * entry's IOCP_REARM_DELETE (with IOCP_REARM_LINGER) or IOCP_REARM_HANDOVER,
 * applied as iocp_wait would. */
int iocp_sock_rearm(uintptr_t port, uintptr_t sock, uint32_t bits);
/* Deletes the state (Ownership, at the top): cancels any pending poll; the
 * handle is C's from here on. */
int iocp_sock_delete(uintptr_t port, uintptr_t sock);
/* Retires an AFD state (Ownership, at the top): cancels any pending poll,
 * and no poll names the socket from then on. bits: 0. An overlapped-engine
 * state is left as it is. Returns 0. */
int iocp_sock_retire(uintptr_t port, uintptr_t sock, uint32_t bits);

/* Applies the re-arms, then dequeues up to cap completions, waiting at most
 * timeout_ms (INFINITE = 0xFFFFFFFF), and writes at most cap records to out.
 * *n_out may be 0 (timeout, internal wake, cancelled polls only).
 * Timeout is not an error. One call = one Go-to-C crossing per batch. */
int iocp_wait(uintptr_t port, const iocp_rearm *rearms, int n_rearms,
	      iocp_event *out, int cap, uint32_t timeout_ms, int *n_out);

/* Posts a wake packet: id != 0 gives an event {id, IOCP_READABLE}; id 0 only
 * makes a blocked iocp_wait return. */
int iocp_wake(uintptr_t port, uint64_t id);

/* ---- The overlapped engine (iocp_ovl.c) ----
 *
 * A second engine for sockets AFD cannot poll (a non-IFS layered service
 * provider hides the base socket from SIO_BASE_HANDLE and its fallbacks).
 * Its sockets are bound to the port (once, forever) and readiness comes
 * from overlapped operations: a zero-byte WSARecv (streams), WSARecvFrom
 * into a C-owned datagram buffer (UDP), AcceptEx (listeners), ConnectEx
 * (streams dialed with a deferred connect) and WSASend/WSASendTo from a
 * C-owned send buffer. The handle from add is that engine's state; modify,
 * rearm, delete, iocp_wait and iocp_port_close treat both engines alike.
 * Data moves through the engine for its listeners and UDP sockets, and for
 * writes: iocp_ovl_send, iocp_ovl_recvfrom, iocp_ovl_accept below. The
 * caller keeps the state alive (not deleted, port not closed) across them.
 */

/* Engines, in *engine_out of iocp_sock_add_ex. */
#define IOCP_ENGINE_AFD 0u
#define IOCP_ENGINE_OVERLAPPED 1u
/* Also in *engine_out: the socket has FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
 * (set when it was bound: only if its provider has IFS handles). */
#define IOCP_ENGINE_SKIP 0x100u

/* Flags of iocp_sock_add_ex. */
#define IOCP_ADD_OVERLAPPED 0x1u /* use the overlapped engine, whatever AFD says */
/* The socket may already be bound to this port by an earlier registration:
 * if binding it fails, go on as bound (with IOCP_ADD_BOUND_SKIP: with
 * skip-on-success set). Only for handles this port bound before. */
#define IOCP_ADD_BOUND 0x2u
#define IOCP_ADD_BOUND_SKIP 0x4u
/* The caller does its own I/O on the socket (RawSocket): the engine must
 * take none of its data. A UDP socket is polled with a MSG_PEEK receive
 * (READABLE re-armed like a stream's); a listener is refused with
 * IOCP_E_RAW_LISTENER (only AcceptEx tells an overlapped listener's
 * readiness, and it takes the connection). */
#define IOCP_ADD_RAW 0x8u

/* Returned by iocp_sock_add_ex when the overlapped engine cannot bind the
 * socket: it is bound to another completion port (application error code:
 * bit 29 set). */
#define IOCP_E_BOUND_ELSEWHERE 0x20000001
/* Returned by iocp_sock_add_ex for a listener added with IOCP_ADD_RAW to
 * the overlapped engine. */
#define IOCP_E_RAW_LISTENER 0x20000002

/* iocp_sock_add with an engine choice: AFD unless flags ask for the
 * overlapped engine or the socket's base-handle query fails the way a
 * layered provider makes it fail (then the overlapped engine,
 * automatically; a passing failure such as WSAENOBUFS is returned, and
 * nothing is bound). connect_addr (copied; may be NULL) is
 * the peer of a stream whose connect was deferred: the overlapped engine
 * starts it with ConnectEx (the socket must be bound). */
int iocp_sock_add_ex(uintptr_t port, uintptr_t socket, uint64_t id,
		     uint32_t interest, uint32_t flags, const void *connect_addr,
		     int connect_addr_len, uintptr_t *sock_out,
		     uint32_t *engine_out);

/* The engine iocp_sock_add_ex would pick for socket without flags, or an
 * error (WSAENOTSOCK, WSAENOBUFS...) as a negative number. */
int iocp_engine_for(uintptr_t socket);

/* Writes from buf through the state's C-owned send buffer (to: the
 * datagram's address for UDP, else NULL). *n_out is what was accepted: the
 * engine sends it whatever happens next, short of an error or a cancel by
 * Close. Returns 0 (*n_out may be < len: a send is in flight, as for
 * WSAEWOULDBLOCK), WSAEWOULDBLOCK (nothing accepted: a send or the connect
 * is in flight; its completion is the next WRITABLE), or an error. A
 * connect whose OVERLAPPED shows it done counts as done, its packet not
 * yet dequeued: the send starts (or the connect's failure is returned). */
int iocp_ovl_send(uintptr_t port, uintptr_t sock, const void *buf, int len,
		  const void *to, int to_len, int *n_out);
/* Reads one datagram (truncated to len) and its sender. 0, WSAEWOULDBLOCK
 * (the next datagram's completion is the next READABLE) or an error. */
int iocp_ovl_recvfrom(uintptr_t port, uintptr_t sock, void *buf, int len,
		      void *from, int *from_len, int *n_out);
/* Takes one accepted connection (non-blocking, not inherited) and its
 * peer's address. 0, WSAEWOULDBLOCK or an error. */
int iocp_ovl_accept(uintptr_t port, uintptr_t sock, uintptr_t *socket_out,
		    void *remote, int *remote_len);
/* A deferred connect's status: 0 done (or none), WSAEWOULDBLOCK in flight,
 * else its error, forgotten when take is non-zero. */
int iocp_ovl_connect_status(uintptr_t port, uintptr_t sock, int take);

/* What iocp_ovl_delete hands back to Go, Go's with the call: socket (not INVALID_SOCKET) is a connection the listener's AcceptEx
 * accepted (non-blocking, not inherited) and Go's to accept or close; data
 * (not NULL) is a received datagram of data_len bytes in C memory, Go's to
 * copy and give back with iocp_ovl_free. addr is the connection's peer or
 * the datagram's sender (addr_len bytes, 0 when unknown). */
typedef struct iocp_held {
	uintptr_t socket;
	void *data;
	int32_t data_len;
	int32_t addr_len;
	char addr[128];
	uint32_t flags;	     /* IOCP_HELD_* */
	int32_t connect_err; /* the deferred connect's error, with FAILED */
} iocp_held;

/* In iocp_held.flags: */
/* A send is in flight on the SOCKET (of this state, or of an earlier
 * state of the SOCKET that still lingers): the state lingers as after
 * IOCP_REARM_LINGER, until Go hands the SOCKET over with iocp_ovl_handover
 * (Ownership, at the top). */
#define IOCP_HELD_LINGER 0x1u
/* The stream's connect state at the delete: connected; the deferred
 * connect was in flight (CANCELLED, a historic name: it is not cancelled
 * but goes on, and a new add of the SOCKET with IOCP_ADD_BOUND takes its
 * result over; when it ended before that add, the add's own ConnectEx
 * reports connected, WSAEISCONN); or it failed (connect_err). */
#define IOCP_HELD_CONNECTED 0x2u
#define IOCP_HELD_CONNECT_CANCELLED 0x4u
#define IOCP_HELD_CONNECT_FAILED 0x8u

/* iocp_sock_delete for an overlapped-engine state, handing back what it
 * holds (above). flags: IOCP_REARM_LINGER for a lingering close. A
 * receive or accept that completed as the delete cancelled it is handed
 * back too when its result is already visible in its OVERLAPPED; one whose
 * completion the kernel records only later is dropped (its connection
 * closed, its datagram freed): the cancel won the race for Go, the
 * connection or datagram arrived just as Deregister ran. Applied at once,
 * also while a wait is blocked (its memory: Ownership, at the top). */
int iocp_ovl_delete(uintptr_t port, uintptr_t sock, uint32_t flags,
		    iocp_held *held);
/* The handover of a state deleted with linger, as IOCP_REARM_HANDOVER but
 * at once (Ownership, at the top). A cancelled receive does not delay the
 * close: the peer gets the FIN now. */
int iocp_ovl_handover(uintptr_t port, uintptr_t sock);
/* Frees iocp_held.data. */
void iocp_ovl_free(void *p);

/* Test switch, process-wide: the send after the next `after` sends fails
 * at once with err, instead of being issued (after < 0: none). */
void iocp_test_fail_send(int after, int err);

/* Test switches, process-wide. fail_base_query: a positive error makes
 * every base-handle query fail with it (as under a non-IFS LSP); a
 * negative one makes SIO_BASE_HANDLE fail with -fail_base_query and the
 * BSP ioctls answer with the socket itself (as a provider that hides the
 * base socket and gives its own handle).
 * skip_mode: -1 decide per socket (default), 0 never set
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, 1 always. */
void iocp_test_switches(int fail_base_query, int skip_mode);

/* Bytes of C memory live in this core's allocations, process-wide, and the
 * system calls (Winsock, IOCP, NT) the core has made, process-wide. */
int64_t iocp_live_bytes(void);
uint64_t iocp_syscalls(void);

/* Number of live C allocations made by this core (ports, states, helpers),
 * process-wide: 0 once every port is closed. */
int64_t iocp_live_allocs(void);

/* Polls ever submitted for a state Go had deleted or retired, process-wide:
 * a bug if not 0 (a check for the tests). */
int64_t iocp_bad_submits(void);

#endif
