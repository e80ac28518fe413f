/* SPDX-License-Identifier: GPL-2.0-only */
/* Internal to the policy library: parse -> check hand-off and small helpers. */
#ifndef SLUICE_POLICY_INT_H
#define SLUICE_POLICY_INT_H

#include <stdlib.h>

#include "policy.h"

#define SL_POLICY_FILE_MAX	(8u << 20)	/* bytes of one YAML policy file */
#define SL_SET_FILE_MAX		(128u << 20)	/* bytes of one set file */
#define SL_NAME_MAX		63		/* rule and set names */
#define SL_SETFILE_ERRS_MAX	20		/* bad lines reported per set file */
#define SL_FILE_ERRS_MAX	200		/* errors reported per policy file */

/*
 * Cross-file checks of a parsed policy: duplicate set and rule names (both
 * locations), @set references. Returns the number of errors added to DIAGS.
 */
int policy_check(struct sl_policy *pol, struct sl_diags *diags);

/*
 * Does glob A match every interface name (1 to 15 bytes, no '/', ':' or
 * whitespace) that glob B matches, as fnmatch(3) without flags? 1: yes;
 * 0: no, and WITNESS (16 bytes) holds a name B matches and A does not;
 * -1: cannot tell (a character class, or too many states to walk).
 */
int sl_glob_covers(const char *a, const char *b, char *witness);

/*
 * Make room for element N of the array *V of SZ-byte elements, whose
 * capacity is implied by its length: the next power of two (at least 4).
 */
static inline int sl_vec_reserve(void **v, size_t n, size_t sz)
{
	void *nv;

	if (n >= 4 && (n & (n - 1)))
		return 0;
	nv = realloc(*v, (n < 4 ? 4 : 2 * n) * sz);
	if (!nv)
		return -1;
	*v = nv;
	return 0;
}

#endif /* SLUICE_POLICY_INT_H */
