// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the policy parser and checker, as the agent and
 * `sluice policy check` run them on a policy dir.
 *
 * Input: the text of a policy file, optionally followed by a line "#%set"
 * and the text of a set file. They are written to p.yaml and s.txt in a
 * directory of this process (on /dev/shm when there is one) and the dir is
 * loaded with policy_load_dir; a policy that names `file: s.txt` reads the
 * second part. Any result is fine; a crash, a sanitizer report, a leak or
 * a hang is not.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define SET_MARK	"\n#%set\n"

static char dir[64];

static void cleanup(void)
{
	char p[96];

	snprintf(p, sizeof(p), "%s/p.yaml", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/s.txt", dir);
	unlink(p);
	rmdir(dir);
}

static int put(const char *name, const uint8_t *data, size_t len)
{
	char p[96];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "we");
	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -EIO : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *mark = memmem(data, size, SET_MARK, strlen(SET_MARK));
	size_t ylen = mark ? (size_t)(mark - data) : size;
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	char p[96];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/slfuzz-XXXXXX",
			 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	if (put("p.yaml", data, ylen))
		abort();
	snprintf(p, sizeof(p), "%s/s.txt", dir);
	unlink(p);
	if (mark && put("s.txt", mark + strlen(SET_MARK), size - ylen - strlen(SET_MARK)))
		abort();
	if (!policy_load_dir(dir, &pol, &d))
		policy_free(&pol);
	sl_diags_free(&d);
	return 0;
}
