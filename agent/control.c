// SPDX-License-Identifier: GPL-2.0-only
/*
 * The control socket of docs/control.md: a unix stream socket, one request
 * per connection ({"cmd": ...} and '\n'), one answer ({"ok": ..., "data"
 * or "error"} and '\n'), then close. Connections are read without blocking
 * the loop: a slow or silent client never delays link events.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "sluice_xdp.skel.h"

#include "agent.h"
#include "attach.h"
#include "conntrack.h"
#include "control.h"
#include "edit.h"
#include "events.h"
#include "fw_maps.h"
#include "lb.h"
#include "loader.h"
#include "log.h"
#include "policy_edit.h"
#include "policy_json.h"
#include "sync.h"

#define CTL_MAX_REQ	(1 << 20)	/* docs/control.md: larger requests are refused */
#define CTL_TIMEOUT_MS	5000		/* a client gets this long to send its request */
#define CTL_MAX_CONNS	64

struct ctl_conn {
	struct ep_src src;	/* first: agent_conn_new */
	struct ctl_conn *next;
	struct timespec t0;
	char *buf;
	size_t len;
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
	free(c->buf);
	free(c);
	a->nconns--;
}

static void conn_close(struct agent *a, struct ctl_conn *c)
{
	int fd = c->src.fd;

	conn_release(a, c);
	close(fd);
}

/* ---- answers ---- */

static struct json_object *json_strs(char **v, size_t n)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(v[i]));
	return arr;
}

static struct json_object *json_counter(const struct sl_counter *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "packets", json_object_new_uint64(c->packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(c->bytes));
	return o;
}

static struct json_object *status_maps(struct agent *a)
{
	struct json_object *arr = json_object_new_array();
	struct bpf_map *map;

	bpf_object__for_each_map(map, a->xdp->obj) {
		const char *name = bpf_map__name(map);
		struct json_object *o;
		long used = -1;

		if (bpf_map__is_internal(map))
			continue;
		if (a->use.known) {
			if (!strcmp(name, SLUICE_MAP_FW_CLS))
				used = a->use.classes;
			else if (!strcmp(name, SLUICE_MAP_FW_SRC4_T8))
				used = a->use.src4_t8;
			else if (!strcmp(name, SLUICE_MAP_FW_DST4_T8))
				used = a->use.dst4_t8;
			else if (!strcmp(name, SLUICE_MAP_FW_SRC6))
				used = a->use.src6;
			else if (!strcmp(name, SLUICE_MAP_FW_DST6))
				used = a->use.dst6;
			else if (!strcmp(name, SLUICE_MAP_RULE_CNT))
				used = policy_fw(&a->pol, 0)->nrules + 1;
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		if (!strcmp(name, SLUICE_MAP_CT)) {
			ct_status_map(a, o);
			json_object_array_add(arr, o);
			continue;
		}
		if (used >= 0)
			json_object_object_add(o, "used", json_object_new_int64(used));
		json_object_object_add(o, "capacity",
				       json_object_new_int64(bpf_map__max_entries(map)));
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *status_ifaces(struct agent *a)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < a->nifaces; i++) {
		const struct iface *it = &a->ifaces[i];
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct json_object *o = json_object_new_object();

		bpf_obj_get_info_by_fd(it->link_fd, &info, &len);
		json_object_object_add(o, "name", json_object_new_string(it->name));
		json_object_object_add(o, "ifindex", json_object_new_int(it->ifindex));
		json_object_object_add(o, "hook", json_object_new_string("xdp"));
		json_object_object_add(o, "mode", json_object_new_string(attach_mode_name(it)));
		json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
		json_object_object_add(o, "prog_id", json_object_new_int64(info.prog_id));
		json_object_object_add(o, "link_id", json_object_new_int64(info.id));
		json_object_array_add(arr, o);
		o = ct_status_hook(a, it);
		if (o)
			json_object_array_add(arr, o);
	}
	return arr;
}

static int cmd_status(struct agent *a, struct json_object **data, char *err, size_t errlen)
{
	struct json_object *d = json_object_new_object();
	struct json_object *ag = json_object_new_object();
	struct json_object *pol = NULL;

	(void)err;
	(void)errlen;
	json_object_object_add(ag, "pid", json_object_new_int(getpid()));
	json_object_object_add(ag, "version", json_object_new_string(SLUICED_VERSION));
	json_object_object_add(ag, "policy_dir", json_object_new_string(a->policy_dir));
	json_object_object_add(ag, "state_dir", json_object_new_string(a->state_dir));
	json_object_object_add(ag, "socket", json_object_new_string(a->sock_path));
	json_object_object_add(ag, "started", json_object_new_int64(a->started));
	json_object_object_add(d, "agent", ag);
	json_object_object_add(d, "generation", json_object_new_uint64(a->generation));
	json_object_object_add(d, "slot", json_object_new_int(a->slot));
	if (a->have_policy) {
		const struct sl_firewall *fw = policy_fw(&a->pol, 0);
		struct json_object *secs = json_object_new_array();

		pol = json_object_new_object();
		json_object_object_add(pol, "files", json_strs(a->pol.files, a->pol.nfiles));
		json_object_object_add(pol, "rules", json_object_new_int64(policy_nrules(&a->pol)));
		/* default and interfaces of the first section; every section under "sections" */
		json_object_object_add(pol, "default", json_object_new_string(
					       sl_action_name(fw->default_action)));
		json_object_object_add(pol, "stateful", json_object_new_boolean(
					       policy_stateful(&a->pol)));
		json_object_object_add(pol, "interfaces", json_strs(fw->ifaces, fw->nifaces));
		for (size_t s = 0; s < a->pol.nfws; s++) {
			struct json_object *o = json_object_new_object();

			fw = &a->pol.fws[s];
			json_object_object_add(o, "name", json_object_new_string(fw->name));
			json_object_object_add(o, "interfaces", json_strs(fw->ifaces, fw->nifaces));
			json_object_object_add(o, "default", json_object_new_string(
						       sl_action_name(fw->default_action)));
			json_object_object_add(o, "stateful",
					       json_object_new_boolean(fw->stateful));
			json_object_object_add(o, "rules", json_object_new_int64(fw->nrules));
			json_object_array_add(secs, o);
		}
		json_object_object_add(pol, "sections", secs);
	}
	/* null: the agent keeps a pinned policy it could not load itself */
	json_object_object_add(d, "policy", pol);
	json_object_object_add(d, "interfaces", status_ifaces(a));
	json_object_object_add(d, "maps", status_maps(a));
	*data = d;
	return 0;
}

/*
 * Every section's rules in order, with their counters: rule i of section k
 * is counted at fw_rule_cnt[sync_rule_base(k) + i] (rules past
 * SLUICE_MAX_RULES over all sections are not counted: null). The default
 * action's counters are shared by the sections.
 */
static int cmd_rule_list(struct agent *a, struct json_object **data, char *err,
			 size_t errlen)
{
	struct sl_counter cnt[SLUICE_MAX_RULES + 1];
	struct json_object *d, *rules, *def;
	size_t nsec = a->pol.nfws ? a->pol.nfws : 1;
	int ret;

	if (!a->have_policy) {
		snprintf(err, errlen, "this agent has no valid policy of its own (see its log); "
			 "generation %llu stays in force", (unsigned long long)a->generation);
		return -ENOENT;
	}
	ret = sl_counters_read(a->rule_cnt_fd, SLUICE_MAX_RULES + 1, cnt);
	if (ret) {
		snprintf(err, errlen, "cannot read the rule counters (%s): %s",
			 SLUICE_MAP_RULE_CNT, strerror(-ret));
		return ret;
	}
	rules = json_object_new_array();
	for (size_t k = 0; k < nsec; k++) {
		const struct sl_firewall *fw = policy_fw(&a->pol, (int)k);
		uint32_t base = sync_rule_base(&a->pol, k);

		for (size_t i = 0; i < fw->nrules; i++) {
			const struct sl_rule *r = &fw->rules[i];
			struct json_object *o = sl_json_rule(r);
			bool counted = base + i < SLUICE_MAX_RULES;

			json_object_object_add(o, "index", json_object_new_int64(i));
			json_object_object_add(o, "section", json_object_new_string(fw->name));
			json_object_object_add(o, "origin",
					       sl_json_origin(&r->loc, sl_rule_from_edits(r)));
			json_object_object_add(o, "packets", counted ?
					       json_object_new_uint64(cnt[base + i].packets) : NULL);
			json_object_object_add(o, "bytes", counted ?
					       json_object_new_uint64(cnt[base + i].bytes) : NULL);
			json_object_array_add(rules, o);
		}
	}
	def = json_counter(&cnt[SLUICE_RULE_DEFAULT]);
	/* one section: its name; several: their default actions count together */
	json_object_object_add(def, "section", nsec == 1 ?
			       json_object_new_string(policy_fw(&a->pol, 0)->name) : NULL);
	json_object_object_add(def, "action", nsec == 1 ? json_object_new_string(
				       sl_action_name(policy_fw(&a->pol, 0)->default_action)) : NULL);
	d = json_object_new_object();
	json_object_object_add(d, "rules", rules);
	json_object_object_add(d, "default", def);
	*data = d;
	return 0;
}

#define STAT_NAME(id, name) name,
static const char *const verdict_names[] = { SLUICE_VERDICTS(STAT_NAME) };
static const char *const drop_names[] = { SLUICE_DROP_REASONS(STAT_NAME) };
#undef STAT_NAME

static int cmd_stats(struct agent *a, struct json_object **data, char *err, size_t errlen)
{
	struct sl_counter verdicts[SLUICE_VERDICT_MAX], drops[SLUICE_DROP_MAX];
	struct json_object *v, *dr, *xdp, *hooks, *d;
	int ret;

	ret = sl_counters_read(a->verdict_fd, SLUICE_VERDICT_MAX, verdicts);
	if (!ret)
		ret = sl_counters_read(a->drop_fd, SLUICE_DROP_MAX, drops);
	if (ret) {
		snprintf(err, errlen, "cannot read the counters: %s", strerror(-ret));
		return ret;
	}
	v = json_object_new_object();
	for (int i = 0; i < SLUICE_VERDICT_MAX; i++)
		json_object_object_add(v, verdict_names[i], json_counter(&verdicts[i]));
	dr = json_object_new_object();
	for (int i = 0; i < SLUICE_DROP_MAX; i++)
		json_object_object_add(dr, drop_names[i], json_counter(&drops[i]));
	xdp = json_object_new_object();
	json_object_object_add(xdp, "verdicts", v);
	json_object_object_add(xdp, "drops", dr);
	hooks = json_object_new_object();
	json_object_object_add(hooks, "xdp", xdp);
	d = json_object_new_object();
	json_object_object_add(d, "hooks", hooks);
	json_object_object_add(d, "events", events_stats(a));
	json_object_object_add(d, "lb", lb_stats_json(a));
	*data = d;
	return 0;
}

static int cmd_teardown(struct agent *a, struct json_object **data, char *err,
			size_t errlen)
{
	struct json_object *removed = json_object_new_array();
	struct json_object *d;
	int ret, ret2;

	pr_info("teardown requested: detaching and removing %s", a->state_dir);
	ret = attach_detach_all(a, removed);
	if (ret)
		snprintf(err, errlen, "cannot detach every XDP link: %s", strerror(-ret));
	ret2 = loader_remove_state(a, ret ? NULL : err, ret ? 0 : errlen);
	if (!ret)
		ret = ret2;
	/* nothing is left to serve: the agent leaves after this answer */
	a->stop = true;
	a->exit_code = ret ? 1 : 0;
	if (ret) {
		pr_err("teardown: %s", err);
		json_object_put(removed);
		return ret;
	}
	d = json_object_new_object();
	json_object_object_add(d, "removed", removed);
	*data = d;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct agent *a, struct json_object **data, char *err, size_t errlen);
	/* commands that take arguments get the request */
	int (*fn_req)(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen);
} commands[] = {
	{ "status", cmd_status },
	{ "rule-list", cmd_rule_list },
	{ "stats", cmd_stats },
	{ "teardown", cmd_teardown },
	{ "ct-list", NULL, ct_cmd_list },
	{ "ct-flush", NULL, ct_cmd_flush },
	{ "ct-stats", NULL, ct_cmd_stats },
	{ "monitor", NULL, ev_cmd_monitor },
	{ "rule-add", NULL, edit_cmd_rule_add },
	{ "rule-del", NULL, edit_cmd_rule_del },
	{ "block-add", NULL, edit_cmd_block_add },
	{ "block-del", NULL, edit_cmd_block_del },
	{ "block-list", NULL, edit_cmd_block_list },
	{ "policy-show", NULL, edit_cmd_policy_show },
	{ "generation", NULL, edit_cmd_generation },
	{ "lb-list", NULL, lb_cmd_list },
	{ "lb-drain", NULL, edit_cmd_lb_drain },
	{ "lb-undrain", NULL, edit_cmd_lb_undrain },
};

/*
 * *MONITOR is set to the request when it is an accepted "monitor": the
 * connection then stays open for the events (events.c) and the caller puts it.
 */
static struct json_object *handle_request(struct agent *a, const char *req, size_t len,
					  struct json_object **monitor)
{
	struct json_object *in, *cmdv, *data = NULL, *ans = json_object_new_object();
	enum json_tokener_error jerr = json_tokener_success;
	struct json_tokener *tok = json_tokener_new();
	char err[2048] = "";
	const char *cmd = "";
	int ret = -EINVAL;
	size_t end = 0;

	in = tok ? json_tokener_parse_ex(tok, req, (int)len) : NULL;
	if (tok) {
		jerr = json_tokener_get_error(tok);
		end = json_tokener_get_parse_end(tok);
		json_tokener_free(tok);
	}
	if (!in || jerr != json_tokener_success) {
		snprintf(err, sizeof(err), "request is not JSON: %s",
			 jerr == json_tokener_continue ? "unexpected end of input" :
			 json_tokener_error_desc(jerr));
		goto out;
	}
	if (end > len || strspn(req + end, " \t\r") != len - end) {
		snprintf(err, sizeof(err), "request has data after the JSON object");
		goto out;
	}
	if (!json_object_is_type(in, json_type_object) ||
	    !json_object_object_get_ex(in, "cmd", &cmdv) ||
	    !json_object_is_type(cmdv, json_type_string)) {
		snprintf(err, sizeof(err), "request has no \"cmd\" string");
		goto out;
	}
	cmd = json_object_get_string(cmdv);
	snprintf(err, sizeof(err), "unknown command \"%.64s\" (known: status, rule-list, "
		 "stats, teardown, ct-list, ct-flush, ct-stats, monitor, rule-add, rule-del, "
		 "block-add, block-del, block-list, policy-show, generation, lb-list, lb-drain, "
		 "lb-undrain)", cmd);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		err[0] = '\0';
		pr_debug("control: %s", cmd);
		ret = commands[i].fn ? commands[i].fn(a, &data, err, sizeof(err)) :
		      commands[i].fn_req(a, in, &data, err, sizeof(err));
		break;
	}
out:
	if (!ret && !strcmp(cmd, "monitor"))
		*monitor = json_object_get(in);
	json_object_put(in);
	json_object_object_add(ans, "ok", json_object_new_boolean(!ret));
	if (ret) {
		json_object_put(data);
		json_object_object_add(ans, "error", json_object_new_string(err));
		/* the request itself is wrong: the CLI exits 2, not 1 */
		if (ret == -EINVAL)
			json_object_object_add(ans, "usage", json_object_new_boolean(true));
	} else {
		json_object_object_add(ans, "data", data);
	}
	return ans;
}

static void conn_answer(struct agent *a, struct ctl_conn *c, const char *req, size_t len)
{
	struct json_object *monitor = NULL;
	struct json_object *ans = handle_request(a, req, len, &monitor);
	const char *s = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	struct timeval tv = { .tv_sec = 2 };
	size_t n = strlen(s), off = 0;
	int fd = c->src.fd;
	char *out;

	out = malloc(n + 2);
	if (!out)
		goto done;
	memcpy(out, s, n);
	out[n++] = '\n';
	/* answers are small next to a socket buffer; a stuck reader gets 2 s */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (off < n) {
		ssize_t w = send(fd, out + off, n - off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			pr_debug("control: cannot send the answer: %s", strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	free(out);
	if (monitor && off == n) {
		/* the connection now carries events: events.c owns the fd */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		conn_release(a, c);
		events_add_client(a, fd, monitor);
		json_object_put(monitor);
		json_object_put(ans);
		return;
	}
	json_object_put(monitor);
done:
	json_object_put(ans);
	conn_close(a, c);
}

static void conn_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct ctl_conn *c = (struct ctl_conn *)((char *)src - offsetof(struct ctl_conn, src));
	char *nl;
	ssize_t n;

	(void)events;
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
			conn_answer(a, c, c->buf, nl - c->buf);
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
				conn_answer(a, c, c->buf, c->len);
			else
				conn_close(a, c);
			return;
		}
	}
}

static void listen_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct ctl_conn *c;
	int fd;

	(void)src;
	(void)events;
	while ((fd = accept4(a->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (a->nconns >= CTL_MAX_CONNS) {
			pr_warn("control: too many open connections; refusing one");
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

	for (; c; c = next) {
		next = c->next;
		if (agent_ms_since(&c->t0) > CTL_TIMEOUT_MS) {
			pr_debug("control: closing a connection that sent no request");
			conn_close(a, c);
		}
	}
	return a->conns ? 1000 : -1;
}

/* Does a live agent answer on PATH? */
static bool sock_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = !connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
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
	if (!err && listen(fd, 16))
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
