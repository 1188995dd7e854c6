// SPDX-License-Identifier: GPL-2.0
/*
 * Per-store sysfs attributes, under /sys/class/betrkv/betrkv<N>/.
 */
#include <linux/device.h>
#include <linux/sysfs.h>

#include "store.h"

#define STORE_ATTR_RO(_name, _fmt, _expr)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct betrkv_store *store = dev_get_drvdata(dev);		\
	ssize_t n;							\
									\
	mutex_lock(&store->lock);					\
	n = sysfs_emit(buf, _fmt "\n", _expr);				\
	mutex_unlock(&store->lock);					\
	return n;							\
}									\
static DEVICE_ATTR_RO(_name)

STORE_ATTR_RO(uuid, "%pU", store->sb.uuid);
STORE_ATTR_RO(backing_dev, "%s", store->dev.name);
STORE_ATTR_RO(device_bytes, "%llu", store->sb.geo.device_bytes);
STORE_ATTR_RO(logical_block_size, "%u", store->sb.geo.logical_block_size);
STORE_ATTR_RO(node_size, "%u", store->sb.geo.node_size);
STORE_ATTR_RO(journal_size, "%llu", store->sb.geo.journal_size);
STORE_ATTR_RO(nodes_size, "%llu", store->sb.geo.nodes_size);
STORE_ATTR_RO(cache_bytes, "%llu", store->cache_bytes);
STORE_ATTR_RO(generation, "%llu", store->sb.generation);
STORE_ATTR_RO(format_version, "%u", store->sb.format_version);
STORE_ATTR_RO(state, "%s", betrkv_state_name(store->state));

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
