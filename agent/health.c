// SPDX-License-Identifier: GPL-2.0-only
/*
 * Health checks (health.h), all in the epoll loop: one timerfd for the
 * schedule, one non-blocking socket per check in flight.
 *
 *   due -> socket(), connect() (EINPROGRESS: wait for EPOLLOUT)
 *       -> tcp: connected is up
 *          http: send "GET PATH HTTP/1.0", read the status line (EPOLLIN),
 *                up when its status is the expected one
 *   a check not done by its timeout fails; the next one starts an interval
 *   after this one started.
 *
 * A state change (rise successes, fall failures in a row) is logged,
 * counted, recorded in the backend's lb_backends entry (LB_BE_F_DOWN: a
 * restarted agent keeps it) and applied at once: the service gets a new
 * Maglev table without (or with) the backend (lb_resync). Flows already on
 * a backend that goes down stay there: new flows avoid it.
 *
 * In DSR mode a check goes to the backend encapsulated to the VIP, as the
 * clients' packets do (SO_MARK; the TC egress program of a stateful
 * firewall rewrites it, bpf/lib/lb_hc.h): it proves the backend serves the
 * VIP. Without conntrack (stateful: false) that program does not run and
 * the check reaches the backend's own address.
 *
 * A backend starts up (or as the pinned record says after a restart), so
 * that applying a policy or restarting the agent never empties a table
 * while the first checks run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "health.h"
#include "lb.h"
#include "lb_maps.h"
#include "lb_policy.h"
#include "log.h"
#include "version.h"

#define HC_RESP_MAX	512	/* bytes of the answer read: the status line is in them */

enum hc_phase { HC_IDLE, HC_CONNECTING, HC_READING };

struct hc_check {
	struct ep_src src;		/* first: the socket of the check in flight */
	struct lb_svc_key key;		/* its service */
	char svc[64];			/* its name (rule and service names: at most 63) */
	uint8_t family, addr[16];
	uint16_t port;
	struct sl_lb_health cfg;	/* path points into path[] */
	char path[256];
	bool down, alive;
	bool encap;			/* DSR: the check goes to the VIP as client traffic does */
	uint32_t ok_run, fail_run;
	uint64_t checks, failures, transitions;
	char last_err[128];
	uint64_t next_ms, deadline_ms;	/* CLOCK_MONOTONIC ms */
	enum hc_phase phase;
	char buf[HC_RESP_MAX + 1];
	size_t blen;
};

struct agent_health {
	struct hc_check **v;
	size_t n;
	int timer_fd;
	struct ep_src timer_src;
	bool dirty;			/* a state changed: the tables follow */
	bool starved;			/* no socket for a check: said once in the log */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hc_name(const struct hc_check *c, char *buf, size_t len)
{
	char ep[80];

	lb_endpoint_format(c->family, c->addr, c->port, ep, sizeof(ep));
	snprintf(buf, len, "%s backend %s", c->svc, ep);
}

/* The timer at the earliest start or deadline of any check. */
static void hc_arm(struct agent *a)
{
	struct agent_health *h = a->hc;
	uint64_t t = UINT64_MAX, now = now_ms();
	struct itimerspec its = {};

	for (size_t i = 0; i < h->n; i++) {
		const struct hc_check *c = h->v[i];
		uint64_t at = c->phase == HC_IDLE ? c->next_ms : c->deadline_ms;

		if (at < t)
			t = at;
	}
	if (t == UINT64_MAX)
		return;
	t = t > now ? t - now : 1;
	its.it_value.tv_sec = t / 1000;
	its.it_value.tv_nsec = (t % 1000) * 1000000 + 1;
	if (timerfd_settime(h->timer_fd, 0, &its, NULL))
		pr_err("health checks: cannot arm the timer: %s", strerror(errno));
}

static void hc_close(struct agent *a, struct hc_check *c)
{
	if (c->phase == HC_IDLE)
		return;
	agent_unwatch(a, &c->src);
	close(c->src.fd);
	c->src.fd = -1;
	c->phase = HC_IDLE;
}

/* The end of one check: OK, or failed because of WHY. */
static void hc_result(struct agent *a, struct hc_check *c, bool ok, const char *why)
{
	char name[160];
	int id;

	hc_close(a, c);
	c->checks++;
	if (ok) {
		c->ok_run++;
		c->fail_run = 0;
	} else {
		c->failures++;
		c->fail_run++;
		c->ok_run = 0;
		snprintf(c->last_err, sizeof(c->last_err), "%s", why);
		hc_name(c, name, sizeof(name));
		pr_debug("health: %s: check failed: %s", name, why);
	}
	if (c->down ? c->ok_run < c->cfg.rise : c->fail_run < c->cfg.fall)
		return;
	if (c->down != ok)
		return;
	c->down = !ok;
	c->transitions++;
	hc_name(c, name, sizeof(name));
	if (c->down)
		pr_warn("health: %s is down (%u failed checks in a row, last: %s): new flows "
			"avoid it", name, c->fail_run, c->last_err);
	else
		pr_info("health: %s is up again (%u good checks in a row)", name, c->ok_run);
	id = lb_backend_id(a->lb, &c->key, c->addr, c->port);
	if (id < 0 || lb_set_down(a->lb, (uint32_t)id, c->down))
		pr_err("health: %s: cannot record the state in %s", name, SLUICE_MAP_LB_BACKENDS);
	a->hc->dirty = true;
}

/* A state changed: the services' tables follow at once. */
static void hc_apply(struct agent *a)
{
	if (!a->hc->dirty)
		return;
	a->hc->dirty = false;
	lb_resync(a, "a health change");
}

static void hc_sock_ready(struct agent *a, struct ep_src *src, uint32_t events);

static int hc_watch(struct agent *a, struct hc_check *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = &c->src };

	return epoll_ctl(a->epfd, op, c->src.fd, &ev) ? -errno : 0;
}

static void hc_send(struct agent *a, struct hc_check *c)
{
	char req[512], host[64];
	int n;
	ssize_t w;

	lb_endpoint_format(c->family, c->addr, 0, host, sizeof(host));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s%s%s:%u\r\n"
		     "User-Agent: sluiced/%s\r\nConnection: close\r\n\r\n",
		     c->cfg.path ? c->cfg.path : "/", c->family == 6 ? "[" : "", host,
		     c->family == 6 ? "]" : "", c->port, sluice_version);
	/* a fresh socket's buffer takes a request this small at once */
	w = send(c->src.fd, req, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != n) {
		hc_result(a, c, false, w < 0 ? strerror(errno) : "short send");
		return;
	}
	c->phase = HC_READING;
	c->blen = 0;
	if (hc_watch(a, c, EPOLL_CTL_MOD, EPOLLIN))
		hc_result(a, c, false, "epoll");
}

/*
 * The status code of the status line at S, as RFC 9112 writes it: "HTTP/"
 * DIGIT "." DIGIT SP 3DIGIT, then SP (the reason), CR, LF or the end; -1
 * for anything else (a sign, a fourth digit, a number that wraps).
 */
static int hc_status_code(const char *s)
{
	const char *d = s + 5;

	if (strncmp(s, "HTTP/", 5) || !isdigit((unsigned char)d[0]) || d[1] != '.' ||
	    !isdigit((unsigned char)d[2]) || d[3] != ' ')
		return -1;
	d += 4;
	if (!isdigit((unsigned char)d[0]) || !isdigit((unsigned char)d[1]) ||
	    !isdigit((unsigned char)d[2]) || (d[3] && !strchr(" \r\n", d[3])))
		return -1;
	return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

/* The status line is in: up when its status is the one expected. */
static void hc_http_status(struct agent *a, struct hc_check *c)
{
	int status = hc_status_code(c->buf);
	char why[96];

	if (status < 0) {
		hc_result(a, c, false, "not an HTTP status line");
		return;
	}
	if ((unsigned int)status == c->cfg.expect) {
		hc_result(a, c, true, NULL);
		return;
	}
	snprintf(why, sizeof(why), "HTTP status %d, expected %u", status, c->cfg.expect);
	hc_result(a, c, false, why);
}

static void hc_sock_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct hc_check *c = (struct hc_check *)src;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	ssize_t r;

	if (c->phase == HC_CONNECTING) {
		if (getsockopt(src->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
			soerr = errno;
		if (soerr || (events & (EPOLLERR | EPOLLHUP)))
			hc_result(a, c, false, soerr ? strerror(soerr) : "connection failed");
		else if (c->cfg.type == SL_HC_HTTP)
			hc_send(a, c);
		else
			hc_result(a, c, true, NULL);
	} else if (c->phase == HC_READING) {
		r = read(src->fd, c->buf + c->blen, HC_RESP_MAX - c->blen);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r > 0)
			c->blen += (size_t)r;
		c->buf[c->blen] = '\0';
		if (strchr(c->buf, '\n') || r == 0 || c->blen == HC_RESP_MAX) {
			if (r < 0)
				hc_result(a, c, false, strerror(errno));
			else if (!c->blen)
				hc_result(a, c, false, "closed without an answer");
			else
				hc_http_status(a, c);
		}
	}
	hc_apply(a);
	hc_arm(a);
}

static void hc_start(struct agent *a, struct hc_check *c, uint64_t now)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int fd;

	c->next_ms = now + c->cfg.interval_ms;
	c->deadline_ms = now + c->cfg.timeout_ms;
	if (c->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->port);
		memcpy(&s4->sin_addr, c->addr, 4);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->port);
		memcpy(&s6->sin6_addr, c->addr, 16);
		len = sizeof(*s6);
	}
	fd = socket(c->family == 4 ? AF_INET : AF_INET6,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
		       errno == ENOBUFS)) {
		/*
		 * The agent's own want (fds, memory) says nothing of the backend:
		 * counted as its failure, every backend left the table and the
		 * service's traffic found none. No check this interval.
		 */
		if (!a->hc->starved)
			pr_warn("health: no socket for the checks (%s): skipped until there is one",
				strerror(errno));
		a->hc->starved = true;
		return;
	}
	if (fd < 0) {
		hc_result(a, c, false, strerror(errno));
		return;
	}
	a->hc->starved = false;
	c->src.fd = fd;
	c->phase = HC_CONNECTING;
	if (c->encap) {
		/* the TC egress program encapsulates it to the VIP (bpf/lib/lb_hc.h) */
		int id = lb_backend_id(a->lb, &c->key, c->addr, c->port);
		uint32_t mark = SLUICE_LB_HC_MARK | (uint32_t)id;

		if (id < 0 || setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
			hc_result(a, c, false, id < 0 ? "no backend id" : strerror(errno));
			return;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		hc_result(a, c, false, strerror(errno));
		return;
	}
	if (hc_watch(a, c, EPOLL_CTL_ADD, EPOLLOUT))
		hc_result(a, c, false, "epoll");
}

static void hc_timer_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct agent_health *h = a->hc;
	uint64_t ticks, now = now_ms();

	(void)src;
	(void)events;
	if (read(h->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		pr_debug("health: timer read: %s", strerror(errno));
	for (size_t i = 0; i < h->n; i++) {
		struct hc_check *c = h->v[i];

		if (c->phase != HC_IDLE && now >= c->deadline_ms)
			hc_result(a, c, false, "timeout");
		if (c->phase == HC_IDLE && now >= c->next_ms)
			hc_start(a, c, now);
	}
	hc_apply(a);
	hc_arm(a);
}

static struct hc_check *hc_find(struct agent_health *h, const struct lb_svc_key *key,
				const uint8_t *addr, uint16_t port)
{
	for (size_t i = 0; h && i < h->n; i++) {
		struct hc_check *c = h->v[i];

		if (!memcmp(&c->key, key, sizeof(*key)) && !memcmp(c->addr, addr, 16) &&
		    c->port == port)
			return c;
	}
	return NULL;
}

static int hc_open(struct agent *a)
{
	struct agent_health *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->timer_fd < 0) {
		free(h);
		return -errno;
	}
	h->timer_src.fd = h->timer_fd;
	h->timer_src.ready = hc_timer_ready;
	a->hc = h;
	return agent_watch(a, &h->timer_src, EPOLLIN);
}

int health_sync(struct agent *a)
{
	struct agent_health *h;
	uint64_t now = now_ms();
	size_t nchk = 0, k = 0;
	int err;

	if (!a->have_policy || !a->lb)
		return 0;
	if (!a->hc) {
		err = hc_open(a);
		if (err) {
			pr_err("health checks: cannot set up: %s", strerror(-err));
			return err;
		}
	}
	h = a->hc;
	for (size_t i = 0; i < h->n; i++)
		h->v[i]->alive = false;
	for (size_t i = 0; i < a->pol.nlbs; i++) {
		const struct sl_lb_service *s = &a->pol.lbs[i];
		struct lb_svc_key key;

		if (s->health.type == SL_HC_NONE)
			continue;
		lb_svc_key_of(s, &key);
		for (size_t b = 0; b < s->nbackends; b++, nchk++) {
			const struct sl_lb_backend *pb = &s->backends[b];
			struct hc_check *c = hc_find(h, &key, pb->addr, pb->port), **nv;
			int id;

			if (!c) {
				c = calloc(1, sizeof(*c));
				nv = c ? realloc(h->v, (h->n + 1) * sizeof(*nv)) : NULL;
				if (!nv) {
					free(c);
					pr_err("health checks: out of memory");
					return -ENOMEM;
				}
				h->v = nv;
				h->v[h->n++] = c;
				c->key = key;
				c->family = s->family;
				memcpy(c->addr, pb->addr, 16);
				c->port = pb->port;
				c->src.fd = -1;
				c->src.ready = hc_sock_ready;
				id = lb_backend_id(a->lb, &key, pb->addr, pb->port);
				c->down = id >= 0 && (a->lb->be[id].flags & LB_BE_F_DOWN);
				/* spread the first checks over an interval */
				c->next_ms = now + s->health.interval_ms * (nchk % 16) / 16;
			}
			snprintf(c->svc, sizeof(c->svc), "%s", s->name);
			c->encap = s->mode == SL_LB_DSR;
			c->cfg = s->health;
			snprintf(c->path, sizeof(c->path), "%s", s->health.path ? s->health.path :
				 "/");
			c->cfg.path = c->path;
			c->alive = true;
		}
	}
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i]->alive) {
			h->v[k++] = h->v[i];
			continue;
		}
		hc_close(a, h->v[i]);
		free(h->v[i]);
	}
	h->n = k;
	hc_arm(a);
	return 0;
}

void health_close(struct agent *a)
{
	struct agent_health *h = a->hc;

	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		hc_close(a, h->v[i]);
		free(h->v[i]);
	}
	free(h->v);
	close(h->timer_fd);
	free(h);
	a->hc = NULL;
}

void health_info(struct agent *a, const struct lb_svc_key *key, const uint8_t *addr,
		 uint16_t port, struct health_info *out)
{
	struct hc_check *c = hc_find(a->hc, key, addr, port);
	int id;

	memset(out, 0, sizeof(*out));
	if (!c) {
		/* no checks: the pinned record alone (a backend of a service without health is up) */
		id = a->lb ? lb_backend_id(a->lb, key, addr, port) : -1;
		out->down = id >= 0 && (a->lb->be[id].flags & LB_BE_F_DOWN);
		return;
	}
	out->checked = true;
	out->down = c->down;
	out->checks = c->checks;
	out->failures = c->failures;
	out->transitions = c->transitions;
	out->last_error = c->last_err[0] ? c->last_err : NULL;
}
