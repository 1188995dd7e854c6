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
	NULL,
};

static const struct attribute_group store_group = {
	.attrs = store_attrs,
};

const struct attribute_group *betrkv_store_groups[] = {
	&store_group,
	NULL,
};
