// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus metrics: `sluiced --metrics ADDR:PORT` (default off), the
 * counters in the text exposition format on GET /metrics, read from the
 * maps when asked (nothing is kept).
 *
 * HTTP is libmicrohttpd's, driven by the agent's epoll loop (MHD_USE_EPOLL
 * without a thread of its own: its epoll fd is one of the loop's sources,
 * MHD_run after every wait, MHD_get_timeout bounds the wait). It reads and
 * writes without blocking, so a scraper that stops reading holds nothing
 * but its own connection. The listening socket is ours (metrics_accept),
 * so that no client can hold the endpoint either:
 *
 *   - at most M_MAX_CONNS connections: one more is closed as it is
 *     accepted (MHD would leave it in the listen queue, unanswered);
 *   - a request must be whole within M_REQ_MS of the accept (or of the
 *     previous answer on a kept-alive connection), however slowly it
 *     trickles in: MHD's own timeout is reset by every byte;
 *   - an answer making no progress for M_IDLE_S is cut, and one not read
 *     within M_SEND_MS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
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
#include <microhttpd.h>

#include "abi_names.h"
#include "agent.h"
#include "conntrack.h"
#include "events.h"
#include "fw_maps.h"
#include "lb.h"
#include "log.h"
#include "metrics.h"
#include "rules.h"
#include "sync.h"

#define M_MAX_CONNS	16
#define M_REQ_MS	5000		/* to send a whole request */
#define M_IDLE_S	5		/* a connection that makes no progress is closed */
#define M_SEND_MS	10000		/* to read a whole answer */
#define M_MEM		4096		/* per connection: request headers past ~4 KiB get 431 */
#define M_BACKLOG	16

/* A connection given to MHD; fd -1: a free slot. */
struct m_conn {
	int fd;
	struct timespec t0;		/* accepted, or its last answer sent */
	bool answering;			/* its request is whole: no M_REQ_MS */
	bool cut;			/* shut down past M_REQ_MS, MHD to close it */
	size_t uri_len;			/* of its request's URI as sent, up to a NUL */
};

struct agent_metrics {
	struct MHD_Daemon *d;
	struct ep_src src;		/* MHD's epoll fd */
	struct ep_src listen_src;	/* our listening socket */
	int listen_fd;
	struct m_conn conns[M_MAX_CONNS];
};

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

/*
 * METRIC_packets_total and _bytes_total per hook and LABEL: the N names of
 * NAMES, in C, one block of SLOTS entries per hook (sl_verdict_v2, sl_drop_v2).
 */
static void counter_pair(struct mbuf *b, const char *metric, const char *label,
			 const char *const *names, const struct sl_counter *c, int n, int slots)
{
	for (int k = 0; k < 2; k++) {
		mb_printf(b, "# HELP %s_%s_total %s per hook and %s.\n"
			  "# TYPE %s_%s_total counter\n", metric, k ? "bytes" : "packets",
			  k ? "Bytes" : "Packets", label, metric, k ? "bytes" : "packets");
		for (int h = 0; h < SLUICE_HOOK_MAX; h++)
			for (int i = 0; i < n; i++)
				mb_printf(b, "%s_%s_total{hook=\"%s\",%s=\"%s\"} %llu\n", metric,
					  k ? "bytes" : "packets", sl_hook_names[h], label,
					  names[i], (unsigned long long)(k ? c[h * slots + i].bytes :
									  c[h * slots + i].packets));
	}
}

static void rule_metrics(struct agent *a, struct mbuf *b)
{
	const char *kind[2] = { "packets", "bytes" };
	size_t nsec = a->pol.nfws ? a->pol.nfws : 1;
	const struct sl_firewall *fw0 = policy_fw(&a->pol, 0);
	struct sl_counter *cnt;

	if (!a->have_policy)
		return;
	cnt = calloc(SLUICE_CNT_MAX, sizeof(*cnt));
	if (!cnt || sl_counters_read(a->rule_cnt_fd, SLUICE_CNT_MAX, cnt)) {
		free(cnt);
		return;
	}
	for (int k = 0; k < 2; k++) {
		mb_printf(b, "# HELP sluice_rule_%s_total %s matched per firewall rule "
			  "(rule=\"default\": the default action, shared by the sections).\n"
			  "# TYPE sluice_rule_%s_total counter\n", kind[k],
			  k ? "Bytes" : "Packets", kind[k]);
		for (size_t s = 0; s < nsec; s++) {
			const struct sl_firewall *fw = policy_fw(&a->pol, (int)s);

			for (size_t i = 0; i < fw->nrules; i++) {
				uint32_t id = rules_counter(a, s, i);
				const struct sl_counter *c;

				if (id >= SLUICE_CNT_MAX)
					continue;
				c = &cnt[id];
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
			  (unsigned long long)(k ? cnt[SLUICE_CNT_DEFAULT].bytes :
					       cnt[SLUICE_CNT_DEFAULT].packets));
	}
	free(cnt);
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
	mb_printf(b, "# HELP sluice_ct_capacity Size of the conntrack table, per family.\n"
		  "# TYPE sluice_ct_capacity gauge\n");
	mb_printf(b, "sluice_ct_capacity %lld\n",
		  (long long)json_object_get_int64(json_object_object_get(d, "capacity")));
	mb_printf(b, "# HELP sluice_ct_events_total Conntrack events.\n"
		  "# TYPE sluice_ct_events_total counter\n");
	json_object_object_foreach(d, key, val) {
		static const char *const not_events[] = {
			"entries", "entries_ipv4", "entries_ipv6", "capacity", "unassured",
			"unassured_capacity", "shards",
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
	struct sl_counter v[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];
	struct sl_counter d[SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS];

	mb_printf(b, "# HELP sluice_policy_generation Generation of the policy in force.\n"
		  "# TYPE sluice_policy_generation gauge\nsluice_policy_generation %llu\n",
		  (unsigned long long)a->generation);
	mb_printf(b, "# HELP sluice_edits_invalid 1 while the CLI's edits file does not load "
		  "(sluice status says why).\n# TYPE sluice_edits_invalid gauge\n"
		  "sluice_edits_invalid %d\n", a->edits_error ? 1 : 0);
	rule_metrics(a, b);
	/* the drops read once: XDP's drop verdict is the sum of its reasons (sl_verdicts_fold) */
	if (!sl_counters_read(a->drop_fd, SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS, d)) {
		if (!sl_counters_read(a->verdict_fd, SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS, v)) {
			sl_verdicts_fold(v, &d[SLUICE_DROP_IDX(SLUICE_HOOK_XDP, 0)]);
			counter_pair(b, "sluice_verdict", "verdict", sl_verdict_names, v,
				     SLUICE_VERDICT_MAX, SLUICE_VERDICT_SLOTS);
		}
		counter_pair(b, "sluice_drop", "reason", sl_drop_names, d, SLUICE_DROP_MAX,
			     SLUICE_DROP_SLOTS);
	}
	ct_metrics(a, b);
	event_metrics(a, b);
	{
		char *lb = lb_metrics_text(a);

		if (lb)
			mb_printf(b, "%s", lb);
		free(lb);
	}
}

/* One answer on its way: the body, sent as the client reads, within M_SEND_MS. */
struct answer {
	struct mbuf body;
	struct timespec t0;
};

static ssize_t answer_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct answer *an = cls;
	size_t n;

	if (agent_ms_since(&an->t0) > M_SEND_MS) {
		pr_debug("metrics: a scraper did not read its answer within %d s; closing it",
			 M_SEND_MS / 1000);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (pos >= an->body.len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = an->body.len - pos < max ? an->body.len - (size_t)pos : max;
	memcpy(buf, an->body.p + pos, n);
	return (ssize_t)n;
}

static void answer_free(void *cls)
{
	struct answer *an = cls;

	free(an->body.p);
	free(an);
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned int status,
			     struct answer *an, const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	clock_gettime(CLOCK_MONOTONIC, &an->t0);
	r = MHD_create_response_from_callback(an->body.len, 16384, answer_read, an, answer_free);
	if (!r) {
		answer_free(an);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Our slot of MHD's connection CONN (set by on_connection); NULL if none. */
static struct m_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/*
 * The URI as sent, before MHD cuts off the query and decodes it in place:
 * its length up to the first NUL, for uri_cut.
 */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct m_conn *mc = conn_of(conn);

	(void)cls;
	if (mc)
		mc->uri_len = strlen(uri);
	return NULL;
}

/*
 * Did a NUL byte sent in the request line end the path early ("GET
 * /metrics<NUL>x HTTP/1.1" read as /metrics)? MHD (0.9.75) splits the line
 * in place in its read buffer: the URI, the NUL that replaced the space, the
 * version; a URI string that ends before that NUL was cut by one of the
 * client's. (A MHD laid out otherwise fails test_events' test_metrics.)
 */
static bool uri_cut(const struct m_conn *mc, const char *url, const char *version)
{
	return mc && version > url && version - url <= M_MEM && url + mc->uri_len + 1 < version;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	static int headers_done;
	struct agent *a = cls;
	struct answer *an;
	struct m_conn *mc;
	unsigned int status = MHD_HTTP_OK;
	const char *allow = NULL;

	(void)upload_data;
	/* the first call comes with the headers; answer on the next, as MHD advises */
	if (*state != &headers_done) {
		*state = &headers_done;
		return MHD_YES;
	}
	/* a request body is not used: drop it */
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	mc = conn_of(conn);
	if (mc)
		mc->answering = true;
	an = calloc(1, sizeof(*an));
	if (!an)
		return MHD_NO;
	if (uri_cut(mc, url, version)) {
		status = MHD_HTTP_BAD_REQUEST;
		mb_printf(&an->body, "a NUL in the path\n");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		allow = "GET, HEAD";
		mb_printf(&an->body, "only GET\n");
	} else if (strcmp(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		mb_printf(&an->body, "try /metrics\n");
	} else {
		metrics_text(a, &an->body);
	}
	if (an->body.failed) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		an->body.len = 0;
	}
	return queue(conn, status, an, allow);
}

/*
 * MHD's decoding of the path, except that a string with a %00 is left as
 * sent: decoded, the NUL would end it early ("/metrics%00x" read as /metrics).
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pr_debug("metrics: %s", msg);
}

/* MHD takes a connection we gave it, or has closed it: its slot. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct agent_metrics *m = cls;
	struct m_conn *mc = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		for (int i = 0; ci && i < M_MAX_CONNS; i++)
			if (m->conns[i].fd == ci->connect_fd)
				*socket_context = &m->conns[i];
		return;
	}
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED && mc) {
		mc->fd = -1;
		*socket_context = NULL;
	}
}

/* An answer sent (or abandoned): a kept-alive connection's next request has M_REQ_MS. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct m_conn *mc = conn_of(conn);

	(void)cls;
	(void)con_cls;
	(void)toe;
	if (mc) {
		mc->answering = false;
		clock_gettime(CLOCK_MONOTONIC, &mc->t0);
	}
}

/*
 * Shut down the connections whose request is not whole within M_REQ_MS: MHD
 * reads the end and closes them. Milliseconds to the next such deadline, or -1.
 */
static long metrics_expire(struct agent_metrics *m)
{
	long next = -1;

	for (int i = 0; i < M_MAX_CONNS; i++) {
		struct m_conn *mc = &m->conns[i];
		long left;

		if (mc->fd < 0 || mc->answering || mc->cut)
			continue;
		left = M_REQ_MS - agent_ms_since(&mc->t0);
		if (left < 0) {
			pr_debug("metrics: a client sent no whole request within %d s; closing it",
				 M_REQ_MS / 1000);
			shutdown(mc->fd, SHUT_RDWR);
			mc->cut = true;
			continue;
		}
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

/* Connections on our listening socket: to MHD while there is room, else closed at once. */
static void metrics_accept(struct agent *a, struct ep_src *src, uint32_t events)
{
	static const char no_fds[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
				     "text/plain\r\nContent-Length: 48\r\nConnection: close\r\n"
				     "\r\nthe agent is out of file descriptors; try again\n";
	struct agent_metrics *m = a->metrics;

	(void)src;
	(void)events;
	/* bounded: the rest on the next turn of the loop (the socket is level-triggered) */
	for (int n = 0; n < 4 * M_MAX_CONNS; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct m_conn *mc = NULL;
		int fd;

		fd = agent_accept(a, m->listen_fd, (struct sockaddr *)&ss, &len, no_fds,
				  sizeof(no_fds) - 1);
		if (fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0)
			return;
		for (int i = 0; i < M_MAX_CONNS && !mc; i++)
			if (m->conns[i].fd < 0)
				mc = &m->conns[i];
		if (!mc) {
			pr_debug("metrics: %d connections open; closing one more", M_MAX_CONNS);
			close(fd);
			continue;
		}
		*mc = (struct m_conn){ .fd = fd };
		clock_gettime(CLOCK_MONOTONIC, &mc->t0);
		/* MHD closes FD whatever the outcome; on_connection takes the slot */
		if (MHD_add_connection(m->d, fd, (struct sockaddr *)&ss, len) != MHD_YES) {
			pr_debug("metrics: libmicrohttpd does not take a connection: %s",
				 strerror(errno));
			mc->fd = -1;
		}
	}
}

static void mhd_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	(void)src;
	(void)events;
	metrics_run(a);
}

/* Is S a port number, 1..65535 in decimal (getaddrinfo takes 99999 as 34463)? */
static bool port_ok(const char *s)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 65535;
}

/*
 * ADDR:PORT, [V6ADDR]:PORT; numeric only. An IPv4 address is the four
 * decimal parts inet_pton reads: getaddrinfo's inet_aton also takes "1.2.3"
 * (1.2.0.3), "127.1" and hex. An IPv6 one as getaddrinfo reads it (a scope
 * allowed), bracketed or not ($(NODE_IP):PORT of an IPv6 node).
 */
static int parse_addr(const char *arg, struct addrinfo **res)
{
	struct in_addr in;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	char host[128];
	const char *colon = strrchr(arg, ':');
	size_t hl;

	if (!colon || colon == arg || !port_ok(colon + 1) || (size_t)(colon - arg) >= sizeof(host))
		return -EINVAL;
	hl = colon - arg;
	if (arg[0] == '[') {
		if (arg[hl - 1] != ']')
			return -EINVAL;
		memcpy(host, arg + 1, hl - 2);
		host[hl - 2] = '\0';
		hints.ai_family = AF_INET6;
	} else {
		memcpy(host, arg, hl);
		host[hl] = '\0';
		hints.ai_family = inet_pton(AF_INET, host, &in) == 1 ? AF_INET : AF_INET6;
	}
	return getaddrinfo(host, colon + 1, &hints, res) ? -EINVAL : 0;
}

int metrics_addr_check(const char *arg)
{
	struct addrinfo *ai = NULL;
	int err = parse_addr(arg, &ai);

	if (ai)
		freeaddrinfo(ai);
	return err;
}

int metrics_open(struct agent *a)
{
	const union MHD_DaemonInfo *info;
	struct addrinfo *ai = NULL;
	struct agent_metrics *m;
	int fd, err, one = 1;

	if (!a->metrics_addr)
		return 0;
	m = a->metrics = calloc(1, sizeof(*a->metrics));
	if (!m)
		return -ENOMEM;
	m->listen_fd = -1;
	err = parse_addr(a->metrics_addr, &ai);
	if (err) {
		pr_err("--metrics %s: not a numeric ADDR:PORT", a->metrics_addr);
		return err;
	}
	/* our socket: a bind error is reported with its reason */
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, M_BACKLOG)) {
		err = -errno;
		pr_err("--metrics %s: cannot listen: %s", a->metrics_addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	m->listen_fd = fd;
	freeaddrinfo(ai);
	for (int i = 0; i < M_MAX_CONNS; i++)
		m->conns[i].fd = -1;
	m->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET,
				0, NULL, NULL, on_request, a,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, m,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, uri_seen, NULL,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)M_MAX_CONNS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)M_IDLE_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)M_MEM,
				MHD_OPTION_END);
	info = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info) {
		pr_err("--metrics %s: libmicrohttpd does not start", a->metrics_addr);
		return -EIO;
	}
	m->src.fd = info->epoll_fd;
	m->src.ready = mhd_ready;
	m->listen_src.fd = fd;
	m->listen_src.ready = metrics_accept;
	err = agent_watch(a, &m->src, EPOLLIN);
	if (!err)
		err = agent_watch(a, &m->listen_src, EPOLLIN);
	if (err)
		return err;
	pr_info("metrics on http://%s/metrics", a->metrics_addr);
	return 0;
}

int metrics_timeout(struct agent *a)
{
	MHD_UNSIGNED_LONG_LONG ms;
	long req;

	if (!a->metrics || !a->metrics->d)
		return -1;
	req = metrics_expire(a->metrics);
	if (MHD_get_timeout(a->metrics->d, &ms) != MHD_YES)
		return req < 0 ? -1 : (int)req + 1;
	if (req >= 0 && (MHD_UNSIGNED_LONG_LONG)req + 1 < ms)
		ms = req + 1;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void metrics_run(struct agent *a)
{
	if (!a->metrics || !a->metrics->d)
		return;
	metrics_expire(a->metrics);
	MHD_run(a->metrics->d);
}

void metrics_close(struct agent *a)
{
	struct agent_metrics *m = a->metrics;

	if (!m)
		return;
	if (m->d) {
		agent_unwatch(a, &m->src);
		if (m->listen_src.ready)
			agent_unwatch(a, &m->listen_src);
		MHD_stop_daemon(m->d);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m);
	a->metrics = NULL;
}
