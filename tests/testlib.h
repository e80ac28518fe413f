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
 * Tests are collected automatically (any number); each test file is one
 * binary. Output is one line per test, "ok - NAME", "ok - NAME # SKIP" or
 * "not ok - NAME", failures explained on "#" lines before it;
 * tests/run-all.sh counts them. Arguments select tests by exact name;
 * --list prints the names. Exit status: 0 when every selected test passed
 * or was skipped.
 *
 * The tests run in a child process, one after the other (so tests may share
 * an expensive setup, as test_ct does), while the parent watches: a test
 * that crashes, trips a sanitizer or hangs fails, and a new child runs the
 * tests after it. SLUICE_TEST_TIMEOUT=S: a test with no result after S
 * seconds (default 600) is killed; a hang must not hang `make test`. It is
 * no speed limit (timings belong in make bench). SLUICE_TEST_NOFORK=1 runs
 * everything in one process, for a debugger.
 */
#ifndef SLUICE_TESTLIB_H
#define SLUICE_TESTLIB_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef void (*tl_fn)(void);

struct tl_test {
	const char *name;
	tl_fn fn;
};

static struct tl_test *tl_tests;
static int tl_ntests, tl_cap;
static bool tl_failed;
static const char *tl_skip_why;

static inline void tl_register(const char *name, tl_fn fn)
{
	if (tl_ntests == tl_cap) {
		int cap = tl_cap ? tl_cap * 2 : 64;
		struct tl_test *v = realloc(tl_tests, (size_t)cap * sizeof(*v));

		if (!v) {
			/* never drop a test silently: the binary fails before any runs */
			fprintf(stderr, "testlib: out of memory registering %s\n", name);
			abort();
		}
		tl_tests = v;
		tl_cap = cap;
	}
	tl_tests[tl_ntests++] = (struct tl_test){ name, fn };
}

#define TEST(name)							\
	static void name(void);						\
	__attribute__((constructor)) static void tl_reg_##name(void)	\
	{								\
		tl_register(#name, name);				\
	}								\
	static void name(void)

/*
 * Skip the running test (call it and return): counted and printed as a skip
 * by run-all.sh, never as a pass. For a missing kernel feature, not for a
 * failure.
 */
static inline void tl_skip(const char *why)
{
	tl_skip_why = why;
}

static inline bool tl_check(bool ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#include <errno.h>
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

enum { TL_PASS, TL_FAIL, TL_SKIP };

static inline int tl_run_one(const struct tl_test *t)
{
	tl_failed = false;
	tl_skip_why = NULL;
	t->fn();
	if (!tl_failed && tl_skip_why)
		printf("# SKIP: %s\n", tl_skip_why);
	fflush(stdout);
	fflush(stderr);
	return tl_failed ? TL_FAIL : tl_skip_why ? TL_SKIP : TL_PASS;
}

static inline void tl_print_result(const char *name, int res)
{
	printf("%s - %s%s\n", res == TL_FAIL ? "not ok" : "ok", name,
	       res == TL_SKIP ? " # SKIP" : "");
}

/* What the child tells the parent: test I starts (res -1), or ended with RES (printed). */
struct tl_event {
	int32_t i, res;
};

/* The child: run the selected tests from FIRST on, telling FD about each. */
static inline void tl_child(int fd, int first, int argc, char **argv, unsigned int timeout)
{
	for (int i = first; i < tl_ntests; i++) {
		struct tl_event ev = { i, -1 };

		if (!tl_selected(argc, argv, tl_tests[i].name))
			continue;
		if (write(fd, &ev, sizeof(ev)) != sizeof(ev))
			_exit(120);
		alarm(timeout);	/* a backstop should the parent be gone */
		ev.res = tl_run_one(&tl_tests[i]);
		alarm(0);
		/* printed here, so that it comes after this test's lines and before the next's */
		tl_print_result(tl_tests[i].name, ev.res);
		fflush(stdout);
		if (write(fd, &ev, sizeof(ev)) != sizeof(ev))
			_exit(120);
	}
	close(fd);
	/* exit(), not _exit(): the leak checker runs now, and its exit status counts */
	exit(0);
}

static inline double tl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The parent: start a child at test FIRST and count the results it reports;
 * print the result of a test it did not finish. Returns the index to continue from (after a test that crashed or hung),
 * or tl_ntests when the child got through; *FAILED counts failures.
 */
static inline int tl_watch(int first, int argc, char **argv, unsigned int timeout, int *failed)
{
	int fds[2], st = 0, cur = -1, next = tl_ntests;
	double deadline = 0;
	struct tl_event ev;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) || (pid = fork()) < 0) {
		printf("# testlib: cannot start the tests: %s\n", strerror(errno));
		(*failed)++;
		return tl_ntests;
	}
	if (pid == 0) {
		close(fds[0]);
		/* its own group, so that a hang is killed with what it started */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		tl_child(fds[1], first, argc, argv, timeout + 5);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int ms = cur < 0 ? -1 : (int)((deadline - tl_now()) * 1000);
		ssize_t n;

		if (cur >= 0 && ms <= 0) {
			printf("# %s: no result after %u s (SLUICE_TEST_TIMEOUT): killed\n",
			       tl_tests[cur].name, timeout);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
			break;
		if (!pfd.revents)
			continue;
		n = read(fds[0], &ev, sizeof(ev));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(ev))
			break;	/* the child is gone */
		if (ev.res < 0) {
			cur = ev.i;
			deadline = tl_now() + timeout;
			continue;
		}
		*failed += ev.res == TL_FAIL;
		cur = -1;
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (cur >= 0) {
		/* the child died or hung in test CUR: it fails, the rest go on */
		if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
			printf("# %s: killed by signal %d (%s)\n", tl_tests[cur].name,
			       WTERMSIG(st), strsignal(WTERMSIG(st)));
		else if (WIFEXITED(st))
			printf("# %s: the test process exited with status %d (a sanitizer report "
			       "or an exit() above)\n", tl_tests[cur].name, WEXITSTATUS(st));
		tl_print_result(tl_tests[cur].name, TL_FAIL);
		(*failed)++;
		next = cur + 1;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		/* after the last test: the leak checker, or a crash at exit */
		printf("# the test process ended with %s %d after its tests (a leak report "
		       "above?)\n", WIFEXITED(st) ? "status" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		(*failed)++;
	}
	return next;
}

int main(int argc, char **argv)
{
	const char *to = getenv("SLUICE_TEST_TIMEOUT"), *nofork = getenv("SLUICE_TEST_NOFORK");
	unsigned int timeout = to && atoi(to) > 0 ? (unsigned int)atoi(to) : 600;
	int failed = 0, unknown = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (int i = 0; i < tl_ntests; i++)
			printf("%s\n", tl_tests[i].name);
		return 0;
	}
	/* a name that selects nothing is a mistake, not a pass */
	for (int a = 1; a < argc; a++) {
		int i = 0;

		while (i < tl_ntests && strcmp(argv[a], tl_tests[i].name))
			i++;
		if (i == tl_ntests) {
			fprintf(stderr, "%s: no test named %s (--list shows them)\n", argv[0], argv[a]);
			unknown++;
		}
	}
	if (unknown)
		return 2;
	if (nofork && !strcmp(nofork, "1")) {
		for (int i = 0; i < tl_ntests; i++) {
			int res;

			if (!tl_selected(argc, argv, tl_tests[i].name))
				continue;
			res = tl_run_one(&tl_tests[i]);
			tl_print_result(tl_tests[i].name, res);
			failed += res == TL_FAIL;
		}
	} else {
		for (int i = 0; i < tl_ntests;)
			i = tl_watch(i, argc, argv, timeout, &failed);
	}
	free(tl_tests);
	return failed ? 1 : 0;
}

#endif /* SLUICE_TESTLIB_H */
