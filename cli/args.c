// SPDX-License-Identifier: GPL-2.0-only
/*
 * List arguments, as SPEC.md's CLI conventions want them: comma-separated or
 * repeated, `--src 192.0.2.0/24,198.51.100.0/24 --src 203.0.113.1`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * Append every comma-separated element of ARG to L. An empty element is a
 * mistake ("a,,b" or a trailing comma), not "nothing": refuse it before L
 * changes, so that the caller's error names the whole argument.
 */
int cli_list_add(struct cli_list *l, const char *arg)
{
	size_t n = 1, added = 0;
	char **v;

	if (!*arg)
		return -EINVAL;
	for (const char *p = arg; *p; p++) {
		if (*p != ',')
			continue;
		if (p == arg || p[1] == ',' || p[1] == '\0')
			return -EINVAL;
		n++;
	}
	v = reallocarray(l->v, l->n + n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	for (const char *p = arg; added < n; added++) {
		size_t len = strcspn(p, ",");

		v[l->n + added] = strndup(p, len);
		if (!v[l->n + added]) {
			while (added--)
				free(v[l->n + added]);
			return -ENOMEM;
		}
		p += len + 1;
	}
	l->n += n;
	return 0;
}

void cli_list_free(struct cli_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
