// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket client (docs/control.md): one JSON object and '\n' out,
 * one JSON object and '\n' back, then the agent closes the connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../bpf/sluice_abi.h"

/* A teardown detaches every hook before it answers: give the agent time. */
#define CTL_TIMEOUT_MS	30000
/* The largest answer we accept: far beyond 512 rules or a full status. */
#define CTL_MAX_ANSWER	(64u << 20)

/* The deadline of the exchange the last ctl_connect began: connect, request, answer. */
static long long exchange_deadline;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* 30 s, or SLUICE_CTL_TIMEOUT seconds (1..3600; docs/cli.md). */
static int ctl_timeout_ms(void)
{
	static bool warned;
	const char *v = getenv("SLUICE_CTL_TIMEOUT");
	unsigned long s;
	char *end;

	if (!v)
		return CTL_TIMEOUT_MS;
	errno = 0;
	s = strtoul(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-' || s < 1 || s > 3600) {
		if (!warned)
			fprintf(stderr, "sluice: SLUICE_CTL_TIMEOUT=%s is not a number of seconds "
				"1..3600; using %d\n", v, CTL_TIMEOUT_MS / 1000);
		warned = true;
		return CTL_TIMEOUT_MS;
	}
	return (int)s * 1000;
}

int ctl_connect(const struct cli *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err, limit = ctl_timeout_ms();
	struct timeval tv = { .tv_sec = limit / 1000, .tv_usec = limit % 1000 * 1000 };

	exchange_deadline = now_ms() + limit;
	if (strlen(c->socket) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, c->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * connect() to a unix socket whose listen queue is full waits for
	 * room, as long as the send timeout allows: the time limit covers it
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		close(fd);
		return err;
	}
	return fd;
}

int ctl_connect_error(const struct cli *c, int err)
{
	if (err == -ENAMETOOLONG)
		return cli_error(c, EXIT_USAGE, "socket path %s is too long", c->socket);
	if (err == -ETIMEDOUT)
		return cli_error(c, EXIT_FAIL, "sluiced at %s did not accept the connection "
				 "within %d s (its listen queue is full)", c->socket,
				 ctl_timeout_ms() / 1000);
	return cli_error(c, EXIT_FAIL, "cannot reach sluiced at %s: %s", c->socket,
			 strerror(-err));
}

/* Wait until FD is ready for EVENTS or the deadline passes: 0 or -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n;
		int err = wait_fd(fd, POLLOUT, deadline);

		if (err)
			return err;
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one line (the answer); *OUT is NUL-terminated without the '\n'. */
static int recv_line(int fd, char **out, long long deadline)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int err;

	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *grown;

			if (cap >= CTL_MAX_ANSWER) {
				err = -EMSGSIZE;
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			grown = realloc(buf, cap);
			if (!grown) {
				err = -ENOMEM;
				goto fail;
			}
			buf = grown;
		}
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			goto fail;
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	if (len == 0) {
		err = -ECONNRESET;
		goto fail;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	*out = buf;
	return 0;
fail:
	free(buf);
	return err;
}

int ctl_call_fd(const struct cli *c, int fd, const char *cmd, struct json_object *args,
		struct json_object **data)
{
	long long deadline = exchange_deadline ? exchange_deadline : now_ms() + ctl_timeout_ms();
	struct json_object *req, *ans = NULL, *ok, *v;
	enum json_tokener_error jerr;
	char *line = NULL, *wire = NULL;
	const char *s;
	size_t wlen;
	int err, rc;

	*data = NULL;
	/* {"cmd": CMD} first, then the arguments; ARGS itself is left as it is */
	req = json_object_new_object();
	err = req ? json_object_object_add(req, "cmd", json_object_new_string(cmd)) : -1;
	if (args && !err) {
		json_object_object_foreach(args, key, val) {
			if (json_object_object_add(req, key, json_object_get(val)))
				err = -1;
		}
	}
	if (err) {
		json_object_put(req);
		return cli_error(c, EXIT_FAIL, "out of memory");
	}
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (asprintf(&wire, "%s\n", s) < 0) {
		json_object_put(req);
		return cli_error(c, EXIT_FAIL, "out of memory");
	}
	json_object_put(req);
	/* the agent refuses it and closes while it is still being sent: say so here */
	wlen = strlen(wire);
	if (wlen > SLUICE_CTL_REQ_MAX) {
		rc = cli_error(c, EXIT_USAGE, "'%s' is %zu bytes as a request; the agent takes at "
			       "most %u (split it: fewer arguments at a time)", cmd, wlen,
			       SLUICE_CTL_REQ_MAX);
		free(wire);
		return rc;
	}

	err = send_all(fd, wire, wlen, deadline);
	free(wire);
	/*
	 * Closed while the request was sent: the agent may have refused the
	 * connection with an answer of its own (out of fds) before it read
	 * anything; that answer says more than EPIPE.
	 */
	if (!err || err == -EPIPE || err == -ECONNRESET) {
		int rerr = recv_line(fd, &line, deadline);

		if (!err || !rerr)
			err = rerr;
	}
	if (err == -ETIMEDOUT)
		return cli_error(c, EXIT_FAIL, "sluiced at %s did not answer '%s' within %d s",
				 c->socket, cmd, ctl_timeout_ms() / 1000);
	if (err == -ECONNRESET || err == -EPIPE)
		return cli_error(c, EXIT_FAIL, "sluiced at %s closed the connection without "
				 "answering '%s'", c->socket, cmd);
	if (err)
		return cli_error(c, EXIT_FAIL, "talking to sluiced at %s: %s", c->socket,
				 strerror(-err));

	ans = json_tokener_parse_verbose(line, &jerr);
	free(line);
	if (!ans || !json_object_is_type(ans, json_type_object)) {
		rc = cli_error(c, EXIT_FAIL, "sluiced at %s sent an answer that is not a JSON "
			       "object: %s", c->socket,
			       ans ? "wrong type" : json_tokener_error_desc(jerr));
		json_object_put(ans);
		return rc;
	}
	if (!json_object_object_get_ex(ans, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(ans);
		return cli_error(c, EXIT_FAIL, "sluiced at %s sent an answer without \"ok\"",
				 c->socket);
	}
	if (!json_object_get_boolean(ok)) {
		s = json_object_object_get_ex(ans, "error", &v) &&
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) :
		    "failed without saying why";
		/* "usage": the agent found the request itself wrong (docs/control.md) */
		rc = json_object_object_get_ex(ans, "usage", &v) && json_object_get_boolean(v) ?
		     EXIT_USAGE : EXIT_FAIL;
		rc = cli_error(c, rc, "%s", s);
		json_object_put(ans);
		return rc;
	}
	v = NULL;
	json_object_object_get_ex(ans, "data", &v);
	*data = v ? json_object_get(v) : json_object_new_object();
	json_object_put(ans);
	if (!*data)
		return cli_error(c, EXIT_FAIL, "out of memory");
	return EXIT_OK;
}

int ctl_call(const struct cli *c, const char *cmd, struct json_object *args,
	     struct json_object **data)
{
	int fd = ctl_connect(c), rc;

	*data = NULL;
	if (fd < 0)
		return ctl_connect_error(c, fd);
	rc = ctl_call_fd(c, fd, cmd, args, data);
	close(fd);
	return rc;
}
