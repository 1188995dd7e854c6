// SPDX-License-Identifier: GPL-2.0
/*
 * betrkv: a fio external ioengine that runs fio jobs against a bound betrkv
 * store through libbetrkv.
 *
 *   fio --ioengine=external:build/fio/betrkv-fio.so --filename=/dev/betrkv0 \
 *       --size=16M --bs=4k --rw=write --verify=crc32c
 *
 * Mapping (one record per I/O, addressed by the I/O's offset):
 *   key      the offset as 8 bytes big-endian, so sequential jobs write
 *            sequential keys (fio keeps offsets aligned to blockalign= = bs)
 *   write    betrkv_put(key, the bs bytes of the buffer)
 *   read     betrkv_get(key) into the buffer.  An absent key reads as zeros
 *            (like an unwritten or trimmed block of a thin device), unless
 *            betrkv_absent_error=1, which fails the read with ENOENT.  A
 *            record shorter than the read reads as zeros past its end; one
 *            longer than the read fails with ERANGE (read with the bs the
 *            data was written with)
 *   trim     deletes the records whose keys lie in [offset, offset + len)
 *            (only the engine's 8-byte keys)
 *   fsync, fdatasync, sync_file_range
 *            betrkv_sync()
 *
 * filename= names the store: /dev/betrkvN, betrkvN or N (bind it first with
 * betrkvctl).  A store has no size of its own; the engine gives fio the size
 * of the store's backing device as the "file" size (betrkv_size= sets
 * another), so that size=, offset=, offset_increment= and percentages mean
 * what they mean on the raw disk.  The records take more room than the
 * blocks (tree nodes, journal), so give a size= well below the device size:
 * a job over the whole range ends in ENOSPC.  Blocks may be at most the
 * store's largest value (64 KiB).  Each job opens its own handle per file,
 * so numjobs > 1 and thread=1 both work; jobs writing the same offsets of
 * one store overwrite each other's records, as on a disk.
 *
 * Built against the headers of the same fio version as the fio that loads it
 * (tools/fio/build.mk fetches Debian's source package); the engine refuses to
 * run under another version.  libbetrkv is linked in statically.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fio.h"
#include "optgroup.h"

#include "betrkv.h"

#ifndef BETRKV_FIO_VERSION
#error "build with -DBETRKV_FIO_VERSION=\"fio-X.Y\" (the headers' fio version)"
#endif

#define KEY_LEN	8

struct betrkv_fio_options {
	void *pad;		/* no option may sit at offset 0 */
	unsigned int absent_error;
	unsigned long long size;
};

static struct fio_option options[] = {
	{
		.name	= "betrkv_absent_error",
		.lname	= "betrkv: reading an absent key fails",
		.type	= FIO_OPT_BOOL,
		.off1	= offsetof(struct betrkv_fio_options, absent_error),
		.help	= "Fail reads of absent keys with ENOENT instead of returning zeros",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "betrkv_size",
		.lname	= "betrkv: size of the store's offset range",
		.type	= FIO_OPT_STR_VAL,
		.off1	= offsetof(struct betrkv_fio_options, size),
		.help	= "Size fio sees for the store (default: its backing device's size)",
		.def	= "0",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= NULL,
	},
};

/* Per open file (per job): the store handle. */
struct betrkv_fio_file {
	struct betrkv *store;
	uint32_t value_max;
};

static void offset_key(uint64_t off, uint8_t key[KEY_LEN])
{
	for (int i = KEY_LEN - 1; i >= 0; i--) {
		key[i] = off & 0xff;
		off >>= 8;
	}
}

/* "/dev/betrkvN", "betrkvN" or "N" -> N. */
static int parse_store_index(const char *name, uint32_t *index)
{
	const char *p = strrchr(name, '/');
	unsigned long n;
	char *end;

	p = p ? p + 1 : name;
	if (!strncmp(p, "betrkv", 6))
		p += 6;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(p, &end, 10);
	if (errno || *end || n > UINT32_MAX)
		return -EINVAL;
	*index = n;
	return 0;
}

static int fio_betrkv_init(struct thread_data *td)
{
	if (strcmp(fio_version_string, BETRKV_FIO_VERSION)) {
		log_err("betrkv: engine built for %s, but this fio is %s: rebuild it\n",
			BETRKV_FIO_VERSION, fio_version_string);
		td_verror(td, EINVAL, "betrkv fio version");
		return 1;
	}
	return 0;
}

static int fio_betrkv_open_file(struct thread_data *td, struct fio_file *f)
{
	struct betrkv_fio_file *bf;
	unsigned long long bs;
	uint32_t index, key_max;
	int ret;

	if (parse_store_index(f->file_name, &index)) {
		log_err("betrkv: filename %s does not name a store (/dev/betrkvN, betrkvN or N)\n",
			f->file_name);
		td_verror(td, EINVAL, "betrkv filename");
		return 1;
	}
	bf = calloc(1, sizeof(*bf));
	if (!bf) {
		td_verror(td, ENOMEM, "calloc");
		return 1;
	}
	ret = betrkv_open(index, &bf->store);
	if (ret) {
		log_err("betrkv: open betrkv%u: %s%s\n", index, betrkv_errstr(ret),
			ret == -ENOENT ? " (bind a store with betrkvctl bind)" : "");
		td_verror(td, -ret, "betrkv_open");
		free(bf);
		return 1;
	}
	ret = betrkv_limits(bf->store, &key_max, &bf->value_max);
	if (ret) {
		td_verror(td, -ret, "betrkv_limits");
		goto err;
	}
	bs = td_max_bs(td);
	if (bs > bf->value_max) {
		log_err("betrkv: block size %llu is larger than the store's largest value (%u)\n",
			bs, bf->value_max);
		td_verror(td, E2BIG, "betrkv block size");
		goto err;
	}
	FILE_SET_ENG_DATA(f, bf);
	return 0;
err:
	betrkv_close(bf->store);
	free(bf);
	return 1;
}

static int fio_betrkv_close_file(struct thread_data *td, struct fio_file *f)
{
	struct betrkv_fio_file *bf = FILE_ENG_DATA(f);

	if (bf) {
		betrkv_close(bf->store);
		free(bf);
		FILE_SET_ENG_DATA(f, NULL);
	}
	return 0;
}

/*
 * The size fio sees: betrkv_size=, else the backing device's size.  If the
 * store is not bound, -1 (fio then uses size=), and open_file reports it.
 */
static int fio_betrkv_get_file_size(struct thread_data *td, struct fio_file *f)
{
	struct betrkv_fio_options *o = td->eo;
	struct betrkv_status_args st;
	uint32_t index;

	if (fio_file_size_known(f))
		return 0;
	f->real_file_size = -1ULL;
	if (o->size)
		f->real_file_size = o->size;
	else if (!parse_store_index(f->file_name, &index) &&
		 !betrkv_status(index, &st))
		f->real_file_size = st.device_bytes;
	fio_file_set_size_known(f);
	return 0;
}

static int fio_betrkv_invalidate(struct thread_data *td, struct fio_file *f)
{
	return 0;	/* no page cache in between */
}

static int do_read(struct thread_data *td, struct betrkv_fio_file *bf,
		   struct io_u *io_u, const uint8_t *key)
{
	struct betrkv_fio_options *o = td->eo;
	size_t len = 0;
	int ret;

	ret = betrkv_get(bf->store, key, KEY_LEN, io_u->xfer_buf,
			 io_u->xfer_buflen, &len);
	if (ret == -ENOENT && !o->absent_error) {
		memset(io_u->xfer_buf, 0, io_u->xfer_buflen);
		return 0;
	}
	if (ret == -ERANGE) {
		log_err("betrkv: the record at offset %llu is %zu bytes, longer than the read (%llu): read with the block size it was written with\n",
			io_u->offset, len, io_u->xfer_buflen);
		return ret;
	}
	if (ret)
		return ret;
	if (len < io_u->xfer_buflen)
		memset((char *)io_u->xfer_buf + len, 0, io_u->xfer_buflen - len);
	return 0;
}

/* Delete the 8-byte keys in [offset, offset + len). */
static int do_trim(struct betrkv_fio_file *bf, struct io_u *io_u,
		   const uint8_t *key)
{
	uint64_t start = io_u->offset, end = start + io_u->xfer_buflen;
	uint8_t from[KEY_LEN], to[KEY_LEN];
	struct betrkv_iter *it;
	const void *k, *v;
	size_t klen, vlen;
	int ret;

	/* The record at the offset itself: the common case, one call. */
	ret = betrkv_delete(bf->store, key, KEY_LEN, NULL);
	if (ret || io_u->xfer_buflen <= 1)
		return ret;

	/* Any others (written with a smaller bs) further in the range. */
	offset_key(start + 1, from);
	offset_key(end, to);
	ret = betrkv_iter_new(bf->store, from, KEY_LEN,
			      end > start ? to : NULL, KEY_LEN, &it);
	if (ret)
		return ret;
	while ((ret = betrkv_iter_next(it, &k, &klen, &v, &vlen)) > 0) {
		uint8_t victim[KEY_LEN];

		if (klen != KEY_LEN)
			continue;
		memcpy(victim, k, KEY_LEN);
		ret = betrkv_delete(bf->store, victim, KEY_LEN, NULL);
		if (ret)
			break;
	}
	betrkv_iter_free(it);
	return ret;
}

static enum fio_q_status fio_betrkv_queue(struct thread_data *td,
					  struct io_u *io_u)
{
	struct betrkv_fio_file *bf = FILE_ENG_DATA(io_u->file);
	uint8_t key[KEY_LEN];
	int ret;

	fio_ro_check(td, io_u);

	offset_key(io_u->offset, key);
	switch (io_u->ddir) {
	case DDIR_WRITE:
		ret = betrkv_put(bf->store, key, KEY_LEN, io_u->xfer_buf,
				 io_u->xfer_buflen, NULL);
		break;
	case DDIR_READ:
		ret = do_read(td, bf, io_u, key);
		break;
	case DDIR_TRIM:
		ret = do_trim(bf, io_u, key);
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
	case DDIR_SYNC_FILE_RANGE:
		ret = betrkv_sync(bf->store, NULL);
		break;
	default:
		ret = -EINVAL;
		break;
	}

	io_u->resid = 0;
	io_u->error = ret < 0 ? -ret : 0;
	if (io_u->error) {
		io_u_log_error(td, io_u);
		td_verror(td, io_u->error, "betrkv");
	}
	return FIO_Q_COMPLETED;
}

struct ioengine_ops ioengine = {
	.name			= "betrkv",
	.version		= FIO_IOOPS_VERSION,
	.flags			= FIO_SYNCIO | FIO_DISKLESSIO | FIO_NODISKUTIL,
	.init			= fio_betrkv_init,
	.queue			= fio_betrkv_queue,
	.open_file		= fio_betrkv_open_file,
	.close_file		= fio_betrkv_close_file,
	.get_file_size		= fio_betrkv_get_file_size,
	.invalidate		= fio_betrkv_invalidate,
	.options		= options,
	.option_struct_size	= sizeof(struct betrkv_fio_options),
};
