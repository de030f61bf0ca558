/*
 * iocp_int.h: what iocp.c (the port and the AFD engine) and iocp_ovl.c (the
 * overlapped engine) share. Private to the C core: Go sees only iocp.h.
 */
#ifndef POLLER_IOCP_INT_H
#define POLLER_IOCP_INT_H

#include "iocp.h"

#include <stddef.h>
#include <winsock2.h>
#include <windows.h>

/* Every state handle starts with its engine tag (IOCP_ENGINE_*), so modify,
 * rearm, delete and the rearm list of iocp_wait can tell the engines apart. */
#define ENGINE_OF(handle) (*(const uint32_t *)(uintptr_t)(handle))

/* Completion key of sockets bound by the overlapped engine. AFD helpers are
 * bound with key 0; wake packets carry IOCP_WAKE_KEY_BIT. */
#define OVL_KEY ((ULONG_PTR)1)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct helper;
typedef struct ovl_sock ovl_sock;

struct iocp_port {
	HANDLE iocp;
	SRWLOCK lock;
	struct helper *helpers;
	iocp_sock *socks; /* every AFD state not yet freed, deleted ones too */
	/* Packets owed to us: AFD polls in flight plus overlapped operations
	 * in flight. iocp_port_close dequeues until it is 0. */
	size_t in_flight;

	/* The overlapped engine's part, guarded by lock like the rest. */
	ovl_sock *ovl_socks;		  /* every state not yet freed */
	ovl_sock *ready_head, *ready_tail; /* states with bits to report */
	/* A wait is blocked (or about to block) in the dequeue with nothing
	 * ready: a state made ready meanwhile posts one internal wake. */
	int blocked;
	int wake_posted;
	/* iocp_wait holds the lock (or waits unlocked) after applying its
	 * batch: no batch Go took before a delete can still name the deleted
	 * state, so it may be freed at once. Otherwise frees wait on
	 * ovl_retired for the next iocp_wait's ovl_reap. */
	int ovl_inside;
	ovl_sock *ovl_retired;
};

/* Counted allocations (iocp_live_allocs, iocp_live_bytes); zeroed. */
void *iocp_alloc(size_t size);
void iocp_free(void *p);
/* Counts one system call (iocp_syscalls). */
void iocp_count_syscall(void);

/* ---- iocp_ovl.c, for iocp.c ---- */

/* Registers socket with the overlapped engine (takes the lock itself). */
int ovl_add(iocp_port *port, SOCKET socket, uint64_t id, uint32_t interest,
	    uint32_t flags, const void *connect_addr, int connect_addr_len,
	    uintptr_t *sock_out, uint32_t *engine_out);
/* The rest run with the port lock held. */
int ovl_modify(iocp_port *port, ovl_sock *s, uint64_t id, uint32_t interest);
void ovl_rearm(iocp_port *port, ovl_sock *s, uint32_t bits);
/* linger: IOCP_REARM_LINGER (the SOCKET will be handed over). */
void ovl_delete(iocp_port *port, ovl_sock *s, int linger);
/* IOCP_REARM_HANDOVER: the SOCKET is C's from now on. */
void ovl_handover(iocp_port *port, ovl_sock *s);
/* Handles one dequeued packet whose key is OVL_KEY. */
void ovl_dispatch(iocp_port *port, const OVERLAPPED_ENTRY *e);
/* Frees the states retired outside iocp_wait; iocp_wait calls it right
 * after applying its batch. */
void ovl_reap(iocp_port *port);
/* Writes at most cap records of ready states to out; returns how many. */
int ovl_emit(iocp_port *port, iocp_event *out, int cap);
/* iocp_port_close: cancel every operation; then, once nothing is owed,
 * free every state. ovl_drain_one handles a packet while draining. */
void ovl_cancel_all(iocp_port *port);
void ovl_drain_one(iocp_port *port, const OVERLAPPED_ENTRY *e);
void ovl_free_all(iocp_port *port);
/* iocp_test_switches' skip_mode (iocp_ovl.c). */
extern volatile LONG ovl_test_skip_mode;

#endif
