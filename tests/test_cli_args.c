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

/* ---- cli_parse: the option tables ---- */

#include <unistd.h>

static const struct cli_opt t_opts[] = {
	{ "--action", "allow|deny", CLI_OPT_REQUIRED, CV_WORDS, "allow deny", "h" },
	{ "--src", "CIDR", CLI_OPT_LIST, CV_ADDR, NULL, "h" },
	{ "--before", "RULE", 0, CV_RULE, NULL, "h" },
	{ "--force", NULL, 0, CV_TEXT, NULL, "h" },
	{ NULL },
};

static const struct cli_verb t_verb = { "add", NULL, "NAME", t_opts, CV_TEXT, 1, 1 };

/* Parse ARGS (NULL-terminated) for t_verb; the error line, if any, into MSG. */
static int t_parse(char **args, struct cli_args *a, char *msg, size_t len)
{
	struct cli c = { .object = "rule", .verb = &t_verb };
	FILE *err = tmpfile();
	int argc = 0, saved = dup(2), rc;

	while (args[argc])
		argc++;
	fflush(stderr);
	dup2(fileno(err), 2);
	rc = cli_parse(&c, argc, args, a);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(err);
	msg[0] = '\0';
	if (!fgets(msg, (int)len, err))
		msg[0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	fclose(err);
	return rc;
}

#define ARGS(...) ((char *[]){ __VA_ARGS__, NULL })

TEST(parse_values_lists_and_flags)
{
	struct cli c = { .object = "rule", .verb = &t_verb };
	struct cli_args a;
	char msg[512];
	const struct cli_list *l;

	if (!ASSERT_EQ(t_parse(ARGS("--src=192.0.2.0/24,198.51.100.0/24", "x", "--action", "deny",
				    "--src", "203.0.113.1", "--force"), &a, msg, sizeof(msg)),
		       EXIT_OK, msg))
		return;
	ASSERT_EQ(a.npos, 1, "one positional");
	ASSERT_STREQ(a.pos[0], "x", "NAME wherever it stands");
	ASSERT_STREQ(cli_arg(&c, &a, "--action"), "deny", "separate value");
	l = cli_arg_list(&c, &a, "--src");
	if (ASSERT_EQ(l->n, 3, "list adds up over = and repeats"))
		ASSERT_STREQ(l->v[2], "203.0.113.1", "in order");
	ASSERT_STREQ(cli_arg(&c, &a, "--force"), "", "a flag given");
	ASSERT_TRUE(cli_arg(&c, &a, "--before") == NULL, "not given: NULL");
	cli_args_free(&a);

	/* a value is taken as it is, also when it starts with '-' */
	if (ASSERT_EQ(t_parse(ARGS("--before", "-x", "--action", "allow", "--", "--name"), &a, msg,
			      sizeof(msg)), EXIT_OK, msg)) {
		ASSERT_STREQ(cli_arg(&c, &a, "--before"), "-x", "value starting with '-'");
		ASSERT_STREQ(a.pos[0], "--name", "after --, an argument");
		cli_args_free(&a);
	}
}

TEST(parse_usage_errors)
{
	const struct {
		char **args;
		const char *msg;
	} cases[] = {
		{ ARGS("x"), "missing --action allow|deny" },
		{ ARGS("--action", "deny"), "missing NAME" },
		{ ARGS("x", "y", "--action", "deny"), "unexpected argument 'y'" },
		{ ARGS("x", "--action"), "option '--action' needs a value" },
		{ ARGS("x", "--action="), "option '--action' needs a value" },
		{ ARGS("x", "--action", "deny", "--action", "allow"), "'--action' given twice" },
		{ ARGS("x", "--action", "deny", "--force", "--force"), "'--force' given twice" },
		{ ARGS("x", "--action", "deny", "--force=yes"), "'--force' takes no value" },
		{ ARGS("x", "--action", "deny", "--src", "a,,b"), "--src 'a,,b': an empty element" },
		{ ARGS("x", "--action", "deny", "--sr", "a"), "unknown option '--sr' for 'rule add'" },
		{ ARGS("x", "--actions", "deny"), "unknown option '--actions'" },
		{ ARGS("x", "--action", "deny", "-j"), "option '-j' goes before OBJECT" },
		{ ARGS("x", "--action", "deny", "--socket=/s"), "'--socket=/s' goes before OBJECT" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cli_args a;
		char msg[512];
		int rc = t_parse(cases[i].args, &a, msg, sizeof(msg));

		if (!ASSERT_EQ(rc, EXIT_USAGE, cases[i].msg))
			continue;
		ASSERT_TRUE(strstr(msg, cases[i].msg) != NULL, msg);
		ASSERT_TRUE(!strncmp(msg, "sluice: ", 8), "one line, the CLI's prefix");
	}
}

TEST(synopsis_from_the_table)
{
	const struct cli_object o = { .name = "rule" };
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	cli_synopsis(m, &o, &t_verb, "  ", 60);
	fclose(m);
	ASSERT_STREQ(buf, "  sluice rule add NAME --action allow|deny [--src CIDR,...]\n"
			  "                  [--before RULE] [--force]\n",
		     "required bare, optional in brackets, lists with ',...', wrapped under NAME");
	free(buf);
}
