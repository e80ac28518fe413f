// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus metrics: `sluiced --metrics ADDR:PORT` (default off). One
 * request per connection, HTTP/1.0: the request is read without blocking
 * the loop, bounded to 4 KiB and 5 s; GET /metrics answers the counters in
 * the text exposition format, anything else 404/405/400; then close.
 * Metrics are read from the maps when asked, nothing is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "agent.h"
#include "conntrack.h"
#include "events.h"
#include "fw_maps.h"
#include "lb.h"
#include "log.h"
#include "metrics.h"
#include "sync.h"

#define M_MAX_REQ	4096
#define M_TIMEOUT_MS	5000
#define M_MAX_CONNS	16

struct m_conn {
	struct ep_src src;	/* first: agent_conn_new */
	struct m_conn *next;
	struct timespec t0;
	size_t len;
	char buf[M_MAX_REQ + 1];
};

struct agent_metrics {
	struct ep_src listen_src;
	struct m_conn *conns;
	size_t nconns;
};

#define NAME_OF(id, name) name,
static const char *const verdict_names[] = { SLUICE_VERDICTS(NAME_OF) };
static const char *const drop_names[] = { SLUICE_DROP_REASONS(NAME_OF) };
#undef NAME_OF

/* A growing text buffer; on allocation failure it stays marked failed. */
struct mbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	for (;;) {
		if (b->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + n < b->cap) {
			b->len += n;
			return;
		}
		cap = (b->cap ? b->cap * 2 : 16384) + n;
		p = realloc(b->p, cap);

		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A label value: backslash, quote and newline escaped. */
static void mb_label(struct mbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			mb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			mb_printf(b, "\\n");
		else
			mb_printf(b, "%c", *s);
	}
}

static void counter_pair(struct mbuf *b, const char *metric, const char *label,
			 const char *const *names, const struct sl_counter *c, int n)
{
	mb_printf(b, "# HELP %s_packets_total Packets per %s.\n# TYPE %s_packets_total counter\n",
		  metric, label, metric);
	for (int i = 0; i < n; i++)
		mb_printf(b, "%s_packets_total{%s=\"%s\"} %llu\n", metric, label, names[i],
			  (unsigned long long)c[i].packets);
	mb_printf(b, "# HELP %s_bytes_total Bytes per %s.\n# TYPE %s_bytes_total counter\n",
		  metric, label, metric);
	for (int i = 0; i < n; i++)
		mb_printf(b, "%s_bytes_total{%s=\"%s\"} %llu\n", metric, label, names[i],
			  (unsigned long long)c[i].bytes);
}

static void rule_metrics(struct agent *a, struct mbuf *b)
{
	static struct sl_counter cnt[SLUICE_MAX_RULES + 1];
	const char *kind[2] = { "packets", "bytes" };
	size_t nsec = a->pol.nfws ? a->pol.nfws : 1;
	const struct sl_firewall *fw0 = policy_fw(&a->pol, 0);

	if (!a->have_policy || sl_counters_read(a->rule_cnt_fd, SLUICE_MAX_RULES + 1, cnt))
		return;
	for (int k = 0; k < 2; k++) {
		mb_printf(b, "# HELP sluice_rule_%s_total %s matched per firewall rule "
			  "(rule=\"default\": the default action, shared by the sections).\n"
			  "# TYPE sluice_rule_%s_total counter\n", kind[k],
			  k ? "Bytes" : "Packets", kind[k]);
		for (size_t s = 0; s < nsec; s++) {
			const struct sl_firewall *fw = policy_fw(&a->pol, (int)s);
			uint32_t base = sync_rule_base(&a->pol, s);

			/* rules past SLUICE_MAX_RULES over all sections are not counted */
			for (size_t i = 0; i < fw->nrules && base + i < SLUICE_MAX_RULES; i++) {
				const struct sl_counter *c = &cnt[base + i];

				mb_printf(b, "sluice_rule_%s_total{section=\"", kind[k]);
				mb_label(b, fw->name);
				mb_printf(b, "\",rule=\"");
				mb_label(b, fw->rules[i].name);
				mb_printf(b, "\",index=\"%zu\",action=\"%s\"} %llu\n", i,
					  sl_action_name(fw->rules[i].action),
					  (unsigned long long)(k ? c->bytes : c->packets));
			}
		}
		mb_printf(b, "sluice_rule_%s_total{section=\"", kind[k]);
		mb_label(b, nsec == 1 ? fw0->name : "*");
		mb_printf(b, "\",rule=\"default\",index=\"%d\",action=\"%s\"} %llu\n",
			  SLUICE_RULE_DEFAULT,
			  nsec == 1 ? sl_action_name(fw0->default_action) : "per-section",
			  (unsigned long long)(k ? cnt[SLUICE_RULE_DEFAULT].bytes :
					       cnt[SLUICE_RULE_DEFAULT].packets));
	}
}

static void ct_metrics(struct agent *a, struct mbuf *b)
{
	struct json_object *d = NULL;
	char err[256];

	if (a->ct_stats_fd < 0 || ct_cmd_stats(a, NULL, &d, err, sizeof(err)))
		return;
	mb_printf(b, "# HELP sluice_ct_entries Connections in the conntrack table.\n"
		  "# TYPE sluice_ct_entries gauge\n");
	mb_printf(b, "sluice_ct_entries %lld\n",
		  (long long)json_object_get_int64(json_object_object_get(d, "entries")));
	mb_printf(b, "# HELP sluice_ct_capacity Size of the conntrack table.\n"
		  "# TYPE sluice_ct_capacity gauge\n");
	mb_printf(b, "sluice_ct_capacity %lld\n",
		  (long long)json_object_get_int64(json_object_object_get(d, "capacity")));
	mb_printf(b, "# HELP sluice_ct_events_total Conntrack events.\n"
		  "# TYPE sluice_ct_events_total counter\n");
	json_object_object_foreach(d, key, val) {
		static const char *const not_events[] = {
			"entries", "capacity", "half_open", "half_open_capacity", "shards",
			"sweeps", "sweep_ticks", "swept", "sweep_ns", "sweeper_prog_id",
		};
		bool skip = !json_object_is_type(val, json_type_int);

		for (size_t i = 0; i < sizeof(not_events) / sizeof(not_events[0]); i++)
			skip = skip || !strcmp(key, not_events[i]);
		if (skip)
			continue;
		mb_printf(b, "sluice_ct_events_total{event=\"%s\"} %lld\n", key,
			  (long long)json_object_get_int64(val));
	}
	mb_printf(b, "# HELP sluice_ct_sweeps_total Walks of a conntrack shard by its "
		  "expiry timer.\n# TYPE sluice_ct_sweeps_total counter\n");
	mb_printf(b, "sluice_ct_sweeps_total %lld\n",
		  (long long)json_object_get_int64(json_object_object_get(d, "sweeps")));
	mb_printf(b, "# HELP sluice_ct_sweep_seconds_total CPU time of the conntrack "
		  "sweeps.\n# TYPE sluice_ct_sweep_seconds_total counter\n");
	mb_printf(b, "sluice_ct_sweep_seconds_total %.6f\n",
		  json_object_get_int64(json_object_object_get(d, "sweep_ns")) / 1e9);
	json_object_put(d);
}

static void event_metrics(struct agent *a, struct mbuf *b)
{
	struct json_object *e = events_stats(a);
	static const char *const keys[] = { "sent", "suppressed", "lost" };

	if (!e)
		return;
	mb_printf(b, "# HELP sluice_events_total Drop events: sent, suppressed over "
		  "the rate, lost (ring buffer full).\n# TYPE sluice_events_total counter\n");
	for (size_t i = 0; i < 3; i++)
		mb_printf(b, "sluice_events_total{result=\"%s\"} %lld\n", keys[i],
			  (long long)json_object_get_int64(json_object_object_get(e, keys[i])));
	json_object_put(e);
}

static void metrics_text(struct agent *a, struct mbuf *b)
{
	struct sl_counter v[SLUICE_VERDICT_MAX], d[SLUICE_DROP_MAX];

	mb_printf(b, "# HELP sluice_policy_generation Generation of the policy in force.\n"
		  "# TYPE sluice_policy_generation gauge\nsluice_policy_generation %llu\n",
		  (unsigned long long)a->generation);
	rule_metrics(a, b);
	if (!sl_counters_read(a->verdict_fd, SLUICE_VERDICT_MAX, v))
		counter_pair(b, "sluice_verdict", "verdict", verdict_names, v, SLUICE_VERDICT_MAX);
	if (!sl_counters_read(a->drop_fd, SLUICE_DROP_MAX, d))
		counter_pair(b, "sluice_drop", "reason", drop_names, d, SLUICE_DROP_MAX);
	ct_metrics(a, b);
	event_metrics(a, b);
	{
		char *lb = lb_metrics_text(a);

		if (lb)
			mb_printf(b, "%s", lb);
		free(lb);
	}
}

static void conn_close(struct agent *a, struct m_conn *c)
{
	struct m_conn **pp;

	for (pp = &a->metrics->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	agent_unwatch(a, &c->src);
	close(c->src.fd);
	free(c);
	a->metrics->nconns--;
}

static void respond(struct agent *a, struct m_conn *c, const char *status, struct mbuf *body)
{
	struct timeval tv = { .tv_sec = 2 };
	struct mbuf out = {};
	size_t off = 0;
	int fd = c->src.fd;

	mb_printf(&out, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; "
		  "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		  status, body->len);
	if (body->len)
		mb_printf(&out, "%.*s", (int)body->len, body->p);
	/* like control answers: a stuck reader gets 2 s, then it is dropped */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (!out.failed && off < out.len) {
		ssize_t w = send(fd, out.p + off, out.len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		off += w;
	}
	free(out.p);
	/*
	 * Unread request bytes would make close() send a RST that can destroy
	 * the answer before the client reads it: read what already came.
	 */
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16; i++)
		if (recv(fd, c->buf, M_MAX_REQ, MSG_DONTWAIT) <= 0)
			break;
	conn_close(a, c);
}

static void handle(struct agent *a, struct m_conn *c)
{
	struct mbuf body = {};
	char method[16], path[256];
	const char *status = "200 OK";

	if (sscanf(c->buf, "%15s %255s", method, path) != 2) {
		status = "400 Bad Request";
		mb_printf(&body, "bad request\n");
	} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = "405 Method Not Allowed";
		mb_printf(&body, "only GET\n");
	} else if (strcmp(path, "/metrics")) {
		status = "404 Not Found";
		mb_printf(&body, "try /metrics\n");
	} else {
		metrics_text(a, &body);
		if (body.failed) {
			status = "500 Internal Server Error";
			body.len = 0;
		}
		if (!strcmp(method, "HEAD"))
			body.len = 0;
	}
	respond(a, c, status, &body);
	free(body.p);
}

static void conn_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct m_conn *c = (struct m_conn *)src;
	ssize_t n;

	(void)events;
	for (;;) {
		n = recv(c->src.fd, c->buf + c->len, M_MAX_REQ - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(a, c);
			return;
		}
		c->len += n;
		c->buf[c->len] = '\0';
		/* the request line is all we use: answer at the end of the headers */
		if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
			handle(a, c);
			return;
		}
		if (c->len >= M_MAX_REQ) {
			struct mbuf body = {};

			mb_printf(&body, "request too large\n");
			respond(a, c, "431 Request Header Fields Too Large", &body);
			free(body.p);
			return;
		}
	}
}

static void listen_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct m_conn *c;
	int fd;

	(void)events;
	while ((fd = accept4(src->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (a->metrics->nconns >= M_MAX_CONNS) {
			close(fd);
			continue;
		}
		c = agent_conn_new(a, fd, sizeof(*c), conn_ready);
		if (!c)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &c->t0);
		c->next = a->metrics->conns;
		a->metrics->conns = c;
		a->metrics->nconns++;
	}
}

/* ADDR:PORT, [V6ADDR]:PORT; numeric only. */
static int parse_addr(const char *arg, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	char host[128];
	const char *colon = strrchr(arg, ':');
	size_t hl;

	if (!colon || colon == arg || !colon[1] || (size_t)(colon - arg) >= sizeof(host))
		return -EINVAL;
	hl = colon - arg;
	if (arg[0] == '[') {
		if (arg[hl - 1] != ']')
			return -EINVAL;
		memcpy(host, arg + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		memcpy(host, arg, hl);
		host[hl] = '\0';
	}
	return getaddrinfo(host, colon + 1, &hints, res) ? -EINVAL : 0;
}

int metrics_open(struct agent *a)
{
	struct addrinfo *ai = NULL;
	int fd, err, one = 1;

	if (!a->metrics_addr)
		return 0;
	a->metrics = calloc(1, sizeof(*a->metrics));
	if (!a->metrics)
		return -ENOMEM;
	a->metrics->listen_src.fd = -1;
	err = parse_addr(a->metrics_addr, &ai);
	if (err) {
		pr_err("--metrics %s: not a numeric ADDR:PORT", a->metrics_addr);
		return err;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)) {
		err = -errno;
		pr_err("--metrics %s: cannot listen: %s", a->metrics_addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	a->metrics->listen_src.fd = fd;
	a->metrics->listen_src.ready = listen_ready;
	pr_info("metrics on http://%s/metrics", a->metrics_addr);
	return agent_watch(a, &a->metrics->listen_src, EPOLLIN);
}

int metrics_expire(struct agent *a)
{
	struct m_conn *c, *next;

	if (!a->metrics)
		return -1;
	for (c = a->metrics->conns; c; c = next) {
		next = c->next;
		if (agent_ms_since(&c->t0) > M_TIMEOUT_MS)
			conn_close(a, c);
	}
	return a->metrics->conns ? 1000 : -1;
}

void metrics_close(struct agent *a)
{
	if (!a->metrics)
		return;
	while (a->metrics->conns)
		conn_close(a, a->metrics->conns);
	if (a->metrics->listen_src.fd >= 0) {
		agent_unwatch(a, &a->metrics->listen_src);
		close(a->metrics->listen_src.fd);
	}
	free(a->metrics);
	a->metrics = NULL;
}
