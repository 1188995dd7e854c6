// SPDX-License-Identifier: GPL-2.0
/*
 * Copying ioctl arguments from and to user memory: extensible structs
 * (a size field, zeros beyond what the module knows), paths, byte strings,
 * and the log line that goes with every refusal.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "uargs.h"

/* Refusals of callers without CAP_SYS_ADMIN: 10 lines per 5 s at most. */
static DEFINE_RATELIMIT_STATE(reject_rs, DEFAULT_RATELIMIT_INTERVAL,
			      DEFAULT_RATELIMIT_BURST);

/**
 * betrkv_reject() - log why a request is refused and return @err.
 * @err: the negative errno
 * @fmt: the reason, printf-style, without a trailing newline
 *
 * An administrator (CAP_SYS_ADMIN: the only caller that can open
 * /dev/betrkv-control) wants every reason, and gets it.  Anyone else got
 * here through a store's /dev/betrkv<N> and must not be able to flood the
 * kernel log: those refusals are ratelimited, each line still naming its
 * reason.
 *
 * Return: @err.
 */
int betrkv_reject(int err, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	if (!ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN) &&
	    !__ratelimit(&reject_rs))
		return err;
	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_warn("%pV (error %d)\n", &vaf, err);
	va_end(args);
	return err;
}

/**
 * betrkv_args_in() - copy an extensible ioctl argument struct in.
 * @karg: the kernel's copy
 * @ksize: its size: the first published version of the struct
 * @uarg: the user's struct, whose first field is its size
 * @what: the request's name, for the log
 *
 * The user's size must be at least @ksize and at most a page; bytes beyond
 * @ksize must be zero (E2BIG otherwise).
 *
 * Return: the user's size, or a negative errno.
 */
int betrkv_args_in(void *karg, size_t ksize, const void __user *uarg,
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

/**
 * betrkv_args_out() - copy an argument struct back, as much as both know.
 * @uarg: the user's struct
 * @karg: the kernel's copy
 * @ksize: its size
 * @usize: the user's size, from betrkv_args_in()
 *
 * Return: 0 or -EFAULT.
 */
int betrkv_args_out(void __user *uarg, const void *karg, size_t ksize,
		    size_t usize)
{
	return copy_to_user(uarg, karg, min(ksize, usize)) ? -EFAULT : 0;
}

/* Are all @len bytes at @p zero (reserved fields)? */
bool betrkv_all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/**
 * betrkv_path_in() - copy a NUL-terminated path of exactly @len bytes.
 * @uptr: user pointer
 * @len: bytes including the NUL, at most BETRKV_PATH_MAX
 * @what: the request's name, for the log
 *
 * Return: the path (kfree() it) or an ERR_PTR.
 */
char *betrkv_path_in(u64 uptr, u32 len, const char *what)
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

/**
 * betrkv_bytes_in() - copy @len bytes of user memory (a key or a value).
 * @uptr: user pointer
 * @len: bytes, already checked against their limit
 *
 * Return: the copy (kvfree() it; a zero-length copy is still a valid
 * pointer) or an ERR_PTR.
 */
void *betrkv_bytes_in(u64 uptr, u32 len)
{
	void *p = kvmalloc(max(len, 1u), GFP_KERNEL);

	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, u64_to_user_ptr(uptr), len)) {
		kvfree(p);
		return ERR_PTR(-EFAULT);
	}
	return p;
}
