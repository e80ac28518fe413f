/* SPDX-License-Identifier: GPL-2.0-only */
/* IPv4/IPv6 prefixes: parse with a precise message, test containment. */
#ifndef SLUICE_PREFIX_H
#define SLUICE_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/*
 * Parse "ADDR" (a host prefix) or "ADDR/LEN" from S (N bytes, not
 * necessarily NUL-terminated). On failure returns -EINVAL and writes a
 * message without location into ERR, quoting the text. An IPv4-mapped
 * IPv6 prefix (in ::ffff:0:0/96) is refused, as nothing is matched against
 * it, with -EDOM and *P filled (the CLI's blocklist saved by an older
 * agent may hold one: it loads, and `block del` takes it away).
 */
int sl_prefix_parse(const char *s, size_t n, struct sl_prefix *p, char *err, size_t errlen);

/*
 * sl_prefix_parse, where MAPPED_OK takes an IPv4-mapped prefix (0, *P
 * filled): what an older agent saved, which must still load and go.
 */
static inline int sl_prefix_parse_saved(const char *s, size_t n, struct sl_prefix *p, char *err,
					size_t errlen, bool mapped_ok)
{
	int rc = sl_prefix_parse(s, n, p, err, errlen);

	return rc == -EDOM && mapped_ok ? 0 : rc;
}

/* Is ADDR (of FAMILY, network order) inside P? */
static inline bool sl_prefix_contains(const struct sl_prefix *p, uint8_t family,
				      const uint8_t *addr)
{
	unsigned int full = p->len / 8, rest = p->len % 8;

	if (p->family != family)
		return false;
	for (unsigned int i = 0; i < full; i++)
		if (p->addr[i] != addr[i])
			return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((p->addr[full] ^ addr[full]) & mask)
			return false;
	}
	return true;
}

/* Does prefix A contain prefix B (same family, A no longer than B)? */
static inline bool sl_prefix_covers(const struct sl_prefix *a, const struct sl_prefix *b)
{
	return a->family == b->family && a->len <= b->len &&
	       sl_prefix_contains(a, b->family, b->addr);
}

#endif /* SLUICE_PREFIX_H */
