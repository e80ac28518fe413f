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

const char *lb_mode_name(enum sl_lb_mode m);
const char *lb_proto_name(uint8_t proto);

#endif /* SLUICE_LB_POLICY_H */
