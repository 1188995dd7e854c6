/* SPDX-License-Identifier: GPL-2.0 */
/*
 * betrkvctl: parsing, formatting and the command dispatch, kept out of
 * main() so the tests can call every piece without running a program.
 * Every function that prints takes the FILE * it prints to, and
 * betrkvctl_main() the one it reads too.
 */
#ifndef BETRKV_CLI_H
#define BETRKV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "betrkv.h"

/* Exit statuses of betrkvctl. */
#define CLI_EXIT_OK	0	/* success */
#define CLI_EXIT_FAIL	1	/* the operation failed */
#define CLI_EXIT_USAGE	2	/* the command line is wrong */

/* Bytes of a UUID's text form, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", with NUL. */
#define CLI_UUID_LEN	37
/* Enough for any cli_format_bytes() result. */
#define CLI_BYTES_LEN	32

int cli_parse_size(const char *s, uint64_t *bytes);
int cli_parse_store(const char *s, uint32_t *index);
char *cli_format_uuid(const uint8_t uuid[16], char buf[CLI_UUID_LEN]);
char *cli_format_bytes(uint64_t bytes, char buf[CLI_BYTES_LEN]);
void cli_print_status(FILE *out, const struct betrkv_status_args *st);
void cli_print_status_json(FILE *out, const struct betrkv_status_args *st);
int cli_unescape(const char *s, size_t len, uint8_t *buf, size_t cap,
		 size_t *out_len);
void cli_print_escaped(FILE *out, const void *data, size_t len);
void cli_print_stats(FILE *out, const struct betrkv_stats_args *st);
void cli_print_stats_json(FILE *out, const struct betrkv_stats_args *st);
int cli_dump_super(const char *path, bool software_crc, FILE *out, FILE *err);
int betrkvctl_main(int argc, char **argv, FILE *in, FILE *out, FILE *err);

#endif /* BETRKV_CLI_H */
