// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C: every backend of the userspace environment (table, SSE4.2,
 * kernel via AF_ALG) against the standard check values and each other.
 * The kcapi cases skip where the kernel offers no AF_ALG (run them in the
 * VM, where it does).
 */
#include <stdio.h>

#include "kselftest_harness.h"
#include "env.h"

struct vector {
	const char *name;
	u8 data[48];
	size_t len;
	u32 crc;
};

static struct vector vectors[6];

static void vectors_init(void)
{
	size_t i;

	vectors[0] = (struct vector){ .name = "empty", .len = 0, .crc = 0 };
	vectors[1] = (struct vector){ .name = "123456789", .len = 9, .crc = 0xe3069283 };
	memcpy(vectors[1].data, "123456789", 9);
	/* RFC 3720 (iSCSI) appendix B.4 */
	vectors[2] = (struct vector){ .name = "32 zeros", .len = 32, .crc = 0x8a9136aa };
	vectors[3] = (struct vector){ .name = "32 ones", .len = 32, .crc = 0x62a8ab43 };
	memset(vectors[3].data, 0xff, 32);
	vectors[4] = (struct vector){ .name = "incrementing", .len = 32, .crc = 0x46dd794e };
	vectors[5] = (struct vector){ .name = "decrementing", .len = 32, .crc = 0x113fdb5c };
	for (i = 0; i < 32; i++) {
		vectors[4].data[i] = i;
		vectors[5].data[i] = 31 - i;
	}
}

FIXTURE(backend) {
	bool available;
};

FIXTURE_VARIANT(backend) {
	const char *name;
	int kind;	/* 0 table, 1 sse4.2, 2 kcapi */
};

FIXTURE_VARIANT_ADD(backend, table) { .name = "table", .kind = 0 };
FIXTURE_VARIANT_ADD(backend, sse42) { .name = "sse4.2", .kind = 1 };
FIXTURE_VARIANT_ADD(backend, kcapi) { .name = "kcapi", .kind = 2 };

FIXTURE_SETUP(backend)
{
	vectors_init();
	self->available = true;
	if (variant->kind == 2)
		self->available = betrkv_crc32c_use_kcapi() == 0;
	else
		betrkv_crc32c_use_software(variant->kind == 1);
	if (self->available)
		self->available = !strcmp(betrkv_crc32c_backend(), variant->name);
}

FIXTURE_TEARDOWN(backend)
{
	betrkv_crc32c_use_software(true);
}

TEST_F(backend, check_values)
{
	size_t i;

	if (!self->available)
		SKIP(return, "backend %s not available here", variant->name);
	for (i = 0; i < ARRAY_SIZE(vectors); i++) {
		const struct vector *v = &vectors[i];

		EXPECT_EQ(v->crc, betrkv_crc32c(NULL, 0, v->data, v->len))
			TH_LOG("vector %s", v->name);
	}
}

/* Splitting the input between head and body never changes the result. */
TEST_F(backend, head_body_split)
{
	size_t k;

	if (!self->available)
		SKIP(return, "backend %s not available here", variant->name);
	for (k = 0; k <= 9; k++)
		EXPECT_EQ(0xe3069283u, betrkv_crc32c("123456789", k,
						     "123456789" + k, 9 - k));
}

/* Every length and alignment gives what the table code gives. */
TEST_F(backend, agrees_with_table)
{
	static u8 buf[64 * 67 + 8];
	u32 want[64][8];
	size_t len, off, i;

	if (!self->available)
		SKIP(return, "backend %s not available here", variant->name);
	srand(1);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = rand();
	betrkv_crc32c_use_software(false);
	for (len = 0; len < 64; len++)
		for (off = 0; off < 8; off++)
			want[len][off] = betrkv_crc32c(NULL, 0, buf + off, len * 67);
	ASSERT_EQ(0, variant->kind == 2 ? betrkv_crc32c_use_kcapi() :
		  (betrkv_crc32c_use_software(variant->kind == 1), 0));
	for (len = 0; len < 64; len++)
		for (off = 0; off < 8; off++)
			ASSERT_EQ(want[len][off],
				  betrkv_crc32c(NULL, 0, buf + off, len * 67))
				TH_LOG("len %zu off %zu", len * 67, off);
}

TEST_HARNESS_MAIN
