/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Error records that carry the user's location: FILE:LINE:COL: message.
 * Lines and columns are 1-based, as editors and nftables show them.
 */
#ifndef SLUICE_DIAG_H
#define SLUICE_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct sl_loc {
	const char *file;	/* owned by whoever owns the record (policy or diag) */
	int line;
	int col;
};

struct sl_diag {
	char *file;
	int line;
	int col;
	char *msg;
};

struct sl_diags {
	struct sl_diag *v;
	size_t n;
};

__attribute__((format(printf, 3, 4)))
void sl_diag_add(struct sl_diags *d, const struct sl_loc *loc, const char *fmt, ...);
/* "FILE:LINE:COL: message" (or "FILE: message" when line is 0), one per line */
void sl_diags_print(FILE *out, const struct sl_diags *d);
void sl_diags_free(struct sl_diags *d);

/*
 * The length of the UTF-8 sequence at B (LEN bytes left): 1 to 4, or 0 when
 * B starts no valid one (a stray continuation byte, a truncated or overlong
 * sequence, a surrogate, past U+10FFFF). A NUL byte is a sequence of 1.
 */
size_t sl_utf8_len(const unsigned char *b, size_t len);

#endif /* SLUICE_DIAG_H */
