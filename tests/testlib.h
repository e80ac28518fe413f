/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small test harness in the spirit of selftests/bpf test_progs:
 *
 *	TEST(parse_rejects_bad_cidr)
 *	{
 *		if (!ASSERT_EQ(rc, -EINVAL, "rc"))
 *			return;
 *	}
 *
 * Tests are collected automatically; each test file is one binary. Output is
 * one line per test, "ok - NAME" or "not ok - NAME", failures explained on
 * "#" lines before it; tests/run-all.sh counts them. Arguments select tests
 * by exact name. Exit status: 0 when every selected test passed.
 */
#ifndef SLUICE_TESTLIB_H
#define SLUICE_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tl_fn)(void);

struct tl_test {
	const char *name;
	tl_fn fn;
};

#define TL_MAX_TESTS 512
static struct tl_test tl_tests[TL_MAX_TESTS];
static int tl_ntests;
static bool tl_failed;

static inline void tl_register(const char *name, tl_fn fn)
{
	if (tl_ntests < TL_MAX_TESTS)
		tl_tests[tl_ntests++] = (struct tl_test){ name, fn };
}

#define TEST(name)							\
	static void name(void);						\
	__attribute__((constructor)) static void tl_reg_##name(void)	\
	{								\
		tl_register(#name, name);				\
	}								\
	static void name(void)

static inline bool tl_check(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static inline bool tl_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	tl_failed = true;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return false;
}

#define ASSERT_TRUE(cond, what) \
	tl_check(!!(cond), __FILE__, __LINE__, "%s: expected true", what)
#define ASSERT_FALSE(cond, what) \
	tl_check(!(cond), __FILE__, __LINE__, "%s: expected false", what)
#define ASSERT_EQ(got, want, what) ({						\
	long long tl_g = (long long)(got), tl_w = (long long)(want);		\
	tl_check(tl_g == tl_w, __FILE__, __LINE__, "%s: got %lld, want %lld",	\
		 what, tl_g, tl_w); })
#define ASSERT_NEQ(got, bad, what) ({						\
	long long tl_g = (long long)(got), tl_b = (long long)(bad);		\
	tl_check(tl_g != tl_b, __FILE__, __LINE__, "%s: got %lld, unexpected",	\
		 what, tl_g); })
#define ASSERT_OK(rc, what) ({							\
	long long tl_r = (long long)(rc);					\
	tl_check(tl_r == 0, __FILE__, __LINE__, "%s: failed with %lld (%s)",	\
		 what, tl_r, tl_r < 0 ? strerror((int)-tl_r) : "non-zero"); })
#define ASSERT_STREQ(got, want, what) ({					\
	const char *tl_gs = (got), *tl_ws = (want);				\
	tl_check(tl_gs && tl_ws && !strcmp(tl_gs, tl_ws), __FILE__, __LINE__,	\
		 "%s: got \"%s\", want \"%s\"", what, tl_gs ? tl_gs : "(null)",	\
		 tl_ws ? tl_ws : "(null)"); })
#define ASSERT_STRSTR(hay, needle, what) ({					\
	const char *tl_h = (hay), *tl_n = (needle);				\
	tl_check(tl_h && strstr(tl_h, tl_n), __FILE__, __LINE__,		\
		 "%s: \"%s\" not found in \"%s\"", what, tl_n, tl_h ? tl_h : "(null)"); })

static inline bool tl_selected(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < tl_ntests; i++) {
		if (!tl_selected(argc, argv, tl_tests[i].name))
			continue;
		tl_failed = false;
		tl_tests[i].fn();
		printf("%s - %s\n", tl_failed ? "not ok" : "ok", tl_tests[i].name);
		failed += tl_failed;
	}
	return failed ? 1 : 0;
}

#endif /* SLUICE_TESTLIB_H */
