// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: the table of engine backends.  To add one, write
 * engine_NAME.c defining NAME_engine and add it to both lists below.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

extern const struct engine_ops betrkv_engine;
extern const struct engine_ops betrkv_kernel_engine;
extern const struct engine_ops rocksdb_engine;
extern const struct engine_ops lmdb_engine;

static const struct engine_ops *const engines[] = {
	&betrkv_engine,
	&betrkv_kernel_engine,
	&rocksdb_engine,
	&lmdb_engine,
};

#define N_ENGINES	(sizeof(engines) / sizeof(engines[0]))

const struct engine_ops *engine_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_ENGINES; i++)
		if (!strcmp(engines[i]->name, name))
			return engines[i];
	return NULL;
}

/* The engine names, separated by '|', for usage and error messages. */
void engine_list(char *buf, size_t size)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < N_ENGINES && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s", i ? "|" : "",
				engines[i]->name);
}
