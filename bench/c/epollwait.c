/* epollwait: the C peer of cmd/waitbench. n eventfds registered
 * edge-triggered with one epoll instance, each written before every
 * epoll_wait (a new edge), and only epoll_wait with a pass over the events
 * it returned timed. Prints ns per event. Usage: epollwait -n N -events E */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
	long n = 64, total = 1000000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-n") == 0) n = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-events") == 0) total = atol(argv[i + 1]);
	}
	if (n < 1 || total < 1) {
		fprintf(stderr, "usage: epollwait -n N -events E\n");
		return 2;
	}
	long iters = (total + n - 1) / n;
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	int *fds = calloc(n, sizeof *fds);
	struct epoll_event *evs = calloc(n, sizeof *evs);
	if (epfd < 0 || !fds || !evs) { perror("setup"); return 1; }
	for (long i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)i};
		if (fds[i] < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) { perror("eventfd"); return 1; }
	}
	uint64_t one = 1, sink = 0;
	int64_t elapsed = 0;
	for (long it = -iters / 10; it < iters; it++) {
		for (long i = 0; i < n; i++)
			if (write(fds[i], &one, sizeof one) < 0) { perror("write"); return 1; }
		int64_t t0 = now_ns();
		int got = epoll_wait(epfd, evs, (int)n, 0);
		for (int i = 0; i < got; i++)
			if (evs[i].events & EPOLLIN) sink += evs[i].data.u64;
		int64_t d = now_ns() - t0;
		if (got != n) { fprintf(stderr, "wait %ld: %d events, want %ld\n", it, got, n); return 1; }
		if (it >= 0) elapsed += d;
	}
	printf("ns_per_event=%.2f n=%ld waits=%ld sink=%llu\n", (double)elapsed / ((double)iters * n), n, iters,
	       (unsigned long long)sink);
	return 0;
}
