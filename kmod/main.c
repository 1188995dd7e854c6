// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv: a crash-safe key-value store on a raw block device.
 *
 * This file owns the module's lifetime and /dev/betrkv-control: it copies
 * and validates every ioctl argument (sizes, flags, reserved fields, paths)
 * and hands well-formed requests to store.c.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "store.h"

/**
 * betrkv_reject() - log why a request is refused and return @err.
 *
 * Not ratelimited: only root can open /dev/betrkv-control, and an
 * administrator wants every reason.
 * @err: the negative errno
 * @fmt: the reason, printf-style, without a trailing newline
 *
 * Return: @err.
 */
int betrkv_reject(int err, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_warn("%pV (error %d)\n", &vaf, err);
	va_end(args);
	return err;
}

/*
 * Copy an extensible argument struct in: its first field is its size,
 * which must cover at least the first published version (@ksize) and at
 * most a page; unknown trailing bytes must be zero.  Returns the user's size.
 */
static int args_in(void *karg, size_t ksize, const void __user *uarg,
		   const char *what)
{
	u32 usize;
	int err;

	if (get_user(usize, (const u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize || usize > PAGE_SIZE)
		return betrkv_reject(-EINVAL, "%s: argument size %u, expected %zu",
				     what, usize, ksize);
	err = copy_struct_from_user(karg, ksize, uarg, usize);
	if (err == -E2BIG)
		return betrkv_reject(err, "%s: unknown non-zero fields beyond %zu bytes",
				     what, ksize);
	return err ?: usize;
}

static int args_out(void __user *uarg, const void *karg, size_t ksize,
		    size_t usize)
{
	return copy_to_user(uarg, karg, min(ksize, usize)) ? -EFAULT : 0;
}

static bool all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* Copy a NUL-terminated path of exactly @len bytes (NUL included). */
static char *path_in(u64 uptr, u32 len, const char *what)
{
	char *path;

	if (len < 2 || len > BETRKV_PATH_MAX)
		return ERR_PTR(betrkv_reject(-EINVAL, "%s: path length %u outside [2, %u]",
					     what, len, BETRKV_PATH_MAX));
	path = memdup_user(u64_to_user_ptr(uptr), len);
	if (IS_ERR(path))
		return path;
	if (strnlen(path, len) != len - 1) {
		kfree(path);
		return ERR_PTR(betrkv_reject(-EINVAL, "%s: path is not a string of %u bytes",
					     what, len - 1));
	}
	return path;
}

static int ctl_format(void __user *uarg)
{
	struct betrkv_format_args args;
	char *path;
	int usize, err;

	usize = args_in(&args, sizeof(args), uarg, "format");
	if (usize < 0)
		return usize;
	if (args.flags || !all_zero(args.reserved, sizeof(args.reserved)) ||
	    !all_zero(args.uuid, sizeof(args.uuid)))
		return betrkv_reject(-EINVAL, "format: unknown flags or non-zero reserved fields");
	path = path_in(args.path, args.path_len, "format");
	if (IS_ERR(path))
		return PTR_ERR(path);
	err = betrkv_store_format(&args, path);
	kfree(path);
	return err ?: args_out(uarg, &args, sizeof(args), usize);
}

static int ctl_bind(void __user *uarg)
{
	struct betrkv_bind_args args;
	char *path;
	int usize, err;

	usize = args_in(&args, sizeof(args), uarg, "bind");
	if (usize < 0)
		return usize;
	if (args.flags & ~BETRKV_BIND_FLAGS)
		return betrkv_reject(-EINVAL, "bind: unknown flags 0x%x",
				     args.flags & ~BETRKV_BIND_FLAGS);
	if (args.index || !all_zero(args.reserved, sizeof(args.reserved)) ||
	    !all_zero(args.uuid, sizeof(args.uuid)))
		return betrkv_reject(-EINVAL, "bind: non-zero output or reserved fields");
	path = path_in(args.path, args.path_len, "bind");
	if (IS_ERR(path))
		return PTR_ERR(path);
	err = betrkv_store_bind(&args, path);
	kfree(path);
	if (err)
		return err;
	err = args_out(uarg, &args, sizeof(args), usize);
	if (err)
		betrkv_store_unbind(args.index);
	return err;
}

static int ctl_unbind(void __user *uarg)
{
	struct betrkv_unbind_args args;
	int usize;

	usize = args_in(&args, sizeof(args), uarg, "unbind");
	if (usize < 0)
		return usize;
	if (args.flags || args.pad || !all_zero(args.reserved, sizeof(args.reserved)))
		return betrkv_reject(-EINVAL, "unbind: unknown flags or non-zero reserved fields");
	return betrkv_store_unbind(args.index);
}

static int ctl_list(void __user *uarg)
{
	struct betrkv_list_args args;
	u32 *indices;
	int usize, err;

	usize = args_in(&args, sizeof(args), uarg, "list");
	if (usize < 0)
		return usize;
	if (args.flags || args.count || !all_zero(args.reserved, sizeof(args.reserved)))
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
	return err ?: args_out(uarg, &args, sizeof(args), usize);
}

static int ctl_status(void __user *uarg)
{
	struct betrkv_status_args args;
	u32 index;
	int usize, err;

	usize = args_in(&args, sizeof(args), uarg, "status");
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
	return args_out(uarg, &args, sizeof(args), usize);
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

MODULE_DESCRIPTION("betrkv: crash-safe key-value store on a raw block device");
MODULE_LICENSE("GPL");
MODULE_SOFTDEP("pre: crc32c");
