// SPDX-License-Identifier: GPL-2.0-only
/*
 * A policy file -> the policy model. Refuses what is too large or not a
 * regular file before reading it, builds the document within limits
 * (lib/yaml_doc.h: not UTF-8, too deep, too many nodes with aliases
 * expanded, too slow), walks the document tree keeping each node's mark for
 * FILE:LINE:COL, and checks every value where it is read.
 * The loader (which files, in which order) is policy_load.c; cross-file
 * checks (duplicate names, @set references) are policy_check.c; the model's
 * lookups and release are policy_model.c.
 * Errors are collected, never fatal: the user sees all of them at once.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <yaml.h>

#include "policy_int.h"
#include "prefix.h"
#include "yaml_doc.h"

/*
 * Node visits per file. sl_yaml_load already refuses a document larger than
 * this with its aliases expanded; the walk counts again so that it stays
 * bounded whatever document it is given.
 */
#define SL_VISITS_MAX	SL_YAML_NODES_MAX

struct pctx {
	struct sl_policy *pol;
	struct sl_diags *diags;
	const char *file;	/* owned by pol->files */
	const char *dir;	/* the file's directory, for set files */
	yaml_document_t *doc;
	unsigned long visits;
	bool visits_reported;
	int errs;		/* counted all, reported up to SL_FILE_ERRS_MAX */
	int ioerr;		/* first -errno of an unreadable input */
	bool mapped_ok;		/* sl_policy_parse_file's MAPPED_OK */
};

__attribute__((format(printf, 3, 4)))
static void err_at(struct pctx *c, const struct sl_loc *loc, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	/* A file of 100k bad prefixes is one mistake made 100k times: show some. */
	if (c->errs++ >= SL_FILE_ERRS_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	sl_diag_add(c->diags, loc, "%s", msg ? msg : "out of memory");
	free(msg);
}

static struct sl_loc node_loc(const struct pctx *c, const yaml_node_t *n)
{
	return (struct sl_loc){ c->file, (int)n->start_mark.line + 1,
				(int)n->start_mark.column + 1 };
}

#define err_node(c, n, ...) do {				\
	struct sl_loc l__ = node_loc(c, n);			\
	err_at(c, &l__, __VA_ARGS__);				\
} while (0)

static void oom(struct pctx *c)
{
	if (!c->ioerr)
		c->ioerr = -ENOMEM;
	err_at(c, NULL, "out of memory");
}

static yaml_node_t *node(struct pctx *c, int idx)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, idx);

	if (++c->visits > SL_VISITS_MAX) {
		if (!c->visits_reported) {
			err_node(c, n, "YAML aliases expand to too many nodes");
			c->visits_reported = true;
		}
		return NULL;
	}
	return n;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = sval(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return is_null(n) ? "nothing" : "a single value";
	default:
		return "nothing";
	}
}

/* Pairs of a fixed-schema mapping (struct kv), looked up by key; unknown and duplicate keys reported. */
/* The keys past the first NSHOWN are known but not offered in messages (errors of their own). */
static void map_fields_n(struct pctx *c, yaml_node_t *m, const char *what,
			 const char *const *allowed, size_t nallowed, size_t nshown,
			 struct kv *out)
{
	yaml_node_pair_t *pr;

	memset(out, 0, nallowed * sizeof(*out));
	for (pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		size_t i;

		if (!k || !v)
			return;
		if (k->type != YAML_SCALAR_NODE) {
			err_node(c, k, "keys of %s must be words, got %s", what, kind(k));
			continue;
		}
		for (i = 0; i < nallowed; i++)
			if (!strcmp(sval(k), allowed[i]))
				break;
		if (i == nallowed) {
			char list[256] = "";

			for (size_t j = 0; j < nshown; j++) {
				strncat(list, allowed[j], sizeof(list) - strlen(list) - 1);
				if (j + 1 < nshown)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			err_node(c, k, "unknown key \"%.64s\" in %s; allowed keys: %s",
				 sval(k), what, list);
		} else if (out[i].key) {
			err_node(c, k, "duplicate key \"%s\" in %s (first at line %d, column %d)",
				 allowed[i], what, (int)out[i].key->start_mark.line + 1,
				 (int)out[i].key->start_mark.column + 1);
		} else {
			out[i].key = k;
			out[i].val = v;
		}
	}
}

static void map_fields(struct pctx *c, yaml_node_t *m, const char *what,
		       const char *const *allowed, size_t nallowed, struct kv *out)
{
	map_fields_n(c, m, what, allowed, nallowed, nallowed, out);
}

/*
 * Items of a value that may be one scalar or a list of scalars: calls FN
 * for each scalar. WHAT names the field in messages. In a match field an
 * empty list is an error (it would match nothing: EMPTY_ERR says so); where
 * EMPTY_ERR is NULL it is allowed. Anything nested is an error.
 */
static void each_scalar(struct pctx *c, const char *what, const char *empty_err,
			yaml_node_t *v, item_fn fn, void *arg)
{
	yaml_node_item_t *it;

	if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
		fn(c, v, arg);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		err_node(c, v, "%s must be a value or a list of values, got %s", what, kind(v));
		return;
	}
	if (v->data.sequence.items.start == v->data.sequence.items.top) {
		if (empty_err)
			err_node(c, v, "%s: empty list %s", what, empty_err);
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = node(c, *it);

		if (!n)
			return;
		if (n->type != YAML_SCALAR_NODE || is_null(n)) {
			err_node(c, n, "%s: list items must be single values, got %s", what,
				 kind(n));
			continue;
		}
		fn(c, n, arg);
	}
}

#define EMPTY_MATCH	"matches nothing; omit the key to match any"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SL_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int parse_action(const char *s, enum sluice_action *a)
{
	if (!strcmp(s, "allow")) {
		*a = SLUICE_ACT_ALLOW;
		return 0;
	}
	if (!strcmp(s, "deny")) {
		*a = SLUICE_ACT_DENY;
		return 0;
	}
	return -EINVAL;
}

/* YAML 1.1 booleans, as operators write them. */
static int parse_bool(const yaml_node_t *n, bool *b)
{
	static const char *const t[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					 "on", "On", "ON" };
	static const char *const f[] = { "false", "False", "FALSE", "no", "No", "NO",
					 "off", "Off", "OFF" };

	if (n->type != YAML_SCALAR_NODE)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(sval(n), t[i])) {
			*b = true;
			return 0;
		}
		if (!strcmp(sval(n), f[i])) {
			*b = false;
			return 0;
		}
	}
	return -EINVAL;
}

static char *add_file(struct pctx *c, const char *path)
{
	struct sl_policy *pol = c->pol;
	char *s = strdup(path);

	if (!s || sl_vec_reserve((void **)&pol->files, pol->nfiles, sizeof(*pol->files))) {
		free(s);
		oom(c);
		return NULL;
	}
	pol->files[pol->nfiles++] = s;
	return s;
}

/*
 * Open REL beneath the dir BENEATH (openat2 RESOLVE_BENEATH): no absolute
 * path, no "..", no symlink leads out of it (-EXDEV when one would).
 */
static int open_beneath(const char *beneath, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int dfd, fd, err;

	dfd = open(beneath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	err = fd < 0 ? -errno : fd;
	close(dfd);
	return err;
}

/*
 * Read a whole regular file of at most MAX bytes: PATH, or when BENEATH is
 * given, REL beneath that dir (PATH then only names it in messages). Opened
 * without blocking, so a FIFO or a device is refused, never waited on; the
 * size is checked with fstat before reading, so a huge file is refused at
 * once. Errors go to DIAGS at LOC (or at PATH when LOC is NULL).
 */
static int read_file(struct pctx *c, const char *beneath, const char *rel, const char *path,
		     size_t max, const struct sl_loc *loc, const char *what, char **bufp,
		     size_t *lenp)
{
	struct sl_loc floc = { path, 0, 0 };
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (!loc)
		loc = &floc;
	if (beneath)
		fd = open_beneath(beneath, rel);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = beneath ? fd : -errno;
		if (rc == -EXDEV) {
			/* nothing of it is read: its content cannot leak into messages */
			err_at(c, loc, "%s \"%s\" is outside the policy dir %s; %ss must be "
			       "inside it", what, rel, beneath, what);
			rc = -EINVAL;
			goto out;
		}
		if (loc == &floc)
			err_at(c, loc, "cannot read: %s", strerror(-rc));
		else
			err_at(c, loc, "cannot read %s \"%s\": %s", what, path, strerror(-rc));
		goto io;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		err_at(c, loc, "cannot stat %s \"%s\": %s", what, path, strerror(-rc));
		goto io;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		err_at(c, loc, "%s \"%s\" is not a regular file", what, path);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		rc = -EFBIG;
		err_at(c, loc, "%s \"%s\" is too large (%.1f MiB, limit %zu MiB)", what, path,
		       (double)st.st_size / (1 << 20), max >> 20);
		goto out;
	}
	/* One byte more than the limit: a file that grew since fstat is caught too. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		oom(c);
		goto io;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			err_at(c, loc, "cannot read %s \"%s\": %s", what, path, strerror(-rc));
			goto io;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > (size_t)st.st_size) {
			rc = -EAGAIN;
			err_at(c, loc, "%s \"%s\" changed while being read", what, path);
			goto io;
		}
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
io:
	if (!c->ioerr)
		c->ioerr = rc;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* ---- sets ---- */

static void set_prefix_item(struct pctx *c, yaml_node_t *n, void *arg)
{
	struct sl_set *s = arg;
	struct sl_prefix p;
	char err[256];

	if (sl_prefix_parse(sval(n), n->data.scalar.length, &p, err, sizeof(err))) {
		err_node(c, n, "%s", err);
		return;
	}
	if (sl_vec_reserve((void **)&s->v, s->n, sizeof(*s->v))) {
		oom(c);
		return;
	}
	s->v[s->n++] = p;
}

/*
 * A set file: one prefix per line, '#' starts a comment, blank lines are
 * fine, as are CRLF line ends and a UTF-8 byte order mark at the start. Bad lines are reported as SETFILE:LINE:COL, at most
 * SL_SETFILE_ERRS_MAX of them, then a count of the rest.
 */
static void parse_set_file(struct pctx *c, struct sl_set *s, const char *path,
			   const char *buf, size_t len)
{
	static const char ok[256] = {
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
		['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
		['e'] = 1, ['f'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
		['F'] = 1, ['.'] = 1, [':'] = 1, ['/'] = 1,
	};
	size_t pos = 0, nbad = 0, cap = s->n;
	int line = 0;

	/* a UTF-8 byte order mark, as a Windows tool saves a list (a YAML file may have one too) */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		const char *l = buf + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos, i = 0, tb, te;
		struct sl_loc loc = { path, ++line, 0 };
		struct sl_prefix p;
		char err[256];

		pos += ll + (nl ? 1 : 0);
		while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i == ll || l[i] == '#')
			continue;
		tb = i;
		while (i < ll && l[i] != ' ' && l[i] != '\t' && l[i] != '\r' && l[i] != '#')
			i++;
		te = i;
		for (i = tb; i < te && ok[(unsigned char)l[i]]; i++)
			;
		if (i < te && ((unsigned char)l[i] < 0x20 || (unsigned char)l[i] >= 0x7f)) {
			/* Binary or non-ASCII: name the byte, the text may not print. */
			if (nbad++ < SL_SETFILE_ERRS_MAX) {
				loc.col = (int)i + 1;
				err_at(c, &loc, "unexpected byte 0x%02x; expected one prefix per line",
				       (unsigned char)l[i]);
			}
			continue;
		}
		i = te;
		while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
			i++;
		if (i < ll && l[i] != '#') {
			size_t be = i;

			while (be < ll && !isspace((unsigned char)l[be]) && be - i < 40)
				be++;
			if (nbad++ < SL_SETFILE_ERRS_MAX) {
				loc.col = (int)i + 1;
				err_at(c, &loc, "unexpected \"%.*s\"; expected one prefix per line",
				       (int)(be - i), l + i);
			}
			continue;
		}
		if (sl_prefix_parse(l + tb, te - tb, &p, err, sizeof(err))) {
			if (nbad++ < SL_SETFILE_ERRS_MAX) {
				loc.col = (int)tb + 1;
				err_at(c, &loc, "%s", err);
			}
			continue;
		}
		if (s->n == cap) {
			struct sl_prefix *nv;

			cap = cap < 1024 ? 1024 : cap * 2;
			nv = realloc(s->v, cap * sizeof(*nv));
			if (!nv) {
				oom(c);
				return;
			}
			s->v = nv;
		}
		s->v[s->n++] = p;
	}
	if (nbad > SL_SETFILE_ERRS_MAX) {
		struct sl_loc loc = { path, 0, 0 };

		err_at(c, &loc, "%zu more bad lines not shown", nbad - SL_SETFILE_ERRS_MAX);
	}
	/* The array is grown by doubling here; give policy_free an exact-sized block. */
	if (s->n && s->n < cap) {
		struct sl_prefix *nv = realloc(s->v, s->n * sizeof(*nv));

		if (nv)
			s->v = nv;
	}
}

static void set_file(struct pctx *c, struct sl_set *s, yaml_node_t *key, yaml_node_t *v)
{
	struct sl_loc kloc = node_loc(c, key);
	char *path = NULL, *buf = NULL;
	const char *f, *fp;
	size_t len;
	int ioerr;

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		err_node(c, v, "file must be a file name, got %s", kind(v));
		return;
	}
	f = sval(v);
	if (f[0] == '/') {
		/* named, not read: an absolute name is outside the dir or redundant */
		err_at(c, &kloc, "set file \"%s\" is an absolute path; name it relative to the "
			 "policy dir %s (set files must be inside it)", f, c->dir);
		return;
	}
	if (asprintf(&path, "%s/%s", c->dir, f) < 0)
		path = NULL;
	if (!path) {
		oom(c);
		return;
	}
	fp = add_file(c, path);
	free(path);
	if (!fp)
		return;
	/*
	 * A missing or unreadable set file is the policy's mistake, not an I/O
	 * failure of the policy dir: report it at `file:` and make it -EINVAL.
	 */
	ioerr = c->ioerr;
	if (read_file(c, c->dir, f, fp, SL_SET_FILE_MAX, &kloc, "set file", &buf, &len)) {
		if (c->ioerr != -ENOMEM)
			c->ioerr = ioerr;
		return;
	}
	parse_set_file(c, s, fp, buf, len);
	free(buf);
}

static void parse_sets(struct pctx *c, yaml_node_t *v)
{
	static const char *const keys[] = { "prefixes", "file" };
	struct sl_policy *pol = c->pol;
	yaml_node_pair_t *pr;

	if (v->type != YAML_MAPPING_NODE) {
		err_node(c, v, "sets must be a mapping of set names to {prefixes, file}, got %s",
			 kind(v));
		return;
	}
	for (pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(c, pr->key), *sv = node(c, pr->value);
		struct kv f[2];
		struct sl_set *s;

		if (!k || !sv)
			return;
		if (k->type != YAML_SCALAR_NODE || !name_ok(sval(k))) {
			err_node(c, k, "bad set name \"%.64s\": use 1..%d letters, digits, '_', '.' or '-'",
				 k->type == YAML_SCALAR_NODE ? sval(k) : "", SL_NAME_MAX);
			continue;
		}
		if (sl_vec_reserve((void **)&pol->sets, pol->nsets, sizeof(*pol->sets))) {
			oom(c);
			return;
		}
		s = &pol->sets[pol->nsets];
		memset(s, 0, sizeof(*s));
		s->name = strdup(sval(k));
		if (!s->name) {
			oom(c);
			return;
		}
		s->loc = node_loc(c, k);
		pol->nsets++;
		if (sv->type != YAML_MAPPING_NODE) {
			err_node(c, sv, "set \"%s\" must be a mapping with prefixes and/or file, got %s",
				 s->name, kind(sv));
			continue;
		}
		map_fields(c, sv, "a set", keys, 2, f);
		if (!f[0].key && !f[1].key) {
			err_node(c, k, "set \"%s\" has neither prefixes nor file", s->name);
			continue;
		}
		if (f[0].key)
			each_scalar(c, "prefixes", NULL, f[0].val, set_prefix_item, s);
		if (f[1].key)
			set_file(c, s, f[1].key, f[1].val);	/* pol->sets does not grow here */
	}
}

/* ---- firewall ---- */

static void iface_item(struct pctx *c, yaml_node_t *n, void *arg)
{
	struct sl_firewall *fw = arg;
	const char *s = sval(n);
	size_t len = strlen(s);
	char *d;

	if (len == 0 || len > 15) {
		err_node(c, n, "bad interface \"%.64s\": names and patterns have 1 to 15 characters",
			 s);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '/' || isspace((unsigned char)s[i]) || (unsigned char)s[i] < 0x20) {
			err_node(c, n, "bad interface \"%s\": no '/' or whitespace allowed", s);
			return;
		}
	}
	d = strdup(s);
	if (!d || sl_vec_reserve((void **)&fw->ifaces, fw->nifaces, sizeof(*fw->ifaces)) ||
	    sl_vec_reserve((void **)&fw->iface_locs, fw->nifaces, sizeof(*fw->iface_locs))) {
		free(d);
		oom(c);
		return;
	}
	fw->iface_locs[fw->nifaces] = node_loc(c, n);
	fw->ifaces[fw->nifaces++] = d;
}

struct addr_list {
	struct sl_addr_item **v;
	size_t *n;
};

static void addr_item(struct pctx *c, yaml_node_t *n, void *arg)
{
	struct addr_list *al = arg;
	struct sl_addr_item it = { .loc = node_loc(c, n) };
	const char *s = sval(n);
	char err[256];

	if (s[0] == '@') {
		if (!name_ok(s + 1)) {
			err_node(c, n, "bad set reference \"%.64s\": expected @NAME", s);
			return;
		}
		it.is_set = true;
		it.set_name = strdup(s + 1);
		if (!it.set_name) {
			oom(c);
			return;
		}
	} else if (sl_prefix_parse_saved(s, n->data.scalar.length, &it.pfx, err, sizeof(err),
					 c->mapped_ok)) {
		/* mapped_ok: a mapped one matches nothing, as it always did */
		err_node(c, n, "%s", err);
		return;
	}
	if (sl_vec_reserve((void **)al->v, *al->n, sizeof(**al->v))) {
		free(it.set_name);
		oom(c);
		return;
	}
	(*al->v)[(*al->n)++] = it;
}

static void proto_item(struct pctx *c, yaml_node_t *n, void *arg)
{
	uint32_t *protos = arg;	/* bit 31 marks "any" seen */
	const char *s = sval(n);

	if (!strcmp(s, "tcp"))
		*protos |= SL_PROTO_TCP;
	else if (!strcmp(s, "udp"))
		*protos |= SL_PROTO_UDP;
	else if (!strcmp(s, "icmp"))
		*protos |= SL_PROTO_ICMP;
	else if (!strcmp(s, "icmpv6"))
		*protos |= SL_PROTO_ICMPV6;
	else if (!strcmp(s, "any"))
		*protos |= 1u << 31;
	else
		err_node(c, n, "unknown proto \"%.64s\"; use tcp, udp, icmp, icmpv6 or any", s);
}

struct port_list {
	struct sl_port_range **v;
	size_t *n;
};

static int port_num(const char *s, size_t n, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 7)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static void port_item(struct pctx *c, yaml_node_t *n, void *arg)
{
	struct port_list *pl = arg;
	const char *s = sval(n), *dash = strchr(s, '-');
	size_t len = n->data.scalar.length;
	unsigned long lo, hi;

	if (dash ? port_num(s, (size_t)(dash - s), &lo) || port_num(dash + 1, strlen(dash + 1), &hi)
		 : port_num(s, len, &lo)) {
		err_node(c, n, "bad port \"%.64s\": expected a number 1..65535 or a range like 8000-8080",
			 s);
		return;
	}
	if (!dash)
		hi = lo;
	if (lo == 0 || lo > 65535 || hi == 0 || hi > 65535) {
		err_node(c, n, "port \"%s\" is out of range: ports are 1..65535", s);
		return;
	}
	if (lo > hi) {
		err_node(c, n, "bad port range \"%s\": %lu is above %lu", s, lo, hi);
		return;
	}
	if (sl_vec_reserve((void **)pl->v, *pl->n, sizeof(**pl->v))) {
		oom(c);
		return;
	}
	(*pl->v)[(*pl->n)++] = (struct sl_port_range){ (uint16_t)lo, (uint16_t)hi };
}

static const char *protos_text(uint32_t p)
{
	if (!p)
		return "any";
	if (p & SL_PROTO_ICMP)
		return "icmp";
	return "icmpv6";
}

enum { R_NAME, R_ACTION, R_SRC, R_DST, R_PROTO, R_SPORT, R_DPORT, R_EARLY, R_NKEYS };

/*
 * `early: true|false`: a deny rule checked before conntrack (docs/policy.md).
 * On an allow rule it is an error: what passes before conntrack is only
 * what conntrack would not know anyway, so it could mean nothing.
 */
static void parse_early(struct pctx *c, struct sl_rule *r, yaml_node_t *v, bool have_action)
{
	if (parse_bool(v, &r->early)) {
		if (v->type == YAML_SCALAR_NODE)
			err_node(c, v, "early must be true or false, got \"%.64s\"", sval(v));
		else
			err_node(c, v, "early must be true or false, got %s", kind(v));
		return;
	}
	r->early_loc = node_loc(c, v);
	if (r->early && have_action && r->action == SLUICE_ACT_ALLOW)
		err_node(c, v, "early applies to deny rules only; rule \"%s\" allows (an early "
			 "rule drops before conntrack, an allow has nothing to do there)",
			 r->name ? r->name : "");
}

/*
 * One rule of FW. EGRESS: a rule of an egress entry: the keys of a firewall
 * rule but src and sport (what a socket sends from is its own), the name
 * optional.
 */
static void parse_rule(struct pctx *c, struct sl_firewall *fw, yaml_node_t *m, bool egress)
{
	static const char *const keys[R_NKEYS] = { "name", "action", "src", "dst", "proto",
						   "sport", "dport", "early" };
	static const char *const eg_keys[] = { "name", "action", "dst", "proto", "dport",
					       "src", "sport" };
	struct kv f[R_NKEYS] = {}, ef[7];
	struct sl_rule *r;
	int proto_errs = 0, action_errs;

	if (m->type != YAML_MAPPING_NODE) {
		err_node(c, m, "a rule must be a mapping (%s), got %s",
			 egress ? "action, dst, proto, dport" : "name, action, src, ...", kind(m));
		return;
	}
	if (sl_vec_reserve((void **)&fw->rules, fw->nrules, sizeof(*fw->rules))) {
		oom(c);
		return;
	}
	r = &fw->rules[fw->nrules++];
	memset(r, 0, sizeof(*r));
	r->loc = node_loc(c, m);
	if (egress) {
		map_fields_n(c, m, "an egress rule", eg_keys, 7, 5, ef);
		/* src/sport get a message of their own: they are not typos */
		for (int k = 5; k < 7; k++)
			if (ef[k].key)
				err_node(c, ef[k].key, "egress rules have no %s: a socket's own "
					 "address and port are not policy (match dst, proto and "
					 "dport)", eg_keys[k]);
		f[R_NAME] = ef[0];
		f[R_ACTION] = ef[1];
		f[R_DST] = ef[2];
		f[R_PROTO] = ef[3];
		f[R_DPORT] = ef[4];
	} else {
		map_fields(c, m, "a rule", keys, R_NKEYS, f);
	}

	if (!f[R_NAME].key && egress) {
		/* a name for counters and events: ENTRY.INDEX */
		if (asprintf(&r->name, "%s.%zu", fw->name ? fw->name : "egress",
			     fw->nrules - 1) < 0) {
			r->name = NULL;
			oom(c);
		}
	} else if (!f[R_NAME].key) {
		err_node(c, m, "rule has no name");
	} else if (f[R_NAME].val->type != YAML_SCALAR_NODE) {
		err_node(c, f[R_NAME].val, "a rule name is a single value, got %s",
			 kind(f[R_NAME].val));
	} else if (!name_ok(sval(f[R_NAME].val))) {
		err_node(c, f[R_NAME].val,
			 "bad rule name \"%.64s\": use 1..%d letters, digits, '_', '.' or '-'",
			 sval(f[R_NAME].val), SL_NAME_MAX);
	} else {
		r->name = strdup(sval(f[R_NAME].val));
		if (!r->name)
			oom(c);
		r->loc = node_loc(c, f[R_NAME].val);
	}
	action_errs = c->errs;
	if (!f[R_ACTION].key) {
		err_node(c, m, "rule%s%s%s has no action (allow or deny)", r->name ? " \"" : "",
			 r->name ? r->name : "", r->name ? "\"" : "");
	} else if (f[R_ACTION].val->type != YAML_SCALAR_NODE) {
		err_node(c, f[R_ACTION].val, "action must be allow or deny, got %s",
			 kind(f[R_ACTION].val));
	} else if (parse_action(sval(f[R_ACTION].val), &r->action)) {
		err_node(c, f[R_ACTION].val, "unknown action \"%.64s\"; use allow or deny",
			 sval(f[R_ACTION].val));
	}
	if (f[R_EARLY].key)
		parse_early(c, r, f[R_EARLY].val, c->errs == action_errs);
	if (f[R_SRC].key) {
		struct addr_list al = { &r->src, &r->nsrc };

		each_scalar(c, "src", EMPTY_MATCH, f[R_SRC].val, addr_item, &al);
	}
	if (f[R_DST].key) {
		struct addr_list al = { &r->dst, &r->ndst };

		each_scalar(c, "dst", EMPTY_MATCH, f[R_DST].val, addr_item, &al);
	}
	if (f[R_PROTO].key) {
		proto_errs = c->errs;
		each_scalar(c, "proto", EMPTY_MATCH, f[R_PROTO].val, proto_item, &r->protos);
		if (r->protos & (1u << 31))
			r->protos = 0;
		proto_errs = c->errs - proto_errs;
	}
	for (int k = R_SPORT; k <= R_DPORT; k++) {
		struct port_list pl = k == R_SPORT ? (struct port_list){ &r->sport, &r->nsport }
						   : (struct port_list){ &r->dport, &r->ndport };

		if (!f[k].key)
			continue;
		each_scalar(c, keys[k], EMPTY_MATCH, f[k].val, port_item, &pl);
		/* a bad proto was reported already; do not blame the ports for it */
		if (!proto_errs && (!r->protos || (r->protos & ~(SL_PROTO_TCP | SL_PROTO_UDP))))
			err_node(c, f[k].key,
				 "%s needs proto tcp, udp or [tcp, udp]; this rule has proto %s",
				 keys[k], protos_text(r->protos));
	}
}

enum { F_NAME, F_IFACES, F_DEFAULT, F_STATEFUL, F_HOOK, F_RULES, F_NKEYS };

/* `hook:` auto | xdp | tc */
static void parse_hook(struct pctx *c, struct sl_firewall *fw, yaml_node_t *n)
{
	static const enum sl_fw_hook hooks[] = { SL_FW_HOOK_AUTO, SL_FW_HOOK_XDP, SL_FW_HOOK_TC };
	const char *s = n->type == YAML_SCALAR_NODE ? sval(n) : NULL;

	fw->hook_loc = node_loc(c, n);
	for (size_t i = 0; s && i < sizeof(hooks) / sizeof(hooks[0]); i++)
		if (!strcmp(s, sl_fw_hook_name(hooks[i]))) {
			fw->hook = hooks[i];
			return;
		}
	if (!s)
		err_node(c, n, "hook must be auto, xdp or tc, got %s", kind(n));
	else
		err_node(c, n, "unknown hook \"%.64s\"; use auto, xdp or tc", s);
}

/*
 * One section: the mapping V, at position IDX of the list (0 for the mapping
 * form). WHAT names it in messages: "firewall" or "a firewall section"; LOC
 * is where it is blamed unless it has a name: the `firewall` key of the
 * mapping form (as before sections existed), the list item otherwise.
 */
static void parse_section(struct pctx *c, struct sl_firewall *fw, size_t idx, yaml_node_t *v,
			  const char *what, struct sl_loc loc)
{
	static const char *const keys[F_NKEYS] = { "name", "interfaces", "default", "stateful",
						   "hook", "rules" };
	struct kv f[F_NKEYS];
	yaml_node_item_t *it;
	bool stateful = true;
	char dflt[32];

	fw->present = true;
	fw->loc = loc;
	fw->default_action = SLUICE_ACT_ALLOW;
	fw->stateful = true;
	snprintf(dflt, sizeof(dflt), "fw%zu", idx);
	if (v->type != YAML_MAPPING_NODE) {
		err_node(c, v, "a firewall section must be a mapping (name, interfaces, default, "
			 "stateful, hook, rules), got %s", kind(v));
		goto name;
	}
	map_fields(c, v, what, keys, F_NKEYS, f);
	if (f[F_NAME].key) {
		yaml_node_t *n = f[F_NAME].val;

		if (n->type != YAML_SCALAR_NODE || !name_ok(sval(n))) {
			err_node(c, n, "bad section name \"%.64s\": use 1..%d letters, digits, '_', "
				 "'.' or '-'", n->type == YAML_SCALAR_NODE ? sval(n) : "",
				 SL_NAME_MAX);
		} else {
			fw->name = strdup(sval(n));
			if (!fw->name)
				oom(c);
			/* a duplicate section name is reported at the name */
			fw->loc = node_loc(c, n);
		}
	}
	if (f[F_IFACES].key)
		each_scalar(c, "interfaces", NULL, f[F_IFACES].val, iface_item, fw);
	if (f[F_DEFAULT].key && f[F_DEFAULT].val->type != YAML_SCALAR_NODE)
		err_node(c, f[F_DEFAULT].val, "default must be allow or deny, got %s",
			 kind(f[F_DEFAULT].val));
	else if (f[F_DEFAULT].key && parse_action(sval(f[F_DEFAULT].val), &fw->default_action))
		err_node(c, f[F_DEFAULT].val, "unknown default \"%.64s\"; use allow or deny",
			 sval(f[F_DEFAULT].val));
	if (f[F_STATEFUL].key && parse_bool(f[F_STATEFUL].val, &stateful))
		err_node(c, f[F_STATEFUL].val, "stateful must be true or false, got \"%.64s\"",
			 f[F_STATEFUL].val->type == YAML_SCALAR_NODE ? sval(f[F_STATEFUL].val) :
			 kind(f[F_STATEFUL].val));
	fw->stateful = stateful;
	if (f[F_HOOK].key)
		parse_hook(c, fw, f[F_HOOK].val);
	if (f[F_RULES].key && f[F_RULES].val->type != YAML_SEQUENCE_NODE) {
		err_node(c, f[F_RULES].val, "rules must be a list of rules, got %s",
			 kind(f[F_RULES].val));
	} else if (f[F_RULES].key) {
		for (it = f[F_RULES].val->data.sequence.items.start;
		     it < f[F_RULES].val->data.sequence.items.top; it++) {
			yaml_node_t *n = node(c, *it);

			if (!n)
				break;
			parse_rule(c, fw, n, false);
		}
	}
name:
	if (!fw->name) {
		fw->name = strdup(dflt);
		if (!fw->name)
			oom(c);
	}
}

/*
 * `firewall:` is one section (a mapping, as before sections existed) or a
 * list of sections. Either way it appears in one file only.
 */
static void parse_firewall(struct pctx *c, yaml_node_t *key, yaml_node_t *v)
{
	struct sl_policy *pol = c->pol;
	yaml_node_item_t *it;
	size_t n;

	if (pol->fw_loc.file) {
		err_node(c, key, "firewall is defined again; it may appear in one file only (first at %s:%d:%d)",
			 pol->fw_loc.file, pol->fw_loc.line, pol->fw_loc.col);
		return;
	}
	pol->fw_loc = node_loc(c, key);
	if (v->type == YAML_MAPPING_NODE) {
		pol->fws = calloc(1, sizeof(*pol->fws));
		if (!pol->fws) {
			oom(c);
			return;
		}
		pol->nfws = 1;
		parse_section(c, &pol->fws[0], 0, v, "firewall", pol->fw_loc);
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		err_node(c, v, "firewall must be a mapping (interfaces, default, stateful, rules) "
			 "or a list of such sections, got %s", kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (!n) {
		err_node(c, v, "firewall: empty list of sections; omit the key for no firewall");
		return;
	}
	/* sized once: policy_fw() and the agent keep pointers into it */
	pol->fws = calloc(n, sizeof(*pol->fws));
	if (!pol->fws) {
		oom(c);
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *s = node(c, *it);

		if (!s)
			return;
		parse_section(c, &pol->fws[pol->nfws], pol->nfws, s, "a firewall section",
			      node_loc(c, s));
		pol->nfws++;
	}
}

/* ---- conntrack ---- */

/*
 * A count as operators write it: decimal digits only. Returns 0 with *V
 * (saturated at UINT32_MAX), -ERANGE for a negative number or zero, or
 * -EINVAL when it is not a number.
 */
static int parse_count(const yaml_node_t *n, uint32_t *v)
{
	const char *s = sval(n);
	unsigned long long x = 0;
	bool neg = *s == '-';

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return -EINVAL;
	if (neg || *s == '+')
		s++;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	for (; *s; s++)
		x = x > UINT32_MAX ? x : x * 10 + (unsigned int)(*s - '0');
	if (neg || x == 0)
		return -ERANGE;
	*v = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
	return 0;
}

#define CT_TO_NAME(id, name, dflt) name,
static const char *const ct_timeout_keys[SLUICE_CT_TO_MAX] = { SLUICE_CT_TIMEOUTS(CT_TO_NAME) };
#undef CT_TO_NAME

static void parse_ct_timeouts(struct pctx *c, yaml_node_t *v)
{
	struct sl_conntrack *ct = &c->pol->ct;
	struct kv f[SLUICE_CT_TO_MAX];

	if (v->type != YAML_MAPPING_NODE) {
		err_node(c, v, "conntrack timeouts must be a mapping of timeout names to seconds, got %s",
			 kind(v));
		return;
	}
	map_fields(c, v, "conntrack timeouts", ct_timeout_keys, SLUICE_CT_TO_MAX, f);
	for (int i = 0; i < SLUICE_CT_TO_MAX; i++) {
		const char *s;
		uint32_t x;
		int rc;

		if (!f[i].key)
			continue;
		rc = parse_count(f[i].val, &x);
		s = f[i].val->type == YAML_SCALAR_NODE ? sval(f[i].val) : kind(f[i].val);
		if (rc == -EINVAL)
			err_node(c, f[i].val, "timeout %s must be a whole number of seconds, got \"%.64s\"",
				 ct_timeout_keys[i], s);
		else if (rc)
			err_node(c, f[i].val, "timeout %s must be at least 1 second, got %.64s",
				 ct_timeout_keys[i], s);
		else if (x > SL_CT_TIMEOUT_MAX)
			err_node(c, f[i].val, "timeout %s of %.64s seconds is more than %u (30 days)",
				 ct_timeout_keys[i], s, SL_CT_TIMEOUT_MAX);
		else
			ct->timeout[i] = x;
	}
}

#define CK_MODE_NAME(id, name) name,
static const char *const ck_mode_names[SLUICE_CK_MODE_MAX] = { SLUICE_CK_MODES(CK_MODE_NAME) };
#undef CK_MODE_NAME

/* syn-cookies (MODE) and syn-cookie-ports (PORTS, its key PKEY); either may be NULL. */
static void parse_ct_syncookies(struct pctx *c, yaml_node_t *mode, yaml_node_t *pkey,
				yaml_node_t *ports)
{
	struct sl_conntrack *ct = &c->pol->ct;
	struct sl_port_range *v = NULL;
	struct port_list pl = { &v, NULL };
	size_t n = 0;
	int i;

	if (mode) {
		const char *s = mode->type == YAML_SCALAR_NODE ? sval(mode) : kind(mode);

		for (i = 0; i < SLUICE_CK_MODE_MAX; i++)
			if (mode->type == YAML_SCALAR_NODE && !strcmp(s, ck_mode_names[i]))
				break;
		if (i == SLUICE_CK_MODE_MAX)
			err_node(c, mode, "syn-cookies must be off, auto or always, got \"%.64s\"", s);
		else
			ct->syncookies = (uint32_t)i;
	}
	if (!ports)
		return;
	pl.n = &n;
	each_scalar(c, "syn-cookie-ports", "names no port; omit the key for none", ports,
		    port_item, &pl);
	if (n > SL_CK_PORT_RANGES)
		err_node(c, ports, "syn-cookie-ports: %zu ports and ranges, at most %d", n,
			 SL_CK_PORT_RANGES);
	else if (n)
		memcpy(ct->syncookie_ports, v, n * sizeof(*v));
	ct->nsyncookie_ports = n > SL_CK_PORT_RANGES ? 0 : (uint32_t)n;
	free(v);
	if (n && ct->syncookies != SLUICE_CK_AUTO)
		err_node(c, pkey, "syn-cookie-ports needs syn-cookies: auto (with %s, %s)",
			 ck_mode_names[ct->syncookies], ct->syncookies == SLUICE_CK_OFF ?
			 "no SYN gets a cookie" : "every SYN gets one");
}

static void parse_conntrack(struct pctx *c, yaml_node_t *key, yaml_node_t *v)
{
	static const char *const keys[] = { "max-entries", "timeouts", "syn-cookies",
					    "syn-cookie-ports" };
	struct sl_conntrack *ct = &c->pol->ct;
	struct kv f[4];

	if (ct->present) {
		err_node(c, key, "conntrack is defined again; it may appear in one file only (first at %s:%d:%d)",
			 ct->loc.file, ct->loc.line, ct->loc.col);
		return;
	}
	ct->present = true;
	ct->loc = node_loc(c, key);
	if (v->type != YAML_MAPPING_NODE) {
		err_node(c, v, "conntrack must be a mapping (max-entries, timeouts, syn-cookies, "
			 "syn-cookie-ports), got %s", kind(v));
		return;
	}
	map_fields(c, v, "conntrack", keys, 4, f);
	if (f[0].key) {
		const char *s = f[0].val->type == YAML_SCALAR_NODE ? sval(f[0].val) :
				kind(f[0].val);
		uint32_t x = 0;
		int rc = parse_count(f[0].val, &x);

		if (rc == -EINVAL)
			err_node(c, f[0].val, "max-entries must be a whole number, got \"%.64s\"", s);
		else if (rc || x < SL_CT_MAX_ENTRIES_MIN || x > SL_CT_MAX_ENTRIES_MAX)
			err_node(c, f[0].val, "max-entries %.64s is out of range %u..%u", s,
				 SL_CT_MAX_ENTRIES_MIN, SL_CT_MAX_ENTRIES_MAX);
		else
			ct->max_entries = x;
	}
	if (f[1].key)
		parse_ct_timeouts(c, f[1].val);
	if (f[2].key || f[3].key)
		parse_ct_syncookies(c, f[2].key ? f[2].val : NULL, f[3].key,
				    f[3].key ? f[3].val : NULL);
}

/* ---- files ---- */

static void parse_root(struct pctx *c, yaml_node_t *root)
{
	static const char *const keys[] = { "sets", "firewall", "conntrack", "loadbalancers",
					    "egress", "decap" };
	struct sl_loc floc = { c->file, 0, 0 };
	struct kv f[6];

	if (!root || is_null(root) ||
	    (root->type == YAML_MAPPING_NODE &&
	     root->data.mapping.pairs.start == root->data.mapping.pairs.top)) {
		err_at(c, &floc, "empty policy file; expected top-level keys (sets, firewall, ...)");
		return;
	}
	if (root->type != YAML_MAPPING_NODE) {
		err_node(c, root, "a policy file is a mapping of top-level keys (sets, firewall, ...), got %s",
			 kind(root));
		return;
	}
	map_fields(c, root, "the top level", keys, 6, f);
	if (f[0].key)
		parse_sets(c, f[0].val);
	if (f[1].key)
		parse_firewall(c, f[1].key, f[1].val);
	if (f[2].key)
		parse_conntrack(c, f[2].key, f[2].val);
	if (f[3].key)
		lb_parse_services(c, f[3].key, f[3].val);
	if (f[4].key)
		egress_parse(c, f[4].key, f[4].val);
	if (f[5].key)
		lb_parse_decap(c, f[5].key, f[5].val);
}

void sl_policy_parse_file(struct sl_policy *pol, struct sl_diags *diags, const char *path,
			  bool mapped_ok, int *errs, int *ioerr)
{
	struct pctx c = { .pol = pol, .diags = diags, .mapped_ok = mapped_ok };
	yaml_document_t doc;
	char *buf = NULL, *dir = NULL, *tmp;
	size_t len;
	int rc;

	c.file = add_file(&c, path);
	if (!c.file)
		goto out;
	if (read_file(&c, NULL, NULL, c.file, SL_POLICY_FILE_MAX, NULL, "policy file", &buf, &len))
		goto out;
	tmp = strdup(path);
	if (!tmp) {
		oom(&c);
		goto out;
	}
	dir = strdup(dirname(tmp));
	free(tmp);
	if (!dir) {
		oom(&c);
		goto out;
	}
	c.dir = dir;
	/* nesting, aliases and time are bounded while libyaml reads (yaml_doc.h) */
	rc = sl_yaml_load(c.file, buf, len, &sl_yaml_policy_limits, &doc, diags);
	if (rc == -ENOMEM)
		oom(&c);
	else if (rc)
		c.errs++;
	c.doc = &doc;
	if (!c.errs)
		parse_root(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
out:
	if (c.errs > SL_FILE_ERRS_MAX) {
		struct sl_loc floc = { c.file, 0, 0 };

		sl_diag_add(diags, &floc, "%d more errors not shown", c.errs - SL_FILE_ERRS_MAX);
	}
	free(buf);
	free(dir);
	*errs += c.errs;
	if (c.ioerr && !*ioerr)
		*ioerr = c.ioerr;
}

/* ---- the YAML walk for lb_parse.c and egress_parse.c (policy_int.h) ---- */

struct sl_policy *sl_y_policy(struct pctx *c)
{
	return c->pol;
}

yaml_node_t *sl_y_node(struct pctx *c, int idx)
{
	return node(c, idx);
}

const char *sl_y_str(const yaml_node_t *n)
{
	return sval(n);
}

bool sl_y_null(const yaml_node_t *n)
{
	return is_null(n);
}

const char *sl_y_kind(const yaml_node_t *n)
{
	return kind(n);
}

struct sl_loc sl_y_loc(const struct pctx *c, const yaml_node_t *n)
{
	return node_loc(c, n);
}

void sl_y_err(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	struct sl_loc loc = node_loc(c, n);
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	err_at(c, &loc, "%s", msg ? msg : "out of memory");
	free(msg);
}

void sl_y_oom(struct pctx *c)
{
	oom(c);
}

void sl_y_fields(struct pctx *c, yaml_node_t *m, const char *what,
		 const char *const *allowed, size_t nallowed, struct kv *out)
{
	map_fields(c, m, what, allowed, nallowed, out);
}

void sl_y_each(struct pctx *c, const char *what, const char *empty_err, yaml_node_t *v,
	       item_fn fn, void *arg)
{
	each_scalar(c, what, empty_err, v, fn, arg);
}

int sl_y_bool(const yaml_node_t *n, bool *b)
{
	return parse_bool(n, b);
}

int sl_y_count(const yaml_node_t *n, uint32_t *v)
{
	return parse_count(n, v);
}

bool sl_name_ok(const char *s)
{
	return name_ok(s);
}

void sl_y_ifaces(struct pctx *c, yaml_node_t *v, const char *empty_err, char ***ifaces,
		 struct sl_loc **locs, size_t *n)
{
	struct sl_firewall fw = { .ifaces = *ifaces, .iface_locs = *locs, .nifaces = *n };

	each_scalar(c, "interfaces", empty_err, v, iface_item, &fw);
	*ifaces = fw.ifaces;
	*locs = fw.iface_locs;
	*n = fw.nifaces;
}

void sl_y_addrs(struct pctx *c, const char *what, const char *empty_err, yaml_node_t *v,
		struct sl_addr_item **items, size_t *n)
{
	struct addr_list al = { items, n };

	each_scalar(c, what, empty_err, v, addr_item, &al);
}

int sl_y_action(const yaml_node_t *n, enum sluice_action *a)
{
	return n->type == YAML_SCALAR_NODE ? parse_action(sval(n), a) : -EINVAL;
}

void sl_y_rules(struct pctx *c, struct sl_firewall *fw, yaml_node_t *v, bool egress)
{
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE) {
		err_node(c, v, "rules must be a list of rules, got %s", kind(v));
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = node(c, *it);

		if (!n)
			break;
		parse_rule(c, fw, n, egress);
	}
}
