/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The load balancer's part of the policy (struct sl_lb_service and struct
 * sl_decap in policy.h): text forms shared by the agent, the CLI and the
 * edits file. Parsing and checking are in lb_parse.c (policy_int.h).
 */
#ifndef SLUICE_LB_POLICY_H
#define SLUICE_LB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/*
 * "192.0.2.10:80", "[2001:db8::10]:80", or without the port ("192.0.2.10",
 * "2001:db8::10") unless NEED_PORT. FAMILY is 4 or 6, ADDR network order,
 * PORT host order (0: not given). -EINVAL with a message in ERR.
 */
int lb_endpoint_parse(const char *s, bool need_port, uint8_t *family, uint8_t addr[16],
		      uint16_t *port, char *err, size_t errlen);
/* The same text form; PORT 0: the address alone. */
void lb_endpoint_format(uint8_t family, const uint8_t *addr, uint16_t port, char *buf,
			size_t len);

/* A drain of `sluice lb drain VIP:PORT BACKEND` (BACKEND: ADDRESS or ADDRESS:PORT). */
struct lb_drain {
	uint8_t vfamily, vip[16];
	uint16_t vport;
	uint8_t proto;			/* IPPROTO_TCP, IPPROTO_UDP; 0: the services of both */
	uint8_t bfamily, baddr[16];
	uint16_t bport;			/* 0: any port of that address */
};

/* "VIP:PORT[/tcp|/udp] BACKEND" (one space); -EINVAL with a message in ERR. */
int lb_drain_parse(const char *s, struct lb_drain *d, char *err, size_t errlen);
/* Its normal text form (what the edits file holds). */
void lb_drain_format(const struct lb_drain *d, char *buf, size_t len);
/* Does D name backend B of service S? */
bool lb_drain_match(const struct lb_drain *d, const struct sl_lb_service *s,
		    const struct sl_lb_backend *b);
/* Mark draining (drain_cli) every backend of POL the N drains name. */
void lb_drains_apply(struct sl_policy *pol, char *const *drains, size_t n);

const char *lb_mode_name(enum sl_lb_mode m);
const char *lb_proto_name(uint8_t proto);

#endif /* SLUICE_LB_POLICY_H */
