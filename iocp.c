//go:build windows && cgo

/*
 * iocp.c: the C core of poller's Windows backend. Readiness of each socket
 * is asked of the AFD driver (IOCTL_AFD_POLL, the mechanism behind select()
 * and WSAPoll()) through a few helper handles bound to one I/O completion
 * port; every answer comes back as a completion packet.
 *
 * The one rule everything below keeps: a socket state has at most one poll
 * in flight, and every poll that was accepted by the kernel produces exactly
 * one completion packet, which is handled exactly once, when it is dequeued.
 *
 * State of a socket (iocp_sock.status):
 *
 *   IDLE ------ submit ------> PENDING ---- cancel ----> CANCELLED
 *     ^                           |                         |
 *     +------ packet dequeued ----+-------------------------+
 *
 *  - IDLE: no poll in flight; the state's IO_STATUS_BLOCK and AFD_POLL_INFO
 *    are ours. Only an IDLE state may be freed.
 *  - PENDING / CANCELLED: one packet is owed; until it is dequeued the
 *    kernel may write the IO_STATUS_BLOCK and AFD_POLL_INFO, so the state is
 *    neither freed nor resubmitted. CANCELLED only means we asked for the
 *    packet early; its result may still be a real one.
 *  - A submission that completes at once (data already there) still queues
 *    its packet: the helpers do not use FILE_SKIP_COMPLETION_PORT_ON_SUCCESS.
 *    So a submission is never handled as a result, only as "packet owed".
 *  - delete_pending: Go has let go of the state (iocp_sock_delete) while a
 *    packet was owed; whoever dequeues that packet (iocp_wait or
 *    iocp_port_close) frees the state.
 *  - retired: Go stopped the state (iocp_sock_retire) but still names it;
 *    its poll is cancelled, it is never submitted again and never
 *    reported, and only Go's delete, which follows, frees it. So once
 *    Deregister returns no poll names the socket, which Go may close and
 *    the system may hand out again, even while a wait is blocked.
 *  - dead: AFD reported LOCAL_CLOSE (or the handle is gone): the socket was
 *    closed under us. Never polled again, no event; still Go's until deleted.
 *    A LOCAL_CLOSE is reported once as {id, IOCP_CLOSED}, so that Go drops
 *    the registration and the handle number can be registered again.
 *
 * Edge triggering: a direction (READABLE, WRITABLE) reported to Go is added
 * to `reported` and not polled for again until Go re-arms it after
 * WOULDBLOCK (iocp_wait's rearm list, iocp_sock_rearm) or modifies the
 * registration. The poll in flight always asks for interest & ~reported.
 *
 * Locking: one SRW lock per port guards every state, the helper list and the
 * in_flight count. It is never held while blocked in
 * GetQueuedCompletionStatusEx.
 */

#include "iocp_int.h"

#include <malloc.h>
#include <stdlib.h>

_Static_assert(sizeof(ULONG_PTR) == 8,
	       "iocp.c needs 64-bit completion keys (IOCP_WAKE_KEY_BIT)");

/* ---- ntdll and AFD declarations (mingw's headers lack or hide them) ---- */

#define NT_STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define NT_STATUS_PENDING ((NTSTATUS)0x00000103L)
#define NT_STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008L)
#define NT_STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
/* Severity "error" (0xC...): the request was refused and no packet will be
 * queued. Success, informational and warning statuses all queue one. */
#define NT_IS_ERROR(status) ((((ULONG)(status)) >> 30) == 3)

#define NT_FILE_OPEN 0x00000001UL

typedef struct nt_iosb {
	union {
		NTSTATUS Status;
		PVOID Pointer;
	};
	ULONG_PTR Information;
} nt_iosb;

typedef struct nt_unicode_string {
	USHORT Length;
	USHORT MaximumLength;
	PWSTR Buffer;
} nt_unicode_string;

typedef struct nt_object_attributes {
	ULONG Length;
	HANDLE RootDirectory;
	nt_unicode_string *ObjectName;
	ULONG Attributes;
	PVOID SecurityDescriptor;
	PVOID SecurityQualityOfService;
} nt_object_attributes;

__declspec(dllimport) NTSTATUS NTAPI
NtCreateFile(HANDLE *file, ACCESS_MASK access, nt_object_attributes *attrs,
	     nt_iosb *iosb, LARGE_INTEGER *allocation_size, ULONG file_attributes,
	     ULONG share_access, ULONG create_disposition, ULONG create_options,
	     PVOID ea_buffer, ULONG ea_length);
__declspec(dllimport) NTSTATUS NTAPI
NtDeviceIoControlFile(HANDLE file, HANDLE event, PVOID apc_routine,
		      PVOID apc_context, nt_iosb *iosb, ULONG code,
		      PVOID in, ULONG in_len, PVOID out, ULONG out_len);
__declspec(dllimport) NTSTATUS NTAPI
NtCancelIoFileEx(HANDLE file, nt_iosb *request, nt_iosb *iosb);
__declspec(dllimport) ULONG NTAPI RtlNtStatusToDosError(NTSTATUS status);

#define IOCTL_AFD_POLL 0x00012024UL

#define AFD_POLL_RECEIVE 0x0001UL
#define AFD_POLL_SEND 0x0004UL
#define AFD_POLL_DISCONNECT 0x0008UL
#define AFD_POLL_ABORT 0x0010UL
#define AFD_POLL_LOCAL_CLOSE 0x0020UL
#define AFD_POLL_ACCEPT 0x0080UL
#define AFD_POLL_CONNECT_FAIL 0x0100UL

typedef struct afd_poll_handle_info {
	HANDLE Handle;
	ULONG Events;
	NTSTATUS Status;
} afd_poll_handle_info;

typedef struct afd_poll_info {
	LARGE_INTEGER Timeout;
	ULONG NumberOfHandles;
	ULONG Exclusive;
	afd_poll_handle_info Handles[1];
} afd_poll_info;

#ifndef SIO_BASE_HANDLE
#define SIO_BASE_HANDLE _WSAIOR(IOC_WS2, 34)
#endif
#ifndef SIO_BSP_HANDLE_SELECT
#define SIO_BSP_HANDLE_SELECT _WSAIOR(IOC_WS2, 28)
#endif
#ifndef SIO_BSP_HANDLE_POLL
#define SIO_BSP_HANDLE_POLL _WSAIOR(IOC_WS2, 29)
#endif

/* ---- types ---- */

#define DIRECTIONS (IOCP_READABLE | IOCP_WRITABLE)
#define HELPER_MAX_SOCKETS 32 /* sockets sharing one AFD helper handle */
#define WAIT_BATCH 256        /* entries dequeued per wait, at most */

typedef enum poll_status { POLL_IDLE, POLL_PENDING, POLL_CANCELLED } poll_status;

/* One AFD helper handle, bound to the port with completion key 0. Owned by
 * the port; closed only by iocp_port_close. `sockets` counts the states
 * (deleted or not) not yet freed that poll through it. */
typedef struct helper {
	HANDLE afd;
	unsigned sockets;
	struct helper *next;
} helper;

struct iocp_sock {
	uint32_t engine; /* IOCP_ENGINE_AFD; first in every state (ENGINE_OF) */
	/* The poll's IO_STATUS_BLOCK, also its completion context: the packet's
	 * lpOverlapped points here. The kernel's while status != POLL_IDLE. */
	nt_iosb iosb;
	/* The poll's input and output buffer; the kernel's likewise. */
	afd_poll_info info;
	iocp_sock *prev, *next; /* port->socks */
	helper *helper;
	SOCKET base;
	uint64_t id;
	uint32_t interest;	/* IOCP_READABLE | IOCP_WRITABLE */
	uint32_t reported;	/* directions reported and not re-armed */
	ULONG pending_events;	/* AFD events asked by the poll in flight */
	poll_status status;
	unsigned char delete_pending;
	unsigned char retired;
	unsigned char dead;
};

/* struct iocp_port is in iocp_int.h: both engines use it. */

/* ---- allocation accounting ---- */

static volatile LONG64 live_allocs, live_bytes, syscalls;
/* Polls submitted for a state Go had deleted or retired: a bug, counted for
 * the tests (iocp_bad_submits), never expected to be other than 0. */
static volatile LONG64 bad_submits;

static void *alloc_counted(size_t size)
{
	void *p = calloc(1, size);
	if (p != NULL) {
		InterlockedIncrement64(&live_allocs);
		InterlockedExchangeAdd64(&live_bytes, (LONG64)_msize(p));
	}
	return p;
}

static void free_counted(void *p)
{
	InterlockedExchangeAdd64(&live_bytes, -(LONG64)_msize(p));
	free(p);
	InterlockedDecrement64(&live_allocs);
}

void *iocp_alloc(size_t size) { return alloc_counted(size); }
void iocp_free(void *p) { free_counted(p); }
void iocp_count_syscall(void) { InterlockedIncrement64(&syscalls); }

int64_t iocp_live_allocs(void)
{
	return InterlockedCompareExchange64(&live_allocs, 0, 0);
}

int64_t iocp_live_bytes(void)
{
	return InterlockedCompareExchange64(&live_bytes, 0, 0);
}

int64_t iocp_bad_submits(void)
{
	return InterlockedCompareExchange64(&bad_submits, 0, 0);
}

uint64_t iocp_syscalls(void)
{
	return (uint64_t)InterlockedCompareExchange64(&syscalls, 0, 0);
}

static int nt_error(NTSTATUS status)
{
	return status >= 0 ? 0 : (int)RtlNtStatusToDosError(status);
}

/* ---- readiness mapping ---- */

/* The AFD events to poll for directions. A failed connect, a reset and a
 * local close are asked for whatever the direction (as mio and wepoll do),
 * so that a Readable-only registration hears of a refused connect; nothing
 * when no direction is wanted (all reported: the state waits for a
 * re-arm, so a lasting failure cannot spin). */
static ULONG afd_events_for(uint32_t directions)
{
	ULONG events = 0;

	if (directions & IOCP_READABLE)
		events |= AFD_POLL_RECEIVE | AFD_POLL_ACCEPT |
			  AFD_POLL_DISCONNECT;
	if (directions & IOCP_WRITABLE)
		events |= AFD_POLL_SEND;
	if (events != 0)
		events |= AFD_POLL_CONNECT_FAIL | AFD_POLL_ABORT |
			  AFD_POLL_LOCAL_CLOSE;
	return events;
}

/* Readiness bits for AFD events. Directions are limited to the interest;
 * closure and error bits are reported whenever seen. A failed connect
 * reads as on Linux (readable, writable, both sides closed, error): the
 * read or write that follows returns the connect's error. */
static uint32_t bits_for(ULONG events, uint32_t interest)
{
	uint32_t bits = 0;

	if (events & (AFD_POLL_RECEIVE | AFD_POLL_ACCEPT))
		bits |= IOCP_READABLE;
	if (events & AFD_POLL_DISCONNECT)
		bits |= IOCP_READABLE | IOCP_READ_CLOSED;
	if (events & (AFD_POLL_ABORT | AFD_POLL_CONNECT_FAIL))
		bits |= IOCP_READABLE | IOCP_WRITABLE | IOCP_READ_CLOSED |
			IOCP_WRITE_CLOSED | IOCP_ERROR;
	if (events & AFD_POLL_SEND)
		bits |= IOCP_WRITABLE;
	return bits & ~(DIRECTIONS & ~interest);
}

/* ---- AFD helpers ---- */

static int helper_open(iocp_port *port, HANDLE *afd_out)
{
	static WCHAR name[] = L"\\Device\\Afd\\Poller";
	nt_unicode_string uname = {sizeof name - sizeof name[0], sizeof name,
				   name};
	nt_object_attributes attrs = {sizeof attrs, NULL, &uname, 0, NULL, NULL};
	nt_iosb iosb;
	HANDLE afd;
	NTSTATUS status;
	int err;

	/* \Device\Afd opened without extended attributes: a handle to the
	 * driver that is not a socket, good only for issuing polls. */
	status = NtCreateFile(&afd, SYNCHRONIZE, &attrs, &iosb, NULL, 0,
			      FILE_SHARE_READ | FILE_SHARE_WRITE, NT_FILE_OPEN,
			      0, NULL, 0);
	if (status < 0)
		return nt_error(status);

	if (CreateIoCompletionPort(afd, port->iocp, 0, 0) == NULL ||
	    !SetFileCompletionNotificationModes(afd,
						FILE_SKIP_SET_EVENT_ON_HANDLE)) {
		err = (int)GetLastError();
		CloseHandle(afd);
		return err;
	}
	*afd_out = afd;
	return 0;
}

/* A helper with room for one more socket, opening one if all are full. */
static int helper_acquire(iocp_port *port, helper **out)
{
	helper *h;
	int err;

	for (h = port->helpers; h != NULL; h = h->next)
		if (h->sockets < HELPER_MAX_SOCKETS)
			goto found;

	h = alloc_counted(sizeof *h);
	if (h == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	err = helper_open(port, &h->afd);
	if (err != 0) {
		free_counted(h);
		return err;
	}
	h->next = port->helpers;
	port->helpers = h;
found:
	h->sockets++;
	*out = h;
	return 0;
}

/* ---- socket states ---- */

/* iocp_test_switches' fail_base_query. */
static volatile LONG test_base_error;

/* 0 when s is a socket, else the error. Wine answers SIO_BASE_HANDLE without
 * looking at the handle, and an AFD poll naming a handle that is not a
 * socket (say a closed socket's number, reused for one of our helpers)
 * kills Wine 8's wineserver. So base_socket's callers check this first. */
static int is_socket(SOCKET s)
{
	int type, len = sizeof type;

	if (getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0)
		return WSAGetLastError();
	return 0;
}

/* One BSP ioctl on s: the socket it names, or INVALID_SOCKET with *err. */
static SOCKET bsp_ioctl(SOCKET s, DWORD ioctl, int *err)
{
	SOCKET out = INVALID_SOCKET;
	DWORD bytes;

	if (test_base_error < 0) { /* a provider that hides the base socket */
		if (ioctl != SIO_BASE_HANDLE)
			return s; /* and answers BSP with its own handle */
		*err = -test_base_error;
		return INVALID_SOCKET;
	}
	if (WSAIoctl(s, ioctl, NULL, 0, &out, sizeof out, &bytes, NULL,
		     NULL) == SOCKET_ERROR) {
		*err = WSAGetLastError();
		return INVALID_SOCKET;
	}
	if (out == INVALID_SOCKET)
		*err = WSAEINVAL;
	return out;
}

/* The base socket under s (s itself without layered providers). A layered
 * provider may hide it from SIO_BASE_HANDLE; the BSP ioctls still give the
 * socket of the provider below, from which SIO_BASE_HANDLE is asked again.
 * A BSP answer equal to the socket asked is that provider's own handle, not
 * a base: no way down. Fails with SIO_BASE_HANDLE's error, after which the
 * overlapped engine takes s if the error is of the layered-provider kind
 * (base_error_is_layered). */
static int base_socket(SOCKET s, SOCKET *base_out)
{
	static const DWORD bsp[] = {SIO_BSP_HANDLE_POLL, SIO_BSP_HANDLE_SELECT};
	SOCKET base, below;
	int err = 0, err2, depth;
	size_t i;

	if (test_base_error > 0)
		return test_base_error;
	for (depth = 0; depth < 8; depth++) { /* providers stacked, at most */
		base = bsp_ioctl(s, SIO_BASE_HANDLE, &err);
		if (base != INVALID_SOCKET) {
			*base_out = base;
			return 0;
		}
		if (err == WSAENOTSOCK)
			return err;
		below = INVALID_SOCKET;
		for (i = 0; i < sizeof bsp / sizeof bsp[0]; i++) {
			below = bsp_ioctl(s, bsp[i], &err2);
			if (below != INVALID_SOCKET && below != s)
				break;
			below = INVALID_SOCKET;
		}
		if (below == INVALID_SOCKET)
			return err;
		s = below;
	}
	return err;
}

/* Whether a failed base-handle query means a layered provider that hides
 * the base socket (the overlapped engine's case, binding the socket to the
 * port for good), rather than a passing shortage, which only fails the
 * registration: the caller may try again. */
static int base_error_is_layered(int err)
{
	switch (err) {
	case WSAENOBUFS:
	case WSA_NOT_ENOUGH_MEMORY:
	case ERROR_NO_SYSTEM_RESOURCES:
	case WSAEINPROGRESS:
	case WSAEINTR:
	case WSAENETDOWN:
	case WSAENOTSOCK:
		return 0;
	}
	return 1;
}

static void sock_link(iocp_port *port, iocp_sock *s)
{
	s->prev = NULL;
	s->next = port->socks;
	if (port->socks != NULL)
		port->socks->prev = s;
	port->socks = s;
}

/* Only for an IDLE state: the kernel no longer holds any part of it. */
static void sock_free(iocp_port *port, iocp_sock *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		port->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->helper->sockets--;
	free_counted(s);
}

/* Marks the state as owing a packet. */
static void sock_set_in_flight(iocp_port *port, iocp_sock *s, ULONG events)
{
	s->status = POLL_PENDING;
	s->pending_events = events;
	port->in_flight++;
}

/* Submits a poll for `events` on an IDLE state. Returns the NTSTATUS of the
 * submission; on anything but an error status a packet is owed (also when
 * the poll completed at once), so the state is PENDING. */
static NTSTATUS sock_submit(iocp_port *port, iocp_sock *s, ULONG events)
{
	NTSTATUS status;

	if (s->delete_pending || s->retired)
		InterlockedIncrement64(&bad_submits);
	s->info.Timeout.QuadPart = INT64_MAX;
	s->info.NumberOfHandles = 1;
	s->info.Exclusive = FALSE;
	s->info.Handles[0].Handle = (HANDLE)s->base;
	s->info.Handles[0].Events = events;
	s->info.Handles[0].Status = 0;
	s->iosb.Status = NT_STATUS_PENDING;
	s->iosb.Information = 0;

	iocp_count_syscall();
	status = NtDeviceIoControlFile(s->helper->afd, NULL, NULL, &s->iosb,
				       &s->iosb, IOCTL_AFD_POLL, &s->info,
				       sizeof s->info, &s->info,
				       sizeof s->info);
	if (!NT_IS_ERROR(status))
		sock_set_in_flight(port, s, events);
	return status;
}

/* Asks for the packet of a PENDING poll early. Whatever NtCancelIoFileEx
 * says (success, or STATUS_NOT_FOUND when the poll just completed), exactly
 * one packet is still owed, so the state only changes to CANCELLED. */
static void sock_cancel(iocp_sock *s)
{
	nt_iosb cancel_iosb;

	if (*(volatile NTSTATUS *)&s->iosb.Status == NT_STATUS_PENDING) {
		iocp_count_syscall();
		NtCancelIoFileEx(s->helper->afd, &s->iosb, &cancel_iosb);
	}
	s->status = POLL_CANCELLED;
}

/* Brings the poll in line with interest & ~reported: submits when IDLE and
 * something is wanted; cancels a PENDING poll that does not ask for all of
 * it (the resubmission follows its packet). Returns an error NTSTATUS only
 * from a refused submission, which leaves the state IDLE. */
static NTSTATUS sock_update(iocp_port *port, iocp_sock *s)
{
	ULONG wanted = afd_events_for(s->interest & ~s->reported);

	if (s->dead || s->delete_pending || s->retired)
		return NT_STATUS_SUCCESS;
	if (s->status == POLL_IDLE && wanted != 0) {
		NTSTATUS status = sock_submit(port, s, wanted);
		if (status == NT_STATUS_INVALID_HANDLE)
			s->dead = 1; /* closed while no poll was in flight */
		return NT_IS_ERROR(status) ? status : NT_STATUS_SUCCESS;
	}
	if (s->status == POLL_PENDING && (wanted & ~s->pending_events) != 0)
		sock_cancel(s);
	return NT_STATUS_SUCCESS;
}

/* sock_update where no error can be returned to the caller (re-arms): a
 * refused submission is posted to the port as the state's packet, carrying
 * the status, so it surfaces as an ERROR event by the usual path. */
static void sock_update_or_report(iocp_port *port, iocp_sock *s)
{
	NTSTATUS status = sock_update(port, s);

	if (!NT_IS_ERROR(status) || s->dead)
		return;
	s->iosb.Status = status;
	iocp_count_syscall();
	if (PostQueuedCompletionStatus(port->iocp, 0, 0,
				       (OVERLAPPED *)&s->iosb))
		sock_set_in_flight(port, s, 0);
}

static void sock_rearm(iocp_port *port, iocp_sock *s, uint32_t bits)
{
	if (s->engine == IOCP_ENGINE_OVERLAPPED) {
		ovl_rearm(port, (ovl_sock *)s, bits);
		return;
	}
	s->reported &= ~(bits & DIRECTIONS);
	sock_update_or_report(port, s);
}

/* Readiness bits from the result of a completed poll of state s. */
static uint32_t sock_result(iocp_sock *s, NTSTATUS status, poll_status was)
{
	ULONG events;

	if (status == NT_STATUS_CANCELLED)
		return 0;
	if (status != NT_STATUS_SUCCESS) {
		/* A poll cancelled for a new interest is simply resubmitted. A
		 * failed one is reported once; its directions wait for a
		 * re-arm or modify, so a lasting failure cannot spin. */
		if (was == POLL_CANCELLED)
			return 0;
		s->reported |= s->interest;
		return s->interest != 0 ? IOCP_ERROR : 0;
	}
	if (s->info.NumberOfHandles < 1)
		return 0;
	events = s->info.Handles[0].Events;
	if (events & AFD_POLL_LOCAL_CLOSE) {
		s->dead = 1;
		return IOCP_CLOSED;
	}
	return s->interest != 0 ? bits_for(events, s->interest) : 0;
}

/* Handles the one packet owed by state s. Returns the bits to report (0:
 * none). May free s. */
static uint32_t sock_complete(iocp_port *port, iocp_sock *s)
{
	poll_status was = s->status;
	uint32_t bits;

	s->status = POLL_IDLE;
	s->pending_events = 0;
	port->in_flight--;

	if (s->delete_pending) {
		sock_free(port, s);
		return 0;
	}
	if (s->retired)
		return 0; /* Go's delete frees it */
	bits = sock_result(s, s->iosb.Status, was);
	if (s->dead)
		return bits & IOCP_CLOSED;
	s->reported |= bits & DIRECTIONS;
	sock_update_or_report(port, s);
	return bits;
}

/* ---- port ---- */

/* Turns one dequeued packet into at most one record. */
static int port_dispatch(iocp_port *port, const OVERLAPPED_ENTRY *e,
			 iocp_event *ev)
{
	uint64_t key = e->lpCompletionKey;
	iocp_sock *s;
	uint32_t bits;

	if (key & IOCP_WAKE_KEY_BIT) {
		ev->id = key & ~IOCP_WAKE_KEY_BIT;
		ev->bits = IOCP_READABLE;
		ev->reserved = 0;
		return ev->id != 0;
	}
	if (e->lpOverlapped == NULL)
		return 0;
	if (key == OVL_KEY) {
		ovl_dispatch(port, e); /* its records come from ovl_emit */
		return 0;
	}
	s = container_of(e->lpOverlapped, iocp_sock, iosb);
	if (s->status == POLL_IDLE)
		return 0; /* owes nothing: not one of our packets */
	bits = sock_complete(port, s);
	if (bits == 0)
		return 0; /* s may be freed */
	ev->id = s->id;
	ev->bits = bits;
	ev->reserved = 0;
	return 1;
}

/* Dequeues until no packet is owed. Only for iocp_port_close: no other
 * caller may use the port, so the lock is not needed. */
static int port_drain(iocp_port *port)
{
	OVERLAPPED_ENTRY entries[WAIT_BATCH];
	ULONG n, i;
	iocp_sock *s;

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
			if (entries[i].lpCompletionKey == OVL_KEY) {
				ovl_drain_one(port, &entries[i]);
				continue;
			}
			s = container_of(entries[i].lpOverlapped, iocp_sock,
					 iosb);
			if (s->status == POLL_IDLE)
				continue;
			s->status = POLL_IDLE;
			port->in_flight--;
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
	port = alloc_counted(sizeof *port);
	if (port == NULL) {
		WSACleanup();
		return ERROR_NOT_ENOUGH_MEMORY;
	}
	port->iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (port->iocp == NULL) {
		err = (int)GetLastError();
		free_counted(port);
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
	iocp_sock *s;
	helper *h;
	int err;

	AcquireSRWLockExclusive(&port->lock);
	for (s = port->socks; s != NULL; s = s->next)
		if (s->status == POLL_PENDING)
			sock_cancel(s);
	ovl_cancel_all(port);
	ReleaseSRWLockExclusive(&port->lock);

	/* Until every owed packet is in, the kernel may still write into the
	 * states: on failure leak them rather than free them. */
	err = port_drain(port);
	if (err != 0)
		return err;

	while (port->socks != NULL)
		sock_free(port, port->socks);
	ovl_free_all(port);
	while ((h = port->helpers) != NULL) {
		port->helpers = h->next;
		CloseHandle(h->afd);
		free_counted(h);
	}
	CloseHandle(port->iocp);
	free_counted(port);
	WSACleanup();
	return 0;
}

int iocp_engine_for(uintptr_t socket)
{
	SOCKET base;
	int err = is_socket((SOCKET)socket);

	if (err != 0)
		return -err;
	err = base_socket((SOCKET)socket, &base);
	if (err == 0)
		return (int)IOCP_ENGINE_AFD;
	return base_error_is_layered(err) ? (int)IOCP_ENGINE_OVERLAPPED : -err;
}

void iocp_test_switches(int fail_base_query, int skip_mode)
{
	InterlockedExchange(&test_base_error, fail_base_query);
	InterlockedExchange(&ovl_test_skip_mode, skip_mode);
}

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
	iocp_sock *s;
	SOCKET base = INVALID_SOCKET;
	int err;

	err = is_socket((SOCKET)socket);
	if (err != 0)
		return err;
	/* The engine: AFD when it can see the base socket, unless told
	 * otherwise; the overlapped engine when a layered provider hides it.
	 * Any other failure fails the registration and binds nothing. */
	if (!(flags & IOCP_ADD_OVERLAPPED) && connect_addr == NULL) {
		err = base_socket((SOCKET)socket, &base);
		if (err != 0 && !base_error_is_layered(err))
			return err;
	}
	if ((flags & IOCP_ADD_OVERLAPPED) || connect_addr != NULL || err != 0)
		return ovl_add(port, (SOCKET)socket, id, interest, flags,
			       connect_addr, connect_addr_len, sock_out,
			       engine_out);
	*engine_out = IOCP_ENGINE_AFD;
	s = alloc_counted(sizeof *s);
	if (s == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	s->engine = IOCP_ENGINE_AFD;
	s->base = base;
	s->id = id;
	s->interest = interest & DIRECTIONS;

	AcquireSRWLockExclusive(&port->lock);
	err = helper_acquire(port, &s->helper);
	if (err == 0) {
		sock_link(port, s);
		err = nt_error(sock_update(port, s));
		if (err != 0)
			sock_free(port, s); /* refused: still IDLE */
	} else {
		free_counted(s);
	}
	ReleaseSRWLockExclusive(&port->lock);

	if (err == 0)
		*sock_out = (uintptr_t)s;
	return err;
}

int iocp_sock_modify(uintptr_t port_handle, uintptr_t sock, uint64_t id,
		     uint32_t interest)
{
	iocp_port *port = (iocp_port *)port_handle;
	iocp_sock *s = (iocp_sock *)sock;
	int err;

	AcquireSRWLockExclusive(&port->lock);
	if (ENGINE_OF(sock) == IOCP_ENGINE_OVERLAPPED) {
		err = ovl_modify(port, (ovl_sock *)sock, id, interest);
		ReleaseSRWLockExclusive(&port->lock);
		return err;
	}
	s->id = id;
	s->interest = interest & DIRECTIONS;
	s->reported = 0;
	err = nt_error(sock_update(port, s));
	ReleaseSRWLockExclusive(&port->lock);
	return err;
}

static void sock_apply(iocp_port *port, iocp_sock *s, uint32_t bits);

int iocp_sock_rearm(uintptr_t port_handle, uintptr_t sock, uint32_t bits)
{
	iocp_port *port = (iocp_port *)port_handle;

	AcquireSRWLockExclusive(&port->lock);
	sock_apply(port, (iocp_sock *)sock, bits);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

/* Hands s to C: freed now when idle, else when its packet is dequeued.
 * linger (IOCP_REARM_LINGER) concerns overlapped-engine states only. */
static void sock_delete(iocp_port *port, iocp_sock *s, int linger)
{
	if (s->engine == IOCP_ENGINE_OVERLAPPED) {
		ovl_delete(port, (ovl_sock *)s, linger);
		return;
	}
	if (s->status == POLL_IDLE) {
		sock_free(port, s);
	} else {
		if (s->status == POLL_PENDING)
			sock_cancel(s);
		s->delete_pending = 1;
	}
}

/* Stops s without freeing it (iocp_sock_retire). Overlapped-engine states
 * are deleted at once (iocp_ovl_delete), never retired. */
static void sock_retire(iocp_sock *s)
{
	if (s->engine == IOCP_ENGINE_OVERLAPPED)
		return;
	if (s->status == POLL_PENDING)
		sock_cancel(s);
	s->retired = 1;
}

/* One iocp_rearm entry (or iocp_sock_rearm): a delete, a handover of an
 * overlapped-engine SOCKET, or a re-arm. */
static void sock_apply(iocp_port *port, iocp_sock *s, uint32_t bits)
{
	if (bits & IOCP_REARM_DELETE)
		sock_delete(port, s, (bits & IOCP_REARM_LINGER) != 0);
	else if (bits & IOCP_REARM_HANDOVER)
		ovl_handover(port, (ovl_sock *)s);
	else
		sock_rearm(port, s, bits);
}

int iocp_sock_delete(uintptr_t port_handle, uintptr_t sock)
{
	iocp_port *port = (iocp_port *)port_handle;

	AcquireSRWLockExclusive(&port->lock);
	sock_delete(port, (iocp_sock *)sock, 0);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

int iocp_sock_retire(uintptr_t port_handle, uintptr_t sock, uint32_t bits)
{
	iocp_port *port = (iocp_port *)port_handle;

	AcquireSRWLockExclusive(&port->lock);
	(void)bits;
	sock_retire((iocp_sock *)sock);
	ReleaseSRWLockExclusive(&port->lock);
	return 0;
}

int iocp_wait(uintptr_t port_handle, const iocp_rearm *rearms, int n_rearms,
	      iocp_event *out, int cap, uint32_t timeout_ms, int *n_out)
{
	iocp_port *port = (iocp_port *)port_handle;
	OVERLAPPED_ENTRY entries[WAIT_BATCH];
	ULONG n = 0, i, max;
	DWORD err = 0;
	int emitted;

	*n_out = 0;
	if (cap <= 0 || n_rearms < 0)
		return ERROR_INVALID_PARAMETER;

	AcquireSRWLockExclusive(&port->lock);
	for (i = 0; i < (ULONG)n_rearms; i++) {
		sock_apply(port, (iocp_sock *)rearms[i].sock, rearms[i].bits);
	}
	port->ovl_inside = 1;
	ovl_reap(port);
	/* Overlapped-engine states already ready are reported first, but
	 * never more than cap - 1: every wait dequeues at least one packet,
	 * so ready states cannot starve the port (its AFD results, completion
	 * packets and wakes). With records already taken the dequeue only
	 * collects what is queued, without waiting. */
	emitted = ovl_emit(port, out, cap - 1);
	/* Nor can the port starve them (with a capacity of 1, a packet with
	 * a record at every wait): when the last wait's records went to the
	 * port with states still ready, this one is theirs. */
	if (port->ovl_turn) {
		port->ovl_turn = 0;
		if (emitted == 0)
			emitted = ovl_emit(port, out, cap);
		if (emitted == cap) {
			port->ovl_inside = 0;
			ReleaseSRWLockExclusive(&port->lock);
			*n_out = emitted;
			return 0;
		}
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
	emitted += ovl_emit(port, out + emitted, cap - emitted);
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
