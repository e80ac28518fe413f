// SPDX-License-Identifier: GPL-2.0-only
/*
 * The one print path: JSON as it is under -j, aligned text tables otherwise.
 * See print.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "print.h"

struct pr_table {
	const struct pr_col *cols;
	size_t ncols;
	unsigned int flags;
	char **cells;		/* nrows * ncols, row major */
	size_t nrows;
	size_t cap;		/* rows allocated */
};

struct pr_table *pr_table_new(const struct pr_col *cols, size_t ncols, unsigned int flags)
{
	struct pr_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cols = cols;
	t->ncols = ncols;
	t->flags = flags;
	return t;
}

void pr_table_free(struct pr_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

size_t pr_table_rows(const struct pr_table *t)
{
	return t->nrows;
}

/* Make room for one more row; its cells start NULL. */
static char **table_new_row(struct pr_table *t)
{
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = reallocarray(t->cells, cap * t->ncols, sizeof(*cells));

		if (!cells)
			return NULL;
		t->cells = cells;
		t->cap = cap;
	}
	row = &t->cells[t->nrows * t->ncols];
	memset(row, 0, t->ncols * sizeof(*row));
	return row;
}

static int table_commit_row(struct pr_table *t, char **row)
{
	for (size_t c = 0; c < t->ncols; c++) {
		if (!row[c]) {
			for (size_t k = 0; k < t->ncols; k++) {
				free(row[k]);
				row[k] = NULL;
			}
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

int pr_table_add(struct pr_table *t, struct json_object *row)
{
	char **cells = table_new_row(t);

	if (!cells)
		return -ENOMEM;
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = pr_text(pr_get(row, t->cols[c].key), t->cols[c].flags);
	return table_commit_row(t, cells);
}

int pr_table_add_cells(struct pr_table *t, const char *const *src)
{
	char **cells = table_new_row(t);

	if (!cells)
		return -ENOMEM;
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = strdup(src[c] ? src[c] : "-");
	return table_commit_row(t, cells);
}

static void print_row(FILE *out, const struct pr_table *t, const size_t *width,
		      const char *const *cells, const char *indent)
{
	fputs(indent, out);
	for (size_t c = 0; c < t->ncols; c++) {
		bool last = c + 1 == t->ncols;
		int w = (int)width[c];

		if (t->cols[c].flags & PR_NUM)
			fprintf(out, "%*s", w, cells[c]);
		else if (last)
			fputs(cells[c], out);
		else
			fprintf(out, "%-*s", w, cells[c]);
		if (!last)
			fputs("  ", out);
	}
	fputc('\n', out);
}

void pr_table_print(FILE *out, const struct pr_table *t, const char *indent)
{
	bool header = !(t->flags & PR_TBL_NOHEADER);
	const char **titles;
	size_t *width;

	width = calloc(t->ncols, sizeof(*width));
	titles = calloc(t->ncols, sizeof(*titles));
	if (!width || !titles) {
		free(width);
		free(titles);
		return;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		titles[c] = t->cols[c].title ? t->cols[c].title : "";
		if (header)
			width[c] = strlen(titles[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);

			if (n > width[c])
				width[c] = n;
		}
	}
	if (!indent)
		indent = "";
	if (header)
		print_row(out, t, width, titles, indent);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(out, t, width, (const char *const *)&t->cells[r * t->ncols], indent);
	free(width);
	free(titles);
}

int pr_rows(FILE *out, const struct pr_col *cols, size_t ncols, struct json_object *rows,
	    const char *indent)
{
	struct pr_table *t = pr_table_new(cols, ncols, 0);
	size_t n = json_object_is_type(rows, json_type_array) ? json_object_array_length(rows) : 0;
	int err = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = pr_table_add(t, json_object_array_get_idx(rows, i));
	if (!err)
		pr_table_print(out, t, indent);
	pr_table_free(t);
	return err;
}

int pr_fields(FILE *out, const struct pr_col *cols, size_t ncols, struct json_object *obj,
	      const char *indent)
{
	static const struct pr_col kv[] = {
		{ "", NULL, 0 },
		{ "", NULL, 0 },
	};
	struct pr_table *t = pr_table_new(kv, 2, PR_TBL_NOHEADER);
	int err = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < ncols && !err; i++) {
		char *val = pr_text(pr_get(obj, cols[i].key), cols[i].flags);
		const char *cells[2] = { cols[i].title, val };

		err = val ? pr_table_add_cells(t, cells) : -ENOMEM;
		free(val);
	}
	if (!err)
		pr_table_print(out, t, indent);
	pr_table_free(t);
	return err;
}

struct json_object *pr_get(struct json_object *obj, const char *path)
{
	char name[128];

	if (!path)
		return NULL;
	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);

		if (len >= sizeof(name) || !json_object_is_type(obj, json_type_object))
			return NULL;
		memcpy(name, path, len);
		name[len] = '\0';
		if (!json_object_object_get_ex(obj, name, &obj))
			return NULL;
		path += len + (dot ? 1 : 0);
	}
	return obj;
}

struct json_object *pr_members(struct json_object *obj, const char *namekey)
{
	struct json_object *rows = json_object_new_array();

	if (!rows || !json_object_is_type(obj, json_type_object))
		return rows;
	json_object_object_foreach(obj, name, val) {
		struct json_object *row = json_object_new_object();
		int err = !row || json_object_object_add(row, namekey,
							 json_object_new_string(name));

		if (!err && json_object_is_type(val, json_type_object)) {
			json_object_object_foreach(val, k, v) {
				if (json_object_object_add(row, k, json_object_get(v)))
					err = 1;
			}
		} else if (!err) {
			err = json_object_object_add(row, "value", json_object_get(val));
		}
		if (err || json_object_array_add(rows, row)) {
			json_object_put(row);
			json_object_put(rows);
			return NULL;
		}
	}
	return rows;
}

static char *format_time(int64_t secs)
{
	time_t tt = (time_t)secs;
	struct tm tm;
	char buf[64];

	if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, sizeof(buf), "%" PRId64, secs);
	return strdup(buf);
}

/* Arrays read as list arguments are written: "22,8000-8080". */
static char *join_array(struct json_object *arr, unsigned int flags)
{
	size_t n = json_object_array_length(arr), len = 0;
	char *out = NULL;

	if (n == 0)
		return strdup(flags & PR_ANY ? "any" : "-");
	for (size_t i = 0; i < n; i++) {
		char *s = pr_text(json_object_array_get_idx(arr, i), flags & ~PR_ANY);
		size_t sl;
		char *grown;

		if (!s)
			goto nomem;
		sl = strlen(s);
		grown = realloc(out, len + sl + 2);
		if (!grown) {
			free(s);
			goto nomem;
		}
		out = grown;
		if (i)
			out[len++] = ',';
		memcpy(out + len, s, sl + 1);
		len += sl;
		free(s);
	}
	return out;
nomem:
	free(out);
	return NULL;
}

char *pr_text(struct json_object *v, unsigned int flags)
{
	char buf[64];

	switch (json_object_get_type(v)) {
	case json_type_null:
		return strdup(flags & PR_ANY ? "any" : "-");
	case json_type_boolean:
		return strdup(json_object_get_boolean(v) ? "yes" : "no");
	case json_type_int:
		if (flags & PR_TIME)
			return format_time(json_object_get_int64(v));
		if (json_object_get_int64(v) == INT64_MAX)
			snprintf(buf, sizeof(buf), "%" PRIu64, json_object_get_uint64(v));
		else
			snprintf(buf, sizeof(buf), "%" PRId64, json_object_get_int64(v));
		return strdup(buf);
	case json_type_double:
		snprintf(buf, sizeof(buf), "%g", json_object_get_double(v));
		return strdup(buf);
	case json_type_string:
		return strdup(json_object_get_string(v));
	case json_type_array:
		return join_array(v, flags);
	case json_type_object:
		return strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	return strdup("-");
}

void pr_json(FILE *out, struct json_object *v, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE;
	const unsigned char *s;
	size_t len, run = 0;

	flags |= pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN;
	s = (const unsigned char *)json_object_to_json_string_length(v, flags, &len);
	if (!s)
		len = 0;
	/*
	 * JSON is UTF-8 (RFC 8259), but json-c copies a string's bytes as they
	 * are: a file name, an argument or an agent's answer that is not UTF-8
	 * would make the whole output unreadable to jq or Python. Such a byte
	 * can only sit inside a string; it is written as the text \xNN there,
	 * as error messages write control characters.
	 */
	for (size_t i = 0; i < len;) {
		size_t n = sl_utf8_len(s + i, len - i);

		if (n) {
			i += n;
			continue;
		}
		fwrite(s + run, 1, i - run, out);
		fprintf(out, "\\\\x%02x", s[i]);
		run = ++i;
	}
	fwrite(s + run, 1, len - run, out);
	fputc('\n', out);
}
