// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice monitor: stream the agent's drop events (docs/control.md
 * "monitor"), one line per event, until SIGINT, the agent closes, or
 * --count events were shown.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "print.h"

#define MON_LINE_MAX	65536	/* an event line is ~300 bytes */
#define MON_HELLO_MS	5000

static volatile sig_atomic_t mon_stop;

static void on_signal(int sig)
{
	(void)sig;
	mon_stop = 1;
}

/* A line reader that keeps what follows the line: events come right after
 * the answer, on the same connection. */
struct mon_reader {
	int fd;
	char buf[MON_LINE_MAX];
	size_t len;
};

/* 1 and *LINE (NUL-terminated, in the buffer until the next call), 0 at the
 * end, -errno; -EINTR when a signal asked to stop. */
static int mon_next(struct mon_reader *r, char **line, size_t *consumed, int timeout_ms)
{
	memmove(r->buf, r->buf + *consumed, r->len - *consumed);
	r->len -= *consumed;
	*consumed = 0;
	for (;;) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		char *nl = memchr(r->buf, '\n', r->len);
		ssize_t n;
		int pr;

		if (nl) {
			*nl = '\0';
			*line = r->buf;
			*consumed = nl - r->buf + 1;
			return 1;
		}
		if (r->len >= sizeof(r->buf) - 1)
			return -EMSGSIZE;
		if (mon_stop)
			return -EINTR;
		pr = poll(&p, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		r->len += n;
	}
}

static const char *str_or(struct json_object *o, const char *key, const char *dflt)
{
	struct json_object *v = pr_get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : dflt;
}

static void endpoint(char *buf, size_t len, const char *addr, int port, bool ports, int family)
{
	if (!ports)
		snprintf(buf, len, "%s", addr);
	else if (family == 6)
		snprintf(buf, len, "[%s]:%d", addr, port);
	else
		snprintf(buf, len, "%s:%d", addr, port);
}

/* TIME egress NAME HOOK CGROUP REASON RULE PROTO -> DST:DPORT: a refused connect()/sendmsg() */
static void egress_text(struct json_object *e, const char *proto, bool ports, int family)
{
	char dst[64], cg[64];
	const char *cgroup = str_or(e, "cgroup", NULL);

	if (!json_object_get_boolean(pr_get(e, "cgroup_exact")) && pr_get(e, "cgroup_id")) {
		/* a descendant of the managed cgroup: its id, under the managed path */
		snprintf(cg, sizeof(cg), "id %llu",
			 (unsigned long long)json_object_get_uint64(pr_get(e, "cgroup_id")));
		printf("%s egress %s %s %s%s%s %s %s %s", str_or(e, "time", "-"),
		       str_or(e, "egress", "-"), str_or(e, "hook", "-"), cg,
		       cgroup ? " under " : "", cgroup ? cgroup : "", str_or(e, "reason", "-"),
		       str_or(e, "rule", "-"), proto);
	} else {
		printf("%s egress %s %s %s %s %s %s", str_or(e, "time", "-"),
		       str_or(e, "egress", "-"), str_or(e, "hook", "-"),
		       cgroup ? cgroup : str_or(e, "iface", "-"), str_or(e, "reason", "-"),
		       str_or(e, "rule", "-"), proto);
	}
	endpoint(dst, sizeof(dst), str_or(e, "dst", "-"),
		 json_object_get_int(pr_get(e, "dport")), ports, family);
	printf(" -> %s\n", dst);
}

/* TIME IFACE REASON RULE PROTO SRC:SPORT -> DST:DPORT LEN */
static void event_text(struct json_object *e)
{
	const char *proto = str_or(e, "proto", "-");
	int family = json_object_get_int(pr_get(e, "family"));
	bool ports = !strcmp(proto, "tcp") || !strcmp(proto, "udp");
	char src[64], dst[64], ifbuf[24];
	const char *iface = str_or(e, "iface", NULL);

	/* a call refused by a cgroup hook has no interface, no source, no length */
	if (str_or(e, "hook", NULL) && strcmp(str_or(e, "hook", ""), "tc-backstop")) {
		egress_text(e, proto, ports, family);
		return;
	}
	if (!iface) {
		snprintf(ifbuf, sizeof(ifbuf), "ifindex %lld",
			 (long long)json_object_get_int64(pr_get(e, "ifindex")));
		iface = ifbuf;
	}
	endpoint(src, sizeof(src), str_or(e, "src", "-"),
		 json_object_get_int(pr_get(e, "sport")), ports, family);
	endpoint(dst, sizeof(dst), str_or(e, "dst", "-"),
		 json_object_get_int(pr_get(e, "dport")), ports, family);
	printf("%s %s %s %s %s %s -> %s %lld\n", str_or(e, "time", "-"), iface,
	       str_or(e, "reason", "-"), str_or(e, "rule", "-"), proto, src, dst,
	       (long long)json_object_get_int64(pr_get(e, "len")));
}

static int parse_num(const char *s, long long max, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return !*s || *end || errno || *out < 0 || *out > max ? -EINVAL : 0;
}

/* Option NAME, a number 0..MAX, into *OUT (left as it is when not given). */
static int monitor_num(struct cli *c, const struct cli_args *a, const char *name,
		       long long max, long long *out)
{
	const char *v = cli_arg(c, a, name);

	if (v && parse_num(v, max, out))
		return cli_error(c, EXIT_USAGE, "%s needs a number 0..%lld, got '%s'", name, max, v);
	return EXIT_OK;
}

static int do_monitor(struct cli *c, int argc, char **argv)
{
	long long count = 0, backlog = 0, shown = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct json_object *req, *ans;
	struct mon_reader *r;
	struct cli_args a;
	size_t consumed = 0;
	const char *wire;
	char *line;
	int fd, err, rc = EXIT_OK;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	rc = monitor_num(c, &a, "--count", 1LL << 62, &count);
	if (!rc)
		rc = monitor_num(c, &a, "--backlog", 1024, &backlog);
	cli_args_free(&a);
	if (rc)
		return rc;

	fd = ctl_connect(c);
	if (fd < 0)
		return cli_error(c, EXIT_FAIL, "cannot reach sluiced at %s: %s", c->socket,
				 strerror(-fd));
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("monitor"));
	json_object_object_add(req, "backlog", json_object_new_int64(backlog));
	wire = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	err = send(fd, wire, strlen(wire), MSG_NOSIGNAL) < 0 ||
	      send(fd, "\n", 1, MSG_NOSIGNAL) < 0 ? -errno : 0;
	json_object_put(req);
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return cli_error(c, EXIT_FAIL, "out of memory");
	}
	r->fd = fd;

	/* SIGINT ends the stream normally; no SA_RESTART so poll returns */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!err)
		err = mon_next(r, &line, &consumed, MON_HELLO_MS);
	if (err <= 0) {
		rc = cli_error(c, EXIT_FAIL, "sluiced at %s did not answer 'monitor': %s",
			       c->socket, err ? strerror(-err) : "connection closed");
		goto out;
	}
	ans = json_tokener_parse(line);
	if (!json_object_get_boolean(pr_get(ans, "ok"))) {
		rc = cli_error(c, EXIT_FAIL, "%s", str_or(ans, "error", "monitor refused"));
		json_object_put(ans);
		goto out;
	}
	json_object_put(ans);
	if (!c->json)
		setvbuf(stdout, NULL, _IOLBF, 0);

	while (!count || shown < count) {
		struct json_object *e;

		err = mon_next(r, &line, &consumed, -1);
		if (err == -EINTR || err == 0)
			break;
		if (err < 0) {
			rc = cli_error(c, EXIT_FAIL, "reading events from sluiced: %s",
				       strerror(-err));
			break;
		}
		e = json_tokener_parse(line);
		if (!json_object_is_type(e, json_type_object)) {
			json_object_put(e);
			continue;
		}
		if (c->json) {
			pr_json(stdout, e, c->pretty);
			fflush(stdout);
		} else {
			event_text(e);
		}
		json_object_put(e);
		shown++;
	}
out:
	free(r);
	close(fd);
	return rc;
}

static const struct cli_opt monitor_opts[] = {
	{ "--count", "N", 0, CV_TEXT, NULL, "stop after N events (0, the default: until interrupted)" },
	{ "--backlog", "N", 0, CV_TEXT, NULL, "first the last N events the agent kept (0..1024)" },
	{ NULL },
};

const struct cli_object cli_monitor = {
	.name = "monitor",
	.cmd = &(const struct cli_verb){ NULL, do_monitor, "", monitor_opts },
	.summary = "Stream drop events (rate limited by sluiced --event-rate), one per line.",
};
