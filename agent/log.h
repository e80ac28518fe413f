/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sluiced's log: stderr with --foreground, else the journal with priorities
 * (syslog where no journald runs). The agent does not fork: a service
 * manager runs it (systemd Type=notify, service.c).
 */
#ifndef SLUICED_LOG_H
#define SLUICED_LOG_H

#include <stdbool.h>

#include "diag.h"

enum log_level {
	LL_ERROR,
	LL_WARN,
	LL_INFO,
	LL_DEBUG,
};

/* "error", "warn", "info", "debug" -> level; -EINVAL otherwise. */
int log_level_parse(const char *s);

/* LIBBPF_VERBOSE: forward libbpf's own messages (verifier log included). */
void log_setup(bool foreground, enum log_level level, bool libbpf_verbose);
void log_close(void);

__attribute__((format(printf, 2, 3)))
void log_msg(enum log_level level, const char *fmt, ...);

#define pr_err(...)	log_msg(LL_ERROR, __VA_ARGS__)
#define pr_warn(...)	log_msg(LL_WARN, __VA_ARGS__)
#define pr_info(...)	log_msg(LL_INFO, __VA_ARGS__)
#define pr_debug(...)	log_msg(LL_DEBUG, __VA_ARGS__)

/* Every diagnostic as "FILE:LINE:COL: message", one log line each. */
void log_diags(enum log_level level, const struct sl_diags *d);

#endif /* SLUICED_LOG_H */
