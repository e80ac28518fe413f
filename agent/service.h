/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sluiced under systemd (Type=notify): READY=1, STATUS=, WATCHDOG=1 and
 * STOPPING=1 through libsystemd's sd_notify (service.c). No-ops without
 * NOTIFY_SOCKET.
 */
#ifndef SLUICED_SERVICE_H
#define SLUICED_SERVICE_H

#include <stdbool.h>

struct agent;

/* The watchdog timer in the event loop when WATCHDOG_USEC asks for one. */
int service_open(struct agent *a);
/* READY=1 with the first STATUS=: the policy is in force, the interfaces attached. */
void service_ready(struct agent *a);
/* STATUS= again when the generation, the interfaces or the policy's state changed. */
void service_update(struct agent *a);
/* STOPPING=1, saying whether the firewall stays in force. */
void service_stopping(struct agent *a, bool torn_down);
void service_close(struct agent *a);

#endif /* SLUICED_SERVICE_H */
