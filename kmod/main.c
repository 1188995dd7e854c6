// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv: a crash-safe key-value store on a raw block device.
 *
 * This file owns the module's lifetime and /dev/betrkv-control: it
 * validates every administration request (sizes, flags, reserved fields,
 * paths; see uargs.c) and hands well-formed ones to store.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include "store.h"
#include "uargs.h"

static int ctl_format(void __user *uarg)
{
	struct betrkv_format_args args;
	char *path;
	int usize, err;

	usize = betrkv_args_in(&args, sizeof(args), uarg, "format");
	if (usize < 0)
		return usize;
	if (args.flags || !betrkv_all_zero(args.reserved, sizeof(args.reserved)) ||
	    !betrkv_all_zero(args.uuid, sizeof(args.uuid)))
		return betrkv_reject(-EINVAL, "format: unknown flags or non-zero reserved fields");
	path = betrkv_path_in(args.path, args.path_len, "format");
	if (IS_ERR(path))
		return PTR_ERR(path);
	err = betrkv_store_format(&args, path);
	kfree(path);
	return err ?: betrkv_args_out(uarg, &args, sizeof(args), usize);
}

/* The bind options that do not need the device. */
static int bind_check(const struct betrkv_bind_args *args)
{
	if (args->flags & ~BETRKV_BIND_FLAGS)
		return betrkv_reject(-EINVAL, "bind: unknown flags 0x%x",
				     args->flags & ~BETRKV_BIND_FLAGS);
	if (args->index || args->pad ||
	    !betrkv_all_zero(args->reserved, sizeof(args->reserved)) ||
	    !betrkv_all_zero(args->uuid, sizeof(args->uuid)))
		return betrkv_reject(-EINVAL, "bind: non-zero output or reserved fields");
	if ((args->flags & BETRKV_BIND_SALVAGE) && !(args->flags & BETRKV_BIND_RDONLY))
		return betrkv_reject(-EINVAL, "bind: salvage needs a read-only bind");
	if (!(args->flags & BETRKV_BIND_COMMIT_MS) && args->commit_ms)
		return betrkv_reject(-EINVAL, "bind: commit interval given without its flag");
	if (args->commit_ms > BETRKV_COMMIT_MS_MAX)
		return betrkv_reject(-EINVAL, "bind: commit interval of %u ms is over %u ms",
				     args->commit_ms, BETRKV_COMMIT_MS_MAX);
	return 0;
}

static int ctl_bind(void __user *uarg)
{
	struct betrkv_bind_args args;
	char *path;
	int usize, err;

	usize = betrkv_args_in(&args, sizeof(args), uarg, "bind");
	if (usize < 0)
		return usize;
	err = bind_check(&args);
	if (err)
		return err;
	path = betrkv_path_in(args.path, args.path_len, "bind");
	if (IS_ERR(path))
		return PTR_ERR(path);
	err = betrkv_store_bind(&args, path);
	kfree(path);
	if (err)
		return err;
	err = betrkv_args_out(uarg, &args, sizeof(args), usize);
	if (err)
		betrkv_store_unbind(args.index);
	return err;
}

static int ctl_unbind(void __user *uarg)
{
	struct betrkv_unbind_args args;
	int usize;

	usize = betrkv_args_in(&args, sizeof(args), uarg, "unbind");
	if (usize < 0)
		return usize;
	if (args.flags || args.pad || !betrkv_all_zero(args.reserved, sizeof(args.reserved)))
		return betrkv_reject(-EINVAL, "unbind: unknown flags or non-zero reserved fields");
	return betrkv_store_unbind(args.index);
}

static int ctl_list(void __user *uarg)
{
	struct betrkv_list_args args;
	u32 *indices;
	int usize, err;

	usize = betrkv_args_in(&args, sizeof(args), uarg, "list");
	if (usize < 0)
		return usize;
	if (args.flags || args.count || !betrkv_all_zero(args.reserved, sizeof(args.reserved)))
		return betrkv_reject(-EINVAL, "list: unknown flags or non-zero reserved fields");
	args.capacity = min(args.capacity, BETRKV_MAX_STORES);
	indices = kcalloc(BETRKV_MAX_STORES, sizeof(*indices), GFP_KERNEL);
	if (!indices)
		return -ENOMEM;
	betrkv_store_list(indices, args.capacity, &args.count);
	err = 0;
	if (copy_to_user(u64_to_user_ptr(args.indices), indices,
			 min(args.count, args.capacity) * sizeof(*indices)))
		err = -EFAULT;
	kfree(indices);
	return err ?: betrkv_args_out(uarg, &args, sizeof(args), usize);
}

static int ctl_status(void __user *uarg)
{
	struct betrkv_status_args args;
	u32 index;
	int usize, err;

	usize = betrkv_args_in(&args, sizeof(args), uarg, "status");
	if (usize < 0)
		return usize;
	if (args.flags)
		return betrkv_reject(-EINVAL, "status: unknown flags 0x%x", args.flags);
	index = args.index;
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.index = index;
	err = betrkv_store_status(&args);
	if (err)
		return err;
	return betrkv_args_out(uarg, &args, sizeof(args), usize);
}

/* Commands are matched without their size bits: the size field rules. */
static long ctl_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	cmd = BETRKV_IOC_NOSIZE(cmd);
	switch (cmd) {
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_FORMAT):
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_BIND):
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_UNBIND):
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		break;
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_LIST):
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_STATUS):
		break;
	default:
		return -ENOTTY;
	}

	switch (cmd) {
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_FORMAT):
		return ctl_format(uarg);
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_BIND):
		return ctl_bind(uarg);
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_UNBIND):
		return ctl_unbind(uarg);
	case BETRKV_IOC_NOSIZE(BETRKV_IOC_LIST):
		return ctl_list(uarg);
	default:
		return ctl_status(uarg);
	}
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ctl_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = BETRKV_CONTROL_NAME,
	.fops = &ctl_fops,
	.mode = 0600,
};

static int __init betrkv_init(void)
{
	int err;

	err = betrkv_env_init();
	if (err)
		return err;
	err = betrkv_stores_init();
	if (err)
		goto out_env;
	err = misc_register(&ctl_misc);
	if (err)
		goto out_stores;
	return 0;

out_stores:
	betrkv_stores_exit();
out_env:
	betrkv_env_exit();
	return err;
}

static void __exit betrkv_exit(void)
{
	misc_deregister(&ctl_misc);
	betrkv_stores_exit();
	betrkv_env_exit();
}

module_init(betrkv_init);
module_exit(betrkv_exit);

module_param_named(verify_tree, betrkv_tree_verify, bool, 0644);
MODULE_PARM_DESC(verify_tree, "check the tree's invariants after every change (slow: for debugging)");

MODULE_DESCRIPTION("betrkv: crash-safe key-value store on a raw block device");
MODULE_LICENSE("GPL");
MODULE_SOFTDEP("pre: crc32c");
