// SPDX-License-Identifier: GPL-2.0
/*
 * betrkvctl on the host: its parsers and formatters, whole command lines
 * through betrkvctl_main() (exit status, standard output and error), and
 * dump-super on store images built here with the engine core.
 *
 * Commands that need the module run against a fake control device: this
 * program's ioctl() answers BETRKV_IOC_* for the library linked into it
 * (BETRKV_CONTROL_PATH points the library at /dev/null) and passes every
 * other request to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cli.h"
#include "superblock.h"

/* ---- running a command line ---- */

struct run {
	int status;
	char *out;
	char *err;
};

/* betrkvctl_main() on the NULL-terminated arguments after "betrkvctl". */
static void run_cli(struct run *r, const char *arg, ...)
{
	char *argv[16] = { "betrkvctl" };
	size_t out_len, err_len;
	FILE *out, *err;
	int argc = 1;
	va_list ap;

	va_start(ap, arg);
	for (; arg && argc < 15; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);
	argv[argc] = NULL;
	out = open_memstream(&r->out, &out_len);
	err = open_memstream(&r->err, &err_len);
	if (!out || !err)
		abort();
	r->status = betrkvctl_main(argc, argv, out, err);
	fclose(out);
	fclose(err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static bool has(const char *text, const char *part)
{
	return strstr(text, part) != NULL;
}

static bool starts_with(const char *text, const char *prefix)
{
	return !strncmp(text, prefix, strlen(prefix));
}

/* ---- the fake control device ---- */

static bool fake_on;
static int fake_ret;		/* errno to fail with, 0 to succeed */
static int fake_status_ret;	/* errno for BETRKV_IOC_STATUS only */
static struct betrkv_format_args fake_format_seen;
static struct betrkv_bind_args fake_bind_seen;

static const uint8_t fake_uuid[16] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0x4d, 0xef,
	0x8e, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};

/* Bound: 0 (live, on vdb) and 12 (read-only, on vdc). */
static int fake_list(struct betrkv_list_args *a)
{
	uint32_t *idx = (uint32_t *)(uintptr_t)a->indices;

	if (a->capacity > 0)
		idx[0] = 0;
	if (a->capacity > 1)
		idx[1] = 12;
	a->count = 2;
	return 0;
}

static int fake_status(struct betrkv_status_args *a)
{
	if (fake_status_ret)
		return -fake_status_ret;
	if (a->index != 0 && a->index != 12)
		return -ENOENT;
	a->state = a->index ? BETRKV_STATE_READONLY : BETRKV_STATE_LIVE;
	memcpy(a->uuid, fake_uuid, sizeof(a->uuid));
	a->uuid[15] = a->index;
	a->generation = 42;
	a->format_version = 1;
	a->logical_block_size = 512;
	a->device_bytes = 1ull << 30;
	a->node_size = 256 << 10;
	a->sb_slot = 1;
	a->journal_offset = 8192;
	a->journal_size = 16 << 20;
	a->itable_offset = 16785408;
	a->itable_size = 258048;
	a->nodes_offset = 17301504;
	a->nodes_size = 4030ull << 18;
	a->cache_bytes = 64 << 20;
	/* 259:300 in the kernel's new encoding */
	a->backing_dev = (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12);
	strcpy(a->backing_name, a->index ? "vdc" : "vdb");
	return 0;
}

static int fake_ioctl(unsigned long request, void *arg)
{
	if (fake_ret)
		return -fake_ret;
	switch (request) {
	case BETRKV_IOC_FORMAT:
		fake_format_seen = *(struct betrkv_format_args *)arg;
		memcpy(((struct betrkv_format_args *)arg)->uuid, fake_uuid, 16);
		return 0;
	case BETRKV_IOC_BIND:
		fake_bind_seen = *(struct betrkv_bind_args *)arg;
		((struct betrkv_bind_args *)arg)->index = 12;
		return 0;
	case BETRKV_IOC_UNBIND:
		return ((struct betrkv_unbind_args *)arg)->index == 12 ? 0 : -ENOENT;
	case BETRKV_IOC_LIST:
		return fake_list(arg);
	case BETRKV_IOC_STATUS:
		return fake_status(arg);
	}
	return -ENOTTY;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!fake_on || _IOC_TYPE(request) != BETRKV_IOCTL_TYPE)
		return syscall(SYS_ioctl, fd, request, arg);
	ret = fake_ioctl(request, arg);
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return 0;
}

static void use_fake(void)
{
	setenv("BETRKV_CONTROL_PATH", "/dev/null", 1);
	fake_on = true;
}

/* ---- sizes ---- */

TEST(size_plain_and_suffixes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 }, { "1", 1 }, { "4096", 4096 }, { "007", 7 },
		{ "1B", 1 }, { "12b", 12 },
		{ "1K", 1024 }, { "1k", 1024 }, { "1KiB", 1024 }, { "1kib", 1024 },
		{ "256K", 256 << 10 }, { "64M", 64 << 20 }, { "64MiB", 64 << 20 },
		{ "1G", 1ull << 30 }, { "3GiB", 3ull << 30 }, { "2T", 2ull << 40 },
		{ "1TiB", 1ull << 40 }, { "5P", 5ull << 50 }, { "15E", 15ull << 60 },
		{ "18446744073709551615", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 },
	};
	uint64_t bytes;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bytes = 12345;
		EXPECT_EQ(0, cli_parse_size(good[i].text, &bytes))
			TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(good[i].bytes, bytes) TH_LOG("'%s'", good[i].text);
	}
}

TEST(size_rejects_garbage)
{
	static const char *const bad[] = {
		"", "K", "KiB", "abc", "-1", "+1", " 1", "1 ", "1 K", "1.5G",
		"0x10", "1e3", "1KB", "1MB", "1Ki", "1KiBB", "1iB", "1Q", "1KK",
		"1k\n", "١",
	};
	uint64_t bytes = 12345;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cli_parse_size(bad[i], &bytes))
			TH_LOG("'%s'", bad[i] ? bad[i] : "?");
	EXPECT_EQ(-EINVAL, cli_parse_size(NULL, &bytes));
	EXPECT_EQ(12345, bytes);
}

TEST(size_rejects_overflow)
{
	static const char *const big[] = {
		"18446744073709551616", "99999999999999999999999",
		"16E", "16384P", "16777216T", "17179869184G", "17592186044416M",
		"18014398509481984K", "18446744073709551615K",
	};
	uint64_t bytes = 12345;
	size_t i;

	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		EXPECT_EQ(-ERANGE, cli_parse_size(big[i], &bytes))
			TH_LOG("'%s'", big[i] ? big[i] : "?");
	/* Malformed beats too large. */
	EXPECT_EQ(-EINVAL, cli_parse_size("99999999999999999999999x", &bytes));
	EXPECT_EQ(12345, bytes);
}

/* ---- store references ---- */

TEST(store_references)
{
	static const struct {
		const char *text;
		uint32_t index;
	} good[] = {
		{ "0", 0 }, { "3", 3 }, { "63", 63 }, { "betrkv0", 0 },
		{ "betrkv3", 3 }, { "/dev/betrkv3", 3 }, { "/dev/betrkv12", 12 },
		{ "4294967295", UINT32_MAX }, { "betrkv4294967295", UINT32_MAX },
	};
	uint32_t index;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		index = 12345;
		EXPECT_EQ(0, cli_parse_store(good[i].text, &index))
			TH_LOG("'%s'", good[i].text);
		EXPECT_EQ(good[i].index, index) TH_LOG("'%s'", good[i].text);
	}
}

TEST(store_references_rejected)
{
	static const char *const bad[] = {
		"", "betrkv", "/dev/betrkv", "-1", "+1", "3x", "03", "00",
		"betrkv03", "betrkv-3", "/dev/betrkv-control", "dev/betrkv3",
		"/dev/sda3", "/dev//betrkv3", "betrkv 3", " 3", "3 ", "Betrkv3",
		"betrkv3/", "/dev/betrkv3p1", "0x3",
	};
	uint32_t index = 12345;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, cli_parse_store(bad[i], &index))
			TH_LOG("'%s'", bad[i] ? bad[i] : "?");
	EXPECT_EQ(-EINVAL, cli_parse_store(NULL, &index));
	EXPECT_EQ(-ERANGE, cli_parse_store("4294967296", &index));
	EXPECT_EQ(-ERANGE, cli_parse_store("betrkv99999999999999999999", &index));
	EXPECT_EQ(12345, index);
}

/* ---- text formats ---- */

TEST(uuid_text)
{
	static const uint8_t zero[16];
	static const uint8_t ones[16] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	char buf[CLI_UUID_LEN];

	EXPECT_STREQ("01234567-89ab-4def-8edc-ba9876543210",
		     cli_format_uuid(fake_uuid, buf));
	EXPECT_STREQ("00000000-0000-0000-0000-000000000000",
		     cli_format_uuid(zero, buf));
	EXPECT_STREQ("ffffffff-ffff-ffff-ffff-ffffffffffff",
		     cli_format_uuid(ones, buf));
	EXPECT_EQ(CLI_UUID_LEN - 1, strlen(buf));
}

TEST(bytes_text)
{
	char buf[CLI_BYTES_LEN];

	EXPECT_STREQ("0 B", cli_format_bytes(0, buf));
	EXPECT_STREQ("1023 B", cli_format_bytes(1023, buf));
	EXPECT_STREQ("1 KiB", cli_format_bytes(1024, buf));
	EXPECT_STREQ("1.5 KiB", cli_format_bytes(1536, buf));
	EXPECT_STREQ("256 KiB", cli_format_bytes(256 << 10, buf));
	EXPECT_STREQ("64 MiB", cli_format_bytes(64 << 20, buf));
	EXPECT_STREQ("1.0 GiB", cli_format_bytes((1ull << 30) + 1, buf));
	EXPECT_STREQ("3 TiB", cli_format_bytes(3ull << 40, buf));
	EXPECT_STREQ("16.0 EiB", cli_format_bytes(UINT64_MAX, buf));
}

static char *status_text(const struct betrkv_status_args *st, bool json)
{
	size_t len;
	char *text;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	if (json)
		cli_print_status_json(f, st);
	else
		cli_print_status(f, st);
	fclose(f);
	return text;
}

TEST(status_human_text)
{
	struct betrkv_status_args st = { .index = 12 };
	char *text;

	ASSERT_EQ(0, fake_status(&st));
	text = status_text(&st, false);
	EXPECT_STREQ("/dev/betrkv12:\n"
		     "  state:               read-only\n"
		     "  uuid:                01234567-89ab-4def-8edc-ba987654320c\n"
		     "  backing device:      vdc (259:300)\n"
		     "  device size:         1073741824 (1 GiB)\n"
		     "  logical block size:  512\n"
		     "  format version:      1\n"
		     "  generation:          42\n"
		     "  superblock slot:     1\n"
		     "  node size:           262144 (256 KiB)\n"
		     "  journal:             offset 8192, size 16777216 (16 MiB)\n"
		     "  indirection table:   offset 16785408, size 258048 (252 KiB)\n"
		     "  nodes:               offset 17301504, size 1056440320 (1007.5 MiB)\n"
		     "  cache:               67108864 (64 MiB)\n", text);
	free(text);
}

TEST(status_json_text)
{
	struct betrkv_status_args st = { .index = 0 };
	char *text;

	ASSERT_EQ(0, fake_status(&st));
	text = status_text(&st, true);
	EXPECT_STREQ("{\"index\": 0, \"device\": \"/dev/betrkv0\", \"state\": \"live\", "
		     "\"uuid\": \"01234567-89ab-4def-8edc-ba9876543200\", "
		     "\"backing_name\": \"vdb\", \"backing_major\": 259, "
		     "\"backing_minor\": 300, \"device_bytes\": 1073741824, "
		     "\"logical_block_size\": 512, \"format_version\": 1, "
		     "\"generation\": 42, \"sb_slot\": 1, \"node_size\": 262144, "
		     "\"journal_offset\": 8192, \"journal_size\": 16777216, "
		     "\"itable_offset\": 16785408, \"itable_size\": 258048, "
		     "\"nodes_offset\": 17301504, \"nodes_size\": 1056440320, "
		     "\"cache_bytes\": 67108864}\n", text);
	free(text);
	/* A hostile name is escaped and never read past its 32 bytes. */
	memset(st.backing_name, '"', sizeof(st.backing_name));
	st.backing_name[0] = '\n';
	text = status_text(&st, true);
	EXPECT_NE(NULL, strstr(text, "\"backing_name\": \"\\u000a\\\"\\\"\\\""));
	EXPECT_NE(NULL, strstr(text, "\\\"\", \"backing_major\""));
	free(text);
	st.state = 99;
	text = status_text(&st, false);
	EXPECT_NE(NULL, strstr(text, "  state:               unknown\n"));
	free(text);
}

/* ---- command lines ---- */

TEST(no_command_is_usage_error)
{
	struct run r;

	run_cli(&r, NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_TRUE(starts_with(r.err, "Usage: betrkvctl COMMAND"));
	run_free(&r);
}

TEST(global_help_and_version)
{
	static const char *const forms[] = { "--help", "-h", "help" };
	struct run r;
	size_t i;

	for (i = 0; i < 3; i++) {
		run_cli(&r, forms[i], NULL);
		EXPECT_EQ(CLI_EXIT_OK, r.status);
		EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl COMMAND"));
		EXPECT_NE(NULL, strstr(r.out, "\n  dump-super DEVICE-OR-IMAGE\n"));
		EXPECT_NE(NULL, strstr(r.out, "\n  list\n"));
		EXPECT_STREQ("", r.err);
		run_free(&r);
	}
	run_cli(&r, "--version", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "betrkvctl "));
	run_free(&r);
}

TEST(command_help)
{
	struct run r;

	run_cli(&r, "help", "bind", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl bind DEVICE [OPTIONS]\n"));
	EXPECT_NE(NULL, strstr(r.out, "--read-only"));
	run_free(&r);
	run_cli(&r, "format", "--help", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl format DEVICE"));
	EXPECT_NE(NULL, strstr(r.out, "--yes"));
	run_free(&r);
	/* --help wins over everything else, before or after. */
	run_cli(&r, "status", "-h", "not-a-store", "extra", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl status STORE"));
	run_free(&r);
	run_cli(&r, "list", "--help", NULL);
	EXPECT_TRUE(starts_with(r.out, "Usage: betrkvctl list [OPTIONS]\n"));
	run_free(&r);
	run_cli(&r, "help", "frob", NULL);
	EXPECT_EQ(CLI_EXIT_USAGE, r.status);
	EXPECT_STREQ("betrkvctl: no help for 'frob'\nTry 'betrkvctl --help'.\n", r.err);
	run_free(&r);
}

TEST(usage_errors)
{
	static const struct {
		const char *args[6];
		const char *err;
	} cases[] = {
		{ { "frob" }, "betrkvctl: unknown command 'frob'\nTry 'betrkvctl --help'.\n" },
		{ { "--frob" }, "betrkvctl: unknown command '--frob'\nTry 'betrkvctl --help'.\n" },
		{ { "format" }, "betrkvctl: format: missing DEVICE\nTry 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb" },
		  "betrkvctl: format: formatting destroys everything on /dev/vdb; add --yes to do it\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "/dev/vdc", "--yes" },
		  "betrkvctl: format: unexpected argument '/dev/vdc'\nTry 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--node-size", "3000" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "-n", "8M" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--node-size=8G" },
		  "betrkvctl: format: --node-size must be a power of two from 256KiB to 4MiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--journal-size", "100K" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 256KiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "-j", "1000000" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 256KiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "format", "/dev/vdb", "-y", "--journal-size", "2G" },
		  "betrkvctl: format: --journal-size must be a multiple of 4KiB from 256KiB to 1GiB\n"
		  "Try 'betrkvctl format --help'.\n" },
		{ { "bind", "/dev/vdb", "--cache" },
		  "betrkvctl: bind: option '--cache' needs a value\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--cache", "lots" },
		  "betrkvctl: bind: invalid size 'lots' for --cache (examples: 4096, 256K, 64MiB)\n"
		  "Try 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "-c", "20E" },
		  "betrkvctl: bind: size '20E' of --cache is too large\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--read-only=yes" },
		  "betrkvctl: bind: option '--read-only' takes no value\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--frob" },
		  "betrkvctl: bind: unknown option '--frob'\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "-ry" },
		  "betrkvctl: bind: unknown option '-ry'\nTry 'betrkvctl bind --help'.\n" },
		{ { "bind", "/dev/vdb", "--read" },
		  "betrkvctl: bind: unknown option '--read'\nTry 'betrkvctl bind --help'.\n" },
		{ { "unbind" }, "betrkvctl: unbind: missing STORE\nTry 'betrkvctl unbind --help'.\n" },
		{ { "unbind", "sda" },
		  "betrkvctl: unbind: invalid store 'sda' (expected N, betrkvN or /dev/betrkvN)\n"
		  "Try 'betrkvctl unbind --help'.\n" },
		{ { "status", "/dev/betrkv03" },
		  "betrkvctl: status: invalid store '/dev/betrkv03' (expected N, betrkvN or /dev/betrkvN)\n"
		  "Try 'betrkvctl status --help'.\n" },
		{ { "status", "1", "2" },
		  "betrkvctl: status: unexpected argument '2'\nTry 'betrkvctl status --help'.\n" },
		{ { "list", "all" },
		  "betrkvctl: list: unexpected argument 'all'\nTry 'betrkvctl list --help'.\n" },
		{ { "dump-super" },
		  "betrkvctl: dump-super: missing DEVICE-OR-IMAGE\nTry 'betrkvctl dump-super --help'.\n" },
		{ { "dump-super", "x", "--software" },
		  "betrkvctl: dump-super: unknown option '--software'\nTry 'betrkvctl dump-super --help'.\n" },
	};
	size_t i;

	use_fake();
	fake_ret = EIO;	/* nothing may reach the module */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *a = cases[i].args;
		struct run r;

		run_cli(&r, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
		EXPECT_EQ(CLI_EXIT_USAGE, r.status) TH_LOG("case %zu", i);
		EXPECT_STREQ(cases[i].err, r.err) TH_LOG("case %zu", i);
		EXPECT_STREQ("", r.out) TH_LOG("case %zu", i);
		run_free(&r);
	}
}

TEST(module_not_loaded)
{
	struct run r;

	setenv("BETRKV_CONTROL_PATH", "/nonexistent/betrkv-control", 1);
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: list: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
	run_cli(&r, "bind", "/dev/vdb", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: bind: /dev/vdb: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
	run_cli(&r, "status", "/dev/betrkv3", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: status: betrkv3: betrkv module not loaded (no /dev/betrkv-control)\n",
		     r.err);
	run_free(&r);
}

TEST(format_prints_uuid)
{
	struct run r;

	use_fake();
	run_cli(&r, "format", "/dev/vdb", "--node-size", "512K",
		"--journal-size=8MiB", "--yes", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("01234567-89ab-4def-8edc-ba9876543210\n", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(512 << 10, fake_format_seen.node_size);
	EXPECT_EQ(8 << 20, fake_format_seen.journal_size);
	run_free(&r);
	/* Options may come first; "--" ends them. */
	run_cli(&r, "format", "-y", "--", "-odd-name", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("-odd-name", (const char *)(uintptr_t)fake_format_seen.path);
	EXPECT_EQ(0, fake_format_seen.node_size);
	EXPECT_EQ(0, fake_format_seen.journal_size);
	run_free(&r);
}

TEST(format_failure)
{
	struct run r;

	use_fake();
	fake_ret = ENOSPC;
	run_cli(&r, "format", "/dev/vdb", "-y", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: format: /dev/vdb: device is too small for a store\n",
		     r.err);
	run_free(&r);
}

TEST(bind_prints_device)
{
	struct run r;

	use_fake();
	run_cli(&r, "bind", "/dev/vdb", "--read-only", "--cache", "1G", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("/dev/betrkv12\n", r.out);
	EXPECT_STREQ("", r.err);
	EXPECT_EQ(BETRKV_BIND_RDONLY, fake_bind_seen.flags);
	EXPECT_EQ(1ull << 30, fake_bind_seen.cache_bytes);
	run_free(&r);
	run_cli(&r, "bind", "-c", "32M", "/dev/vdc", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_EQ(0, fake_bind_seen.flags);
	EXPECT_EQ(32 << 20, fake_bind_seen.cache_bytes);
	run_free(&r);
}

TEST(bind_failures)
{
	static const struct {
		int err;
		const char *text;
	} cases[] = {
		{ ENODATA, "no betrkv store on the device (not formatted)" },
		{ EUCLEAN, "both superblock copies are corrupt" },
		{ EBUSY, "device or store is busy (claimed by someone else, or open)" },
		{ ENOENT, "No such file or directory" },
	};
	char want[256];
	struct run r;
	size_t i;

	use_fake();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_ret = cases[i].err;
		run_cli(&r, "bind", "/dev/vdb", NULL);
		snprintf(want, sizeof(want), "betrkvctl: bind: /dev/vdb: %s\n",
			 cases[i].text);
		EXPECT_EQ(CLI_EXIT_FAIL, r.status);
		EXPECT_STREQ(want, r.err);
		EXPECT_STREQ("", r.out);
		run_free(&r);
	}
}

TEST(cmd_unbind)
{
	struct run r;

	use_fake();
	run_cli(&r, "unbind", "betrkv12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "unbind", "/dev/betrkv5", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: unbind: betrkv5: no store bound at that index\n", r.err);
	run_free(&r);
	fake_ret = EBUSY;
	run_cli(&r, "unbind", "12", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: unbind: betrkv12: device or store is busy (claimed by someone else, or open)\n",
		     r.err);
	run_free(&r);
}

TEST(cmd_list)
{
	struct run r;

	use_fake();
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("betrkv0    live      01234567-89ab-4def-8edc-ba9876543200 vdb\n"
		     "betrkv12   read-only 01234567-89ab-4def-8edc-ba987654320c vdc\n",
		     r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	/* A store that went away between list and status is left out... */
	fake_status_ret = ENOENT;
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("", r.err);
	run_free(&r);
	/* ...other failures are reported, and fail the command. */
	fake_status_ret = EPERM;
	run_cli(&r, "list", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: list: betrkv0: operation needs CAP_SYS_ADMIN\n"
		     "betrkvctl: list: betrkv12: operation needs CAP_SYS_ADMIN\n", r.err);
	run_free(&r);
}

TEST(cmd_status)
{
	struct run r;

	use_fake();
	run_cli(&r, "status", "12", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "/dev/betrkv12:\n  state:               read-only\n"));
	EXPECT_STREQ("", r.err);
	run_free(&r);
	run_cli(&r, "status", "--json", "betrkv0", NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(starts_with(r.out, "{\"index\": 0, "));
	run_free(&r);
	run_cli(&r, "status", "4", NULL);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: status: betrkv4: no store bound at that index\n", r.err);
	run_free(&r);
}

/* ---- dump-super ---- */

#define IMAGE_BYTES	(64ull << 20)

FIXTURE(image) {
	char path[64];
	struct betrkv_sb sb;
};

/* The superblock a format of a 64 MiB image would write, generation @gen. */
static void image_sb(struct betrkv_sb *sb, uint64_t gen)
{
	const char *why = NULL;

	memset(sb, 0, sizeof(*sb));
	if (betrkv_layout(&sb->geo, IMAGE_BYTES, 512, 0, 0, &why))
		abort();
	sb->format_version = BETRKV_FORMAT_VERSION;
	memcpy(sb->uuid, fake_uuid, sizeof(sb->uuid));
	sb->generation = gen;
	sb->format_time = 1700000000;
}

static void write_slot(const char *path, const struct betrkv_sb *sb,
		       unsigned int slot)
{
	char blk[BETRKV_BLOCK_SIZE];
	int fd = open(path, O_WRONLY);

	betrkv_sb_encode(sb, slot, blk);
	if (fd < 0 || pwrite(fd, blk, sizeof(blk), slot * sizeof(blk)) != sizeof(blk))
		abort();
	close(fd);
}

/* Flip one bit of block @slot at byte @off. */
static void corrupt(const char *path, unsigned int slot, unsigned int off)
{
	int fd = open(path, O_RDWR);
	off_t at = (off_t)slot * BETRKV_BLOCK_SIZE + off;
	unsigned char c;

	if (fd < 0 || pread(fd, &c, 1, at) != 1)
		abort();
	c ^= 0x10;
	if (pwrite(fd, &c, 1, at) != 1)
		abort();
	close(fd);
}

static void copy_block(const char *path, unsigned int from, unsigned int to)
{
	char blk[BETRKV_BLOCK_SIZE];
	int fd = open(path, O_RDWR);

	if (fd < 0 ||
	    pread(fd, blk, sizeof(blk), from * sizeof(blk)) != sizeof(blk) ||
	    pwrite(fd, blk, sizeof(blk), to * sizeof(blk)) != sizeof(blk))
		abort();
	close(fd);
}

FIXTURE_SETUP(image)
{
	int fd;

	strcpy(self->path, "/tmp/betrkv-test-cli-XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, IMAGE_BYTES));
	close(fd);
	/* As a format leaves it: slot 0 generation 1, slot 1 generation 0. */
	image_sb(&self->sb, 0);
	write_slot(self->path, &self->sb, 1);
	image_sb(&self->sb, 1);
	write_slot(self->path, &self->sb, 0);
}

FIXTURE_TEARDOWN(image)
{
	unlink(self->path);
}

static void dump(struct run *r, const char *path)
{
	run_cli(r, "dump-super", path, "--software-crc", NULL);
}


TEST_F(image, valid)
{
	char want[256];
	struct run r;

	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	snprintf(want, sizeof(want), "%s: image file, %llu bytes\ncrc32c: ",
		 self->path, IMAGE_BYTES);
	EXPECT_EQ(0, strncmp(r.out, want, strlen(want)));
	EXPECT_TRUE(has(r.out, " (software, as asked)\n"));
	EXPECT_FALSE(has(r.out, "crc32c: kcapi"));
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): valid\n"
			"  format version:      1\n"
			"  uuid:                01234567-89ab-4def-8edc-ba9876543210\n"
			"  generation:          1\n"
			"  format time:         1700000000 (2023-11-14 22:13:20 UTC)\n"
			"  device size:         67108864 (64 MiB)\n"
			"  logical block size:  512\n"
			"  node size:           262144 (256 KiB)\n"
			"  journal:             offset 8192, size 1048576 (1 MiB)\n"));
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): valid\n"));
	EXPECT_TRUE(has(r.out, "  generation:          0\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint seq:      0\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint itable:   slot 0, 0 bytes, crc32c 0x00000000\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"device check: geometry matches\n"));
	run_free(&r);
}

TEST_F(image, newest_is_slot_1)
{
	struct run r;

	image_sb(&self->sb, 7);
	self->sb.cp.seq = 99;
	self->sb.cp.root = 3;
	self->sb.cp.next_node_id = 10;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 1 (generation 7)\n"));
	EXPECT_TRUE(has(r.out, "  checkpoint seq:      99\n"));
	EXPECT_TRUE(has(r.out, "  root node:           3\n"));
	EXPECT_TRUE(has(r.out, "  next node id:        10\n"));
	run_free(&r);
}

TEST_F(image, tie_goes_to_slot_0)
{
	struct run r;

	image_sb(&self->sb, 1);
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	EXPECT_FALSE(has(r.out, "warning"));
	run_free(&r);
}

TEST_F(image, copies_of_different_stores)
{
	struct run r;

	image_sb(&self->sb, 0);
	self->sb.uuid[0] ^= 1;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"warning: the two copies belong to different stores\n"));
	run_free(&r);
}

TEST_F(image, one_copy_corrupt)
{
	struct run r;

	corrupt(self->path, 0, 100);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_STREQ("", r.err);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: checksum mismatch\n"
			"copy 1 (block 1): valid\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 1 (generation 0)\n"));
	run_free(&r);
}

TEST_F(image, copy_in_the_wrong_slot)
{
	struct run r;

	/* A valid slot-0 block written to block 1 (a misdirected write). */
	copy_block(self->path, 0, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): invalid: "));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	run_free(&r);
}

TEST_F(image, both_copies_corrupt)
{
	char want[256];
	struct run r;

	corrupt(self->path, 0, 40);
	corrupt(self->path, 1, 4000);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: checksum mismatch\n"
			"copy 1 (block 1): invalid: checksum mismatch\n"
			"newest: none\n"));
	snprintf(want, sizeof(want), "betrkvctl: dump-super: %s: no valid superblock copy\n",
		 self->path);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, zeroed)
{
	char want[256];
	struct run r;
	int fd = open(self->path, O_WRONLY | O_TRUNC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, IMAGE_BYTES));
	close(fd);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: no betrkv superblock magic\n"
			"copy 1 (block 1): invalid: no betrkv superblock magic\n"
			"newest: none\n"));
	snprintf(want, sizeof(want), "betrkvctl: dump-super: %s: no betrkv superblock (not formatted)\n",
		 self->path);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, short_file)
{
	struct run r;

	ASSERT_EQ(0, truncate(self->path, 100));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): invalid: short read (100 of 4096 bytes)\n"
			"copy 1 (block 1): invalid: short read (0 of 4096 bytes)\n"
			"newest: none\n"));
	EXPECT_TRUE(has(r.err, ": no valid superblock copy\n"));
	run_free(&r);
	ASSERT_EQ(0, truncate(self->path, 0));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "copy 0 (block 0): invalid: short read (0 of 4096 bytes)\n"));
	run_free(&r);
}

TEST_F(image, truncated_after_slot_0)
{
	struct run r;

	/* Slot 0 intact, slot 1 cut short, the geometry no longer fits. */
	ASSERT_EQ(0, truncate(self->path, 6000));
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 0 (block 0): valid\n"));
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): invalid: short read (1904 of 4096 bytes)\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"
			"device check: mismatch: device size differs from the one the store was formatted on\n"));
	run_free(&r);
}

TEST_F(image, newer_format_version)
{
	char want[256];
	struct run r;

	image_sb(&self->sb, 5);
	self->sb.format_version = BETRKV_FORMAT_VERSION + 1;
	write_slot(self->path, &self->sb, 1);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_TRUE(has(r.out, "\ncopy 1 (block 1): intact, generation 5, but format version 2 is newer than this tool\n"
			"newest: copy 1 (generation 5)\n"));
	snprintf(want, sizeof(want),
		 "betrkvctl: dump-super: %s: the newest copy has format version 2, newer than this tool\n",
		 self->path);
	EXPECT_STREQ(want, r.err);
	run_free(&r);
}

TEST_F(image, crc_backend)
{
	struct run r;

	/* The kernel's crc32c where AF_ALG offers it, else software. */
	run_cli(&r, "dump-super", self->path, NULL);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	EXPECT_TRUE(has(r.out, "\ncrc32c: kcapi\n") ||
		    has(r.out, " (software: kernel crypto API unavailable: "));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\n"));
	run_free(&r);
	dump(&r, self->path);
	EXPECT_FALSE(has(r.out, "crc32c: kcapi"));
	run_free(&r);
}

TEST_F(image, formatted_by_the_core)
{
	struct betrkv_dev *dev;
	struct betrkv_sb sb;
	char uuid[CLI_UUID_LEN], want[128];
	struct run r;

	ASSERT_EQ(0, betrkv_user_dev_open(self->path, false, false, &dev));
	ASSERT_EQ(0, betrkv_sb_format(dev, 512 << 10, 2 << 20, &sb));
	betrkv_user_dev_close(dev);
	dump(&r, self->path);
	EXPECT_EQ(CLI_EXIT_OK, r.status);
	snprintf(want, sizeof(want), "  uuid:                %s\n",
		 cli_format_uuid(sb.uuid, uuid));
	EXPECT_TRUE(has(r.out, want));
	EXPECT_TRUE(has(r.out, "  node size:           524288 (512 KiB)\n"));
	EXPECT_TRUE(has(r.out, "  journal:             offset 8192, size 2097152 (2 MiB)\n"));
	EXPECT_TRUE(has(r.out, "\nnewest: copy 0 (generation 1)\ndevice check: geometry matches\n"));
	run_free(&r);
}

TEST(dump_super_bad_paths)
{
	struct run r;

	dump(&r, "/nonexistent/image");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("", r.out);
	EXPECT_STREQ("betrkvctl: dump-super: /nonexistent/image: No such file or directory\n",
		     r.err);
	run_free(&r);
	dump(&r, "/tmp");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: dump-super: /tmp: not a block device or regular file\n",
		     r.err);
	run_free(&r);
	dump(&r, "/dev/null");
	EXPECT_EQ(CLI_EXIT_FAIL, r.status);
	EXPECT_STREQ("betrkvctl: dump-super: /dev/null: not a block device or regular file\n",
		     r.err);
	run_free(&r);
}

TEST_HARNESS_MAIN
