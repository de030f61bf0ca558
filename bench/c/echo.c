/* echo: the C floor of the echo table. One thread, one epoll instance,
 * edge-triggered like poller: read until a short read (a later arrival is a
 * new edge, as examples/echo assumes too), write the bytes straight back, and
 * keep what the socket did not take for EPOLLOUT, sent with writev ahead of
 * newer bytes. Nothing here is what a Go program could skip: it is the
 * system calls an echo must make, and what this machine charges for them.
 *
 * Speaks the driver's stats protocol (bench/internal/stats) on stdin with
 * -stats: every line is answered with "stats echoed=N conns=N ...", and the
 * end of stdin ends the program.
 * Usage: echo -addr HOST:PORT [-stats] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 256

/* One connection. pending holds bytes read but not yet written back; while
 * it is non-empty the connection also waits for EPOLLOUT. */
struct conn {
	int fd;
	char *pending;
	size_t plen, pcap;
};

static long long echoed;
static int live;
static char buf[BUF_SIZE];

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int listen_on(const char *addr) {
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
		fprintf(stderr, "echo: bad -addr %s\n", addr);
		exit(2);
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "echo: bad host %s\n", host);
		exit(2);
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0) die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
	if (listen(fd, 4096) < 0) die("listen");
	return fd;
}

static void conn_close(int ep, struct conn *c) {
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->pending);
	free(c);
	live--;
}

static void watch_out(int ep, struct conn *c, int on) {
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Keeps p[0:n] behind what is already pending. */
static int keep(struct conn *c, const char *p, size_t n) {
	if (c->plen + n > c->pcap) {
		size_t cap = c->pcap ? c->pcap : 4096;
		while (cap < c->plen + n) cap *= 2;
		char *np = realloc(c->pending, cap);
		if (np == NULL) return -1;
		c->pending = np;
		c->pcap = cap;
	}
	memcpy(c->pending + c->plen, p, n);
	c->plen += n;
	return 0;
}

/* Writes pending bytes, then p[0:n], in one writev; keeps the rest. Returns
 * -1 when the connection is broken. */
static int send_all(int ep, struct conn *c, const char *p, size_t n) {
	struct iovec iov[2];
	int cnt = 0;
	size_t total = c->plen + n;
	if (c->plen > 0) iov[cnt++] = (struct iovec){c->pending, c->plen};
	if (n > 0) iov[cnt++] = (struct iovec){(void *)p, n};
	if (cnt == 0) return 0;
	ssize_t w = cnt == 1 ? write(c->fd, iov[0].iov_base, iov[0].iov_len) : writev(c->fd, iov, cnt);
	if (w < 0) {
		if (errno != EAGAIN) return -1;
		w = 0;
	}
	size_t done = (size_t)w;
	int had = c->plen > 0;
	if (done >= c->plen) {
		size_t from_p = done - c->plen;
		c->plen = 0;
		if (keep(c, p + from_p, n - from_p) < 0) return -1;
	} else {
		memmove(c->pending, c->pending + done, c->plen - done);
		c->plen -= done;
		if (keep(c, p, n) < 0) return -1;
	}
	if (done < total && !had) watch_out(ep, c, 1);
	if (c->plen == 0 && had) watch_out(ep, c, 0);
	return 0;
}

static void on_readable(int ep, struct conn *c) {
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof buf);
		if (n > 0) {
			echoed += n;
			if (send_all(ep, c, buf, (size_t)n) < 0) {
				conn_close(ep, c);
				return;
			}
			if ((size_t)n < sizeof buf) return; /* short read: the next arrival is a new edge */
			continue;
		}
		if (n < 0 && errno == EAGAIN) return;
		if (n < 0 && errno == EINTR) continue;
		conn_close(ep, c); /* EOF or error */
		return;
	}
}

static void on_accept(int ep, int lfd) {
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			return; /* EAGAIN, or EMFILE and the like: the next edge retries */
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		live++;
	}
}

/* Answers every line on stdin with the counters; returns -1 at EOF. */
static int on_stdin(void) {
	static char line[256];
	ssize_t n = read(0, line, sizeof line);
	if (n <= 0) return -1;
	for (ssize_t i = 0; i < n; i++)
		if (line[i] == '\n')
			printf("stats echoed=%lld conns=%d heap=0 stack=0 mallocs=0 goroutines=1\n", echoed, live);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv) {
	const char *addr = "127.0.0.1:7009";
	int with_stats = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-addr") == 0 && i + 1 < argc) addr = argv[++i];
		else if (strcmp(argv[i], "-stats") == 0) with_stats = 1;
		else {
			fprintf(stderr, "usage: echo -addr HOST:PORT [-stats]\n");
			return 2;
		}
	}
	int lfd = listen_on(addr);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) die("epoll_create1");
	/* The listener and stdin are told apart from connections by these
	 * addresses: a connection's data.ptr is its struct conn. */
	static int lkey, skey;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &lkey};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listener");
	if (with_stats) {
		ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &skey};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl stdin");
	}
	printf("listening on %s\n", addr);
	fflush(stdout);
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR) continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			void *key = evs[i].data.ptr;
			if (key == &lkey) {
				on_accept(ep, lfd);
			} else if (key == &skey) {
				if (on_stdin() < 0) return 0; /* the driver is done with us */
			} else {
				struct conn *c = key;
				if (evs[i].events & EPOLLOUT) {
					if (send_all(ep, c, NULL, 0) < 0) {
						conn_close(ep, c);
						continue;
					}
				}
				if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(ep, c);
			}
		}
	}
}
