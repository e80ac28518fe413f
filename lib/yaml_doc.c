// SPDX-License-Identifier: GPL-2.0-only
/*
 * libyaml events -> yaml_document_t within limits (yaml_doc.h). It builds
 * what yaml_parser_load builds (nodes with their marks, an alias shares its
 * anchor's node) and checks each limit at the event that would cross it.
 *
 * Why not yaml_parser_load and a check afterwards: libyaml's scanner keeps
 * one possible simple key per open flow level and walks them all for every
 * token, so 80,000 nested '[' took 18 s before a single node came back; an
 * alias bomb is small as a document and huge only when walked. Counting
 * levels and expanded nodes while the events come stops both at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yaml_doc.h"

const struct sl_yaml_limits sl_yaml_policy_limits = {
	.depth = SL_YAML_DEPTH_MAX,
	.nodes = SL_YAML_NODES_MAX,
	.time_ms = SL_YAML_TIME_MS,
};

/* One open mapping or list. */
struct frame {
	int node;
	bool mapping;
	int key;		/* a mapping's key waiting for its value; 0: none */
	uint64_t weight;	/* its expanded nodes so far, itself included */
};

struct anchor {
	char *name;		/* NULL: free slot */
	int node;
};

struct ydoc {
	const char *file;
	const struct sl_yaml_limits *lim;
	yaml_document_t *doc;
	struct sl_diags *diags;
	struct frame *stack;	/* lim->depth frames */
	unsigned int depth;
	uint64_t *weight;	/* by node id - 1: expanded size; 0 while the node is open */
	size_t nweight;
	uint64_t total;		/* expanded nodes so far */
	struct anchor *anchors;	/* open addressing, a power of two */
	size_t nanchors, cap;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ydoc *y, const yaml_mark_t *m, const char *fmt, ...)
{
	struct sl_loc loc = { y->file, m ? (int)m->line + 1 : 0, m ? (int)m->column + 1 : 0 };
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	sl_diag_add(y->diags, &loc, "%s", msg ? msg : "out of memory");
	free(msg);
	return -EINVAL;
}

/* libyaml would report binary input with a byte offset; say where, as LINE:COL. */
static int check_text(struct ydoc *y, const unsigned char *b, size_t len)
{
	yaml_mark_t m = {};
	size_t i = 0;

	while (i < len) {
		unsigned char ch = b[i];
		size_t n = sl_utf8_len(b + i, len - i);

		if (ch == 0)
			return fail(y, &m, "NUL byte: this is a binary file, not YAML");
		if (n == 0)
			return fail(y, &m, "invalid UTF-8 (byte 0x%02x): a policy file must be "
				    "UTF-8 text", ch);
		if (ch == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
		i += n;
	}
	return 0;
}

static int parse_error(struct ydoc *y, const yaml_parser_t *p, const char *buf, size_t len)
{
	size_t at = p->problem_mark.index;
	const char *hint = "";

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	/* libyaml cannot start a plain value with ':' inside [...]: "::/0", "::1". */
	if (at < len && buf[at] == ':')
		hint = "; quote IPv6 addresses that start with ':', e.g. \"::/0\"";
	if (p->context)
		return fail(y, &p->problem_mark, "invalid YAML: %s (%s at line %d, column %d)%s",
			    p->problem ? p->problem : "error", p->context,
			    (int)p->context_mark.line + 1, (int)p->context_mark.column + 1, hint);
	return fail(y, &p->problem_mark, "invalid YAML: %s%s", p->problem ? p->problem : "error",
		    hint);
}

/* ---- anchors ---- */

static size_t anchor_slot(const struct ydoc *y, const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	for (size_t i = h & (y->cap - 1);; i = (i + 1) & (y->cap - 1))
		if (!y->anchors[i].name || !strcmp(y->anchors[i].name, name))
			return i;
}

/* &NAME on NODE; a later anchor of the same name replaces it (YAML 1.1). */
static int anchor_set(struct ydoc *y, const char *name, int node)
{
	struct anchor *a;

	if (2 * (y->nanchors + 1) > y->cap) {
		struct anchor *old = y->anchors;
		size_t ocap = y->cap;

		y->cap = ocap ? 2 * ocap : 64;
		y->anchors = calloc(y->cap, sizeof(*y->anchors));
		if (!y->anchors) {
			y->anchors = old;
			y->cap = ocap;
			return -ENOMEM;
		}
		for (size_t i = 0; i < ocap; i++)
			if (old[i].name)
				y->anchors[anchor_slot(y, old[i].name)] = old[i];
		free(old);
	}
	a = &y->anchors[anchor_slot(y, name)];
	if (!a->name) {
		a->name = strdup(name);
		if (!a->name)
			return -ENOMEM;
		y->nanchors++;
	}
	a->node = node;
	return 0;
}

static int anchor_get(const struct ydoc *y, const char *name)
{
	return y->cap ? y->anchors[anchor_slot(y, name)].node : 0;
}

/* ---- nodes ---- */

/* A node just added: its marks, its weight slot (0: open), its anchor. */
static int node_added(struct ydoc *y, int id, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	yaml_node_t *n;

	if (!id)
		return -ENOMEM;
	n = yaml_document_get_node(y->doc, id);
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
	if ((size_t)id > y->nweight) {
		size_t cap = y->nweight ? 2 * y->nweight : 256;
		uint64_t *w = realloc(y->weight, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		memset(w + y->nweight, 0, (cap - y->nweight) * sizeof(*w));
		y->weight = w;
		y->nweight = cap;
	}
	if (anchor) {
		if (y->lim->no_aliases)
			return fail(y, &ev->start_mark, "anchor &%.64s: this file takes no anchors "
				    "or aliases", (const char *)anchor);
		return anchor_set(y, (const char *)anchor, id);
	}
	return 0;
}

/* Count W more expanded nodes; the limit is checked at the event that crosses it. */
static int count(struct ydoc *y, uint64_t w, const yaml_event_t *ev)
{
	y->total += w;
	if (y->total <= y->lim->nodes)
		return 0;
	return fail(y, &ev->start_mark, "the document has more than %lu nodes%s; a policy "
		    "needs far fewer", y->lim->nodes,
		    ev->type == YAML_ALIAS_EVENT ? " with its aliases expanded" : "");
}

/* NODE (expanded size W) is finished: into the open mapping or list, if any. */
static int attach(struct ydoc *y, int node, uint64_t w)
{
	struct frame *f;
	int ok;

	if (!y->depth)
		return 0;	/* the root */
	f = &y->stack[y->depth - 1];
	f->weight += w;
	if (!f->mapping) {
		ok = yaml_document_append_sequence_item(y->doc, f->node, node);
	} else if (!f->key) {
		f->key = node;
		return 0;
	} else {
		ok = yaml_document_append_mapping_pair(y->doc, f->node, f->key, node);
		f->key = 0;
	}
	return ok ? 0 : -ENOMEM;
}

/* The tag libyaml's loader gives: none and "!" mean the default for the kind. */
static const yaml_char_t *tag_of(const yaml_char_t *tag)
{
	return tag && strcmp((const char *)tag, "!") ? tag : NULL;
}

static int on_event(struct ydoc *y, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL;
	bool mapping = false;
	int id, err, target;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		err = count(y, 1, ev);
		if (err)
			return err;
		id = yaml_document_add_scalar(y->doc, tag_of(ev->data.scalar.tag),
					      ev->data.scalar.value, (int)ev->data.scalar.length,
					      ev->data.scalar.style);
		err = node_added(y, id, ev, ev->data.scalar.anchor);
		if (err)
			return err;
		y->weight[id - 1] = 1;
		return attach(y, id, 1);
	case YAML_ALIAS_EVENT:
		if (y->lim->no_aliases)
			return fail(y, &ev->start_mark, "alias *%.64s: this file takes no anchors "
				    "or aliases", (const char *)ev->data.alias.anchor);
		target = anchor_get(y, (const char *)ev->data.alias.anchor);
		if (!target)
			return fail(y, &ev->start_mark, "alias *%.64s: no anchor &%.64s before it",
				    (const char *)ev->data.alias.anchor,
				    (const char *)ev->data.alias.anchor);
		if (!y->weight[target - 1])
			return fail(y, &ev->start_mark, "alias *%.64s is inside the node it names "
				    "(a loop)", (const char *)ev->data.alias.anchor);
		err = count(y, y->weight[target - 1], ev);
		return err ? err : attach(y, target, y->weight[target - 1]);
	case YAML_MAPPING_START_EVENT:
		mapping = true;
		/* fall through */
	case YAML_SEQUENCE_START_EVENT:
		if (y->depth >= y->lim->depth)
			return fail(y, &ev->start_mark, "mappings and lists nested more than %u "
				    "levels deep; a policy needs far fewer", y->lim->depth);
		err = count(y, 1, ev);
		if (err)
			return err;
		if (mapping) {
			id = yaml_document_add_mapping(y->doc,
						       tag_of(ev->data.mapping_start.tag),
						       ev->data.mapping_start.style);
			anchor = ev->data.mapping_start.anchor;
		} else {
			id = yaml_document_add_sequence(y->doc,
							tag_of(ev->data.sequence_start.tag),
							ev->data.sequence_start.style);
			anchor = ev->data.sequence_start.anchor;
		}
		err = node_added(y, id, ev, anchor);
		if (err)
			return err;
		y->stack[y->depth++] = (struct frame){ .node = id, .mapping = mapping,
						       .weight = 1 };
		return 0;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT: {
		struct frame f = y->stack[--y->depth];

		yaml_document_get_node(y->doc, f.node)->end_mark = ev->end_mark;
		y->weight[f.node - 1] = f.weight;
		return attach(y, f.node, f.weight);
	}
	default:
		return 0;
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int sl_yaml_load(const char *file, const char *buf, size_t len,
		 const struct sl_yaml_limits *lim, yaml_document_t *doc, struct sl_diags *diags)
{
	struct ydoc y = { .file = file, .lim = lim, .doc = doc, .diags = diags };
	bool in_doc = false, done = false;
	unsigned long events = 0;
	struct timespec t0;
	yaml_parser_t p;
	yaml_event_t ev;
	int err;

	memset(doc, 0, sizeof(*doc));
	err = check_text(&y, (const unsigned char *)buf, len);
	if (err)
		return err;
	y.stack = calloc(lim->depth + 1, sizeof(*y.stack));
	if (!y.stack || !yaml_parser_initialize(&p)) {
		free(y.stack);
		return -ENOMEM;
	}
	if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1)) {
		yaml_parser_delete(&p);
		free(y.stack);
		return -ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	while (!done && !err) {
		if (!yaml_parser_parse(&p, &ev)) {
			err = parse_error(&y, &p, buf, len);
			break;
		}
		/* the other limits bound the work; this one bounds what they missed */
		if (++events % 4096 == 0 && ms_since(&t0) > (long)lim->time_ms)
			err = fail(&y, &ev.start_mark, "parsing took more than %u s; stopped here",
				   lim->time_ms / 1000);
		else if (ev.type == YAML_DOCUMENT_START_EVENT && in_doc)
			err = fail(&y, &ev.start_mark, "a second YAML document; a file holds one");
		else if (ev.type == YAML_DOCUMENT_START_EVENT)
			in_doc = true;
		else if (ev.type == YAML_STREAM_END_EVENT)
			done = true;
		else
			err = on_event(&y, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	for (size_t i = 0; i < y.cap; i++)
		free(y.anchors[i].name);
	free(y.anchors);
	free(y.weight);
	free(y.stack);
	if (err)
		yaml_document_delete(doc);	/* leaves it zeroed: deleting it again is fine */
	return err;
}
