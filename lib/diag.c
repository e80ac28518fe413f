// SPDX-License-Identifier: GPL-2.0-only
/*
 * Error records with the user's location. Each record owns a copy of its file
 * name so it outlives the policy that produced it.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

/*
 * S with its control characters (C0, DEL) written as \xNN: a value quoted
 * from a policy file ("r\npolicy generation 99 applied") must stay on its
 * FILE:LINE:COL line, and escape sequences must not reach a terminal or
 * forge log lines. S itself when it has none; NULL when out of memory.
 */
static char *escape_controls(char *s)
{
	size_t n = 0, len = strlen(s);
	char *out, *o;

	for (size_t i = 0; i < len; i++)
		n += (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
	if (!n)
		return s;
	out = malloc(len + 3 * n + 1);
	if (!out) {
		free(s);
		return NULL;
	}
	o = out;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			o += sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = '\0';
	free(s);
	return out;
}

size_t sl_utf8_len(const unsigned char *b, size_t len)
{
	unsigned char ch = b[0];
	size_t n = ch < 0x80 ? 1 : (ch & 0xe0) == 0xc0 ? 2 : (ch & 0xf0) == 0xe0 ? 3 :
		   (ch & 0xf8) == 0xf0 ? 4 : 0;
	uint32_t cp;

	if (n == 0 || n > len)
		return 0;
	cp = n == 1 ? ch : ch & (0x7f >> n);
	for (size_t k = 1; k < n; k++) {
		if ((b[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (b[k] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void sl_diag_add(struct sl_diags *d, const struct sl_loc *loc, const char *fmt, ...)
{
	struct sl_diag *v, *r;
	va_list ap;
	int n;

	/* Capacity is implied by the count: the next power of two. */
	if (d->n < 4 || !(d->n & (d->n - 1))) {
		v = realloc(d->v, (d->n < 4 ? 4 : 2 * d->n) * sizeof(*v));
		if (!v)
			return;
		d->v = v;
	}
	v = d->v;
	r = &v[d->n];
	memset(r, 0, sizeof(*r));
	va_start(ap, fmt);
	n = vasprintf(&r->msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	r->msg = escape_controls(r->msg);
	if (!r->msg)
		return;
	if (loc && loc->file) {
		r->file = strdup(loc->file);
		if (r->file)
			r->file = escape_controls(r->file);
		if (!r->file) {
			free(r->msg);
			return;
		}
		r->line = loc->line;
		r->col = loc->col;
	}
	d->n++;
}

void sl_diags_print(FILE *out, const struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sl_diag *r = &d->v[i];

		if (r->file && r->line > 0)
			fprintf(out, "%s:%d:%d: %s\n", r->file, r->line, r->col, r->msg);
		else if (r->file)
			fprintf(out, "%s: %s\n", r->file, r->msg);
		else
			fprintf(out, "%s\n", r->msg);
	}
}

void sl_diags_free(struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}
