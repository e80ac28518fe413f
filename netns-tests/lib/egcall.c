// SPDX-License-Identifier: GPL-2.0-only
/*
 * egcall: the socket calls of a container that Python cannot make, for the
 * egress tests (netns-tests/test_egress.py, through egprobe.py, which runs it
 * in the cgroup it moved itself into). One call per run, its result printed
 * as one JSON object: "result" is "ok", a count, or the errno's name.
 *
 *   egcall sendmmsg ADDR PORT TAG [ADDR PORT TAG]...
 *	one UDP socket, one sendmmsg() of a datagram "sl:TAG" per name; the
 *	result is what sendmmsg() returned (the count sent, or the error when
 *	the first failed)
 *   egcall sendto46 ADDR PORT TAG	sendto() with a struct sockaddr_in on an
 *					IPv6 UDP socket (the kernel sends it as IPv4)
 *   egcall connect46 ADDR PORT TAG	the same through connect(), then send()
 *   egcall uring OP ADDR PORT [TAG]	through io_uring (raw syscalls, one
 *	request at a time); OP: connect (TCP), sendmsg (UDP, msg_name), send
 *	(UDP, IORING_OP_SEND with a destination address), sendzc (the same,
 *	IORING_OP_SEND_ZC), connsend (UDP: IORING_OP_CONNECT, then
 *	IORING_OP_SEND without an address; "send" is the second result),
 *	sockconnect (TCP: the socket made by IORING_OP_SOCKET in the ring's
 *	worker thread, then IORING_OP_CONNECT there too).
 *   egcall uring-moved CGROUP OP ADDR PORT [TAG]
 *	the same, but the ring's worker thread is started first (a NOP with
 *	IOSQE_ASYNC), then the process moves itself into cgroup dir CGROUP
 *	The result is the completion's res ("ok" for any count).
 *
 * Every call is bounded: a blocking TCP connect by SO_SNDTIMEO, the whole
 * run by alarm().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_MSGS	8
#define TIMEOUT_S	5

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int parse_addr(const char *host, const char *port, struct addr *a)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (strchr(host, ':')) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(atoi(port));
		a->len = sizeof(*s6);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons(atoi(port));
	a->len = sizeof(*s4);
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

/* A result: >= 0 a count (0 for a call that returns none: "ok"), < 0 an -errno. */
static void print_res(const char *key, long res, int count)
{
	if (res < 0)
		printf("\"%s\": \"%s\"", key, strerrorname_np(-res) ?: "unknown");
	else if (count)
		printf("\"%s\": %ld", key, res);
	else
		printf("\"%s\": \"ok\"", key);
}

static int udp_socket(int family)
{
	int fd = socket(family, SOCK_DGRAM, 0);

	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	return fd;
}

static int do_sendmmsg(int argc, char **argv)
{
	struct mmsghdr msgs[MAX_MSGS] = {};
	struct addr to[MAX_MSGS];
	struct iovec iov[MAX_MSGS];
	char data[MAX_MSGS][64];
	int n = argc / 3, fd, i;

	if (argc % 3 || !n || n > MAX_MSGS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (parse_addr(argv[3 * i], argv[3 * i + 1], &to[i]))
			return -EINVAL;
		snprintf(data[i], sizeof(data[i]), "sl:%s", argv[3 * i + 2]);
		iov[i].iov_base = data[i];
		iov[i].iov_len = strlen(data[i]);
		msgs[i].msg_hdr.msg_name = &to[i].ss;
		msgs[i].msg_hdr.msg_namelen = to[i].len;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	fd = udp_socket(to[0].ss.ss_family);
	i = sendmmsg(fd, msgs, n, 0);
	printf("{");
	print_res("result", i < 0 ? -errno : i, 1);
	printf("}\n");
	close(fd);
	return 0;
}

/* IPv4 names given to an IPv6 socket as struct sockaddr_in. */
static int do_46(bool conn, char **argv)
{
	struct addr to;
	char data[64];
	int fd, r;

	if (parse_addr(argv[0], argv[1], &to) || to.ss.ss_family != AF_INET)
		return -EINVAL;
	snprintf(data, sizeof(data), "sl:%s", argv[2]);
	fd = udp_socket(AF_INET6);
	if (conn)
		r = connect(fd, (struct sockaddr *)&to.ss, to.len) ?: send(fd, data, strlen(data), 0);
	else
		r = sendto(fd, data, strlen(data), 0, (struct sockaddr *)&to.ss, to.len);
	printf("{");
	print_res("result", r < 0 ? -errno : 0, 0);
	printf("}\n");
	close(fd);
	return 0;
}

/* ---- io_uring, raw: one ring, one request in flight ---- */

struct ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r)
{
	struct io_uring_params p = {};
	size_t sq_len, cq_len;
	char *sq, *cq;

	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -errno;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP))
		return -ENOSYS;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (cq_len > sq_len)
		sq_len = cq_len;
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		  IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	cq = sq;
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		return -errno;
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* The res of the next completion (waits for it), its flags in *FLAGS. */
static int ring_wait(struct ring *r, unsigned int *flags)
{
	unsigned int head = *r->cq_head;
	const struct io_uring_cqe *c;
	int res;

	while (head == atomic_load_explicit((_Atomic unsigned int *)r->cq_tail,
					    memory_order_acquire)) {
		if (syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 &&
		    errno != EINTR) {
			perror("io_uring_enter");
			exit(1);
		}
	}
	c = &r->cqes[head & *r->cq_mask];
	res = c->res;
	*flags = c->flags;
	atomic_store_explicit((_Atomic unsigned int *)r->cq_head, head + 1, memory_order_release);
	return res;
}

/* Submit SQE and return its completion's res (a zero-copy send's notification waited for). */
static int ring_call(struct ring *r, const struct io_uring_sqe *sqe)
{
	unsigned int tail = *r->sq_tail, i = tail & *r->sq_mask, flags;
	int res;

	r->sqes[i] = *sqe;
	r->sq_array[i] = i;
	atomic_store_explicit((_Atomic unsigned int *)r->sq_tail, tail + 1, memory_order_release);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0) != 1)
		return -errno;
	res = ring_wait(r, &flags);
	if (flags & IORING_CQE_F_MORE)
		ring_wait(r, &flags);
	return res;
}

/* Move this process into cgroup dir CG (as egprobe's "move" does). */
static void move_to(const char *cg)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static int do_uring(char **argv, int argc, const char *moved)
{
	const char *op = argv[0];
	bool made = !strcmp(op, "sockconnect"), tcp = made || !strcmp(op, "connect");
	struct io_uring_sqe sqe = {};
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	struct msghdr msg = {};
	struct iovec iov;
	struct ring ring;
	struct addr to;
	char data[64];
	int fd, res;

	if (argc < 3 + !tcp || parse_addr(argv[1], argv[2], &to))
		return -EINVAL;
	snprintf(data, sizeof(data), "sl:%s", tcp ? "" : argv[3]);
	res = ring_setup(&ring);
	if (res) {
		printf("{\"result\": \"setup\", \"errno\": \"%s\"}\n", strerrorname_np(-res));
		return 0;
	}
	if (moved) {
		/* a worker thread of the ring started before the move */
		sqe.opcode = IORING_OP_NOP;
		sqe.flags = IOSQE_ASYNC;
		ring_call(&ring, &sqe);
		memset(&sqe, 0, sizeof(sqe));
		move_to(moved);
	}
	if (made) {
		/* the socket made by the ring's worker thread (IOSQE_ASYNC), not the caller */
		sqe.opcode = IORING_OP_SOCKET;
		sqe.flags = IOSQE_ASYNC;
		sqe.fd = to.ss.ss_family;
		sqe.off = SOCK_STREAM;
		fd = ring_call(&ring, &sqe);
		memset(&sqe, 0, sizeof(sqe));
		sqe.flags = IOSQE_ASYNC;
	} else {
		fd = socket(to.ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	}
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		fprintf(stderr, "socket: %s\n", strerror(fd < 0 && made ? -fd : errno));
		exit(1);
	}
	sqe.fd = fd;
	if (tcp || !strcmp(op, "connsend")) {
		sqe.opcode = IORING_OP_CONNECT;
		sqe.addr = (uintptr_t)&to.ss;
		sqe.off = to.len;
	} else if (!strcmp(op, "sendmsg")) {
		iov.iov_base = data;
		iov.iov_len = strlen(data);
		msg.msg_name = &to.ss;
		msg.msg_namelen = to.len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		sqe.opcode = IORING_OP_SENDMSG;
		sqe.addr = (uintptr_t)&msg;
	} else if (!strcmp(op, "send") || !strcmp(op, "sendzc")) {
		sqe.opcode = op[4] ? IORING_OP_SEND_ZC : IORING_OP_SEND;
		sqe.addr = (uintptr_t)data;
		sqe.len = strlen(data);
		sqe.addr2 = (uintptr_t)&to.ss;
		sqe.addr_len = to.len;
	} else {
		return -EINVAL;
	}
	res = ring_call(&ring, &sqe);
	printf("{");
	print_res("result", res, 0);
	if (!strcmp(op, "connsend") && !res) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = IORING_OP_SEND;
		sqe.fd = fd;
		sqe.addr = (uintptr_t)data;
		sqe.len = strlen(data);
		printf(", ");
		print_res("send", ring_call(&ring, &sqe), 0);
	}
	printf("}\n");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int err = -EINVAL;

	alarm(2 * TIMEOUT_S);
	if (argc >= 2 && !strcmp(argv[1], "sendmmsg"))
		err = do_sendmmsg(argc - 2, argv + 2);
	else if (argc == 5 && !strcmp(argv[1], "connect46"))
		err = do_46(true, argv + 2);
	else if (argc == 5 && !strcmp(argv[1], "sendto46"))
		err = do_46(false, argv + 2);
	else if (argc >= 5 && !strcmp(argv[1], "uring"))
		err = do_uring(argv + 2, argc - 2, NULL);
	else if (argc >= 6 && !strcmp(argv[1], "uring-moved"))
		err = do_uring(argv + 3, argc - 3, argv[2]);
	if (err) {
		fprintf(stderr, "usage: egcall sendmmsg|sendto46|connect46|uring|uring-moved ...: %s\n",
			strerror(-err));
		return 2;
	}
	return 0;
}
