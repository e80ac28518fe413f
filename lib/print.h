/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one print path. Every command builds (or receives from the agent) one
 * json-c value; under -j that value is printed as it is, otherwise the same
 * value is rendered as text: aligned tables like `ip` and `nft list`, and
 * "label  value" blocks. Text views are data (column tables), so a command
 * never has a second printer that could drift from its JSON.
 */
#ifndef SLUICE_PRINT_H
#define SLUICE_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

/* Flags of a column or field: how one JSON value reads as text. */
#define PR_NUM		(1u << 0)	/* right-aligned (counters, ids) */
#define PR_ANY		(1u << 1)	/* a missing value or an empty list reads "any" */
#define PR_TIME		(1u << 2)	/* seconds since the epoch, shown as UTC time */

struct pr_col {
	const char *title;	/* header, upper case like ip -br / ss */
	const char *key;	/* member of each row object; "a.b" walks nested objects */
	unsigned int flags;	/* PR_* */
};

/* Table flags */
#define PR_TBL_NOHEADER	(1u << 0)	/* no title line (label/value blocks) */

struct pr_table;

struct pr_table *pr_table_new(const struct pr_col *cols, size_t ncols, unsigned int flags);
/* Add one row: the cells are the members of ROW named by the columns' keys. */
int pr_table_add(struct pr_table *t, struct json_object *row);
/* Add one row of ready-made cells (NULL reads "-"). */
int pr_table_add_cells(struct pr_table *t, const char *const *cells);
size_t pr_table_rows(const struct pr_table *t);
/* Columns padded to their widest cell; the last one is never padded. */
void pr_table_print(FILE *out, const struct pr_table *t, const char *indent);
void pr_table_free(struct pr_table *t);

/* Print every element of the array ROWS (objects) as one table. Returns 0 or -ENOMEM. */
int pr_rows(FILE *out, const struct pr_col *cols, size_t ncols, struct json_object *rows,
	    const char *indent);
/* Print the members of OBJ named by COLS as "label  value" lines. */
int pr_fields(FILE *out, const struct pr_col *cols, size_t ncols, struct json_object *obj,
	      const char *indent);

/*
 * The text of one value, malloc'd: strings as they are, numbers in decimal,
 * true/false, arrays joined with ',' (the form list arguments take), objects
 * as compact JSON, a missing value "-". NULL only when out of memory.
 */
char *pr_text(struct json_object *v, unsigned int flags);

/*
 * The members of the object OBJ as a new array of rows, in the object's order:
 * {"pass": {"packets": 1}} -> [{"NAMEKEY": "pass", "packets": 1}]. A member
 * that is not an object becomes {"NAMEKEY": name, "value": v}. NULL when out
 * of memory; an empty array when OBJ is not an object.
 */
struct json_object *pr_members(struct json_object *obj, const char *namekey);

/* OBJ's member at a dotted PATH ("agent.pid"); NULL when any step is missing. */
struct json_object *pr_get(struct json_object *obj, const char *path);

/* V as JSON on one line (or indented when PRETTY), then a newline; slashes unescaped. */
void pr_json(FILE *out, struct json_object *v, bool pretty);

#endif /* SLUICE_PRINT_H */
