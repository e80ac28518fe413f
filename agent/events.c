// SPDX-License-Identifier: GPL-2.0-only
/*
 * Drop events (docs/control.md "monitor"). The datapath writes one
 * struct sl_event per drop, rate limited by sl_ev_cfg; here the ring
 * buffer's epoll fd is one more source of the loop. Every event becomes one
 * JSON line, kept in a bounded queue of recent events and sent to each
 * monitor client. A client that does not read fast enough loses events (its
 * buffer is bounded) rather than slowing the agent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_xdp.skel.h"

#include "abi_names.h"
#include "agent.h"
#include "ct.h"
#include "egress.h"
#include "events.h"
#include "log.h"
#include "rules.h"

#define EV_RECENT	1024		/* events kept for "backlog" */
/*
 * Events read from the ring buffer in one turn of the loop: the rest wait
 * for the next (the ring buffer stays readable), so that a drop flood with
 * a high --event-rate and a monitor client cannot hold the loop (it held a
 * `status` 6-9 s).
 */
#define EV_TURN		256
#define EV_TURN_DONE	(-EAGAIN)	/* on_event: this turn's share is read */
#define EV_CLIENT_BUF	(256 * 1024)	/* unsent bytes per client before it loses events */
#define EV_MAX_CLIENTS	16

struct ev_client {
	struct ep_src src;
	struct ev_client *next;
	char *out;
	size_t outlen, cap;	/* cap: EV_CLIENT_BUF, and room for the backlog asked */
	uint64_t lost;
	bool want_out;
};

struct agent_events {
	struct ring_buffer *rb;
	int cfg_fd;
	int mute_fd;		/* sl_ev_mute: the drops suppressed on muted CPUs */
	struct ep_src rb_src;
	struct sl_event recent[EV_RECENT];
	size_t head, count;
	struct ev_client *clients;
	size_t nclients;
	unsigned int turn;	/* events read in this turn (EV_TURN) */
};

static struct json_object *event_json(struct agent *a, const struct sl_event *e)
{
	struct json_object *o = json_object_new_object();
	char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
	char tbuf[64], pbuf[8], ifname[IF_NAMESIZE] = "";
	struct timespec mono, real;
	long long ns;
	time_t sec;
	struct tm tm;

	/* ts_ns is CLOCK_MONOTONIC: shift it to the wall clock of now */
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	ns = (long long)real.tv_sec * 1000000000LL + real.tv_nsec -
	     ((long long)mono.tv_sec * 1000000000LL + mono.tv_nsec - (long long)e->ts_ns);
	sec = ns / 1000000000LL;
	gmtime_r(&sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + strlen(tbuf), sizeof(tbuf) - strlen(tbuf), ".%06lldZ",
		 (ns % 1000000000LL) / 1000);

	for (size_t i = 0; i < a->nifaces; i++)
		if (a->ifaces[i].ifindex == (int)e->ifindex)
			snprintf(ifname, sizeof(ifname), "%s", a->ifaces[i].name);
	if (!ifname[0] && e->ifindex && !if_indextoname(e->ifindex, ifname))
		ifname[0] = '\0';

	json_object_object_add(o, "time", json_object_new_string(tbuf));
	json_object_object_add(o, "ts_ns", json_object_new_uint64(e->ts_ns));
	json_object_object_add(o, "ifindex", json_object_new_int64(e->ifindex));
	json_object_object_add(o, "iface", ifname[0] ? json_object_new_string(ifname) : NULL);
	json_object_object_add(o, "reason", json_object_new_string(
				       e->reason < SLUICE_DROP_MAX ? sl_drop_names[e->reason] :
				       "unknown"));
	if (e->rule == SLUICE_EV_NO_RULE) {
		json_object_object_add(o, "rule_index", NULL);
		json_object_object_add(o, "rule", NULL);
	} else if (e->rule == SLUICE_RULE_DEFAULT) {
		json_object_object_add(o, "rule_index", NULL);
		json_object_object_add(o, "rule", json_object_new_string("default"));
	} else {
		/* the rule of the generation that dropped it, even after a reload */
		const char *name = rules_name(a, e->gen, e->section, e->rule);

		json_object_object_add(o, "rule_index", json_object_new_int64(e->rule));
		json_object_object_add(o, "rule", name ? json_object_new_string(name) : NULL);
	}
	json_object_object_add(o, "generation", e->gen ? json_object_new_int64(e->gen) : NULL);
	if (e->family == 4) {
		inet_ntop(AF_INET, e->src, src, sizeof(src));
		inet_ntop(AF_INET, e->dst, dst, sizeof(dst));
	} else if (e->family == 6) {
		inet_ntop(AF_INET6, e->src, src, sizeof(src));
		inet_ntop(AF_INET6, e->dst, dst, sizeof(dst));
	}
	json_object_object_add(o, "family", json_object_new_int(e->family));
	json_object_object_add(o, "proto", e->family ? json_object_new_string(
				       ct_proto_name(e->proto, pbuf, sizeof(pbuf))) : NULL);
	json_object_object_add(o, "src", src[0] ? json_object_new_string(src) : NULL);
	json_object_object_add(o, "sport", json_object_new_int(e->sport));
	json_object_object_add(o, "dst", dst[0] ? json_object_new_string(dst) : NULL);
	json_object_object_add(o, "dport", json_object_new_int(e->dport));
	json_object_object_add(o, "len", json_object_new_int64(e->len));
	/* a call too deep to find its entry names only its cgroup */
	if (e->egress || e->cgroup)
		egress_event_json(a, e, o);
	return o;
}

static void client_close(struct agent *a, struct ev_client *c)
{
	struct agent_events *ev = a->ev;
	struct ev_client **pp;

	for (pp = &ev->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	agent_unwatch(a, &c->src);
	close(c->src.fd);
	free(c->out);
	free(c);
	ev->nclients--;
}

static void client_want_out(struct agent *a, struct ev_client *c, bool on)
{
	struct epoll_event e = {
		.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
		.data.ptr = &c->src,
	};

	if (c->want_out != on && !epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->src.fd, &e))
		c->want_out = on;
}

/* Send what is buffered; false when the client is gone. */
static bool client_flush(struct agent *a, struct ev_client *c)
{
	while (c->outlen) {
		ssize_t w = send(c->src.fd, c->out, c->outlen, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return false;
		}
		memmove(c->out, c->out + w, c->outlen - w);
		c->outlen -= w;
	}
	client_want_out(a, c, c->outlen > 0);
	return true;
}

static void client_queue(struct ev_client *c, const char *line, size_t n)
{
	if (c->outlen + n > c->cap) {
		c->lost++;
		return;
	}
	memcpy(c->out + c->outlen, line, n);
	c->outlen += n;
}

static void client_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct ev_client *c = (struct ev_client *)src;
	char buf[512];
	ssize_t n;

	if (events & EPOLLOUT && !client_flush(a, c)) {
		client_close(a, c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	/* a monitor client sends nothing more: input is discarded, EOF ends it */
	for (;;) {
		n = recv(c->src.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !(events & (EPOLLHUP | EPOLLERR)))
			return;
		client_close(a, c);
		return;
	}
}

static char *event_line(struct agent *a, const struct sl_event *e, size_t *len)
{
	struct json_object *o = event_json(a, e);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	char *line = malloc(n + 2);

	if (line) {
		memcpy(line, s, n);
		line[n++] = '\n';
		line[n] = '\0';
		*len = n;
	}
	json_object_put(o);
	return line;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	struct agent_events *ev = a->ev;
	struct sl_event ev_buf = {};
	const struct sl_event *e = &ev_buf;
	struct ev_client *c, *next;
	char *line;
	size_t n;

	/* a program of an older build writes the shorter record of its time */
	if (size < offsetof(struct sl_event, cgroup))
		return 0;
	memcpy(&ev_buf, data, size < sizeof(ev_buf) ? size : sizeof(ev_buf));
	ev->recent[ev->head] = *e;
	ev->head = (ev->head + 1) % EV_RECENT;
	if (ev->count < EV_RECENT)
		ev->count++;
	if (ev->clients) {
		line = event_line(a, e, &n);
		for (c = ev->clients; line && c; c = next) {
			next = c->next;
			client_queue(c, line, n);
			if (!client_flush(a, c))
				client_close(a, c);
		}
		free(line);
	}
	/* this event is consumed either way (libbpf moves past it first) */
	return ++ev->turn < EV_TURN ? 0 : EV_TURN_DONE;
}

static void rb_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	int n;

	(void)src;
	(void)events;
	a->ev->turn = 0;
	n = ring_buffer__consume(a->ev->rb);
	if (n < 0 && n != EV_TURN_DONE)
		pr_warn("events: cannot read the ring buffer: %s", strerror(-n));
}

static int read_cfg(struct agent *a, struct sl_ev_config *c)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(a->ev->cfg_fd, &key, c) ? -errno : 0;
}

/*
 * The limiter's counters as the agent reports them: suppressed is
 * sl_ev_cfg's (the drops that found the window full) plus every CPU's
 * count of the drops it suppressed while muted (sl_ev_mute, events.h).
 */
static int read_stats(struct agent *a, struct sl_ev_config *c)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	struct sl_ev_mute *mu;
	__u32 key = 0;

	err = read_cfg(a, c);
	if (err || ncpu <= 0)
		return err ? err : ncpu;
	mu = calloc(ncpu, sizeof(*mu));
	if (!mu)
		return -ENOMEM;
	err = bpf_map_lookup_elem(a->ev->mute_fd, &key, mu) ? -errno : 0;
	for (int i = 0; !err && i < ncpu; i++)
		c->suppressed += mu[i].suppressed;
	free(mu);
	return err;
}

int events_open(struct agent *a)
{
	struct sluice_xdp *skel = a->xdp;
	struct agent_events *ev;
	struct sl_ev_config cfg;
	__u32 key = 0;
	int err;

	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	a->ev = ev;
	/* both slots share the pinned ring buffer and limiter (maps/) */
	ev->cfg_fd = bpf_map__fd(skel->maps.sl_ev_cfg);
	ev->mute_fd = bpf_map__fd(skel->maps.sl_ev_mute);
	err = read_cfg(a, &cfg);
	if (!err) {
		/* the counters of a previous agent carry on; only the rate is ours */
		cfg.rate = a->ev_rate;
		err = bpf_map_update_elem(ev->cfg_fd, &key, &cfg, BPF_ANY) ? -errno : 0;
	}
	if (err) {
		pr_err("cannot write the event rate into %s: %s", SLUICE_MAP_EV_CFG,
		       strerror(-err));
		return err;
	}
	ev->rb = ring_buffer__new(bpf_map__fd(skel->maps.sl_events), on_event, a, NULL);
	if (!ev->rb) {
		err = -errno;
		pr_err("cannot open the ring buffer %s: %s", SLUICE_MAP_EVENTS, strerror(errno));
		return err;
	}
	ev->rb_src.fd = ring_buffer__epoll_fd(ev->rb);
	ev->rb_src.ready = rb_ready;
	return agent_watch(a, &ev->rb_src, EPOLLIN);
}

void events_close(struct agent *a)
{
	struct agent_events *ev = a->ev;

	if (!ev)
		return;
	while (ev->clients)
		client_close(a, ev->clients);
	if (ev->rb) {
		agent_unwatch(a, &ev->rb_src);
		ring_buffer__free(ev->rb);
	}
	free(ev);
	a->ev = NULL;
}

struct json_object *events_stats(struct agent *a)
{
	struct sl_ev_config cfg;
	struct json_object *o;

	if (!a->ev || read_stats(a, &cfg))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "rate", json_object_new_int64(cfg.rate));
	json_object_object_add(o, "sent", json_object_new_uint64(cfg.sent));
	json_object_object_add(o, "suppressed", json_object_new_uint64(cfg.suppressed));
	json_object_object_add(o, "lost", json_object_new_uint64(cfg.lost));
	json_object_object_add(o, "clients", json_object_new_int64(a->ev->nclients));
	return o;
}

static int req_backlog(struct json_object *req, int64_t *n)
{
	struct json_object *v;

	*n = 0;
	if (!json_object_object_get_ex(req, "backlog", &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	*n = json_object_get_int64(v);
	return *n < 0 || *n > EV_RECENT ? -ERANGE : 0;
}

int ev_cmd_monitor(struct agent *a, struct json_object *req, struct json_object **data,
		   char *err, size_t errlen)
{
	int64_t backlog;

	if (req_backlog(req, &backlog)) {
		snprintf(err, errlen, "\"backlog\" must be an integer from 0 to %d", EV_RECENT);
		return -EINVAL;
	}
	if (!a->ev || a->ev->nclients >= EV_MAX_CLIENTS) {
		snprintf(err, errlen, "too many monitor clients (at most %d)", EV_MAX_CLIENTS);
		return -EBUSY;
	}
	*data = events_stats(a);
	if (!*data) {
		snprintf(err, errlen, "cannot read %s", SLUICE_MAP_EV_CFG);
		return -EIO;
	}
	return 0;
}

void events_add_client(struct agent *a, int fd, struct json_object *req)
{
	struct agent_events *ev = a->ev;
	struct ev_client *c = calloc(1, sizeof(*c));
	char *lines[EV_RECENT];
	size_t lens[EV_RECENT], room = 0;
	int64_t backlog = 0;

	/* the backlog's lines first: the buffer holds them all and the usual room */
	req_backlog(req, &backlog);
	if (backlog > (int64_t)ev->count)
		backlog = ev->count;
	if (backlog < 0)
		backlog = 0;
	for (int64_t i = 0; i < backlog; i++) {
		size_t idx = (ev->head + EV_RECENT - (size_t)(backlog - i)) % EV_RECENT;

		lines[i] = event_line(a, &ev->recent[idx], &lens[i]);
		room += lines[i] ? lens[i] : 0;
	}
	if (c) {
		c->cap = EV_CLIENT_BUF + room;
		c->out = malloc(c->cap);
		c->src.fd = fd;
		c->src.ready = client_ready;
	}
	if (!c || !c->out || agent_watch(a, &c->src, EPOLLIN | EPOLLRDHUP)) {
		if (c)
			free(c->out);
		free(c);
		close(fd);
		c = NULL;
	}
	for (int64_t i = 0; i < backlog; i++) {
		if (c && lines[i])
			client_queue(c, lines[i], lens[i]);
		free(lines[i]);
	}
	if (!c)
		return;
	c->next = ev->clients;
	ev->clients = c;
	ev->nclients++;
	if (!client_flush(a, c))
		client_close(a, c);
}
