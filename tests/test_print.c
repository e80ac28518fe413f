// SPDX-License-Identifier: GPL-2.0-only
/*
 * The print path (lib/print.c): how JSON values read as text, aligned tables,
 * label/value blocks, and JSON output.
 */
#include <stdlib.h>

#include "print.h"
#include "testlib.h"

/* Run PRINT into a memory stream and return what it wrote (malloc'd). */
#define CAPTURE(buf, stmt) do {						\
		size_t cap_len;						\
		FILE *cap = open_memstream(&(buf), &cap_len);		\
		if (!ASSERT_TRUE(cap, "open_memstream"))		\
			return;						\
		{ FILE *out = cap; (void)out; stmt; }			\
		fclose(cap);						\
	} while (0)

static struct json_object *parse(const char *s)
{
	return json_tokener_parse(s);
}

TEST(text_of_scalars)
{
	struct json_object *v = parse("{\"s\": \"veth0\", \"n\": 42, \"big\": 18446744073709551615,"
				      " \"neg\": -3, \"t\": true, \"z\": null, \"when\": 0}");
	char *s;

	s = pr_text(pr_get(v, "s"), 0);
	ASSERT_STREQ(s, "veth0", "string");
	free(s);
	s = pr_text(pr_get(v, "n"), 0);
	ASSERT_STREQ(s, "42", "int");
	free(s);
	s = pr_text(pr_get(v, "big"), 0);
	ASSERT_STREQ(s, "18446744073709551615", "u64 max stays exact");
	free(s);
	s = pr_text(pr_get(v, "neg"), 0);
	ASSERT_STREQ(s, "-3", "negative");
	free(s);
	s = pr_text(pr_get(v, "t"), 0);
	ASSERT_STREQ(s, "yes", "bool");
	free(s);
	s = pr_text(pr_get(v, "z"), 0);
	ASSERT_STREQ(s, "-", "null");
	free(s);
	s = pr_text(pr_get(v, "missing"), PR_ANY);
	ASSERT_STREQ(s, "any", "missing with PR_ANY");
	free(s);
	s = pr_text(pr_get(v, "when"), PR_TIME);
	ASSERT_STREQ(s, "1970-01-01 00:00:00 UTC", "epoch as UTC");
	free(s);
	json_object_put(v);
}

TEST(text_of_lists)
{
	struct json_object *v = parse("{\"dport\": [\"22\", \"8000-8080\"], \"src\": [],"
				      " \"ids\": [1, 2, 3]}");
	char *s;

	s = pr_text(pr_get(v, "dport"), PR_ANY);
	ASSERT_STREQ(s, "22,8000-8080", "joined like a list argument");
	free(s);
	s = pr_text(pr_get(v, "src"), PR_ANY);
	ASSERT_STREQ(s, "any", "empty list is any");
	free(s);
	s = pr_text(pr_get(v, "src"), 0);
	ASSERT_STREQ(s, "-", "empty list without PR_ANY");
	free(s);
	s = pr_text(pr_get(v, "ids"), 0);
	ASSERT_STREQ(s, "1,2,3", "numbers joined");
	free(s);
	json_object_put(v);
}

TEST(get_walks_dotted_paths)
{
	struct json_object *v = parse("{\"agent\": {\"pid\": 7, \"x\": {\"y\": \"deep\"}},"
				      " \"list\": [1]}");

	ASSERT_EQ(json_object_get_int(pr_get(v, "agent.pid")), 7, "agent.pid");
	ASSERT_STREQ(json_object_get_string(pr_get(v, "agent.x.y")), "deep", "agent.x.y");
	ASSERT_TRUE(pr_get(v, "agent.nope") == NULL, "missing member");
	ASSERT_TRUE(pr_get(v, "list.0") == NULL, "arrays are not walked");
	ASSERT_TRUE(pr_get(v, "agent.pid.more") == NULL, "past a scalar");
	ASSERT_TRUE(pr_get(NULL, "a") == NULL, "NULL object");
	json_object_put(v);
}

TEST(table_aligns_columns)
{
	static const struct pr_col cols[] = {
		{ "NAME", "name", 0 },
		{ "PACKETS", "packets", PR_NUM },
		{ "DPORT", "dport", PR_ANY },
	};
	struct json_object *rows = parse("[{\"name\": \"ssh\", \"packets\": 10, \"dport\": [\"22\"]},"
					 " {\"name\": \"drop-everything\", \"packets\": 123456789,"
					 "  \"dport\": []}]");
	char *buf = NULL;

	CAPTURE(buf, ASSERT_OK(pr_rows(out, cols, 3, rows, "  "), "pr_rows"));
	ASSERT_STREQ(buf,
		     "  NAME               PACKETS  DPORT\n"
		     "  ssh                     10  22\n"
		     "  drop-everything  123456789  any\n", "table");
	free(buf);
	json_object_put(rows);
}

TEST(table_of_nothing_is_a_header)
{
	static const struct pr_col cols[] = {
		{ "A", "a", 0 },
		{ "BB", "b", 0 },
	};
	struct json_object *rows = json_object_new_array();
	char *buf = NULL;

	CAPTURE(buf, ASSERT_OK(pr_rows(out, cols, 2, rows, NULL), "pr_rows"));
	ASSERT_STREQ(buf, "A  BB\n", "header only, last column unpadded");
	free(buf);
	json_object_put(rows);
}

TEST(table_cells_and_missing_values)
{
	static const struct pr_col cols[] = {
		{ "#", "index", PR_NUM },
		{ "NAME", "name", 0 },
		{ "BYTES", "bytes", PR_NUM },
	};
	struct pr_table *t = pr_table_new(cols, 3, 0);
	struct json_object *row = parse("{\"index\": 0, \"name\": \"a\"}");
	const char *cells[] = { "*", "(default)", NULL };
	char *buf = NULL;

	if (!ASSERT_TRUE(t, "pr_table_new"))
		return;
	ASSERT_OK(pr_table_add(t, row), "add row");
	ASSERT_OK(pr_table_add_cells(t, cells), "add cells");
	ASSERT_EQ(pr_table_rows(t), 2, "rows");
	CAPTURE(buf, pr_table_print(out, t, ""));
	ASSERT_STREQ(buf,
		     "#  NAME       BYTES\n"
		     "0  a              -\n"
		     "*  (default)      -\n", "missing values read -");
	free(buf);
	pr_table_free(t);
	json_object_put(row);
}

TEST(fields_block)
{
	static const struct pr_col f[] = {
		{ "agent pid", "agent.pid", 0 },
		{ "interfaces", "policy.interfaces", 0 },
		{ "missing", "nope", 0 },
	};
	struct json_object *v = parse("{\"agent\": {\"pid\": 4242},"
				      " \"policy\": {\"interfaces\": [\"eth0\", \"veth*\"]}}");
	char *buf = NULL;

	CAPTURE(buf, ASSERT_OK(pr_fields(out, f, 3, v, ""), "pr_fields"));
	ASSERT_STREQ(buf,
		     "agent pid   4242\n"
		     "interfaces  eth0,veth*\n"
		     "missing     -\n", "fields");
	free(buf);
	json_object_put(v);
}

TEST(members_become_rows_in_order)
{
	struct json_object *v = parse("{\"pass\": {\"packets\": 1, \"bytes\": 60},"
				      " \"drop\": {\"packets\": 2, \"bytes\": 0}, \"odd\": 5}");
	struct json_object *rows = pr_members(v, "name");

	if (!ASSERT_TRUE(rows, "pr_members"))
		return;
	ASSERT_EQ(json_object_array_length(rows), 3, "rows");
	ASSERT_STREQ(json_object_get_string(pr_get(json_object_array_get_idx(rows, 0), "name")),
		     "pass", "first in the object's order");
	ASSERT_EQ(json_object_get_int(pr_get(json_object_array_get_idx(rows, 1), "packets")), 2,
		  "members copied");
	ASSERT_EQ(json_object_get_int(pr_get(json_object_array_get_idx(rows, 2), "value")), 5,
		  "scalar member as value");
	json_object_put(rows);
	rows = pr_members(NULL, "name");
	ASSERT_EQ(json_object_array_length(rows), 0, "not an object: no rows");
	json_object_put(rows);
	json_object_put(v);
}

TEST(json_output_is_one_line_without_escaped_slashes)
{
	struct json_object *v = parse("{\"state_dir\": \"/sys/fs/bpf/sluice\", \"n\": [1, 2]}");
	struct json_object *back;
	char *buf = NULL;

	CAPTURE(buf, pr_json(out, v, false));
	ASSERT_STREQ(buf, "{\"state_dir\":\"/sys/fs/bpf/sluice\",\"n\":[1,2]}\n", "plain");
	free(buf);
	buf = NULL;
	CAPTURE(buf, pr_json(out, v, true));
	back = json_tokener_parse(buf);
	ASSERT_TRUE(back && json_object_equal(back, v), "pretty parses back to the same value");
	ASSERT_TRUE(strchr(buf, '\n') != strrchr(buf, '\n'), "pretty spans lines");
	json_object_put(back);
	free(buf);
	json_object_put(v);
}
