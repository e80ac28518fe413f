// SPDX-License-Identifier: GPL-2.0-only
/* Prefix parsing and formatting. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "prefix.h"

int sl_prefix_parse(const char *s, size_t n, struct sl_prefix *p, char *err, size_t errlen)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned int max, len, alen;
	uint8_t host[16], net[16];
	bool hostbits = false;

	memset(p, 0, sizeof(*p));
	if (n == 0) {
		snprintf(err, errlen, "empty address");
		return -EINVAL;
	}
	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "\"%.*s...\" is not an IPv4 or IPv6 address or prefix",
			 40, s);
		return -EINVAL;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strlen(buf) != n) {
		snprintf(err, errlen, "address contains a NUL byte");
		return -EINVAL;
	}
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 address%s", (int)n, s,
			 slash ? " or prefix" : "");
		return -EINVAL;
	}
	len = max;
	if (slash) {
		const char *l = slash + 1;

		len = 0;
		if (!*l || strlen(l) > 3 || strspn(l, "0123456789") != strlen(l) ||
		    (l[0] == '0' && l[1])) {
			snprintf(err, errlen,
				 "bad prefix length in \"%.*s\": expected /0 to /%u", (int)n, s, max);
			return -EINVAL;
		}
		for (; *l; l++)
			len = len * 10 + (unsigned int)(*l - '0');
		if (len > max) {
			snprintf(err, errlen,
				 "bad prefix length in \"%.*s\": /%u is longer than %u bits of %s",
				 (int)n, s, len, max, max == 32 ? "IPv4" : "IPv6");
			return -EINVAL;
		}
	}
	p->len = (uint8_t)len;
	alen = max / 8;
	for (unsigned int i = 0; i < alen; i++) {
		unsigned int lo = i * 8;
		uint8_t mask;

		if (lo + 8 <= len)
			mask = 0xff;
		else if (lo >= len)
			mask = 0;
		else
			mask = (uint8_t)(0xff << (8 - (len - lo)));
		net[i] = p->addr[i] & mask;
		host[i] = p->addr[i] & (uint8_t)~mask;
		hostbits |= host[i] != 0;
	}
	if (hostbits) {
		char hs[INET6_ADDRSTRLEN], ns[INET6_ADDRSTRLEN];

		inet_ntop(p->family, host, hs, sizeof(hs));
		inet_ntop(p->family, net, ns, sizeof(ns));
		snprintf(err, errlen, "\"%.*s\" has host bits set (%s); did you mean %s/%u?",
			 (int)n, s, hs, ns, len);
		return -EINVAL;
	}
	/*
	 * ::ffff:a.b.c.d is never matched as written: the datapath drops an
	 * IPv6 packet carrying one (ipv6-v4-mapped) and the egress hooks judge
	 * a socket's as the IPv4 address. `block add ::ffff:203.0.113.5` said
	 * "blocked" and 203.0.113.5 passed. -EDOM, with *P filled: the blocklist
	 * an older agent saved may hold one, which must still load and go.
	 */
	if (p->family == AF_INET6 && len >= 96 && !memcmp(p->addr, v4mapped, 12)) {
		char v4[INET_ADDRSTRLEN], plen[8] = "";

		inet_ntop(AF_INET, p->addr + 12, v4, sizeof(v4));
		if (len < 128)
			snprintf(plen, sizeof(plen), "/%u", len - 96);
		snprintf(err, errlen, "\"%.*s\" is an IPv4-mapped IPv6 address, never matched as "
			 "one (an IPv6 packet carrying it is dropped, a socket's is judged as IPv4); "
			 "write %s%s", (int)n, s, v4, plen);
		return -EDOM;
	}
	return 0;
}

void sl_prefix_format(const struct sl_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, a, sizeof(a))) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, "%s/%u", a, p->len);
}

const char *sl_fw_hook_name(enum sl_fw_hook h)
{
	switch (h) {
	case SL_FW_HOOK_AUTO:
		return "auto";
	case SL_FW_HOOK_XDP:
		return "xdp";
	case SL_FW_HOOK_TC:
		return "tc";
	}
	return "?";
}

const char *sl_action_name(enum sluice_action a)
{
	switch (a) {
	case SLUICE_ACT_ALLOW:
		return "allow";
	case SLUICE_ACT_DENY:
		return "deny";
	}
	return "?";
}
