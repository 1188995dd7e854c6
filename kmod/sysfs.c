// SPDX-License-Identifier: GPL-2.0
/*
 * Per-store sysfs attributes, under /sys/class/betrkv/betrkv<N>/.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/sysfs.h>

#include "store.h"

/* Each attribute prints one field of the store's STATUS description. */
#define STORE_ATTR_RO(_name, _fmt, _expr)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct betrkv_store *store = dev_get_drvdata(dev);		\
	struct betrkv_status_args st = { 0 };				\
									\
	betrkv_store_describe(store, &st);				\
	return sysfs_emit(buf, _fmt "\n", _expr);			\
}									\
static DEVICE_ATTR_RO(_name)

STORE_ATTR_RO(uuid, "%pU", st.uuid);
STORE_ATTR_RO(backing_dev, "%s", st.backing_name);
STORE_ATTR_RO(device_bytes, "%llu", st.device_bytes);
STORE_ATTR_RO(logical_block_size, "%u", st.logical_block_size);
STORE_ATTR_RO(node_size, "%u", st.node_size);
STORE_ATTR_RO(journal_size, "%llu", st.journal_size);
STORE_ATTR_RO(nodes_size, "%llu", st.nodes_size);
STORE_ATTR_RO(cache_bytes, "%llu", st.cache_bytes);
STORE_ATTR_RO(generation, "%llu", st.generation);
STORE_ATTR_RO(format_version, "%u", st.format_version);
STORE_ATTR_RO(state, "%s", betrkv_state_name(st.state));
STORE_ATTR_RO(commit_ms, "%u", st.commit_ms);
STORE_ATTR_RO(salvaged, "%u", st.salvaged);

static struct attribute *store_attrs[] = {
	&dev_attr_uuid.attr,
	&dev_attr_backing_dev.attr,
	&dev_attr_device_bytes.attr,
	&dev_attr_logical_block_size.attr,
	&dev_attr_node_size.attr,
	&dev_attr_journal_size.attr,
	&dev_attr_nodes_size.attr,
	&dev_attr_cache_bytes.attr,
	&dev_attr_generation.attr,
	&dev_attr_format_version.attr,
	&dev_attr_state.attr,
	&dev_attr_commit_ms.attr,
	&dev_attr_salvaged.attr,
	NULL,
};

static const struct attribute_group store_group = {
	.attrs = store_attrs,
};

/* stats/<field>: each field of the store's STATS, one value per file. */
#define STATS_ATTR(_name)							\
static ssize_t stats_##_name##_show(struct device *dev,			\
				    struct device_attribute *attr, char *buf)	\
{									\
	struct betrkv_stats_args st;					\
									\
	betrkv_store_stats(dev_get_drvdata(dev), &st);			\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)st._name);	\
}									\
static struct device_attribute stats_attr_##_name =			\
	__ATTR(_name, 0444, stats_##_name##_show, NULL)

STATS_ATTR(puts);
STATS_ATTR(deletes);
STATS_ATTR(batches);
STATS_ATTR(gets);
STATS_ATTR(scans);
STATS_ATTR(syncs);
STATS_ATTR(checkpoints);
STATS_ATTR(seq);
STATS_ATTR(durable_seq);
STATS_ATTR(height);
STATS_ATTR(nodes);
STATS_ATTR(slots_used);
STATS_ATTR(slots_total);
STATS_ATTR(node_size);
STATS_ATTR(cache_hits);
STATS_ATTR(cache_misses);
STATS_ATTR(cache_evictions);
STATS_ATTR(cache_bytes);
STATS_ATTR(cache_used);
STATS_ATTR(cache_high_water);
STATS_ATTR(node_reads);
STATS_ATTR(node_bytes_read);
STATS_ATTR(node_writes);
STATS_ATTR(node_bytes_written);
STATS_ATTR(journal_blocks_written);
STATS_ATTR(journal_bytes_written);
STATS_ATTR(journal_flushes);
STATS_ATTR(sb_writes);
STATS_ATTR(itable_bytes_written);
STATS_ATTR(key_max);
STATS_ATTR(value_max);
STATS_ATTR(node_appends);
STATS_ATTR(writebacks);
STATS_ATTR(cp_forced);
STATS_ATTR(bloom_skips);

static struct attribute *stats_attrs[] = {
	&stats_attr_puts.attr, &stats_attr_deletes.attr, &stats_attr_batches.attr,
	&stats_attr_gets.attr, &stats_attr_scans.attr, &stats_attr_syncs.attr,
	&stats_attr_checkpoints.attr, &stats_attr_seq.attr,
	&stats_attr_durable_seq.attr, &stats_attr_height.attr,
	&stats_attr_nodes.attr, &stats_attr_slots_used.attr,
	&stats_attr_slots_total.attr, &stats_attr_node_size.attr,
	&stats_attr_cache_hits.attr, &stats_attr_cache_misses.attr,
	&stats_attr_cache_evictions.attr, &stats_attr_cache_bytes.attr,
	&stats_attr_cache_used.attr, &stats_attr_cache_high_water.attr,
	&stats_attr_node_reads.attr, &stats_attr_node_bytes_read.attr,
	&stats_attr_node_writes.attr, &stats_attr_node_bytes_written.attr,
	&stats_attr_journal_blocks_written.attr,
	&stats_attr_journal_bytes_written.attr,
	&stats_attr_journal_flushes.attr, &stats_attr_sb_writes.attr,
	&stats_attr_itable_bytes_written.attr, &stats_attr_key_max.attr,
	&stats_attr_value_max.attr, &stats_attr_node_appends.attr,
	&stats_attr_writebacks.attr, &stats_attr_cp_forced.attr,
	&stats_attr_bloom_skips.attr,
	NULL,
};

static const struct attribute_group stats_group = {
	.name = "stats",
	.attrs = stats_attrs,
};

const struct attribute_group *betrkv_store_groups[] = {
	&store_group,
	&stats_group,
	NULL,
};
