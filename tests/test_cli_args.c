// SPDX-License-Identifier: GPL-2.0-only
/*
 * List arguments of the CLI (cli/args.c): comma-separated or repeated.
 * The CLI's sources are not in lib/, so the file under test is built in here.
 */
#include "../cli/args.c"
#include "testlib.h"

TEST(list_comma_separated_and_repeated)
{
	struct cli_list l = {};

	ASSERT_OK(cli_list_add(&l, "192.0.2.0/24,198.51.100.0/24"), "two at once");
	ASSERT_OK(cli_list_add(&l, "203.0.113.1"), "repeated");
	if (!ASSERT_EQ(l.n, 3, "elements"))
		goto out;
	ASSERT_STREQ(l.v[0], "192.0.2.0/24", "first");
	ASSERT_STREQ(l.v[1], "198.51.100.0/24", "second");
	ASSERT_STREQ(l.v[2], "203.0.113.1", "third, in order");
out:
	cli_list_free(&l);
	ASSERT_EQ(l.n, 0, "freed list is empty");
}

TEST(list_refuses_empty_elements)
{
	static const char *const bad[] = { "", ",", "a,", ",a", "a,,b", "a,b," };
	struct cli_list l = {};

	ASSERT_OK(cli_list_add(&l, "keep"), "one element");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = cli_list_add(&l, bad[i]);

		if (!ASSERT_EQ(err, -EINVAL, bad[i]))
			continue;
	}
	ASSERT_EQ(l.n, 1, "a refused argument adds nothing");
	ASSERT_STREQ(l.v[0], "keep", "earlier elements kept");
	cli_list_free(&l);
}

TEST(list_ranges_and_single)
{
	struct cli_list l = {};

	ASSERT_OK(cli_list_add(&l, "22,8000-8080"), "ports and ranges");
	if (ASSERT_EQ(l.n, 2, "elements"))
		ASSERT_STREQ(l.v[1], "8000-8080", "range kept whole");
	cli_list_free(&l);
}
