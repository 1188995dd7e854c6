// SPDX-License-Identifier: GPL-2.0
/*
 * betrkvctl: administration of betrkv stores and access to their data.  The
 * work is in cli.c, where the tests reach it through betrkvctl_main();
 * 'betrkvctl --help' says more.
 */
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv)
{
	int ret = betrkvctl_main(argc, argv, stdin, stdout, stderr);

	if (fflush(stdout) && ret == CLI_EXIT_OK) {
		perror("betrkvctl: writing the output");
		ret = CLI_EXIT_FAIL;
	}
	return ret;
}
