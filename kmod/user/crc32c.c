// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C for the userspace environment.
 *
 * Two backends compute the same function: software (SSE4.2 crc32
 * instructions when the CPU has them, else slicing-by-8 tables) and the
 * kernel's "crc32c" through AF_ALG and libkcapi.  Software is the default;
 * tools that want the kernel to vouch for a checksum switch to kcapi with
 * betrkv_crc32c_use_kcapi(), which fails where AF_ALG is not available.
 */
#include <kcapi.h>
#include <pthread.h>
#include <nmmintrin.h>

#include "../env.h"

#define CRC32C_POLY_REFLECTED	0x82f63b78u

static u32 crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;
static bool crc_have_sse42;	/* the CPU has it */
static bool crc_use_sse42 = true;	/* and it may be used */

static void crc_table_init(void)
{
	u32 i, j, crc;

	for (i = 0; i < 256; i++) {
		crc = i;
		for (j = 0; j < 8; j++)
			crc = (crc >> 1) ^ (CRC32C_POLY_REFLECTED & -(crc & 1));
		crc_table[0][i] = crc;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^
					  crc_table[0][crc_table[j - 1][i] & 0xff];
	crc_have_sse42 = __builtin_cpu_supports("sse4.2");
}

/* Raw update (no pre/post inversion), slicing-by-8. */
static u32 crc_update_table(u32 crc, const u8 *p, size_t len)
{
	u64 word;

	while (len && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&word, p, 8);
		word = le64toh(word) ^ crc;
		crc = crc_table[7][word & 0xff] ^
		      crc_table[6][(word >> 8) & 0xff] ^
		      crc_table[5][(word >> 16) & 0xff] ^
		      crc_table[4][(word >> 24) & 0xff] ^
		      crc_table[3][(word >> 32) & 0xff] ^
		      crc_table[2][(word >> 40) & 0xff] ^
		      crc_table[1][(word >> 48) & 0xff] ^
		      crc_table[0][word >> 56];
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

__attribute__((target("sse4.2")))
static u32 crc_update_sse42(u32 crc, const u8 *p, size_t len)
{
	u64 crc64 = crc, word;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&word, p, 8);
		crc64 = _mm_crc32_u64(crc64, word);
	}
	crc = (u32)crc64;
	while (len--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}

static u32 crc_update_software(u32 crc, const void *p, size_t len)
{
	if (crc_have_sse42 && crc_use_sse42)
		return crc_update_sse42(crc, p, len);
	return crc_update_table(crc, p, len);
}

/* The kcapi backend: one handle, serialised (a handle is not thread-safe). */
static struct kcapi_handle *kcapi;
static pthread_mutex_t kcapi_lock = PTHREAD_MUTEX_INITIALIZER;

static u32 crc_kcapi(const void *head, size_t head_len, const void *body,
		     size_t body_len)
{
	u8 out[4] = { 0 };

	pthread_mutex_lock(&kcapi_lock);
	if (head_len)
		kcapi_md_update(kcapi, head, head_len);
	if (body_len)
		kcapi_md_update(kcapi, body, body_len);
	kcapi_md_final(kcapi, out, sizeof(out));
	pthread_mutex_unlock(&kcapi_lock);
	return (u32)out[0] | (u32)out[1] << 8 | (u32)out[2] << 16 |
	       (u32)out[3] << 24;
}

u32 betrkv_crc32c(const void *head, size_t head_len, const void *body,
		  size_t body_len)
{
	u32 crc;

	if (kcapi)
		return crc_kcapi(head, head_len, body, body_len);
	pthread_once(&crc_table_once, crc_table_init);
	crc = crc_update_software(~0u, head, head_len);
	crc = crc_update_software(crc, body, body_len);
	return ~crc;
}

/**
 * betrkv_crc32c_use_kcapi() - compute CRC-32C in the kernel through AF_ALG.
 *
 * Return: 0, or a negative errno (e.g. -EAFNOSUPPORT where the kernel offers
 * no AF_ALG hash interface); the software backend stays in use then.
 */
int betrkv_crc32c_use_kcapi(void)
{
	struct kcapi_handle *h;
	int ret;

	if (kcapi)
		return 0;
	kcapi_set_verbosity(KCAPI_LOG_NONE);
	ret = kcapi_md_init(&h, "crc32c", 0);
	if (ret)
		return ret < 0 ? ret : -EINVAL;
	if (kcapi_md_digestsize(h) != 4) {
		kcapi_md_destroy(h);
		return -EINVAL;
	}
	kcapi = h;
	return 0;
}

/**
 * betrkv_crc32c_use_software() - go back to the software backend.
 * @hw: use the CPU's SSE4.2 crc32 instructions where it has them; false
 *      forces the table-driven code
 */
void betrkv_crc32c_use_software(bool hw)
{
	if (kcapi)
		kcapi_md_destroy(kcapi);
	kcapi = NULL;
	crc_use_sse42 = hw;
}

/**
 * betrkv_crc32c_backend() - name of the backend in use.
 *
 * Return: "kcapi", "sse4.2" or "table".
 */
const char *betrkv_crc32c_backend(void)
{
	if (kcapi)
		return "kcapi";
	pthread_once(&crc_table_once, crc_table_init);
	return crc_have_sse42 && crc_use_sse42 ? "sse4.2" : "table";
}
