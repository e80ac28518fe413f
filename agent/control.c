// SPDX-License-Identifier: GPL-2.0-only
/*
 * The commands of the control socket (docs/control.md): one request
 * ({"cmd": ...}), checked here (strict JSON, every key once), one answer
 * ({"ok": ..., "data" or "error"}). The socket and its connections, which
 * no client can hold, are in ctl_conn.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "sluice_xdp.skel.h"

#include "abi_names.h"
#include "agent.h"
#include "attach.h"
#include "conntrack.h"
#include "control.h"
#include "diag.h"
#include "edit.h"
#include "egress.h"
#include "events.h"
#include "fw_maps.h"
#include "lb.h"
#include "loader.h"
#include "log.h"
#include "policy_edit.h"
#include "policy_json.h"
#include "rules.h"
#include "sync.h"
#include "version.h"

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
		long cap = bpf_map__max_entries(map);

		/* the outer arrays of the slots: what the policy in force fills of each table */
		if (a->use.known) {
			if (!strcmp(name, "fwp_cls") || !strcmp(name, "fwp_clsb")) {
				used = a->use.classes;
				cap = (long)SLUICE_MAX_CLASSES * SL_F_MAX;
			} else if (!strcmp(name, "fwp_src4_t8") || !strcmp(name, "fwp_dst4_t8")) {
				used = a->use.t8[name[4] == 'd'];
				cap = SLUICE_T8_MAX;
			} else if (!strcmp(name, "fwp_src4_lh") || !strcmp(name, "fwp_dst4_lh")) {
				used = a->use.lh[name[4] == 'd'];
				cap = SLUICE_LH_MAX;
			} else if (!strcmp(name, "fwp_src6") || !strcmp(name, "fwp_dst6")) {
				used = a->use.v6[name[4] == 'd'];
				cap = SLUICE_LPM6_MAX;
			} else if (!strcmp(name, "fwp_rule")) {
				used = a->use.rules;
				cap = SLUICE_MAX_RULES;
			} else if (!strcmp(name, SLUICE_MAP_RULE_CNT)) {
				used = a->use.rules + 1;
			}
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		if (!strcmp(name, SLUICE_MAP_CT) || !strcmp(name, SLUICE_MAP_CT4)) {
			ct_status_map(a, o, !strcmp(name, SLUICE_MAP_CT4));
			json_object_array_add(arr, o);
			continue;
		}
		if (used >= 0)
			json_object_object_add(o, "used", json_object_new_int64(used));
		json_object_object_add(o, "capacity", json_object_new_int64(cap));
		json_object_array_add(arr, o);
	}
	egress_status_maps(a, arr);
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
		json_object_object_add(o, "hook", json_object_new_string(attach_hook_name(it)));
		json_object_object_add(o, "mode", json_object_new_string(attach_mode_name(it)));
		/* the section's `hook:` chose it, or auto did (by the device's class) */
		json_object_object_add(o, "hook_from",
				       json_object_new_string(it->hook_auto ? "auto" : "policy"));
		json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
		json_object_object_add(o, "prog_id", json_object_new_int64(info.prog_id));
		json_object_object_add(o, "link_id", json_object_new_int64(info.id));
		json_object_array_add(arr, o);
		ct_status_hooks(a, it, arr);
	}
	return arr;
}

/* The CLI's edits file: its path, why it does not load (null: it does), and
 * whether the policy in force was applied without it. */
static struct json_object *status_edits(struct agent *a)
{
	struct json_object *o = json_object_new_object();
	char *path = sl_edits_path(a->policy_dir);

	json_object_object_add(o, "file", path ? json_object_new_string(path) : NULL);
	json_object_object_add(o, "error", a->edits_error ?
			       json_object_new_string(a->edits_error) : NULL);
	json_object_object_add(o, "refused", json_object_new_boolean(a->edits_error &&
								      a->edits_refused));
	free(path);
	return o;
}

static int cmd_status(struct agent *a, struct json_object **data, char *err, size_t errlen)
{
	struct json_object *d = json_object_new_object();
	struct json_object *ag = json_object_new_object();
	struct json_object *pol = NULL, *ifs;

	(void)err;
	(void)errlen;
	json_object_object_add(ag, "pid", json_object_new_int(getpid()));
	json_object_object_add(ag, "version", json_object_new_string(sluice_version));
	json_object_object_add(ag, "policy_dir", json_object_new_string(a->policy_dir));
	json_object_object_add(ag, "state_dir", json_object_new_string(a->state_dir));
	json_object_object_add(ag, "socket", json_object_new_string(a->sock_path));
	json_object_object_add(ag, "started", json_object_new_int64(a->started));
	json_object_object_add(d, "agent", ag);
	json_object_object_add(d, "generation", json_object_new_uint64(a->generation));
	/* a refused reload (or start) keeps what was in force: say so */
	json_object_object_add(d, "last_change", json_object_new_string(
				       a->policy_failed ? "refused (see the agent's log): the "
				       "policy in force stays" : "applied"));
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
	json_object_object_add(d, "edits", status_edits(a));
	/* a link detached behind the agent's back is not listed as attached */
	attach_audit(a);
	ifs = status_ifaces(a);
	egress_status_ifaces(a, ifs);
	json_object_object_add(d, "interfaces", ifs);
	json_object_object_add(d, "unattached", attach_status_failed(a));
	json_object_object_add(d, "egress", egress_status(a));
	json_object_object_add(d, "maps", status_maps(a));
	*data = d;
	return 0;
}

/*
 * Every section's rules in order, with their counters (rules_counter: the
 * counter id each rule keeps across reloads while its name and content stay
 * the same). The default action's counters are shared by the sections.
 */
static int cmd_rule_list(struct agent *a, struct json_object **data, char *err,
			 size_t errlen)
{
	struct json_object *d, *rules, *def;
	size_t nsec = a->pol.nfws ? a->pol.nfws : 1;
	struct sl_counter *cnt;
	int ret;

	if (!a->have_policy) {
		snprintf(err, errlen, "this agent has no valid policy of its own (see its log); "
			 "generation %llu stays in force", (unsigned long long)a->generation);
		return -ENOENT;
	}
	cnt = calloc(SLUICE_CNT_MAX, sizeof(*cnt));
	if (!cnt)
		return -ENOMEM;
	ret = sl_counters_read(a->rule_cnt_fd, SLUICE_CNT_MAX, cnt);
	if (ret) {
		snprintf(err, errlen, "cannot read the rule counters (%s): %s",
			 SLUICE_MAP_RULE_CNT, strerror(-ret));
		free(cnt);
		return ret;
	}
	rules = json_object_new_array();
	for (size_t k = 0; k < nsec; k++) {
		const struct sl_firewall *fw = policy_fw(&a->pol, (int)k);

		for (size_t i = 0; i < fw->nrules; i++) {
			const struct sl_rule *r = &fw->rules[i];
			struct json_object *o = sl_json_rule(r);
			uint32_t id = rules_counter(a, k, i);

			json_object_object_add(o, "index", json_object_new_int64(i));
			json_object_object_add(o, "section", json_object_new_string(fw->name));
			json_object_object_add(o, "origin",
					       sl_json_origin(&r->loc, sl_rule_from_edits(r)));
			json_object_object_add(o, "packets", id < SLUICE_CNT_MAX ?
					       json_object_new_uint64(cnt[id].packets) : NULL);
			json_object_object_add(o, "bytes", id < SLUICE_CNT_MAX ?
					       json_object_new_uint64(cnt[id].bytes) : NULL);
			json_object_array_add(rules, o);
		}
	}
	def = json_counter(&cnt[SLUICE_CNT_DEFAULT]);
	free(cnt);
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

/*
 * {NAME: counter} of the N NAMES of C (a block of SLOTS entries per hook):
 * hook H's block, or with H -1 every hook's summed.
 */
static struct json_object *hook_json(const char *const *names, int n,
				     const struct sl_counter *c, int slots, int h)
{
	struct json_object *o = json_object_new_object();

	for (int i = 0; i < n; i++) {
		struct sl_counter sum = { 0, 0 };

		for (int k = h < 0 ? 0 : h; k < (h < 0 ? SLUICE_HOOK_MAX : h + 1); k++) {
			sum.packets += c[k * slots + i].packets;
			sum.bytes += c[k * slots + i].bytes;
		}
		json_object_object_add(o, names[i], json_counter(&sum));
	}
	return o;
}

/* {"verdicts": {...}, "drops": {...}} of hook H of V and D (H -1: all summed). */
static struct json_object *hook_counters(const struct sl_counter *v, const struct sl_counter *d,
					 int h)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "verdicts", hook_json(sl_verdict_names, SLUICE_VERDICT_MAX, v,
							SLUICE_VERDICT_SLOTS, h));
	json_object_object_add(o, "drops", hook_json(sl_drop_names, SLUICE_DROP_MAX, d,
						     SLUICE_DROP_SLOTS, h));
	return o;
}

static int cmd_stats(struct agent *a, struct json_object **data, char *err, size_t errlen)
{
	struct sl_counter v[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];
	struct sl_counter dr[SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS];
	struct json_object *hooks, *d;
	int ret;

	ret = sl_counters_read(a->drop_fd, SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS, dr);
	if (!ret)
		ret = sl_counters_read(a->verdict_fd, SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS, v);
	if (!ret)
		sl_verdicts_fold(v, &dr[SLUICE_DROP_IDX(SLUICE_HOOK_XDP, 0)]);
	if (ret) {
		snprintf(err, errlen, "cannot read the counters: %s", strerror(-ret));
		return ret;
	}
	/* each hook's own; tc also holds the egress backstop's drops (it runs on tcx ingress) */
	hooks = json_object_new_object();
	for (int h = 0; h < SLUICE_HOOK_MAX; h++)
		json_object_object_add(hooks, sl_hook_names[h], hook_counters(v, dr, h));
	d = json_object_new_object();
	json_object_object_add(d, "hooks", hooks);
	json_object_object_add(d, "total", hook_counters(v, dr, -1));
	json_object_object_add(d, "egress", egress_stats(a));
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
	ret2 = egress_detach_all(a, removed);
	if (!ret && ret2) {
		ret = ret2;
		snprintf(err, errlen, "cannot detach every egress link: %s", strerror(-ret));
	}
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
	bool listing;	/* its answer lists a policy or a table: MBs (ctl_listing) */
} commands[] = {
	{ "status", cmd_status },
	{ "rule-list", cmd_rule_list, .listing = true },
	{ "stats", cmd_stats },
	{ "teardown", cmd_teardown },
	{ "ct-list", NULL, ct_cmd_list, true },
	{ "ct-flush", NULL, ct_cmd_flush },
	{ "ct-stats", NULL, ct_cmd_stats },
	{ "monitor", NULL, ev_cmd_monitor },
	{ "rule-add", NULL, edit_cmd_rule_add },
	{ "rule-del", NULL, edit_cmd_rule_del },
	{ "block-add", NULL, edit_cmd_block_add },
	{ "block-del", NULL, edit_cmd_block_del },
	{ "block-list", NULL, edit_cmd_block_list, true },
	{ "policy-show", NULL, edit_cmd_policy_show, true },
	{ "generation", NULL, edit_cmd_generation },
	{ "egress-list", NULL, egress_cmd_list, true },
	{ "lb-list", NULL, lb_cmd_list, true },
	{ "lb-drain", NULL, edit_cmd_lb_drain },
	{ "lb-undrain", NULL, edit_cmd_lb_undrain },
};

/*
 * json-c keeps the last of two equal keys ({"cmd":"status","cmd":"teardown"}
 * was a teardown): count the keys of each object in the text, in document
 * order, and compare with what the parsed tree kept. The first object with
 * a key given twice holds fewer keys than its text; every object before it
 * in document order is the same in both, so the two orders stay aligned
 * up to it. The text is strict JSON (parsed with JSON_TOKENER_STRICT), so a
 * ':' outside a string separates a key from its value.
 */
struct key_counts {
	size_t *v;		/* keys of object i, objects in order of their '{' */
	size_t n, next;
};

static int count_keys(const char *s, size_t len, struct key_counts *kc)
{
	size_t *stack = NULL, depth = 0, cap = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
			continue;
		}
		if (s[i] == '"') {
			in_str = true;
		} else if (s[i] == '{') {
			size_t *v;

			if (depth == cap) {
				cap = cap ? 2 * cap : 32;
				v = realloc(stack, cap * sizeof(*v));
				if (!v)
					goto oom;
				stack = v;
			}
			if (kc->n % 64 == 0) {
				v = realloc(kc->v, (kc->n + 64) * sizeof(*v));
				if (!v)
					goto oom;
				kc->v = v;
			}
			kc->v[kc->n] = 0;
			stack[depth++] = kc->n++;
		} else if (s[i] == '}' && depth) {
			depth--;
		} else if (s[i] == ':' && depth) {
			kc->v[stack[depth - 1]]++;
		}
	}
	free(stack);
	return 0;
oom:
	free(stack);
	return -ENOMEM;
}

/* Pre-order walk of O beside the counts: false at the first object that lost keys. */
static bool keys_unique(struct json_object *o, struct key_counts *kc)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!keys_unique(json_object_array_get_idx(o, i), kc))
				return false;
		return true;
	}
	if (!json_object_is_type(o, json_type_object))
		return true;
	if (kc->next >= kc->n || kc->v[kc->next++] != (size_t)json_object_object_length(o))
		return false;
	json_object_object_foreach(o, key, val) {
		(void)key;
		if (!keys_unique(val, kc))
			return false;
	}
	return true;
}

/* 0 when no object of the request REQ (LEN bytes, parsed as IN) has a key twice. */
static int keys_once(const char *req, size_t len, struct json_object *in)
{
	struct key_counts kc = {};
	int err = count_keys(req, len, &kc);

	if (!err && !keys_unique(in, &kc))
		err = -EINVAL;
	free(kc.v);
	return err;
}

int ctl_parse_request(const char *req, size_t len, struct json_object **out, char *err,
		      size_t errlen)
{
	enum json_tokener_error jerr = json_tokener_success;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *in, *cmdv;
	size_t end = 0;
	int ret;

	*out = NULL;
	/*
	 * JSON is UTF-8 text (RFC 8259): a request that is not would come back
	 * quoted in an error answer, or be saved in the edits file, as bytes
	 * no JSON or YAML reader takes. json-c's own check lets encoded
	 * surrogates through.
	 */
	for (size_t i = 0, n; i < len; i += n) {
		n = sl_utf8_len((const unsigned char *)req + i, len - i);
		if (!n) {
			snprintf(err, errlen, "request is not UTF-8 text (byte 0x%02x at offset %zu)",
				 (unsigned char)req[i], i);
			json_tokener_free(tok);
			return -EINVAL;
		}
	}
	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	in = tok ? json_tokener_parse_ex(tok, req, (int)len) : NULL;
	if (tok) {
		jerr = json_tokener_get_error(tok);
		end = json_tokener_get_parse_end(tok);
		json_tokener_free(tok);
	}
	if (!in || jerr != json_tokener_success) {
		snprintf(err, errlen, "request is not JSON: %s",
			 jerr == json_tokener_continue ? "unexpected end of input" :
			 json_tokener_error_desc(jerr));
		ret = -EINVAL;
		goto bad;
	}
	/* only blanks after it, within LEN: REQ need not end with a NUL */
	while (end < len && (req[end] == ' ' || req[end] == '\t' || req[end] == '\r'))
		end++;
	if (end != len) {
		snprintf(err, errlen, "request has data after the JSON object");
		ret = -EINVAL;
		goto bad;
	}
	ret = keys_once(req, end, in);
	if (ret) {
		snprintf(err, errlen, ret == -EINVAL ? "request has a key twice in one "
			 "object; each key may appear once" : "out of memory");
		goto bad;
	}
	/*
	 * No NUL in a string, raw or escaped (a key or a value): the commands
	 * read strings as C strings, so "status\u0000x" would be served as
	 * status and a prefix "198.51.100.99\u0000junk" checked and saved as
	 * the part before the NUL.
	 */
	if (memchr(req, '\0', end) || memmem(req, end, "\\u0000", 6)) {
		snprintf(err, errlen, "request has a NUL character in a string");
		ret = -EINVAL;
		goto bad;
	}
	if (!json_object_is_type(in, json_type_object) ||
	    !json_object_object_get_ex(in, "cmd", &cmdv) ||
	    !json_object_is_type(cmdv, json_type_string)) {
		snprintf(err, errlen, "request has no \"cmd\" string");
		ret = -EINVAL;
		goto bad;
	}
	*out = in;
	return 0;
bad:
	json_object_put(in);
	return ret;
}

bool ctl_listing(struct json_object *in)
{
	struct json_object *cmdv;

	json_object_object_get_ex(in, "cmd", &cmdv);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(json_object_get_string(cmdv), commands[i].name))
			return commands[i].listing;
	return false;
}

/* The answer: RET 0 with DATA, else the error ERR (usage when the request is wrong). */
static struct json_object *answer(int ret, struct json_object *data, const char *err)
{
	struct json_object *ans = json_object_new_object();

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

struct json_object *ctl_run(struct agent *a, struct json_object *in,
			    struct json_object **monitor)
{
	struct json_object *cmdv, *data = NULL;
	char err[2048] = "";
	const char *cmd;
	int ret = -EINVAL;

	json_object_object_get_ex(in, "cmd", &cmdv);
	cmd = json_object_get_string(cmdv);
	snprintf(err, sizeof(err), "unknown command \"%.64s\" (known: status, rule-list, "
		 "stats, teardown, ct-list, ct-flush, ct-stats, monitor, rule-add, rule-del, "
		 "block-add, block-del, block-list, policy-show, generation, egress-list, lb-list, "
		 "lb-drain, lb-undrain)", cmd);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		err[0] = '\0';
		pr_debug("control: %s", cmd);
		ret = commands[i].fn ? commands[i].fn(a, &data, err, sizeof(err)) :
		      commands[i].fn_req(a, in, &data, err, sizeof(err));
		break;
	}
	if (!ret && !strcmp(cmd, "monitor"))
		*monitor = json_object_get(in);
	json_object_put(in);
	return answer(ret, data, err);
}

struct json_object *ctl_refused(int ret, const char *err)
{
	return answer(ret, NULL, err);
}
