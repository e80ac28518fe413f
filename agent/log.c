// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluiced logging: one place decides where messages go. --foreground:
 * stderr. Otherwise the journal, with each message's priority (libsystemd's
 * sd_journal_print: `journalctl -u sluiced -p warning` shows the warnings and
 * errors alone); syslog where no journald listens, or when a message cannot
 * be sent to it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <systemd/sd-journal.h>

#include "log.h"

/* journald's native socket: sd_journal_print writes there */
#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static bool log_to_stderr = true;
static bool log_to_journal;
static enum log_level log_max = LL_INFO;

static const char *const level_names[] = {
	[LL_ERROR] = "error",
	[LL_WARN] = "warn",
	[LL_INFO] = "info",
	[LL_DEBUG] = "debug",
};

static const int level_prio[] = {
	[LL_ERROR] = LOG_ERR,
	[LL_WARN] = LOG_WARNING,
	[LL_INFO] = LOG_INFO,
	[LL_DEBUG] = LOG_DEBUG,
};

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i]))
			return (int)i;
	return -EINVAL;
}

static void log_vmsg(enum log_level level, bool tag, const char *fmt, va_list ap)
{
	if (level > log_max)
		return;
	if (log_to_stderr) {
		/* a line whole: the cgroup object's loader thread logs too (egress_preload) */
		flockfile(stderr);
		if (tag && level <= LL_WARN)
			fprintf(stderr, "%s: ", level_names[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	} else if (log_to_journal) {
		va_list again;

		va_copy(again, ap);
		/* the function, not the macro: CODE_FILE would always say log.c */
		if ((sd_journal_printv)(level_prio[level], fmt, again) < 0)
			vsyslog(level_prio[level], fmt, ap);
		va_end(again);
	} else {
		vsyslog(level_prio[level], fmt, ap);
	}
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, true, fmt, ap);
	va_end(ap);
}

/* Diagnostics start with their location, as compilers and nft print them. */
__attribute__((format(printf, 2, 3)))
static void log_untagged(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, false, fmt, ap);
	va_end(ap);
}

/*
 * libbpf's messages end with '\n' and come in pieces (the verifier log);
 * with -v they go out at debug level unless they are libbpf warnings.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	/* libbpf starts its own lines with "libbpf: " */
	log_msg(level == LIBBPF_WARN ? LL_WARN : LL_DEBUG, "%s", buf);
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

void log_setup(bool foreground, enum log_level level, bool libbpf_verbose)
{
	log_to_stderr = foreground;
	log_to_journal = !foreground && !access(JOURNAL_SOCKET, W_OK);
	/* -v asks for libbpf's chatter, which is only visible at debug level */
	log_max = libbpf_verbose && level < LL_DEBUG ? LL_DEBUG : level;
	if (!foreground)
		openlog("sluiced", LOG_PID, LOG_DAEMON);
	libbpf_set_print(libbpf_verbose ? libbpf_print : libbpf_quiet);
}

void log_close(void)
{
	if (!log_to_stderr)
		closelog();
}

void log_diags(enum log_level level, const struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sl_diag *g = &d->v[i];

		if (g->line > 0)
			log_untagged(level, "%s:%d:%d: %s", g->file, g->line, g->col, g->msg);
		else
			log_untagged(level, "%s: %s", g->file ? g->file : "sluiced", g->msg);
	}
}
