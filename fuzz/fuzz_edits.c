// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the edits file (.sluice-cli.yaml) the agent keeps for
 * `sluice rule add` and `sluice block add`, parsed as the agent reads it
 * at start and before each edit.
 *
 * Beyond "no crash, no leak, no hang": what parses must survive the
 * agent's own round trip. The text the agent would write back for it
 * (sl_edits_format) parses again, to the same rules and blocklist, and
 * formats to the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_edit.h"

#define PATH	"/fuzz/" SL_EDITS_FILE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_edits e = { 0 }, back = { 0 };
	struct sl_diags d = { 0 };
	char *text = NULL, *again = NULL;

	if (sl_edits_parse(PATH, (const char *)data, size, &e, &d))
		goto out;
	text = sl_edits_format(&e);
	if (!text)
		goto out;	/* out of memory */
	if (sl_edits_parse(PATH, text, strlen(text), &back, &d)) {
		fprintf(stderr, "the agent's own text of a valid edits file does not parse:\n%s\n"
			"%s:%d:%d: %s\n", text, d.n ? d.v[0].file : "-", d.n ? d.v[0].line : 0,
			d.n ? d.v[0].col : 0, d.n ? d.v[0].msg : "");
		abort();
	}
	if (back.nrules != e.nrules || back.nblock != e.nblock) {
		fprintf(stderr, "round trip: %zu rules, %zu blocked became %zu, %zu:\n%s\n",
			e.nrules, e.nblock, back.nrules, back.nblock, text);
		abort();
	}
	again = sl_edits_format(&back);
	if (again && strcmp(text, again)) {
		fprintf(stderr, "formatted twice, two texts:\n%s\n----\n%s\n", text, again);
		abort();
	}
out:
	free(text);
	free(again);
	sl_edits_free(&e);
	sl_edits_free(&back);
	sl_diags_free(&d);
	return 0;
}
