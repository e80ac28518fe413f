// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluiced under a service manager: the sd_notify protocol of systemd's
 * Type=notify services, through libsystemd (docs/sluiced.md).
 *
 *   READY=1     once, when the policy is in force and every interface that
 *               matches it is attached (main.c calls service_ready after
 *               agent_start), so that `systemctl start` returns with the
 *               firewall up and units ordered After=sluiced.service start
 *               behind it
 *   STATUS=     the generation in force and the interfaces attached, sent
 *               again whenever they change (after each turn of the loop)
 *   WATCHDOG=1  from the event loop itself, at half of WatchdogSec: a timerfd
 *               among the loop's sources, so a loop stuck anywhere stops the
 *               pings and systemd restarts the agent (Restart=on-failure);
 *               the firewall stays in force meanwhile
 *   STOPPING=1  on the way out
 *
 * Without NOTIFY_SOCKET (a shell, a container) sd_notify does nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent.h"
#include "log.h"
#include "service.h"

/* One status line, also logged once per change at debug level. */
static void status_line(const struct agent *a, char *buf, size_t len)
{
	size_t n = a->nifaces;

	if (!a->in_force)
		snprintf(buf, len, "no policy in force");
	else
		snprintf(buf, len, "generation %llu in force on %zu interface%s%s",
			 (unsigned long long)a->generation, n, n == 1 ? "" : "s",
			 a->policy_failed ? "; the last policy change was not applied (see the log)" :
			 "");
}

static void watchdog_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	uint64_t ticks;

	(void)events;
	if (read(src->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	sd_notify(0, "WATCHDOG=1");
	(void)a;
}

int service_open(struct agent *a)
{
	uint64_t usec = 0;
	struct itimerspec its;
	int r;

	a->svc.wd_fd = -1;
	r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		pr_warn("WATCHDOG_USEC: %s: no watchdog pings", strerror(-r));
	if (r <= 0 || !usec)
		return 0;
	/* half the timeout, as sd_watchdog_enabled(3) advises */
	usec /= 2;
	its.it_value.tv_sec = (time_t)(usec / 1000000);
	its.it_value.tv_nsec = (long)(usec % 1000000) * 1000;
	its.it_interval = its.it_value;
	a->svc.wd_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->svc.wd_fd < 0 || timerfd_settime(a->svc.wd_fd, 0, &its, NULL)) {
		r = -errno;
		pr_err("cannot set up the watchdog timer: %s", strerror(errno));
		return r;
	}
	a->svc.wd_src.fd = a->svc.wd_fd;
	a->svc.wd_src.ready = watchdog_ready;
	pr_debug("watchdog: a ping every %llu ms", (unsigned long long)usec / 1000);
	return agent_watch(a, &a->svc.wd_src, EPOLLIN);
}

void service_ready(struct agent *a)
{
	char status[160];

	status_line(a, status, sizeof(status));
	a->svc.generation = a->generation;
	a->svc.nifaces = a->nifaces;
	a->svc.failed = a->policy_failed;
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	/* the first ping right away: the interval starts now, not at start-up */
	if (a->svc.wd_fd >= 0)
		sd_notify(0, "WATCHDOG=1");
}

void service_update(struct agent *a)
{
	char status[160];

	if (a->svc.generation == a->generation && a->svc.nifaces == a->nifaces &&
	    a->svc.failed == a->policy_failed)
		return;
	a->svc.generation = a->generation;
	a->svc.nifaces = a->nifaces;
	a->svc.failed = a->policy_failed;
	status_line(a, status, sizeof(status));
	sd_notifyf(0, "STATUS=%s", status);
}

void service_stopping(struct agent *a, bool torn_down)
{
	(void)a;
	sd_notify(0, torn_down ? "STOPPING=1\nSTATUS=torn down: nothing attached" :
		  "STOPPING=1\nSTATUS=stopped; the firewall stays in force");
}

void service_close(struct agent *a)
{
	if (a->svc.wd_fd >= 0)
		close(a->svc.wd_fd);
	a->svc.wd_fd = -1;
}
