/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace environment of the betrkv core: the subset of the kernel API
 * the core uses, on top of libc.  Included only through kmod/env.h.
 */
#ifndef BETRKV_ENV_USER_H
#define BETRKV_ENV_USER_H

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef long long s64;

#define cpu_to_le16(x)	htole16(x)
#define cpu_to_le32(x)	htole32(x)
#define cpu_to_le64(x)	htole64(x)
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)

#ifndef EUCLEAN
#define EUCLEAN		117
#endif

/*
 * Allocation fault injection for the host tests: every allocation is
 * counted, and the one betrkv_user_fail_alloc() names fails.
 */
extern u64 betrkv_user_alloc_count;
extern u64 betrkv_user_alloc_fail_at;
void betrkv_user_fail_alloc(u64 nth);
u64 betrkv_user_allocs(void);

/* Count an allocation: true for the one to fail. */
static inline bool betrkv_user_alloc_fails(void)
{
	u64 n = __atomic_add_fetch(&betrkv_user_alloc_count, 1, __ATOMIC_RELAXED);

	return n == __atomic_load_n(&betrkv_user_alloc_fail_at, __ATOMIC_RELAXED);
}

/*
 * Allocations of a block or more are block-aligned, as the kernel's
 * power-of-two kmalloc() and kvmalloc() are page-aligned: the buffers can
 * be used for O_DIRECT I/O.
 */
static inline void *betrkv_user_alloc(size_t n, bool zero)
{
	void *p;

	if (betrkv_user_alloc_fails())
		return NULL;
	if (posix_memalign(&p, n >= 4096 ? 4096 : 16, n ? n : 1))
		return NULL;
	if (zero)
		memset(p, 0, n);
	return p;
}

#define GFP_KERNEL	0
#define kmalloc(n, gfp)		betrkv_user_alloc(n, false)
#define kzalloc(n, gfp)		betrkv_user_alloc(n, true)
#define kvmalloc(n, gfp)	betrkv_user_alloc(n, false)
#define kvzalloc(n, gfp)	betrkv_user_alloc(n, true)
#define kcalloc(n, sz, gfp)	((n) && (sz) > SIZE_MAX / (n) ? NULL : \
				 betrkv_user_alloc((n) * (sz), true))
#define kvmalloc_array(n, sz, gfp) ((n) && (sz) > SIZE_MAX / (n) ? NULL : \
				 betrkv_user_alloc((n) * (sz), false))
#define kfree(p)		free(p)
#define kvfree(p)		free(p)

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif
#define BUILD_BUG_ON(c)		_Static_assert(!(c), #c)
/* At file scope too, as <linux/build_bug.h> has it. */
#define static_assert(e, ...)	__static_assert(e, ##__VA_ARGS__, #e)
#define __static_assert(e, msg, ...) _Static_assert(e, msg)
#define ALIGN(x, a)		(((x) + (a) - 1) / (a) * (a))
#define ALIGN_DOWN(x, a)	((x) / (a) * (a))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define U32_MAX			((u32)~0u)
#define U16_MAX		((u16)~0U)
#define IS_ALIGNED(x, a)	((x) % (a) == 0)
/* Like the kernel's: each argument is evaluated once. */
#define min(a, b)		({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); \
				   _a < _b ? _a : _b; })
#define max(a, b)		({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); \
				   _a > _b ? _a : _b; })
#define min_t(t, a, b)		min((t)(a), (t)(b))
#define clamp(v, lo, hi)	min(max(v, lo), hi)
#define unlikely(c)		__builtin_expect(!!(c), 0)
#define likely(c)		__builtin_expect(!!(c), 1)
#define __packed		__attribute__((packed))

/*
 * Assertions.  A warning here is a bug in the core, never a reaction to
 * what a device holds: the host tests and fuzzers stop at the first one.
 */
void betrkv_user_warn(const char *file, int line, const char *cond)
	__attribute__((noreturn));
#define WARN_ON(c)		({ bool _c = !!(c); \
				   if (unlikely(_c)) \
					   betrkv_user_warn(__FILE__, __LINE__, #c); \
				   _c; })
#define WARN_ON_ONCE(c)		WARN_ON(c)

/* Overflow-checked arithmetic: true if the result wrapped. */
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d)	__builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)

/*
 * Sleeping locks.  They record their holders, so that the lockdep
 * assertions below hold the host tests to the rules the kernel's lockdep
 * checks: a mutex knows its owner, a rw_semaphore its writer and how many
 * readers it has.
 */
struct mutex {
	pthread_mutex_t m;
	pthread_t owner;
	bool locked;
};
#define mutex_init(x)		do { pthread_mutex_init(&(x)->m, NULL); \
				     (x)->locked = false; } while (0)
#define mutex_destroy(x)	pthread_mutex_destroy(&(x)->m)
static inline void mutex_lock(struct mutex *x)
{
	pthread_mutex_lock(&x->m);
	x->owner = pthread_self();
	__atomic_store_n(&x->locked, true, __ATOMIC_RELAXED);
}

static inline void mutex_unlock(struct mutex *x)
{
	__atomic_store_n(&x->locked, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&x->m);
}

static inline bool betrkv_user_mutex_held(struct mutex *x)
{
	return __atomic_load_n(&x->locked, __ATOMIC_RELAXED) &&
	       pthread_equal(x->owner, pthread_self());
}

/* Reader-writer semaphores; waiting writers keep new readers out. */
struct rw_semaphore {
	pthread_rwlock_t l;
	pthread_t writer;
	bool write_locked;
	int readers;
};
static inline void init_rwsem(struct rw_semaphore *s)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->l, &a);
	pthread_rwlockattr_destroy(&a);
	s->write_locked = false;
	s->readers = 0;
}

static inline void down_read(struct rw_semaphore *s)
{
	pthread_rwlock_rdlock(&s->l);
	__atomic_fetch_add(&s->readers, 1, __ATOMIC_RELAXED);
}

static inline void up_read(struct rw_semaphore *s)
{
	__atomic_fetch_sub(&s->readers, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->l);
}

static inline void down_write(struct rw_semaphore *s)
{
	pthread_rwlock_wrlock(&s->l);
	s->writer = pthread_self();
	__atomic_store_n(&s->write_locked, true, __ATOMIC_RELAXED);
}

static inline void up_write(struct rw_semaphore *s)
{
	__atomic_store_n(&s->write_locked, false, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->l);
}

static inline bool betrkv_user_rwsem_write_held(struct rw_semaphore *s)
{
	return __atomic_load_n(&s->write_locked, __ATOMIC_RELAXED) &&
	       pthread_equal(s->writer, pthread_self());
}

/* Shared or exclusive; a reader cannot be told from another reader here. */
static inline bool betrkv_user_rwsem_held(struct rw_semaphore *s)
{
	return betrkv_user_rwsem_write_held(s) ||
	       __atomic_load_n(&s->readers, __ATOMIC_RELAXED) > 0;
}

#define lockdep_assert_held(l)	WARN_ON(!_Generic((l), \
		struct mutex *: betrkv_user_mutex_held, \
		struct rw_semaphore *: betrkv_user_rwsem_held)(l))
#define lockdep_assert_held_write(l) WARN_ON(!betrkv_user_rwsem_write_held(l))

typedef struct {
	long long counter;
} atomic64_t;
#define atomic64_inc(a)		__atomic_fetch_add(&(a)->counter, 1, __ATOMIC_RELAXED)
#define atomic64_read(a)	__atomic_load_n(&(a)->counter, __ATOMIC_RELAXED)

#define READ_ONCE(x)		(*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))

/* Wait queues: wait_event() sleeps until @cond holds after a wake_up_all(). */
typedef struct {
	pthread_mutex_t m;
	pthread_cond_t c;
} wait_queue_head_t;
#define init_waitqueue_head(q)	do { pthread_mutex_init(&(q)->m, NULL); \
				     pthread_cond_init(&(q)->c, NULL); } while (0)
#define wait_event(q, cond)	do { pthread_mutex_lock(&(q).m);		\
				     while (!(cond))				\
					     pthread_cond_wait(&(q).c, &(q).m);	\
				     pthread_mutex_unlock(&(q).m); } while (0)
#define wake_up_all(q)		do { pthread_mutex_lock(&(q)->m);		\
				     pthread_cond_broadcast(&(q)->c);		\
				     pthread_mutex_unlock(&(q)->m); } while (0)

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* Logging: printf-style, routed to the hook set by betrkv_user_set_log(). */
void betrkv_user_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void betrkv_user_set_log(void (*fn)(int level, const char *msg));
#define BETRKV_LOG_ERR	3
#define BETRKV_LOG_WARN	4
#define BETRKV_LOG_INFO	6
#define pr_err(...)	betrkv_user_log(BETRKV_LOG_ERR, __VA_ARGS__)
#define pr_warn(...)	betrkv_user_log(BETRKV_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	betrkv_user_log(BETRKV_LOG_INFO, __VA_ARGS__)
#define pr_warn_ratelimited(...) pr_warn(__VA_ARGS__)
#define pr_err_ratelimited(...) pr_err(__VA_ARGS__)

void get_random_bytes(void *buf, size_t len);
s64 ktime_get_real_seconds(void);

/* Userspace block devices: a file or block device opened by path. */
struct betrkv_dev;
int betrkv_user_dev_open(const char *path, bool read_only, bool direct,
			 struct betrkv_dev **devp);
void betrkv_user_dev_close(struct betrkv_dev *dev);

/* CRC-32C backends (software is the default). */
int betrkv_crc32c_use_kcapi(void);
void betrkv_crc32c_use_software(bool hw);
const char *betrkv_crc32c_backend(void);

#endif /* BETRKV_ENV_USER_H */
