// SPDX-License-Identifier: GPL-2.0-only
/*
 * Maglev tables (lib/maglev.c): every slot filled, weights honoured, the
 * same table from the same backends in any order (golden bytes), and the
 * disruption a removal causes, measured and bounded. The oracles here are
 * counts over the table; they share no code with the builder.
 */
#include <arpa/inet.h>
#include <errno.h>

#include "maglev.h"
#include "testlib.h"

#define M	65537u

/* Backend I: 198.51.100.(I % 250 + 1), port 8000 + I / 250 (IPv4). */
static void be_make(struct maglev_backend *b, unsigned int i, uint32_t weight)
{
	uint8_t addr[16] = { 198, 51, 100, (uint8_t)(i % 250 + 1) };

	maglev_key(b->key, 4, addr, (uint16_t)(8000 + i / 250));
	b->weight = weight;
}

static void count_slots(const uint32_t *t, uint32_t size, size_t n, uint32_t *cnt)
{
	memset(cnt, 0, n * sizeof(*cnt));
	for (uint32_t s = 0; s < size; s++)
		if (t[s] < n)
			cnt[t[s]]++;
}

TEST(maglev_fills_every_slot)
{
	static uint32_t t[M];
	struct maglev_backend be[7];
	uint32_t cnt[7], total = 0;

	for (unsigned int i = 0; i < 7; i++)
		be_make(&be[i], i, 1);
	if (!ASSERT_OK(maglev_build(be, 7, M, t), "build"))
		return;
	count_slots(t, M, 7, cnt);
	for (int i = 0; i < 7; i++) {
		total += cnt[i];
		/* equal weights: M / 7 each, within one slot */
		ASSERT_TRUE(cnt[i] >= M / 7 - 1 && cnt[i] <= M / 7 + 1, "equal share");
	}
	ASSERT_EQ(total, M, "every slot names a backend");
}

/* Weights 1..N (and some large ones): each backend's share within 1% of w/W. */
TEST(maglev_weights_within_one_percent)
{
	static const uint32_t sets[][6] = {
		{ 1, 2, 3, 4, 0, 0 },
		{ 1, 1, 1, 1, 1, 100 },
		{ 65535, 1, 2, 30000, 7, 0 },
		{ 3, 0, 5, 0, 9, 1 },	/* zeros: not in the table */
	};
	static uint32_t t[M];

	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		struct maglev_backend be[6];
		uint32_t cnt[6];
		uint64_t wsum = 0;

		for (unsigned int i = 0; i < 6; i++) {
			be_make(&be[i], i, sets[k][i]);
			wsum += sets[k][i];
		}
		if (!ASSERT_OK(maglev_build(be, 6, M, t), "build"))
			return;
		count_slots(t, M, 6, cnt);
		for (int i = 0; i < 6; i++) {
			double want = (double)M * sets[k][i] / wsum;
			double err = (cnt[i] - want) / M;

			if (!tl_check(err > -0.01 && err < 0.01 && (sets[k][i] || !cnt[i]),
				      __FILE__, __LINE__, "set %zu backend %d weight %u: %u slots, "
				      "want %.1f", k, i, sets[k][i], cnt[i], want))
				return;
		}
	}
	/* 200 backends of weights 1..5: every share within 1% of the table */
	{
		static struct maglev_backend be[200];
		uint32_t cnt[200], wsum = 0;
		double worst = 0;

		for (unsigned int i = 0; i < 200; i++) {
			be_make(&be[i], i, i % 5 + 1);
			wsum += i % 5 + 1;
		}
		if (!ASSERT_OK(maglev_build(be, 200, M, t), "build 200"))
			return;
		count_slots(t, M, 200, cnt);
		for (int i = 0; i < 200; i++) {
			double d = cnt[i] - (double)M * (i % 5 + 1) / wsum;

			worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
		}
		printf("# 200 weighted backends: worst share off by %.1f slots of %u\n", worst, M);
		ASSERT_TRUE(worst / M < 0.01, "200 backends within 1%");
	}
}

/* FNV-1a 64 over the table as little-endian u32s: the golden fingerprint. */
static uint64_t table_fp(const uint32_t *t, uint32_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t s = 0; s < size; s++)
		for (int b = 0; b < 4; b++)
			h = (h ^ ((t[s] >> (8 * b)) & 0xff)) * 0x100000001b3ull;
	return h;
}

/*
 * The same backends give the same table: twice, and in reverse order (the
 * table then names the same backends by their new indexes). The bytes are
 * pinned by a golden fingerprint and the first entries, so a change of the
 * hash, seeds or turn order (which would make two versions of sluice pick
 * different backends for one flow) fails here.
 */
TEST(maglev_golden_table)
{
	static uint32_t a[M], b[M], r[M];
	struct maglev_backend be[5], rev[5];
	static const uint32_t first[16] = { 2, 3, 3, 2, 3, 3, 2, 4, 4, 4, 2, 4, 1, 1, 4, 2 };

	for (unsigned int i = 0; i < 5; i++)
		be_make(&be[i], i, i + 1);
	for (unsigned int i = 0; i < 5; i++)
		rev[i] = be[4 - i];
	if (!ASSERT_OK(maglev_build(be, 5, M, a), "build") ||
	    !ASSERT_OK(maglev_build(be, 5, M, b), "build again") ||
	    !ASSERT_OK(maglev_build(rev, 5, M, r), "build reversed"))
		return;
	ASSERT_TRUE(!memcmp(a, b, sizeof(a)), "same input, same bytes");
	for (uint32_t s = 0; s < M; s++) {
		if (!ASSERT_EQ(4 - r[s], a[s], "reversed input names the same backend"))
			break;
	}
	printf("# fingerprint %016llx, first:", (unsigned long long)table_fp(a, M));
	for (int i = 0; i < 16; i++)
		printf(" %u", a[i]);
	printf("\n");
	ASSERT_EQ(table_fp(a, M), 0xd8ac979792353e94ull, "golden fingerprint");
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(a[i], first[i], "golden first entries");
}

/*
 * Removing one of N backends: its slots go to the others, and of the
 * others' slots at most ~1% of the table moves (SPEC.md). Measured for N =
 * 10 and 100, equal weights, each backend removed in turn.
 */
TEST(maglev_removal_disruption_bounded)
{
	static uint32_t before[M], after[M];
	static struct maglev_backend be[100], less[99];
	const unsigned int ns[] = { 3, 10, 100 };

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		unsigned int n = ns[k];
		uint32_t worst = 0;

		for (unsigned int i = 0; i < n; i++)
			be_make(&be[i], i, 1);
		if (!ASSERT_OK(maglev_build(be, n, M, before), "build"))
			return;
		for (unsigned int gone = 0; gone < n; gone += (n > 10 ? 7 : 1)) {
			uint32_t moved = 0, lost = 0;

			for (unsigned int i = 0, j = 0; i < n; i++)
				if (i != gone)
					less[j++] = be[i];
			if (!ASSERT_OK(maglev_build(less, n - 1, M, after), "build without one"))
				return;
			for (uint32_t s = 0; s < M; s++) {
				/* index in BE of the slot's backend after the removal */
				uint32_t now = after[s] >= gone ? after[s] + 1 : after[s];

				if (before[s] == gone)
					lost++;
				else if (now != before[s])
					moved++;
			}
			ASSERT_TRUE(lost > 0, "the removed backend had slots");
			if (moved > worst)
				worst = moved;
		}
		printf("# %u backends, one removed: at most %u of %u other slots moved (%.2f%%)\n",
		       n, worst, M, 100.0 * worst / M);
		ASSERT_TRUE(worst <= M / 100, "at most 1% of the others move");
	}
}

TEST(maglev_rejects_bad_sizes)
{
	struct maglev_backend be[3];
	uint32_t t[101];

	for (unsigned int i = 0; i < 3; i++)
		be_make(&be[i], i, 1);
	ASSERT_EQ(maglev_build(be, 3, 100, t), -EINVAL, "100 is not prime");
	ASSERT_EQ(maglev_build(be, 3, 2, t), -EINVAL, "fewer slots than backends");
	ASSERT_OK(maglev_build(be, 0, 101, t), "no backend");
	ASSERT_EQ(t[50], MAGLEV_EMPTY, "no backend: empty slots");
	be[0].weight = be[1].weight = be[2].weight = 0;
	ASSERT_OK(maglev_build(be, 3, 101, t), "all weights 0");
	ASSERT_EQ(t[0], MAGLEV_EMPTY, "all down: empty slots");
	ASSERT_TRUE(maglev_is_prime(65537) && maglev_is_prime(1048573) &&
		    !maglev_is_prime(65535) && !maglev_is_prime(1), "primes");
}
