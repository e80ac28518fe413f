// SPDX-License-Identifier: GPL-2.0-only
/*
 * Error records with the user's location. Each record owns a copy of its file
 * name so it outlives the policy that produced it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

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
	if (loc && loc->file) {
		r->file = strdup(loc->file);
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
