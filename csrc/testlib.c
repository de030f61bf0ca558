/*
 * testlib.c: the harness shared by csrc/core_test.c and csrc/ovl_test.c
 * (see testlib.h). Linked into both test programs.
 */

#include "testlib.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

int test_failures;

/* ---- sockets ---- */

SOCKET new_socket(int type)
{
	SOCKET s = WSASocketW(AF_INET, type,
			      type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP,
			      NULL, 0, WSA_FLAG_OVERLAPPED);
	u_long on = 1;

	CHECK(s != INVALID_SOCKET);
	CHECK_OK(ioctlsocket(s, FIONBIO, &on));
	return s;
}

void loopback(struct sockaddr_in *addr, int port)
{
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr->sin_port = htons((u_short)port);
}

SOCKET listener(struct sockaddr_in *addr)
{
	SOCKET l = new_socket(SOCK_STREAM);
	int len = sizeof *addr;

	loopback(addr, 0);
	CHECK_OK(bind(l, (struct sockaddr *)addr, sizeof *addr));
	CHECK_OK(listen(l, 64));
	CHECK_OK(getsockname(l, (struct sockaddr *)addr, &len));
	return l;
}

SOCKET accept_wait(SOCKET l)
{
	ULONGLONG deadline = GetTickCount64() + 5000;
	SOCKET s;

	while ((s = accept(l, NULL, NULL)) == INVALID_SOCKET &&
	       WSAGetLastError() == WSAEWOULDBLOCK &&
	       GetTickCount64() < deadline)
		Sleep(2);
	CHECK(s != INVALID_SOCKET);
	return s;
}

void tcp_pair(SOCKET *c, SOCKET *s)
{
	struct sockaddr_in addr;
	SOCKET l = listener(&addr);
	int rc;

	*c = new_socket(SOCK_STREAM);
	rc = connect(*c, (struct sockaddr *)&addr, sizeof addr);
	CHECK(rc == 0 || WSAGetLastError() == WSAEWOULDBLOCK);
	*s = accept_wait(l);
	closesocket(l);
	Sleep(10);
}

void send_bytes(SOCKET s, const char *p, int n)
{
	CHECK_EQ(send(s, p, n, 0), n);
}

void send_byte(SOCKET s)
{
	send_bytes(s, "x", 1);
}

int drain(SOCKET s)
{
	char buf[65536];
	int n, total = 0;

	while ((n = recv(s, buf, sizeof buf, 0)) > 0)
		total += n;
	CHECK(n < 0 && WSAGetLastError() == WSAEWOULDBLOCK);
	return total;
}

void close_reset(SOCKET s)
{
	struct linger lg = {1, 0};

	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_LINGER, (char *)&lg, sizeof lg));
	closesocket(s);
}

/* ---- waiting ---- */

seen collect(uintptr_t port, uint64_t id, DWORD ms, int stop)
{
	ULONGLONG deadline = GetTickCount64() + ms;
	iocp_event ev[16];
	seen r = {0, 0, 0};
	int n, i;

	for (;;) {
		ULONGLONG now = GetTickCount64();
		DWORD left = now >= deadline ? 0 : (DWORD)(deadline - now);

		CHECK_OK(iocp_wait(port, NULL, 0, ev, 16, left, &n));
		for (i = 0; i < n; i++) {
			if (ev[i].id == id) {
				r.records++;
				r.bits |= ev[i].bits;
			} else {
				r.others++;
			}
		}
		if ((stop && r.records > 0) || left == 0)
			return r;
	}
}

seen wait_for(uintptr_t port, uint64_t id)
{
	return collect(port, id, 5000, 1);
}

int quiet(uintptr_t port, DWORD ms)
{
	seen r = collect(port, 0, ms, 0);
	return r.records + r.others;
}

uintptr_t open_port(void)
{
	uintptr_t port = 0;
	CHECK_OK(iocp_port_open(&port));
	return port;
}

void finish_pair(uintptr_t port, uintptr_t h, SOCKET c, SOCKET s)
{
	CHECK_OK(iocp_sock_delete(port, h));
	CHECK_OK(iocp_port_close(port));
	closesocket(c);
	closesocket(s);
}

static DWORD WINAPI waiter_main(void *arg)
{
	waiter *w = arg;
	w->rc = iocp_wait(w->port, NULL, 0, w->ev, 8, w->timeout_ms, &w->n);
	return 0;
}

HANDLE start_waiter(waiter *w)
{
	return CreateThread(NULL, 0, waiter_main, w, 0, NULL);
}

/* ---- leaks ---- */

/* The system handle table (NtQuerySystemInformation class 16). */
typedef struct sys_handle {
	ULONG pid;
	BYTE type;
	BYTE flags;
	USHORT value;
	PVOID object;
	ULONG access;
} sys_handle;

typedef struct sys_handles {
	ULONG count;
	sys_handle handles[1];
} sys_handles;

__declspec(dllimport) LONG NTAPI NtQuerySystemInformation(int info_class,
							  PVOID buf, ULONG len,
							  ULONG *ret_len);

static DWORD handle_count_from_system(void)
{
	ULONG size = 1 << 20, i;
	DWORD n = 0, pid = GetCurrentProcessId();
	sys_handles *t;
	LONG status;

	for (;;) {
		t = malloc(size);
		if (t == NULL)
			return 0;
		status = NtQuerySystemInformation(16, t, size, NULL);
		if (status != (LONG)0xC0000004L) /* INFO_LENGTH_MISMATCH */
			break;
		free(t);
		size *= 2;
	}
	for (i = 0; status == 0 && i < t->count; i++)
		n += t->handles[i].pid == pid;
	free(t);
	return n;
}

DWORD handle_count(void)
{
	DWORD n = 0;

	if (!GetProcessHandleCount(GetCurrentProcess(), &n) || n == 0)
		n = handle_count_from_system();
	return n;
}

/* ---- runner ---- */

static DWORD handles; /* the count every test is held to */
static int passed, failed;

static void tally(void)
{
	if (test_failures)
		failed++;
	else
		passed++;
}

int tests_start(test_add_fn add)
{
	WSADATA wsa;
	SOCKET c, s;
	uintptr_t port;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
		printf("WSAStartup failed\n");
		return 2;
	}
	port = open_port();
	tcp_pair(&c, &s);
	iocp_sock_delete(port, add(port, s, 1, IOCP_READABLE));
	iocp_port_close(port);
	closesocket(c);
	closesocket(s);
	handles = handle_count();
	return 0;
}

void tests_run(const test *tests, size_t n, const char *filter,
	       const char *variant)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ULONGLONG t0 = GetTickCount64();

		if (filter != NULL && strstr(tests[i].name, filter) == NULL)
			continue;
		test_failures = 0;
		tests[i].fn();
		if (iocp_live_allocs() != 0) {
			printf("    FAIL: %lld C allocations left\n",
			       (long long)iocp_live_allocs());
			test_failures++;
		}
		if (handle_count() != handles) {
			printf("    FAIL: %lu handles, %lu before\n",
			       (unsigned long)handle_count(),
			       (unsigned long)handles);
			test_failures++;
		}
		printf("%s %s%s%s (%llu ms)\n", test_failures ? "FAIL" : "ok  ",
		       tests[i].name, variant != NULL ? "/" : "",
		       variant != NULL ? variant : "", GetTickCount64() - t0);
		tally();
	}
}

int tests_finish(void)
{
	test_failures = 0;
	CHECK(handles > 0);
	CHECK_EQ(_heapchk(), _HEAPOK);
	CHECK_EQ(iocp_live_allocs(), 0);
	CHECK_EQ(iocp_live_bytes(), 0);
	CHECK_EQ(handle_count(), handles);
	printf("%s leaks (allocs %lld, bytes %lld, handles %lu -> %lu)\n",
	       test_failures ? "FAIL" : "ok  ", (long long)iocp_live_allocs(),
	       (long long)iocp_live_bytes(), (unsigned long)handles,
	       (unsigned long)handle_count());
	tally();

	WSACleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
