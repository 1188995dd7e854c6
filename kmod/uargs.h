/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copying ioctl arguments from and to user memory (uargs.c).
 */
#ifndef BETRKV_UARGS_H
#define BETRKV_UARGS_H

#include <linux/betrkv.h>
#include <linux/types.h>

__printf(2, 3) int betrkv_reject(int err, const char *fmt, ...);
int betrkv_args_in(void *karg, size_t ksize, const void __user *uarg,
		   const char *what);
int betrkv_args_out(void __user *uarg, const void *karg, size_t ksize,
		    size_t usize);
bool betrkv_all_zero(const void *p, size_t len);
char *betrkv_path_in(u64 uptr, u32 len, const char *what);
void *betrkv_bytes_in(u64 uptr, u32 len);

#endif /* BETRKV_UARGS_H */
