/*
 * iocp_int.h: what the three files of the C core share. Private to the
 * core: Go sees only iocp.h.
 *
 *   iocp.c      the port and the dispatcher: iocp.h's functions, which
 *               call one engine or the other by the state's engine tag
 *               (handles) or the packet's completion key (packets)
 *   iocp_afd.c  the AFD engine (IOCTL_AFD_POLL through helper handles)
 *   iocp_ovl.c  the overlapped engine (overlapped Winsock operations)
 *
 * Both engines have the same function set, below; a few functions exist
 * for one engine only (afd_retire; ovl_handover, ovl_reap, ovl_emit).
 * Ownership of every allocation: iocp.h.
 */
#ifndef POLLER_IOCP_INT_H
#define POLLER_IOCP_INT_H

#include "iocp.h"

#include <stddef.h>
#include <winsock2.h>
#include <windows.h>

/* IOCP_CHECK(cond): an invariant. Compiled in when IOCP_CHECKS is defined
 * (the csrc tests; Go builds with -race or -tags pollercheck:
 * checks_cgo_windows.go): on failure it prints file:line and the condition
 * to stderr and aborts. Otherwise a no-op that does not evaluate cond. */
#ifdef IOCP_CHECKS
void iocp_check_failed(const char *file, int line, const char *cond);
#define IOCP_CHECK(cond) \
	((cond) ? (void)0 : iocp_check_failed(__FILE__, __LINE__, #cond))
#else
#define IOCP_CHECK(cond) ((void)sizeof(!(cond)))
#endif

/* The direction bits of an interest (IOCP_READABLE | IOCP_WRITABLE). */
#define DIRECTIONS (IOCP_READABLE | IOCP_WRITABLE)

/* Every state handle starts with its engine tag (IOCP_ENGINE_*), so modify,
 * rearm, delete and the rearm list of iocp_wait can tell the engines apart. */
#define ENGINE_OF(handle) (*(const uint32_t *)(uintptr_t)(handle))

/* Completion key of sockets bound by the overlapped engine. AFD helpers are
 * bound with key 0; wake packets carry IOCP_WAKE_KEY_BIT. */
#define OVL_KEY ((ULONG_PTR)1)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct afd_helper afd_helper;
typedef struct afd_state afd_state;
typedef struct ovl_state ovl_state;

struct iocp_port {
	HANDLE iocp;
	SRWLOCK lock;
	/* Packets owed to us: AFD polls in flight plus overlapped operations
	 * in flight. iocp_port_close dequeues until it is 0. */
	size_t in_flight;

	/* The AFD engine's part, guarded by lock like the rest. */
	afd_helper *helpers;
	afd_state *afd_states; /* every state not yet freed, deleted ones too */

	/* The overlapped engine's part, guarded by lock like the rest. */
	ovl_state *ovl_states;		    /* every state not yet freed */
	ovl_state *ready_head, *ready_tail; /* states with bits to report */
	/* A wait is blocked (or about to block) in the dequeue with nothing
	 * ready: a state made ready meanwhile posts one internal wake. */
	int blocked;
	int wake_posted;
	/* iocp_wait holds the lock (or waits unlocked) after applying its
	 * batch: no batch Go took before a delete can still name the deleted
	 * state, so it may be freed at once. Otherwise frees wait on
	 * ovl_retired for the next iocp_wait's ovl_reap. */
	int ovl_inside;
	ovl_state *ovl_retired;
	/* The last iocp_wait filled its records with states still ready:
	 * the next one reports ready states before dequeuing (iocp_wait). */
	int ovl_turn;
	/* Numbers the iocp_wait calls (ovl_emit's one record per state). */
	uint64_t wait_seq;
};

/* ---- iocp.c, for both engines ---- */

/* Counted allocations (iocp_live_allocs, iocp_live_bytes); zeroed. */
void *iocp_alloc(size_t size);
void iocp_free(void *p);
/* Counts one system call (iocp_syscalls). */
void iocp_count_syscall(void);

/* ---- The engines' function set ----
 *
 * X_add registers a socket and takes the port lock itself; every other
 * function runs with the port lock held. X_complete handles one dequeued
 * packet of the engine (AFD: key 0, overlapped: OVL_KEY) and returns the
 * number of records it wrote to ev (0 or 1; the overlapped engine's come
 * from ovl_emit). iocp_port_close calls X_cancel_all, then X_drain_one for
 * each packet until nothing is owed, then X_free_all. */

/* The AFD engine (iocp_afd.c). */
/* The base socket AFD polls for s, or the query's error; afd_unpollable
 * tells whether that error means a layered provider hides the base socket
 * (the overlapped engine's case) rather than a passing failure. */
int afd_base_socket(SOCKET s, SOCKET *base_out);
int afd_unpollable(int err);
int afd_add(iocp_port *port, SOCKET base, uint64_t id, uint32_t interest,
	    uintptr_t *sock_out);
int afd_modify(iocp_port *port, afd_state *s, uint64_t id, uint32_t interest);
void afd_rearm(iocp_port *port, afd_state *s, uint32_t bits);
void afd_delete(iocp_port *port, afd_state *s);
/* iocp_sock_retire: stops s without freeing it. */
void afd_retire(iocp_port *port, afd_state *s);
int afd_complete(iocp_port *port, const OVERLAPPED_ENTRY *e, iocp_event *ev);
void afd_cancel_all(iocp_port *port);
void afd_drain_one(iocp_port *port, const OVERLAPPED_ENTRY *e);
void afd_free_all(iocp_port *port);
/* iocp_test_switches' fail_base_query. */
extern volatile LONG afd_test_base_error;

/* The overlapped engine (iocp_ovl.c). */
int ovl_add(iocp_port *port, SOCKET socket, uint64_t id, uint32_t interest,
	    uint32_t flags, const void *connect_addr, int connect_addr_len,
	    uintptr_t *sock_out, uint32_t *engine_out);
int ovl_modify(iocp_port *port, ovl_state *s, uint64_t id, uint32_t interest);
void ovl_rearm(iocp_port *port, ovl_state *s, uint32_t bits);
/* linger: IOCP_REARM_LINGER (the SOCKET will be handed over). */
void ovl_delete(iocp_port *port, ovl_state *s, int linger);
/* IOCP_REARM_HANDOVER: the SOCKET is C's from now on. */
void ovl_handover(iocp_port *port, ovl_state *s);
int ovl_complete(iocp_port *port, const OVERLAPPED_ENTRY *e, iocp_event *ev);
void ovl_cancel_all(iocp_port *port);
void ovl_drain_one(iocp_port *port, const OVERLAPPED_ENTRY *e);
void ovl_free_all(iocp_port *port);
/* Frees the states retired outside iocp_wait; iocp_wait calls it right
 * after applying its batch. */
void ovl_reap(iocp_port *port);
/* Writes the records of ready states to out from index n, never beyond
 * cap, one per state in a wait (a state with a record at an index below n
 * in this wait gets its bits added to it); returns the new count. */
int ovl_emit(iocp_port *port, iocp_event *out, int n, int cap);
/* iocp_test_switches' skip_mode. */
extern volatile LONG ovl_test_skip_mode;

#endif
