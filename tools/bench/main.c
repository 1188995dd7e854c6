// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv-bench: a YCSB-style benchmark of key-value engines.
 *
 *   betrkv-bench --engine NAME --path PATH [options]
 *
 * Runs the phases of --workload in order on one store and prints a line
 * per phase.  Exit status 0 when every operation succeeded and every
 * read returned the value last written, 1 otherwise, 2 for a wrong
 * command line.  See tools/bench/README.md.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "run.h"

#define MAX_PHASES	32
#define MAX_THREADS	256
#define MAX_VALUE	(16u << 20)

struct options {
	const char *engine;
	const char *workload;
	const char *dist;
	const char *sync;
	uint64_t ops;
	struct phase phases[MAX_PHASES];
	unsigned int n_phases;
};

static const char usage_text[] =
"usage: betrkv-bench --engine %s --path PATH [options]\n"
"  --workload LIST     phases, comma-separated, each NAME[:COUNT]:\n"
"                      load, a, b, c, e, sync, verify, delete (load,a,b,c)\n"
"  --records N         records in the store (100000)\n"
"  --ops N             operations per random phase (100000)\n"
"  --value-size BYTES  value size (1000)\n"
"  --dist D            uniform|zipfian (zipfian)\n"
"  --threads N         client threads (1)\n"
"  --cache BYTES       engine cache budget (64M)\n"
"  --cgroup-mem BYTES  run in a cgroup v1 memory limit (none)\n"
"  --sync-policy P     none|every-op|every-N (none; every-op for sync)\n"
"  --seed N            random seed (1)\n"
"  --format F          table|csv (table)\n"
"  --per-op            a line per operation type too\n"
"  --help              this text\n"
"Counts take k/m/g/t (x1000), sizes k/m/g/t (x1024), in either case.\n";

static void usage(FILE *out)
{
	char names[128];

	engine_list(names, sizeof(names));
	fprintf(out, usage_text, names);
}

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "betrkv-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

/* A number with an optional suffix k, m, g or t: powers of base. */
static uint64_t parse_num(const char *s, unsigned int base)
{
	static const char suffixes[] = "kmgt";
	unsigned long long v;
	const char *suffix;
	char *end;
	int shift;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		die_usage("bad number '%s'", s);
	if (!*end)
		return v;
	suffix = strchr(suffixes, tolower((unsigned char)*end));
	if (!suffix || end[1])
		die_usage("bad number '%s'", s);
	for (shift = suffix - suffixes + 1; shift; shift--)
		v *= base;
	return v;
}

static enum sync_policy parse_sync(const char *s, unsigned int *every)
{
	if (!strcmp(s, "none"))
		return SYNC_NONE;
	if (!strcmp(s, "every-op"))
		return SYNC_EVERY_OP;
	if (strncmp(s, "every-", 6) || !isdigit((unsigned char)s[6]))
		die_usage("bad --sync-policy '%s'", s);
	*every = parse_num(s + 6, 1000);
	if (!*every)
		die_usage("bad --sync-policy '%s'", s);
	return SYNC_EVERY_N;
}

static void add_phase(struct options *o, struct bench *b, char *spec)
{
	char *count = strchr(spec, ':');
	struct phase *p = &o->phases[o->n_phases];

	if (o->n_phases == MAX_PHASES)
		die_usage("more than 32 phases in '%s'", o->workload);
	if (count)
		*count++ = '\0';
	p->wl = workload_find(spec);
	if (!p->wl)
		die_usage("unknown workload '%s'", spec);
	if (workload_sequential(p->wl))
		p->count = b->cfg.records;
	else
		p->count = o->ops;
	if (count)
		p->count = parse_num(count, 1000);
	if (workload_sequential(p->wl) && p->count > b->cfg.records)
		p->count = b->cfg.records;
	o->n_phases++;
}

static void parse_phases(struct options *o, struct bench *b)
{
	char *list = strdup(o->workload), *save = NULL, *tok;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		add_phase(o, b, tok);
	if (!o->n_phases)
		die_usage("empty --workload '%s'", o->workload);
	free(list);
}

enum {
	OPT_ENGINE = 256, OPT_PATH, OPT_RECORDS, OPT_OPS, OPT_VALUE,
	OPT_WORKLOAD, OPT_DIST, OPT_THREADS, OPT_CACHE, OPT_CGROUP,
	OPT_SEED, OPT_SYNC, OPT_FORMAT, OPT_PER_OP, OPT_HELP,
};

static const struct option long_opts[] = {
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "records", required_argument, NULL, OPT_RECORDS },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "value-size", required_argument, NULL, OPT_VALUE },
	{ "workload", required_argument, NULL, OPT_WORKLOAD },
	{ "dist", required_argument, NULL, OPT_DIST },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "cgroup-mem", required_argument, NULL, OPT_CGROUP },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "sync-policy", required_argument, NULL, OPT_SYNC },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "per-op", no_argument, NULL, OPT_PER_OP },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void set_format(struct report *rep, const char *arg)
{
	if (!strcmp(arg, "table"))
		rep->fmt = FMT_TABLE;
	else if (!strcmp(arg, "csv"))
		rep->fmt = FMT_CSV;
	else
		die_usage("bad --format '%s'", arg);
}

static void set_option(int c, struct options *o, struct bench *b,
		       struct report *rep)
{
	switch (c) {
	case OPT_ENGINE:
		o->engine = optarg;
		break;
	case OPT_PATH:
		b->cfg.path = optarg;
		break;
	case OPT_RECORDS:
		b->cfg.records = parse_num(optarg, 1000);
		break;
	case OPT_OPS:
		o->ops = parse_num(optarg, 1000);
		break;
	case OPT_VALUE:
		b->cfg.value_size = parse_num(optarg, 1024);
		break;
	case OPT_WORKLOAD:
		o->workload = optarg;
		break;
	case OPT_DIST:
		o->dist = optarg;
		break;
	case OPT_THREADS:
		b->cfg.threads = parse_num(optarg, 1000);
		break;
	case OPT_CACHE:
		b->cfg.cache_bytes = parse_num(optarg, 1024);
		break;
	case OPT_CGROUP:
		rep->cgroup_mem = parse_num(optarg, 1024);
		break;
	case OPT_SEED:
		b->seed = parse_num(optarg, 1000);
		break;
	case OPT_SYNC:
		o->sync = optarg;
		break;
	case OPT_FORMAT:
		set_format(rep, optarg);
		break;
	case OPT_PER_OP:
		rep->per_op = true;
		break;
	case OPT_HELP:
		usage(stdout);
		exit(0);
	default:
		usage(stderr);
		exit(2);
	}
}

static void check_options(struct options *o, struct bench *b)
{
	if (!o->engine || !b->cfg.path)
		die_usage("%s", "--engine and --path are required");
	b->ops = engine_find(o->engine);
	if (!b->ops)
		die_usage("unknown engine '%s'", o->engine);
	if (!b->cfg.records || b->cfg.records > UINT32_MAX)
		die_usage("%s", "--records must be 1..2^32-1");
	if (b->cfg.value_size < VALUE_HDR_SIZE || b->cfg.value_size > MAX_VALUE)
		die_usage("%s", "--value-size must be 16..16M");
	if (!b->cfg.threads || b->cfg.threads > MAX_THREADS)
		die_usage("%s", "--threads must be 1..256");
	if (strcmp(o->dist, "uniform") && strcmp(o->dist, "zipfian"))
		die_usage("bad --dist '%s'", o->dist);
	keydist_init(&b->dist, strcmp(o->dist, "uniform") ? DIST_ZIPFIAN :
		     DIST_UNIFORM, b->cfg.records);
	if (o->sync) {
		b->sync_given = true;
		b->sync = parse_sync(o->sync, &b->sync_every);
	}
	parse_phases(o, b);
}

static void parse_args(int argc, char **argv, struct options *o,
		       struct bench *b, struct report *rep)
{
	int c;

	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1)
		set_option(c, o, b, rep);
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	check_options(o, b);
}

static int run_phases(struct options *o, struct bench *b,
		      struct report *rep)
{
	struct phase_result r;
	uint64_t bad = 0;
	unsigned int i;

	for (i = 0; i < o->n_phases; i++) {
		if (bench_run(b, &o->phases[i], &r))
			return 1;
		report_phase(rep, b, &r);
		bad += r.bad;
	}
	if (bad)
		fprintf(stderr, "betrkv-bench: %" PRIu64 " bad operations\n",
			bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct bench b = {
		.cfg = {
			.records = 100000,
			.key_size = KEY_SIZE,
			.value_size = 1000,
			.threads = 1,
			.cache_bytes = 64 << 20,
		},
		.seed = 1,
	};
	struct options o = {
		.workload = "load,a,b,c",
		.dist = "zipfian",
		.ops = 100000,
	};
	struct report rep = { .fmt = FMT_TABLE };
	int rc;

	parse_args(argc, argv, &o, &b, &rep);
	if (rep.cgroup_mem) {
		path_evict(b.cfg.path);
		if (cgroup_enter(rep.cgroup_mem))
			return 1;
	}
	if (bench_init(&b))
		return 1;
	rc = run_phases(&o, &b, &rep);
	bench_close(&b);
	return rc;
}
