//go:build windows && cgo

/*
 * iocp_afd.c: the AFD engine of the C core. Readiness of each socket is
 * asked of the AFD driver (IOCTL_AFD_POLL, the mechanism behind select()
 * and WSAPoll()) through a few helper handles bound to the port (key 0);
 * every answer comes back as a completion packet. Ownership: iocp.h.
 *
 * The one rule everything below keeps: a state has at most one poll in
 * flight, and every poll that was accepted by the kernel produces exactly
 * one completion packet, which is handled exactly once, when it is dequeued.
 *
 * State of a socket (afd_state.status):
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
 *  - delete_pending: deleted (afd_delete) while a packet was owed; whoever
 *    dequeues that packet (iocp_wait or iocp_port_close) frees the state.
 *  - retired (afd_retire): its poll is cancelled, it is never submitted
 *    again and never reported; only the delete that follows frees it.
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
 * Locking: everything runs under the port lock (iocp.c).
 */

#include "iocp_int.h"

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

#define HELPER_MAX_SOCKETS 32 /* sockets sharing one AFD helper handle */

typedef enum poll_status { POLL_IDLE, POLL_PENDING, POLL_CANCELLED } poll_status;

/* One AFD helper handle, bound to the port with completion key 0. Owned by
 * the port; closed only by iocp_port_close (afd_free_all). `sockets` counts
 * the states (deleted or not) not yet freed that poll through it. */
struct afd_helper {
	HANDLE afd;
	unsigned sockets;
	afd_helper *next;
};

struct afd_state {
	uint32_t engine; /* IOCP_ENGINE_AFD; first in every state (ENGINE_OF) */
	/* The poll's IO_STATUS_BLOCK, also its completion context: the packet's
	 * lpOverlapped points here. The kernel's while status != POLL_IDLE. */
	nt_iosb iosb;
	/* The poll's input and output buffer; the kernel's likewise. */
	afd_poll_info info;
	afd_state *prev, *next; /* port->afd_states */
	afd_helper *helper;
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

/* Polls submitted for a state Go had deleted or retired: a bug, counted for
 * the tests (iocp_bad_submits), never expected to be other than 0. */
static volatile LONG64 bad_submits;

int64_t iocp_bad_submits(void)
{
	return InterlockedCompareExchange64(&bad_submits, 0, 0);
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

/* ---- helpers ---- */

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
static int helper_acquire(iocp_port *port, afd_helper **out)
{
	afd_helper *h;
	int err;

	for (h = port->helpers; h != NULL; h = h->next)
		if (h->sockets < HELPER_MAX_SOCKETS)
			goto found;

	h = iocp_alloc(sizeof *h);
	if (h == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	err = helper_open(port, &h->afd);
	if (err != 0) {
		iocp_free(h);
		return err;
	}
	h->next = port->helpers;
	port->helpers = h;
found:
	h->sockets++;
	*out = h;
	return 0;
}

/* ---- the base socket ---- */

volatile LONG afd_test_base_error;

/* One BSP ioctl on s: the socket it names, or INVALID_SOCKET with *err. */
static SOCKET bsp_ioctl(SOCKET s, DWORD ioctl, int *err)
{
	SOCKET out = INVALID_SOCKET;
	DWORD bytes;

	if (afd_test_base_error < 0) { /* a provider that hides the base socket */
		if (ioctl != SIO_BASE_HANDLE)
			return s; /* and answers BSP with its own handle */
		*err = -afd_test_base_error;
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
 * (afd_unpollable). The caller has checked that s is a socket. */
int afd_base_socket(SOCKET s, SOCKET *base_out)
{
	static const DWORD bsp[] = {SIO_BSP_HANDLE_POLL, SIO_BSP_HANDLE_SELECT};
	SOCKET base, below;
	int err = 0, err2, depth;
	size_t i;

	if (afd_test_base_error > 0)
		return afd_test_base_error;
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
int afd_unpollable(int err)
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

/* ---- the state machine ---- */

static void state_link(iocp_port *port, afd_state *s)
{
	s->prev = NULL;
	s->next = port->afd_states;
	if (port->afd_states != NULL)
		port->afd_states->prev = s;
	port->afd_states = s;
}

/* Only for an IDLE state: the kernel no longer holds any part of it. */
static void state_free(iocp_port *port, afd_state *s)
{
	IOCP_CHECK(s->status == POLL_IDLE);
	IOCP_CHECK(s->helper->sockets > 0);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		port->afd_states = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->helper->sockets--;
	iocp_free(s);
}

/* IDLE -> PENDING: the state owes a packet. */
static void set_in_flight(iocp_port *port, afd_state *s, ULONG events)
{
	IOCP_CHECK(s->status == POLL_IDLE);
	s->status = POLL_PENDING;
	s->pending_events = events;
	port->in_flight++;
}

/* PENDING or CANCELLED -> IDLE: its packet is in. */
static poll_status set_idle(iocp_port *port, afd_state *s)
{
	poll_status was = s->status;

	IOCP_CHECK(was != POLL_IDLE);
	IOCP_CHECK(port->in_flight > 0);
	s->status = POLL_IDLE;
	s->pending_events = 0;
	port->in_flight--;
	return was;
}

/* Submits a poll for `events` on an IDLE state. Returns the NTSTATUS of the
 * submission; on anything but an error status a packet is owed (also when
 * the poll completed at once), so the state is PENDING. */
static NTSTATUS submit(iocp_port *port, afd_state *s, ULONG events)
{
	NTSTATUS status;

	IOCP_CHECK(s->status == POLL_IDLE && !s->dead);
	IOCP_CHECK(!s->delete_pending && !s->retired);
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
		set_in_flight(port, s, events);
	return status;
}

/* PENDING -> CANCELLED: asks for the packet early. Whatever
 * NtCancelIoFileEx says (success, or STATUS_NOT_FOUND when the poll just
 * completed), exactly one packet is still owed. */
static void cancel(afd_state *s)
{
	nt_iosb cancel_iosb;

	IOCP_CHECK(s->status == POLL_PENDING);
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
static NTSTATUS update(iocp_port *port, afd_state *s)
{
	ULONG wanted = afd_events_for(s->interest & ~s->reported);

	if (s->dead || s->delete_pending || s->retired)
		return NT_STATUS_SUCCESS;
	if (s->status == POLL_IDLE && wanted != 0) {
		NTSTATUS status = submit(port, s, wanted);
		if (status == NT_STATUS_INVALID_HANDLE)
			s->dead = 1; /* closed while no poll was in flight */
		return NT_IS_ERROR(status) ? status : NT_STATUS_SUCCESS;
	}
	if (s->status == POLL_PENDING && (wanted & ~s->pending_events) != 0)
		cancel(s);
	return NT_STATUS_SUCCESS;
}

/* update where no error can be returned to the caller (re-arms): a refused
 * submission is posted to the port as the state's packet, carrying the
 * status, so it surfaces as an ERROR event by the usual path. */
static void update_or_report(iocp_port *port, afd_state *s)
{
	NTSTATUS status = update(port, s);

	if (!NT_IS_ERROR(status) || s->dead)
		return;
	s->iosb.Status = status;
	iocp_count_syscall();
	if (PostQueuedCompletionStatus(port->iocp, 0, 0,
				       (OVERLAPPED *)&s->iosb))
		set_in_flight(port, s, 0);
}

/* Readiness bits from the result of a completed poll of state s. */
static uint32_t poll_result(afd_state *s, NTSTATUS status, poll_status was)
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
static uint32_t packet_in(iocp_port *port, afd_state *s)
{
	poll_status was = set_idle(port, s);
	uint32_t bits;

	if (s->delete_pending) {
		state_free(port, s);
		return 0;
	}
	if (s->retired)
		return 0; /* the delete frees it */
	bits = poll_result(s, s->iosb.Status, was);
	if (s->dead)
		return bits & IOCP_CLOSED;
	s->reported |= bits & DIRECTIONS;
	update_or_report(port, s);
	return bits;
}

/* ---- the engine's function set (iocp_int.h) ---- */

int afd_add(iocp_port *port, SOCKET base, uint64_t id, uint32_t interest,
	    uintptr_t *sock_out)
{
	afd_state *s;
	int err;

	s = iocp_alloc(sizeof *s);
	if (s == NULL)
		return ERROR_NOT_ENOUGH_MEMORY;
	s->engine = IOCP_ENGINE_AFD;
	s->base = base;
	s->id = id;
	s->interest = interest & DIRECTIONS;

	AcquireSRWLockExclusive(&port->lock);
	err = helper_acquire(port, &s->helper);
	if (err == 0) {
		state_link(port, s);
		err = nt_error(update(port, s));
		if (err != 0)
			state_free(port, s); /* refused: still IDLE */
	} else {
		iocp_free(s);
	}
	ReleaseSRWLockExclusive(&port->lock);

	if (err == 0)
		*sock_out = (uintptr_t)s;
	return err;
}

int afd_modify(iocp_port *port, afd_state *s, uint64_t id, uint32_t interest)
{
	IOCP_CHECK(!s->delete_pending);
	s->id = id;
	s->interest = interest & DIRECTIONS;
	s->reported = 0;
	return nt_error(update(port, s));
}

void afd_rearm(iocp_port *port, afd_state *s, uint32_t bits)
{
	IOCP_CHECK(!s->delete_pending);
	s->reported &= ~(bits & DIRECTIONS);
	update_or_report(port, s);
}

/* Freed now when idle, else when its packet is dequeued. */
void afd_delete(iocp_port *port, afd_state *s)
{
	IOCP_CHECK(!s->delete_pending);
	if (s->status == POLL_IDLE) {
		state_free(port, s);
	} else {
		if (s->status == POLL_PENDING)
			cancel(s);
		s->delete_pending = 1;
	}
}

void afd_retire(iocp_port *port, afd_state *s)
{
	(void)port;
	IOCP_CHECK(!s->delete_pending);
	if (s->status == POLL_PENDING)
		cancel(s);
	s->retired = 1;
}

int afd_complete(iocp_port *port, const OVERLAPPED_ENTRY *e, iocp_event *ev)
{
	afd_state *s = container_of(e->lpOverlapped, afd_state, iosb);
	uint32_t bits;

	if (s->status == POLL_IDLE)
		return 0; /* owes nothing: not one of our packets */
	bits = packet_in(port, s);
	if (bits == 0)
		return 0; /* s may be freed */
	ev->id = s->id;
	ev->bits = bits;
	ev->reserved = 0;
	return 1;
}

void afd_cancel_all(iocp_port *port)
{
	afd_state *s;

	for (s = port->afd_states; s != NULL; s = s->next)
		if (s->status == POLL_PENDING)
			cancel(s);
}

void afd_drain_one(iocp_port *port, const OVERLAPPED_ENTRY *e)
{
	afd_state *s = container_of(e->lpOverlapped, afd_state, iosb);

	if (s->status != POLL_IDLE)
		set_idle(port, s);
}

void afd_free_all(iocp_port *port)
{
	afd_helper *h;

	IOCP_CHECK(port->in_flight == 0);
	while (port->afd_states != NULL)
		state_free(port, port->afd_states);
	while ((h = port->helpers) != NULL) {
		IOCP_CHECK(h->sockets == 0);
		port->helpers = h->next;
		CloseHandle(h->afd);
		iocp_free(h);
	}
}
