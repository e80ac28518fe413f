// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket's connections (docs/control.md): one request in, one
 * answer out, then close (or, after `monitor`, the connection goes to
 * events.c). No client can hold the agent's one event loop:
 *
 *   - requests are read without blocking, up to 1 MiB, within CTL_READ_MS;
 *   - an answer is sent from a buffer of its own as the client reads it
 *     (EPOLLOUT), and a client that has not read all of it within
 *     CTL_SEND_MS is dropped;
 *   - at most CTL_MAX_CONNS connections: one more makes room by closing the
 *     oldest that has not sent its request yet (a flood of idle connections
 *     cannot lock the CLI out), else it is refused;
 *   - answers waiting to be read take at most CTL_MAX_QUEUED bytes in all;
 *     past that a request gets a short error answer instead of its data;
 *   - a request for a listing (ctl_listing: MBs to build for a large policy)
 *     waits, parsed, for ctl_serve, which answers those in the order they
 *     came for CTL_LIST_MS a round (one at least), between the rounds of
 *     the loop: the agent's timers, reloads and every other request (a
 *     status) go first, where 64 rule lists of a 16k-rule policy held them
 *     ~8 s.
 * The commands themselves are in control.c.
 */
#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent.h"
#include "control.h"
#include "events.h"
#include "loader.h"
#include "log.h"

#define CTL_MAX_REQ	SLUICE_CTL_REQ_MAX	/* larger requests are refused */
#define CTL_READ_MS	5000		/* to send a whole request */
#define CTL_SEND_MS	10000		/* to read a whole answer */
#define CTL_MAX_CONNS	64
#define CTL_MAX_QUEUED	(256u << 20)	/* answer bytes not read yet, all connections */
#define CTL_BACKLOG	64
#define CTL_LIST_MS	20		/* listings answered per round, at least one */

struct ctl_conn {
	struct ep_src src;	/* first: agent_conn_new */
	struct ctl_conn *next;	/* newest first */
	struct timespec t0;	/* accepted; once answering: when the answer began */
	char *buf;		/* the request so far */
	size_t len;
	struct json_object *req;	/* a listing's request waiting for ctl_serve, or NULL */
	unsigned long seq;	/* when it began to wait: the order ctl_serve takes */
	char *out;		/* the answer; NULL while reading the request */
	size_t out_len, out_off;
	struct json_object *monitor;	/* an accepted "monitor": events.c takes over */
};

/* Forget C but leave its fd open. */
static void conn_release(struct agent *a, struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &a->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	agent_unwatch(a, &c->src);
	if (c->out)
		a->ctl_queued -= c->out_len;
	json_object_put(c->monitor);
	json_object_put(c->req);
	free(c->buf);
	free(c->out);
	free(c);
	a->nconns--;
}

static void conn_close(struct agent *a, struct ctl_conn *c)
{
	int fd = c->src.fd;

	conn_release(a, c);
	close(fd);
}

/* Send what the client takes now; the rest when it is writable again. */
static void conn_send(struct agent *a, struct ctl_conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &c->src };
	int fd = c->src.fd;
	struct json_object *monitor;

	while (c->out_off < c->out_len) {
		ssize_t w = send(fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* the first time: from now on, wake up when it can take more */
			if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, fd, &ev)) {
				pr_warn("control: epoll: %s", strerror(errno));
				conn_close(a, c);
			}
			return;
		}
		if (w < 0) {
			pr_debug("control: cannot send the answer: %s", strerror(errno));
			conn_close(a, c);
			return;
		}
		c->out_off += (size_t)w;
	}
	if (!c->monitor) {
		conn_close(a, c);
		return;
	}
	/* the connection now carries events: events.c owns the fd */
	monitor = json_object_get(c->monitor);
	conn_release(a, c);
	events_add_client(a, fd, monitor);
	json_object_put(monitor);
}

/* Send C the answer ANS (which this puts). */
static void conn_answer(struct agent *a, struct ctl_conn *c, struct json_object *ans)
{
	static const char busy[] = "{\"ok\":false,\"error\":\"the agent holds too many answers "
				   "its clients have not read yet; try again\"}";
	const char *s = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);

	if (a->ctl_queued + n + 1 > CTL_MAX_QUEUED) {
		pr_warn("control: %zu bytes of answers wait for their clients; a %zu-byte "
			"answer is refused", a->ctl_queued, n);
		s = busy;
		n = sizeof(busy) - 1;
		json_object_put(c->monitor);
		c->monitor = NULL;
	}
	free(c->buf);
	c->buf = NULL;
	c->out = malloc(n + 1);
	if (!c->out) {
		json_object_put(ans);
		conn_close(a, c);
		return;
	}
	memcpy(c->out, s, n);
	c->out[n] = '\n';
	c->out_len = n + 1;
	a->ctl_queued += c->out_len;
	json_object_put(ans);
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	conn_send(a, c);
}

/* The request C->BUF[0..LEN) is read: answered now, or a listing's waits for ctl_serve. */
static void conn_request(struct agent *a, struct ctl_conn *c, size_t len)
{
	static unsigned long seq;
	struct json_object *in;
	char err[2048];
	int ret = ctl_parse_request(c->buf, len, &in, err, sizeof(err));

	if (ret) {
		conn_answer(a, c, ctl_refused(ret, err));
		return;
	}
	if (!ctl_listing(in)) {
		conn_answer(a, c, ctl_run(a, in, &c->monitor));
		return;
	}
	/* the fd has nothing more to say until the answer: not watched meanwhile */
	agent_unwatch(a, &c->src);
	c->req = in;
	c->seq = ++seq;
}

void ctl_serve(struct agent *a)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct ctl_conn *c, *first = NULL;
		struct json_object *in;

		for (c = a->conns; c; c = c->next)
			if (c->req && (!first || c->seq < first->seq))
				first = c;
		if (!first)
			return;
		/* watched again: conn_send waits for room through it */
		if (agent_watch(a, &first->src, EPOLLIN)) {
			conn_close(a, first);
			continue;
		}
		c = first;
		in = c->req;
		c->req = NULL;
		conn_answer(a, c, ctl_run(a, in, &c->monitor));
	} while (agent_ms_since(&t0) < CTL_LIST_MS);
}

bool ctl_waiting(const struct agent *a)
{
	for (const struct ctl_conn *c = a->conns; c; c = c->next)
		if (c->req)
			return true;
	return false;
}

static void conn_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct ctl_conn *c = (struct ctl_conn *)((char *)src - offsetof(struct ctl_conn, src));
	char *nl;
	ssize_t n;

	(void)events;
	if (c->out) {
		conn_send(a, c);
		return;
	}
	for (;;) {
		char *v = realloc(c->buf, c->len + 65536 + 1);

		if (!v) {
			conn_close(a, c);
			return;
		}
		c->buf = v;
		n = read(c->src.fd, c->buf + c->len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_close(a, c);
			return;
		}
		c->buf[c->len + n] = '\0';
		nl = memchr(c->buf + c->len, '\n', n);
		c->len += n;
		if (nl) {
			conn_request(a, c, nl - c->buf);
			return;
		}
		if (c->len > CTL_MAX_REQ) {
			static const char msg[] = "{\"ok\":false,\"error\":\"request larger than 1 MiB\"}\n";

			if (send(c->src.fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("control: cannot send the answer: %s", strerror(errno));
			conn_close(a, c);
			return;
		}
		if (n == 0) {
			/* end of input without '\n': take what came as the request */
			if (c->len)
				conn_request(a, c, c->len);
			else
				conn_close(a, c);
			return;
		}
	}
}

/* At the cap: close the oldest connection still without a request; false when none is. */
static bool make_room(struct agent *a)
{
	struct ctl_conn *c, *oldest = NULL;

	for (c = a->conns; c; c = c->next)
		if (!c->out && !c->req)
			oldest = c;
	if (!oldest)
		return false;
	pr_debug("control: %d connections open; closing the oldest idle one", CTL_MAX_CONNS);
	conn_close(a, oldest);
	return true;
}

static void listen_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	static const char no_fds[] = "{\"ok\":false,\"error\":\"the agent is out of file "
				     "descriptors (see its log); try again\"}\n";
	struct ctl_conn *c;
	int fd;

	(void)src;
	(void)events;
	/* out of fds, one client a round is refused (the rest wait for the next) */
	while ((fd = agent_accept(a, a->ctl_fd, NULL, NULL, no_fds, sizeof(no_fds) - 1)) >= 0) {
		if (a->nconns >= CTL_MAX_CONNS && !make_room(a)) {
			pr_debug("control: %d answers are being sent; refusing a connection",
				 CTL_MAX_CONNS);
			close(fd);
			continue;
		}
		c = agent_conn_new(a, fd, sizeof(*c), conn_ready);
		if (!c)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &c->t0);
		c->next = a->conns;
		a->conns = c;
		a->nconns++;
	}
}

int ctl_expire(struct agent *a)
{
	struct ctl_conn *c = a->conns, *next;
	long next_ms = -1;

	for (; c; c = next) {
		long limit = c->out ? CTL_SEND_MS : CTL_READ_MS;
		long ms = agent_ms_since(&c->t0);

		next = c->next;
		/* a listing's request, read: ctl_serve's to answer */
		if (c->req)
			continue;
		if (ms > limit) {
			if (c->out)
				pr_warn("control: a client read %zu of the %zu bytes of its answer "
					"in %d s; closing it", c->out_off, c->out_len,
					CTL_SEND_MS / 1000);
			else
				pr_debug("control: closing a connection that sent no request");
			conn_close(a, c);
			continue;
		}
		if (next_ms < 0 || limit - ms < next_ms)
			next_ms = limit - ms;
	}
	return next_ms < 0 ? -1 : (int)next_ms + 1;
}

/* Does a live agent answer on PATH? (A full listen queue counts as alive.) */
static bool sock_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = !connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) || errno == EAGAIN;
	close(fd);
	return alive;
}

int ctl_open(struct agent *a)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	mode_t old;
	int fd, err;

	if (strlen(a->sock_path) >= sizeof(sun.sun_path)) {
		pr_err("socket path %s: longer than %zu bytes", a->sock_path,
		       sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, a->sock_path);

	snprintf(buf, sizeof(buf), "%s", a->sock_path);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	if (stat(dir, &st)) {
		/* a dir the agent creates is its own: 0700 */
		err = mkdir_p(dir, 0700);
		if (err) {
			pr_err("cannot create %s: %s", dir, strerror(-err));
			return err;
		}
	}

	if (!lstat(a->sock_path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err("%s exists and is not a socket", a->sock_path);
			return -EEXIST;
		}
		if (sock_alive(&sun)) {
			pr_err("another sluiced answers on %s", a->sock_path);
			return -EADDRINUSE;
		}
		/* left by an agent that was killed */
		unlink(a->sock_path);
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		pr_err("cannot create the control socket: %s", strerror(errno));
		return err;
	}
	/* no window in which the socket exists with a wider mode */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (!err && chmod(a->sock_path, 0600))
		err = -errno;
	if (!err && listen(fd, CTL_BACKLOG))
		err = -errno;
	if (err) {
		pr_err("cannot listen on %s: %s", a->sock_path, strerror(-err));
		close(fd);
		return err;
	}
	a->ctl_fd = fd;
	a->ctl_bound = true;
	a->ctl_src.fd = fd;
	a->ctl_src.ready = listen_ready;
	return 0;
}

void ctl_close(struct agent *a)
{
	while (a->conns)
		conn_close(a, a->conns);
	if (a->ctl_fd >= 0)
		close(a->ctl_fd);
	a->ctl_fd = -1;
	if (a->ctl_bound)
		unlink(a->sock_path);
	a->ctl_bound = false;
}
