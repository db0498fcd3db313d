/*
 * queue/spool.c - the durable spool: typed records, group commit, recovery.
 *
 * docs/SPOOL.md is the reference for the file format and for why the commit
 * protocol is durable.  In short: a file is written whole into tmp/ with
 * one pwritev, fdatasync'ed on its own (or, written over a recycled file
 * of the same size, written back and flushed by the directory fsync),
 * renamed into queue/, and the directory queue/ is fsync'ed once for
 * every rename that happened before the fsync started (threads
 * publishing at the same time share it).
 */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/crc32c.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fanout.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* Record types, in the order they appear in a file. */
enum rec_type {
	REC_VERSION = 1,	/* u32 format version */
	REC_FROM = 2,
	REC_RCPT = 3,		/* repeated, at least once */
	REC_HELO = 4,
	REC_CLIENT = 5,
	REC_AUTH = 6,
	REC_PROTO = 7,
	REC_ARRIVAL = 8,	/* i64 unix seconds */
	REC_FLAGS = 9,		/* u32: bit 0 SMTPUTF8, bit 1 8BITMIME */
	REC_STATE = 10,		/* u32 SPOOL_F_* (written by rewrite) */
	REC_RSTAT = 11,		/* one byte per RCPT (written by rewrite) */
	REC_MESSAGE = 12,
	REC_PAD = 13,		/* zeros: the file to a whole number of blocks */
	REC_END = 255,		/* u32 CRC-32C of the queue id (version 2) and
				   every byte before it */
};

#define REC_HDR 5		/* u8 type + u32 length */
#define PAD_BLOCK 4096		/* files up to FREE_FILE_MAX end on a
				   multiple of this (REC_PAD) */
#define END_SIZE (REC_HDR + 4)
#define ENV_FLAG_SMTPUTF8 0x1
#define ENV_FLAG_8BIT 0x2

/* Queue ids: 7 base32 digits of seconds, 4 of microseconds, 5 of pid. */
#define ID_SEC_DIGITS 7
#define ID_USEC_DIGITS 4
#define ID_PID_DIGITS 5
#define ID_LEN (ID_SEC_DIGITS + ID_USEC_DIGITS + ID_PID_DIGITS)

/* base32hex: digits sort in the same order as the values they stand for */
static const char b32[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

struct spool {
	char *dir;
	int dirfd;
	int tmp_fd;
	int queue_fd;
	int corrupt_fd;
	int free_fd;
	/* The file system writes over a file's blocks in place (ext2/3/4
	   without data=journal; tmpfs): a recycled file written over at the
	   same size needs no metadata written to be durable, only its data
	   and a flush (writes_in_place()). */
	bool in_place;
	/* ... and the directory fsync's cache flush covers the data device
	   (ext2/3/4 with no journal, tmpfs); with a journal, whose flush may
	   go to another device, written-over files get one fdatasync per
	   batch for the flush (spool_sync_batch). */
	bool dir_flushes;
	/* Every fsync of queue/, in every process, holds an exclusive flock
	   on a descriptor of queue/ this process opened itself (descriptors
	   inherited across fork share one lock); see queue_fsync(). */
	int lock_fd;
	pid_t lock_pid;
	pthread_mutex_t fsync_lock;	/* the same between threads */

	/* Recycled files (free/): names read from the directory, claimed
	   one by one by rename; see free_claim(). */
	pthread_mutex_t free_lock;
	char (*free_names)[32];
	size_t free_n;		/* names read */
	size_t free_i;		/* next one to try */
	int64_t free_empty_ms;	/* when a read last found none */
	size_t free_est;	/* files put into free/ (estimate) */
	int64_t free_count_ms;	/* when free/ was last counted */

	/* Group commit of queue/: renames are numbered; a directory fsync
	   that starts after rename k covers every rename up to k. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t renamed;	/* renames done */
	uint64_t synced;	/* renames covered by a finished fsync */
	uint64_t rounds;	/* fsync rounds finished */
	uint64_t failed_round;	/* the last round whose fsync failed */
	bool syncing;
};

/* Recycled files (free/): see free_claim() and docs/SPOOL.md. */
#define FREE_MAX 1024			/* files kept in free/ */
#define FREE_FILE_MAX (256 * 1024)	/* larger ones are unlinked */
#define FREE_READ 256			/* names read from free/ at once */
#define FREE_RETRY_MS 200		/* after a read that found none */
#define FREE_COUNT_MS 500		/* recount free/ at most this often */

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timeval id_last;

/* errno_to_err - map a failed system call onto the project's codes */
static int
errno_to_err(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:	/* RLIMIT_FSIZE or the file system's limit */
		return E_NOSPACE;
	default:
		return E_IO;
	}
}

/* put_u32 - big-endian */
static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* get_u32 - big-endian */
static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* open_sub - create (if needed) and open one subdirectory of the spool */
static int
open_sub(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* sync_parent - fsync the directory that holds path */
static int
sync_parent(const char *path)
{
	char *p = xstrdup(path), *slash;
	int fd, r = 0;

	slash = strrchr(p, '/');
	while (slash != NULL && slash > p && slash[1] == '\0') {
		*slash = '\0';	/* "a/b/" names b */
		slash = strrchr(p, '/');
	}
	if (slash == NULL)
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
		slash[slash == p ? 1 : 0] = '\0';
		fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0 || fsync(fd) < 0)
		r = errno_to_err(errno);
	if (fd >= 0)
		close(fd);
	free(p);
	return r;
}

/* ext4_data_mode - how the ext4 file system of dev keeps data, from its
   options in /proc/fs/ext4/NAME/options (which name a data= mode only
   when it has a journal): 'n' no journal, 'j' data=journal, 'o' ordered
   or writeback, '?' unknown */
static char
ext4_data_mode(dev_t dev)
{
	char path[256], line[256], name[64] = "", mode = 'n';
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(dev),
	    minor(dev));
	if ((f = fopen(path, "re")) == NULL)
		return '?';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "DEVNAME=", 8) == 0)
			snprintf(name, sizeof(name), "%.*s",
			    (int)strcspn(line + 8, "\n"), line + 8);
	fclose(f);
	if (name[0] == '\0' || strchr(name, '/') != NULL)
		return '?';
	snprintf(path, sizeof(path), "/proc/fs/ext4/%s/options", name);
	if ((f = fopen(path, "re")) == NULL)
		return '?';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "data=", 5) == 0)
			mode = strncmp(line, "data=journal", 12) == 0 ? 'j' : 'o';
	fclose(f);
	return mode;
}

/* writes_in_place - does the file system under the spool write over a
   file's existing blocks in place, so that a same-size overwrite changes
   no metadata?  ext2/3/4 do, with no journal or with data=ordered or
   writeback (not data=journal, nor a directory marked chattr +j, whose
   data goes through the journal); on tmpfs nothing outlives the machine
   anyway.  Copy-on-write file systems (btrfs, ZFS) move the blocks, and
   for anything unknown the answer is no: every file gets an fdatasync. */
static bool
writes_in_place(int dirfd, int tmp_fd, bool *dir_flushes)
{
	struct statfs fs;
	struct stat st;
	int flags = 0;

	*dir_flushes = false;
	if (fstatfs(dirfd, &fs) < 0 || fstat(dirfd, &st) < 0)
		return false;
	if (fs.f_type == 0x01021994) {		/* TMPFS_MAGIC */
		*dir_flushes = true;
		return true;
	}
	if (fs.f_type != 0xEF53)		/* EXT2/3/4_SUPER_MAGIC */
		return false;
	if (ioctl(tmp_fd, FS_IOC_GETFLAGS, &flags) == 0 &&
	    (flags & FS_JOURNAL_DATA_FL))
		return false;
	switch (ext4_data_mode(st.st_dev)) {
	case 'n':
		*dir_flushes = true;
		return true;
	case 'o':
		return true;
	default:		/* data=journal, or unknown */
		return false;
	}
}

/* spool_open - open (creating if needed) the spool at dir */
int
spool_open(struct spool **out, const char *dir)
{
	struct spool *sp;
	int r = E_IO;

	*out = NULL;
	if (strlen(dir) > 400)	/* tmp_path must hold dir/tmp/<id> */
		return E_INVAL;
	sp = xcalloc(1, sizeof(*sp));
	sp->dir = xstrdup(dir);
	sp->dirfd = sp->tmp_fd = sp->queue_fd = sp->corrupt_fd = -1;
	sp->free_fd = sp->lock_fd = -1;
	sp->free_est = FREE_MAX;	/* unknown: the first free_room counts */
	pthread_mutex_init(&sp->lock, NULL);
	pthread_mutex_init(&sp->free_lock, NULL);
	pthread_mutex_init(&sp->fsync_lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	if (mkdir(dir, 0700) == 0) {
		/* A new spool directory: its entry in the parent must be
		   durable too. */
		if ((r = sync_parent(dir)) < 0)
			goto out;
		r = E_IO;
	} else if (errno != EEXIST) {
		log_err(NULL, "spool mkdir dir=%s error=%s", dir,
		    strerror(errno));
		goto out;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0 ||
	    (sp->tmp_fd = open_sub(sp->dirfd, "tmp")) < 0 ||
	    (sp->queue_fd = open_sub(sp->dirfd, "queue")) < 0 ||
	    (sp->corrupt_fd = open_sub(sp->dirfd, "corrupt")) < 0 ||
	    (sp->free_fd = open_sub(sp->dirfd, "free")) < 0) {
		log_err(NULL, "spool open dir=%s error=%s", dir,
		    strerror(errno));
		goto out;
	}
	/* The subdirectories themselves must survive a crash. */
	if (fsync(sp->dirfd) < 0) {
		r = errno_to_err(errno);
		goto out;
	}
	sp->in_place = writes_in_place(sp->dirfd, sp->tmp_fd,
	    &sp->dir_flushes);
	*out = sp;
	return 0;
out:
	spool_close(sp);
	return r;
}

/* spool_close - release the spool's descriptors and memory */
void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->tmp_fd >= 0)
		close(sp->tmp_fd);
	if (sp->queue_fd >= 0)
		close(sp->queue_fd);
	if (sp->corrupt_fd >= 0)
		close(sp->corrupt_fd);
	if (sp->free_fd >= 0)
		close(sp->free_fd);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	pthread_mutex_destroy(&sp->fsync_lock);
	pthread_mutex_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->free_lock);
	free(sp->free_names);
	pthread_cond_destroy(&sp->cond);
	free(sp->dir);
	free(sp);
}

/* spool_dir - the directory the spool was opened on */
const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

/* put_b32 - v as exactly digits base32hex digits, most significant first */
static void
put_b32(char *out, uint64_t v, int digits)
{
	while (digits-- > 0) {
		out[digits] = b32[v & 31];
		v >>= 5;
	}
}

/* spool_new_id - a unique queue id (time, pid, counter; base32) */
void
spool_new_id(struct spool *sp, char id[32])
{
	struct timeval tv;

	/*
	 * Within a process the (seconds, microseconds) pair is made strictly
	 * increasing, which is the counter: two ids of one process never
	 * share a timestamp.  The pid separates processes; time separates a
	 * restarted process from an earlier one with the same pid.  Ids of
	 * one width in base32hex sort by time.
	 */
	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&id_lock);
	if (tv.tv_sec < id_last.tv_sec || (tv.tv_sec == id_last.tv_sec &&
	    tv.tv_usec <= id_last.tv_usec)) {
		tv = id_last;
		if (++tv.tv_usec >= 1000000) {
			tv.tv_usec = 0;
			tv.tv_sec++;
		}
	}
	id_last = tv;
	pthread_mutex_unlock(&id_lock);
	put_b32(id, (uint64_t)tv.tv_sec, ID_SEC_DIGITS);
	put_b32(id + ID_SEC_DIGITS, (uint64_t)tv.tv_usec, ID_USEC_DIGITS);
	put_b32(id + ID_SEC_DIGITS + ID_USEC_DIGITS, (uint64_t)getpid(),
	    ID_PID_DIGITS);
	id[ID_LEN] = '\0';
}

/* b32_value - the value of one base32hex digit, or -1 */
static int
b32_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'V')
		return c - 'A' + 10;
	return -1;
}

/* spool_id_is_valid - id has the shape spool_new_id() gives */
bool
spool_id_is_valid(const char *id)
{
	size_t i;

	for (i = 0; i < ID_LEN; i++)
		if (b32_value(id[i]) < 0)
			return false;
	return id[ID_LEN] == '\0';
}

/* spool_id_time - the unix seconds encoded in a valid id, else -1 */
int64_t
spool_id_time(const char *id)
{
	int64_t t = 0;
	int i;

	if (!spool_id_is_valid(id))
		return -1;
	for (i = 0; i < ID_SEC_DIGITS; i++)
		t = t * 32 + b32_value(id[i]);
	return t;
}

/* field_ok - an envelope field: no CR, LF or NUL, not too long */
static bool
field_ok(const char *s, size_t n)
{
	if (n > SPOOL_FIELD_MAX)
		return false;
	return memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
	    memchr(s, '\0', n) == NULL;
}

/* rec_start - append a record header */
static int
rec_start(struct buf *b, enum rec_type t, size_t len)
{
	unsigned char h[REC_HDR];

	if (len > UINT32_MAX)
		return E_LIMIT;
	h[0] = (unsigned char)t;
	put_u32(h + 1, (uint32_t)len);
	return buf_append(b, h, sizeof(h));
}

/* rec_str - append a string record; E_INVAL for a forbidden field */
static int
rec_str(struct buf *b, enum rec_type t, const char *s)
{
	size_t n;
	int r;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (!field_ok(s, n))
		return E_INVAL;
	if ((r = rec_start(b, t, n)) < 0)
		return r;
	return buf_append(b, s, n);
}

/* rec_u32 - append a record holding one u32 */
static int
rec_u32(struct buf *b, enum rec_type t, uint32_t v)
{
	unsigned char p[4];
	int r;

	put_u32(p, v);
	if ((r = rec_start(b, t, 4)) < 0)
		return r;
	return buf_append(b, p, 4);
}

/* build_head - every record before the message bytes, and MESSAGE's
   own header; status/flags are NULL/0 for a fresh message */
static int
build_head(struct buf *b, const struct spool_envelope *env, unsigned flags,
    const unsigned char *status, size_t msg_len)
{
	unsigned char p[8];
	uint64_t a;
	size_t i;
	int r, k;

	if (env->mail_from == NULL || env->nrcpts == 0 ||
	    env->nrcpts > SPOOL_RCPTS_MAX)
		return E_INVAL;
	if ((r = rec_u32(b, REC_VERSION, SPOOL_VERSION)) < 0 ||
	    (r = rec_str(b, REC_FROM, env->mail_from)) < 0)
		return r;
	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i] == NULL || env->rcpts[i][0] == '\0')
			return E_INVAL;
		if ((r = rec_str(b, REC_RCPT, env->rcpts[i])) < 0)
			return r;
	}
	if ((r = rec_str(b, REC_HELO, env->helo)) < 0 ||
	    (r = rec_str(b, REC_CLIENT, env->client_ip)) < 0 ||
	    (r = rec_str(b, REC_AUTH, env->auth_user)) < 0 ||
	    (r = rec_str(b, REC_PROTO, env->protocol)) < 0)
		return r;
	a = (uint64_t)env->arrival;
	for (k = 0; k < 8; k++)
		p[k] = (unsigned char)(a >> (56 - 8 * k));
	if ((r = rec_start(b, REC_ARRIVAL, 8)) < 0 ||
	    (r = buf_append(b, p, 8)) < 0)
		return r;
	if ((r = rec_u32(b, REC_FLAGS,
	    (env->smtputf8 ? ENV_FLAG_SMTPUTF8 : 0) |
	    (env->body_8bit ? ENV_FLAG_8BIT : 0))) < 0)
		return r;
	if (flags && (r = rec_u32(b, REC_STATE, flags)) < 0)
		return r;
	if (status != NULL) {
		for (i = 0; i < env->nrcpts; i++)
			if (status[i] > SPOOL_RCPT_FAILED)
				return E_INVAL;
		if ((r = rec_start(b, REC_RSTAT, env->nrcpts)) < 0 ||
		    (r = buf_append(b, status, env->nrcpts)) < 0)
			return r;
	}
	return rec_start(b, REC_MESSAGE, msg_len);
}

/* write_all - write every iovec in full from the file's start, whatever
   its offset (short writes resumed) */
static int
write_all(int fd, struct iovec *iov, size_t niov)
{
	off_t off = 0;
	ssize_t w;
	size_t cnt;

	while (niov > 0) {
		cnt = niov > IOV_MAX ? IOV_MAX : niov;
		w = pwritev(fd, iov, (int)cnt, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno_to_err(errno);
		}
		off += w;
		while (niov > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/*
 * Recycled files.  A delivered file goes to free/ instead of being
 * unlinked, and a later commit takes it back by rename and writes over
 * it.  Where ext4 runs without a journal, allocating an inode skips every
 * inode freed in the last minute (six while its table block is dirty),
 * looking each one up on the way: at a thousand messages a second that
 * scan cost more than the rest of the commit, and it slowed the Maildir
 * deliveries in the same block group too.  A recycled file needs neither
 * the allocation nor the free, on any file system.  free/ holds nothing
 * anybody needs: recovery empties it, and a file is only ever in one of
 * free/, tmp/ or queue/ because it moves by rename.
 */

/* mono_ms - a monotonic clock in milliseconds */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* rename_nr - rename a file without ever replacing another: renameat2
   with RENAME_NOREPLACE, or where the file system lacks it (NFS, some
   FUSE), link then unlink, which fails with EEXIST just the same */
static int
rename_nr(int fromdir, const char *from, int todir, const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(fromdir, from, todir, to, 0) < 0)
		return -1;
	if (unlinkat(fromdir, from, 0) < 0) {
		int e = errno;

		unlinkat(todir, to, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* free_read - read up to FREE_READ names of free/ into the cache,
   starting at a point of its own for each process so that two workers
   seldom reach for the same file; the number read */
static size_t
free_read(struct spool *sp)
{
	char (*raw)[32];
	struct dirent *de;
	size_t n = 0, i, start;
	int64_t t = mono_ms();
	DIR *d;
	int fd;

	sp->free_n = sp->free_i = 0;
	if (sp->free_empty_ms != 0 && t - sp->free_empty_ms < FREE_RETRY_MS)
		return 0;
	if ((fd = openat(sp->free_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	if (sp->free_names == NULL)
		sp->free_names = xcalloc(2 * FREE_READ, sizeof(*sp->free_names));
	raw = sp->free_names + FREE_READ;
	while (n < FREE_READ && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(*raw) ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		memcpy(raw[n++], de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	sp->free_empty_ms = n == 0 ? (t != 0 ? t : 1) : 0;
	start = n ? ((size_t)getpid() * 2654435761u) % n : 0;
	for (i = 0; i < n; i++)
		memcpy(sp->free_names[i], raw[(start + i) % n], sizeof(*raw));
	sp->free_n = n;
	return n;
}

/* free_claim - move a recycled file from free/ to tmp/name and open it
   for writing; its descriptor (*oldsize its size, *whole whether it has
   no hole and holds a version 2 image), or -1 when free/ had none */
static int
free_claim(struct spool *sp, const char *name, off_t *oldsize,
    bool *whole)
{
	struct stat st;
	const char *cand;
	int fd = -1;

	pthread_mutex_lock(&sp->free_lock);
	for (;;) {
		if (sp->free_i == sp->free_n && free_read(sp) == 0)
			break;
		cand = sp->free_names[sp->free_i++];
		/* Only a plain file of ours is ever taken: anything else
		   (a FIFO would block the open, a directory cannot be
		   written) is left alone. */
		if (fstatat(sp->free_fd, cand, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_nlink != 1)
			continue;
		if (rename_nr(sp->free_fd, cand, sp->tmp_fd, name) < 0) {
			if (errno == ENOENT)
				continue;	/* another process had it */
			break;
		}
		fd = openat(sp->tmp_fd, name, O_RDWR | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1) {
			unsigned char v[REC_HDR + 4];

			*oldsize = st.st_size;
			/* No hole before the end (an unwritten extent counts
			   as one): a write would have to allocate there.  And
			   a version 2 image (its checksum names its file):
			   an older one would still pass under a new name if
			   the new bytes never reached the disk. */
			*whole = st.st_size > 0 &&
			    lseek(fd, 0, SEEK_HOLE) == st.st_size &&
			    pread(fd, v, sizeof(v), 0) == (ssize_t)sizeof(v) &&
			    v[0] == REC_VERSION && get_u32(v + 1) == 4 &&
			    get_u32(v + REC_HDR) >= 2;
			break;	/* write_all() writes from the start */
		}
		/* Swapped under us: drop it, create a new file. */
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (unlinkat(sp->tmp_fd, name, 0) < 0)
			unlinkat(sp->tmp_fd, name, AT_REMOVEDIR);
		break;
	}
	pthread_mutex_unlock(&sp->free_lock);
	return fd;
}

/* free_trim - unlink up to max files of free/ (the disk is full: their
   space is worth more to a new message); the number removed */
static size_t
free_trim(struct spool *sp, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;

	if ((fd = openat(sp->free_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (n < max && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(sp->free_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info(NULL, "spool disk full: recycled_files_removed=%zu", n);
	return n;
}

/* count_dir - the entries of a directory (no dot files), up to max */
static size_t
count_dir(int dirfd, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return max;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return max;
	}
	while (n < max && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* free_room - may one more file go to free/? (counted now and then:
   workers take files out without telling) */
static bool
free_room(struct spool *sp)
{
	int64_t t;
	bool ok;

	pthread_mutex_lock(&sp->free_lock);
	if (sp->free_est >= FREE_MAX) {
		t = mono_ms();
		if (sp->free_count_ms == 0 ||
		    t - sp->free_count_ms >= FREE_COUNT_MS) {
			sp->free_est = count_dir(sp->free_fd, FREE_MAX);
			sp->free_count_ms = t != 0 ? t : 1;
		}
	}
	ok = sp->free_est < FREE_MAX;
	if (ok)
		sp->free_est++;
	pthread_mutex_unlock(&sp->free_lock);
	return ok;
}

/* retire - take a delivered file out of queue/: into free/ under a dot
   name (not yet claimable) when it is small and free/ has room, else
   unlinked; 1 if it went to free/, 0 if unlinked, -1 (errno) */
static int
retire(struct spool *sp, const char *id)
{
	struct stat st;
	char dot[40];

	snprintf(dot, sizeof(dot), ".%s", id);
	if (fstatat(sp->queue_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    st.st_size <= FREE_FILE_MAX && free_room(sp)) {
		if (rename_nr(sp->queue_fd, id, sp->free_fd, dot) == 0)
			return 1;
		pthread_mutex_lock(&sp->free_lock);
		sp->free_est--;
		pthread_mutex_unlock(&sp->free_lock);
	}
	return unlinkat(sp->queue_fd, id, 0);
}

/* release - after the fsync that made their removal from queue/ durable,
   retired files become claimable (their dot goes) */
static void
release(struct spool *sp, char *const *ids, const bool *retired, size_t n)
{
	char dot[40];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (!retired[i])
			continue;
		snprintf(dot, sizeof(dot), ".%s", ids[i]);
		if (renameat(sp->free_fd, dot, sp->free_fd, ids[i]) == 0)
			k++;
		else
			unlinkat(sp->free_fd, dot, 0);
	}
	if (k > 0) {
		pthread_mutex_lock(&sp->free_lock);
		sp->free_empty_ms = 0;	/* worth a look again */
		pthread_mutex_unlock(&sp->free_lock);
	}
}

/* write_file - create tmp/name exclusively and write the whole image;
   on failure nothing is left in tmp/ */
static int
write_file(struct spool *sp, const char *name, const char *id, bool recycle,
    const struct spool_envelope *env, unsigned flags,
    const unsigned char *status, const void *const *parts,
    const size_t *lens, size_t nparts, int *fdp, bool *overwrite)
{
	static const unsigned char zeros[PAD_BLOCK];
	off_t oldsize = -1;
	size_t fsize, pad = 0;
	struct buf head;
	struct iovec *iov = NULL;
	unsigned char end[END_SIZE], padhdr[REC_HDR];
	size_t i, k, total = 0;
	uint32_t crc;
	int fd = -1, r;
	bool whole = false;

	*fdp = -1;
	*overwrite = false;
	for (i = 0; i < nparts; i++) {
		if (lens[i] > SPOOL_FILE_MAX - total)
			return E_LIMIT;
		total += lens[i];
	}
	buf_init(&head, (size_t)16 << 20);
	if ((r = build_head(&head, env, flags, status, total)) < 0)
		goto out;
	/* The checksum covers the queue id the file will be named by, so a
	   recycled file whose new bytes never reached the disk cannot pass
	   for a message under its new name. */
	crc = crc32c(0, id, strlen(id));
	crc = crc32c(crc, buf_data(&head), buf_size(&head));
	iov = xcalloc(nparts + 4, sizeof(*iov));
	iov[0].iov_base = (void *)buf_data(&head);
	iov[0].iov_len = buf_size(&head);
	k = 1;
	for (i = 0; i < nparts; i++) {
		iov[k].iov_base = (void *)parts[i];
		iov[k++].iov_len = lens[i];
		crc = crc32c(crc, parts[i], lens[i]);
	}
	fsize = buf_size(&head) + total + sizeof(end);
	/* A file that may be recycled ends on a whole block: files of
	   similar messages then have the same size, and writing over one
	   changes neither its size nor its blocks (see spool_sync_batch). */
	if (fsize + REC_HDR <= FREE_FILE_MAX) {
		pad = (PAD_BLOCK - (fsize + REC_HDR) % PAD_BLOCK) % PAD_BLOCK;
		padhdr[0] = REC_PAD;
		put_u32(padhdr + 1, (uint32_t)pad);
		iov[k].iov_base = padhdr;
		iov[k++].iov_len = sizeof(padhdr);
		crc = crc32c(crc, padhdr, sizeof(padhdr));
		if (pad > 0) {
			iov[k].iov_base = (void *)zeros;
			iov[k++].iov_len = pad;
			crc = crc32c(crc, zeros, pad);
		}
		fsize += REC_HDR + pad;
	}
	end[0] = REC_END;
	put_u32(end + 1, 4);
	put_u32(end + REC_HDR, crc);
	iov[k].iov_base = end;
	iov[k++].iov_len = sizeof(end);

	fd = recycle ? free_claim(sp, name, &oldsize, &whole) : -1;
	if (fd < 0)
		fd = openat(sp->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		r = errno == EEXIST ? E_AGAIN : errno_to_err(errno);
		goto out;
	}
	/* A recycled file is written over from its start, then cut to
	   length: its blocks are reused rather than freed and allocated. */
	if ((r = write_all(fd, iov, k)) < 0 ||
	    (oldsize > (off_t)fsize && ftruncate(fd, (off_t)fsize) < 0 &&
	    (r = errno_to_err(errno)) < 0)) {
		log_warn(name, "spool write error=%s", strerror(errno));
		close(fd);
		fd = -1;
		unlinkat(sp->tmp_fd, name, 0);
		goto out;
	}
	*fdp = fd;
	*overwrite = sp->in_place && whole && oldsize == (off_t)fsize;
	r = 0;
out:
	free(iov);
	buf_fini(&head);
	return r;
}

/* write_entry - write the file under e->id, or under fresh ids */
static int
write_entry(struct spool *sp, const struct spool_envelope *env,
    const void *const *parts, const size_t *lens, size_t nparts,
    struct spool_entry *e, bool named)
{
	int r, tries;
	bool trimmed = false;

	e->fd = -1;
	e->tmp_path[0] = '\0';
	e->overwrite = false;
	for (tries = 0; tries < 8; tries++) {
		if (!named)
			spool_new_id(sp, e->id);
		r = write_file(sp, e->id, e->id, true, env, env->quarantine ?
		    SPOOL_F_QUARANTINE : 0, NULL, parts, lens, nparts,
		    &e->fd, &e->overwrite);
		/* The disk is full: recycled files hold space nobody needs;
		   give it back once and try again. */
		if (r == E_NOSPACE && !trimmed) {
			trimmed = true;
			if (free_trim(sp, 256) > 0) {
				tries--;
				continue;
			}
		}
		/* E_AGAIN: the name was taken (a clock step back met a
		   reused pid); take the next id, unless the caller chose it. */
		if (r != E_AGAIN || named)
			break;
	}
	if (r == E_AGAIN)
		r = E_IO;
	e->error = r;
	if (r == 0)
		snprintf(e->tmp_path, sizeof(e->tmp_path), "%s/tmp/%s",
		    sp->dir, e->id);
	else
		e->id[0] = '\0';	/* a taken name is not ours to abort */
	return r;
}

/* spool_write - write envelope + message parts into tmp/ (no fsync) */
int
spool_write(struct spool *sp, const struct spool_envelope *env,
    const void *const *parts, const size_t *lens, size_t nparts,
    struct spool_entry *e)
{
	return write_entry(sp, env, parts, lens, nparts, e, false);
}

/* spool_write_named - the same under an id the caller took from
   spool_new_id() (it already wrote it into the message) */
int
spool_write_named(struct spool *sp, const char *id,
    const struct spool_envelope *env, const void *const *parts,
    const size_t *lens, size_t nparts, struct spool_entry *e)
{
	if (!spool_id_is_valid(id)) {
		e->fd = -1;
		e->id[0] = e->tmp_path[0] = '\0';
		return e->error = E_INVAL;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	return write_entry(sp, env, parts, lens, nparts, e, true);
}

/* spool_sync - fdatasync the entry's file (thread-safe, blocking) */
int
spool_sync(struct spool_entry *e)
{
	if (e->error)
		return e->error;
	if (e->fd < 0)
		return e->error = E_INVAL;
	/* fdatasync also writes the size, which is all the metadata a
	   reader needs; the name is made durable by the directory fsync. */
	while (fdatasync(e->fd) < 0) {
		if (errno == EINTR)
			continue;
		e->error = errno_to_err(errno);
		log_warn(e->id, "spool fdatasync error=%s", strerror(errno));
		return e->error;
	}
	return 0;
}

/* sync_one - fanout_run() item: fdatasync one entry of the batch */
static void
sync_one(void *arg, size_t i)
{
	struct spool_entry *const *e = arg;

	spool_sync(e[i]);
}

/* writeback - write an overwritten entry's data to the device and wait
   for it (no flush, no metadata); start only begins the writes */
static void
writeback(struct spool_entry *e, bool start)
{
	unsigned how = start ? SYNC_FILE_RANGE_WRITE :
	    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	    SYNC_FILE_RANGE_WAIT_AFTER;

	while (sync_file_range(e->fd, 0, 0, how) < 0) {
		if (errno == EINTR)
			continue;
		if (start)
			return;	/* the waiting pass reports it */
		e->error = errno_to_err(errno);
		log_warn(e->id, "spool writeback error=%s", strerror(errno));
		return;
	}
}

/* spool_sync_batch - make every entry of a batch durable */
int
spool_sync_batch(struct spool *sp, struct spool_entry *const *e, size_t n)
{
	struct spool_entry *slow[256], *first = NULL;
	size_t k, nslow = 0, done;
	int r = 0;

	for (k = 0; k < n; k++)
		if (e[k]->error == 0 && e[k]->fd < 0)
			e[k]->error = E_INVAL;
	/* Entries written over a recycled file of the same size: their
	   size and block map are already durable (the file got an
	   fdatasync when they last changed), so the data alone is missing.
	   Start every write, then wait until each has completed at the
	   device.  The cache flush that makes them durable is the one the
	   directory fsync of spool_publish() sends, which starts after
	   these writes completed; until it has finished nothing is
	   acknowledged, and should the name reach the disk without the new
	   bytes, the old bytes fail the checksum under the new name
	   (docs/SPOOL.md, "Written over in place"). */
	for (k = 0; k < n; k++)
		if (e[k]->error == 0 && e[k]->overwrite)
			writeback(e[k], true);
	for (k = 0; k < n; k++)
		if (e[k]->error == 0 && e[k]->overwrite) {
			writeback(e[k], false);
			if (e[k]->error == 0 && first == NULL)
				first = e[k];
		}
	/* The others get an fdatasync each, concurrently (they share the
	   file system's commits). */
	for (done = 0; done < n; done += k) {
		for (k = 0, nslow = 0; done + k < n && nslow < 256; k++)
			if (e[done + k]->error == 0 && !e[done + k]->overwrite)
				slow[nslow++] = e[done + k];
		fanout_run(sync_one, (void *)slow, nslow);
	}
	/* With a journal, the directory fsync's flush goes where the
	   journal is, which may be another device: then an fdatasync of one
	   written-over file, after all their writes completed, sends a flush
	   to the data device (its own changes are long committed). */
	if (first != NULL && !sp->dir_flushes && spool_sync(first) < 0) {
		for (k = 0; k < n; k++)
			if (e[k]->error == 0 && e[k]->overwrite)
				e[k]->error = first->error;
	}
	for (k = 0; k < n; k++)
		if (e[k]->error != 0 && r == 0)
			r = e[k]->error;
	return r;
}

/* queue_fsync - fsync queue/, one at a time across every process and
   thread of the spool.  Without a journal, ext4 writes a directory's
   dirty blocks from a list kept with the directory: an fsync that finds
   the list empty because a concurrent fsync (another process) has just
   taken the block off it returns without waiting for that block's
   write, and a rename it was asked to make durable may not be yet.
   Taking turns closes that window: the lock is an flock on a descriptor
   of queue/ that this process opened itself (descriptors inherited
   across fork share one open file, and with it one lock). */
static int
queue_fsync(struct spool *sp)
{
	pid_t me = getpid();
	int r, e;

	pthread_mutex_lock(&sp->fsync_lock);
	if (sp->lock_pid != me) {
		if (sp->lock_fd >= 0)
			close(sp->lock_fd);	/* the parent's, shared */
		sp->lock_fd = openat(sp->dirfd, "queue", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC);
		sp->lock_pid = me;
	}
	while (sp->lock_fd >= 0 && flock(sp->lock_fd, LOCK_EX) < 0 &&
	    errno == EINTR)
		;
	r = fsync(sp->queue_fd);
	e = errno;
	if (sp->lock_fd >= 0)
		flock(sp->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&sp->fsync_lock);
	errno = e;
	return r;
}

/* sync_queue_dir - group commit: wait until a directory fsync that
   started after our renames has finished; 0 or E_IO */
static int
sync_queue_dir(struct spool *sp, uint64_t target, uint64_t round0)
{
	uint64_t cover;
	int r = 0, fr;

	pthread_mutex_lock(&sp->lock);
	while (sp->synced < target) {
		if (sp->syncing) {
			pthread_cond_wait(&sp->cond, &sp->lock);
			continue;
		}
		sp->syncing = true;
		cover = sp->renamed;
		pthread_mutex_unlock(&sp->lock);
		fr = queue_fsync(sp);
		pthread_mutex_lock(&sp->lock);
		sp->syncing = false;
		sp->rounds++;
		if (fr < 0) {
			log_err(NULL, "spool fsync dir=%s/queue error=%s",
			    sp->dir, strerror(errno));
			sp->failed_round = sp->rounds;
		}
		if (cover > sp->synced)
			sp->synced = cover;
		pthread_cond_broadcast(&sp->cond);
	}
	/* A failed round after our renames may have been the one that
	   covered them: report failure (a spurious 4xx, never a loss). */
	if (sp->failed_round > round0)
		r = E_IO;
	pthread_mutex_unlock(&sp->lock);
	return r;
}

/* spool_publish - rename each synced entry (error == 0) into queue/ and
   fsync the directory once; failed entries are removed.  Thread-safe. */
int
spool_publish(struct spool *sp, struct spool_entry *const *e, size_t n)
{
	uint64_t target, round0;
	size_t i, moved = 0;
	int r = 0;

	pthread_mutex_lock(&sp->lock);
	round0 = sp->rounds;
	pthread_mutex_unlock(&sp->lock);
	for (i = 0; i < n; i++) {
		if (e[i]->fd >= 0) {
			close(e[i]->fd);
			e[i]->fd = -1;
		}
		if (e[i]->error == 0 &&
		    rename_nr(sp->tmp_fd, e[i]->id, sp->queue_fd,
		    e[i]->id) < 0) {
			e[i]->error = errno_to_err(errno);
			log_warn(e[i]->id, "spool rename error=%s",
			    strerror(errno));
		}
		if (e[i]->error != 0)
			unlinkat(sp->tmp_fd, e[i]->id, 0);
		else
			moved++;
	}
	if (moved == 0)
		goto out;
	pthread_mutex_lock(&sp->lock);
	sp->renamed += moved;
	target = sp->renamed;
	pthread_mutex_unlock(&sp->lock);
	if (sync_queue_dir(sp, target, round0) < 0) {
		/* Not known to be durable: the client gets a 4xx and will
		   send again, so do not deliver this copy too. */
		for (i = 0; i < n; i++) {
			if (e[i]->error != 0)
				continue;
			e[i]->error = E_IO;
			unlinkat(sp->queue_fd, e[i]->id, 0);
		}
	}
out:
	for (i = 0; i < n; i++)
		if (e[i]->error != 0 && r == 0)
			r = e[i]->error;
	return r;
}

/* spool_counters - renames into queue/ and fsyncs of queue/ so far */
void
spool_counters(struct spool *sp, uint64_t *renames, uint64_t *dir_syncs)
{
	pthread_mutex_lock(&sp->lock);
	*renames = sp->renamed;
	*dir_syncs = sp->rounds;
	pthread_mutex_unlock(&sp->lock);
}

/* spool_writes_in_place - may same-size overwrites skip an fdatasync? */
bool
spool_writes_in_place(const struct spool *sp)
{
	return sp->in_place;
}

/* spool_abort - remove an unpublished entry */
void
spool_abort(struct spool *sp, struct spool_entry *e)
{
	if (e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
	}
	if (e->id[0] != '\0')
		unlinkat(sp->tmp_fd, e->id, 0);
	if (e->error == 0)
		e->error = E_INVAL;
}

/* rec_string - copy a string record's payload (checked) */
static int
rec_string(char **dst, const unsigned char *p, size_t n)
{
	if (*dst != NULL)
		return E_CORRUPT;	/* a field given twice */
	if (!field_ok((const char *)p, n))
		return E_CORRUPT;
	*dst = xstrndup((const char *)p, n);
	return 0;
}

/* spool_parse - validate a file image held in memory */
int
spool_parse(const void *data, size_t n, const char *id,
    struct spool_message *m, const char **why)
{
	const unsigned char *p = data, *v;
	struct spool_message tmp;
	const char *reason = NULL;
	size_t off, len, body, nr = 0, cap = 0, j;
	uint32_t version, crc = 0;
	uint64_t a;
	int type, last = REC_VERSION, k;
	bool have_from = false, have_arrival = false, have_msg = false;

	memset(&tmp, 0, sizeof(tmp));
	if (n > SPOOL_FILE_MAX) {
		reason = "file too large";
		goto bad;
	}
	if (n < REC_HDR + 4 + END_SIZE || p[0] != REC_VERSION ||
	    get_u32(p + 1) != 4) {
		reason = "no version record";
		goto bad;
	}
	version = get_u32(p + REC_HDR);
	if (version != SPOOL_VERSION && version != 1) {
		reason = "unknown version";
		goto bad;
	}
	if (version >= 2) {
		if (id == NULL) {
			reason = "no queue id to check";
			goto bad;
		}
		crc = crc32c(0, id, strlen(id));
	}
	body = n - END_SIZE;
	if (p[body] != REC_END || get_u32(p + body + 1) != 4) {
		reason = "no end record";
		goto bad;
	}
	if (crc32c(crc, p, body) != get_u32(p + body + REC_HDR)) {
		reason = "checksum mismatch";
		goto bad;
	}
	for (off = REC_HDR + 4; off < body; off += len) {
		if (body - off < REC_HDR) {
			reason = "truncated record header";
			goto bad;
		}
		type = p[off];
		len = get_u32(p + off + 1);
		off += REC_HDR;
		if (len > body - off) {
			reason = "record length past the end";
			goto bad;
		}
		v = p + off;
		/* Records come in type order; only RCPT repeats. */
		if (type < last || (type == last && type != REC_RCPT)) {
			reason = "record out of order";
			goto bad;
		}
		last = type;
		switch (type) {
		case REC_FROM:
			have_from = true;
			if (rec_string(&tmp.env.mail_from, v, len) < 0)
				goto badfield;
			break;
		case REC_RCPT:
			if (len == 0 || nr == SPOOL_RCPTS_MAX)
				goto badfield;
			if (nr == cap) {
				cap = cap ? cap * 2 : 4;
				tmp.env.rcpts = xrealloc(tmp.env.rcpts,
				    cap * sizeof(char *));
			}
			tmp.env.rcpts[nr] = NULL;
			tmp.env.nrcpts = nr + 1;
			if (rec_string(&tmp.env.rcpts[nr], v, len) < 0)
				goto badfield;
			nr++;
			break;
		case REC_HELO:
			if (rec_string(&tmp.env.helo, v, len) < 0)
				goto badfield;
			break;
		case REC_CLIENT:
			if (rec_string(&tmp.env.client_ip, v, len) < 0)
				goto badfield;
			break;
		case REC_AUTH:
			if (rec_string(&tmp.env.auth_user, v, len) < 0)
				goto badfield;
			break;
		case REC_PROTO:
			if (rec_string(&tmp.env.protocol, v, len) < 0)
				goto badfield;
			break;
		case REC_ARRIVAL:
			if (len != 8)
				goto badfield;
			a = 0;
			for (k = 0; k < 8; k++)
				a = a << 8 | v[k];
			tmp.env.arrival = (int64_t)a;
			have_arrival = true;
			break;
		case REC_FLAGS:
			if (len != 4 || (get_u32(v) &
			    ~(uint32_t)(ENV_FLAG_SMTPUTF8 | ENV_FLAG_8BIT)))
				goto badfield;
			tmp.env.smtputf8 = get_u32(v) & ENV_FLAG_SMTPUTF8;
			tmp.env.body_8bit = get_u32(v) & ENV_FLAG_8BIT;
			break;
		case REC_STATE:
			if (len != 4 || (get_u32(v) &
			    ~(uint32_t)(SPOOL_F_LOCAL_DONE |
			    SPOOL_F_QUARANTINE)))
				goto badfield;
			tmp.flags = get_u32(v);
			tmp.env.quarantine = tmp.flags & SPOOL_F_QUARANTINE;
			break;
		case REC_RSTAT:
			if (len != nr)
				goto badfield;
			tmp.rcpt_status = xmalloc(len);
			for (k = 0; (size_t)k < len; k++) {
				if (v[k] > SPOOL_RCPT_FAILED)
					goto badfield;
				tmp.rcpt_status[k] = v[k];
			}
			break;
		case REC_MESSAGE:
			/* Only padding may follow the message. */
			if (off + len != body && (body - (off + len) <
			    REC_HDR || p[off + len] != REC_PAD)) {
				reason = "message is not the last record";
				goto bad;
			}
			tmp.msg = (char *)v;
			tmp.msg_len = len;
			have_msg = true;
			break;
		case REC_PAD:
			if (off + len != body) {
				reason = "padding is not the last record";
				goto bad;
			}
			for (j = 0; j < len; j++)
				if (v[j] != 0) {
					reason = "padding is not zero";
					goto bad;
				}
			break;
		default:
			reason = "unknown record type";
			goto bad;
		}
	}
	if (!have_from || nr == 0 || !have_arrival || !have_msg) {
		reason = "required record missing";
		goto bad;
	}
	if (tmp.env.helo == NULL)
		tmp.env.helo = xstrdup("");
	if (tmp.env.client_ip == NULL)
		tmp.env.client_ip = xstrdup("");
	if (tmp.env.protocol == NULL)
		tmp.env.protocol = xstrdup("");
	tmp.file_size = n;
	if (m != NULL)
		*m = tmp;
	else
		spool_message_fini(&tmp);
	return 0;
badfield:
	reason = "bad envelope field";
bad:
	spool_message_fini(&tmp);
	if (why != NULL)
		*why = reason;
	return E_CORRUPT;
}

/* spool_message_fini - free what spool_load or spool_parse allocated */
void
spool_message_fini(struct spool_message *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->env.mail_from);
	for (i = 0; i < m->env.nrcpts; i++)
		free(m->env.rcpts[i]);
	free(m->env.rcpts);
	free(m->env.helo);
	free(m->env.client_ip);
	free(m->env.auth_user);
	free(m->env.protocol);
	free(m->rcpt_status);
	free(m->image);
	memset(m, 0, sizeof(*m));
}

/* read_image - the whole of queue/name, at most SPOOL_FILE_MAX bytes */
static int
read_image(struct spool *sp, const char *name, unsigned char **out,
    size_t *outlen)
{
	struct stat st;
	unsigned char *p = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc = 0;

	*out = NULL;
	*outlen = 0;
	fd = openat(sp->queue_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? E_NOTFOUND :
		    errno == ELOOP ? E_CORRUPT : E_IO;
	if (fstat(fd, &st) < 0) {
		rc = E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SPOOL_FILE_MAX) {
		rc = E_CORRUPT;
		goto out;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		r = read(fd, p + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = E_IO;
			goto out;
		}
		if (r == 0)
			break;	/* shrank under us: parse what is there */
		got += (size_t)r;
	}
	*out = p;
	*outlen = got;
	p = NULL;
out:
	free(p);
	close(fd);
	return rc;
}

/* spool_load - read and validate one file; E_CORRUPT if invalid */
int
spool_load(struct spool *sp, const char *id, struct spool_message *m)
{
	unsigned char *img;
	const char *why = "unreadable";
	size_t n;
	int r;

	memset(m, 0, sizeof(*m));
	if (strlen(id) >= sizeof(m->id) || strchr(id, '/') != NULL ||
	    id[0] == '.')
		return E_INVAL;
	if ((r = read_image(sp, id, &img, &n)) < 0) {
		if (r == E_CORRUPT)
			log_warn(id, "spool corrupt reason=not_a_regular_file");
		return r;
	}
	if ((r = spool_parse(img, n, id, m, &why)) < 0) {
		log_warn(id, "spool corrupt reason=\"%s\" size=%zu", why, n);
		free(img);
		return r;
	}
	m->image = img;
	snprintf(m->id, sizeof(m->id), "%s", id);
	return 0;
}

/* spool_rewrite - atomically replace the file with fewer recipients */
int
spool_rewrite(struct spool *sp, const struct spool_message *m)
{
	const void *parts[1];
	size_t lens[1];
	char name[64];
	int fd, r;
	bool overwrite;

	snprintf(name, sizeof(name), "%s.rewrite", m->id);
	parts[0] = m->msg;
	lens[0] = m->msg_len;
	unlinkat(sp->tmp_fd, name, 0);	/* a leftover of a crash */
	r = write_file(sp, name, m->id, false, &m->env, m->flags,
	    m->rcpt_status, parts, lens, 1, &fd, &overwrite);
	if (r < 0)
		return r;
	if (fdatasync(fd) < 0) {
		r = errno_to_err(errno);
		goto fail;
	}
	close(fd);
	fd = -1;
	/* rename() over the old file is atomic: a crash leaves either the
	   old or the new recipient list, both valid files. */
	if (renameat(sp->tmp_fd, name, sp->queue_fd, m->id) < 0) {
		r = errno_to_err(errno);
		goto fail;
	}
	if (queue_fsync(sp) < 0)
		return errno_to_err(errno);
	return 0;
fail:
	log_warn(m->id, "spool rewrite error=%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	unlinkat(sp->tmp_fd, name, 0);
	return r;
}

/* spool_remove_batch - take delivered messages out of queue/ (recycled
   or unlinked), fsync queue/ once */
int
spool_remove_batch(struct spool *sp, char *const *ids, size_t n)
{
	bool *retired = xcalloc(n ? n : 1, sizeof(bool));
	size_t i;
	int r = 0, k;

	for (i = 0; i < n; i++) {
		if ((k = retire(sp, ids[i])) > 0)
			retired[i] = true;
		else if (k < 0 && errno != ENOENT) {
			log_warn(ids[i], "spool unlink error=%s",
			    strerror(errno));
			if (r == 0)
				r = E_IO;
		}
	}
	if (n > 0 && queue_fsync(sp) < 0 && r == 0)
		r = E_IO;
	/* Only a file whose name is durably gone from queue/ may be written
	   over: a crash must not leave queue/ naming a reused file.  If the
	   fsync failed they stay unclaimable until recovery removes them. */
	if (r == 0)
		release(sp, ids, retired, n);
	free(retired);
	return r;
}

/* spool_remove - unlink a delivered message and fsync queue/ */
int
spool_remove(struct spool *sp, const char *id)
{
	char *ids[1];

	ids[0] = (char *)id;
	return spool_remove_batch(sp, ids, 1);
}

/* quarantine_one - move queue/name to corrupt/, never over a file */
static int
quarantine_one(struct spool *sp, const char *name)
{
	char dst[300];
	int i;

	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(dst, sizeof(dst), "%s", name);
		else
			snprintf(dst, sizeof(dst), "%s.%d", name, i);
		if (renameat2(sp->queue_fd, name, sp->corrupt_fd, dst,
		    RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	return errno == ENOENT ? E_NOTFOUND : E_IO;
}

/* spool_quarantine - move a file to corrupt/ */
int
spool_quarantine(struct spool *sp, const char *id)
{
	int r;

	if (strchr(id, '/') != NULL || id[0] == '.' || id[0] == '\0')
		return E_INVAL;
	if ((r = quarantine_one(sp, id)) < 0) {
		log_err(id, "spool quarantine error=%s", err_str(r));
		return r;
	}
	log_warn(id, "spool quarantined to=%s/corrupt/", sp->dir);
	if (fsync(sp->corrupt_fd) < 0 || queue_fsync(sp) < 0)
		return E_IO;
	return 0;
}

/* list_dir - the names in a directory (no dot files), sorted */
static int
list_dir(int dirfd, char ***out, size_t *outn)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int fd;

	*out = NULL;
	*outn = 0;
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return E_IO;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return E_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	*out = v;
	*outn = n;
	return 0;
}

/* cmp_name - qsort by name, which for queue ids is arrival order */
static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* spool_scan - ids of the files in queue/, oldest first */
int
spool_scan(struct spool *sp, char ***ids, size_t *n)
{
	int r;

	if ((r = list_dir(sp->queue_fd, ids, n)) < 0)
		return r;
	if (*n > 1)
		qsort(*ids, *n, sizeof(**ids), cmp_name);
	return 0;
}

/* spool_ids_free - free what spool_scan returned */
void
spool_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* empty_dir - unlink every file of a directory, dot files included;
   the number removed */
static size_t
empty_dir(int dirfd)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* spool_recover - at start: empty tmp/, validate queue/ files, move any
   invalid one to corrupt/ (logged); returns the number quarantined */
int
spool_recover(struct spool *sp)
{
	struct spool_message m;
	char **names;
	size_t n, i, k;
	int r, bad = 0;

	/* Files in tmp/ were never acknowledged: a crash stopped them
	   before the rename, so the client got no 250 and will retry. */
	if ((r = list_dir(sp->tmp_fd, &names, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (unlinkat(sp->tmp_fd, names[i], 0) < 0 && errno == EISDIR)
			unlinkat(sp->tmp_fd, names[i], AT_REMOVEDIR);
		log_info(names[i], "spool recover removed=tmp");
	}
	spool_ids_free(names, n);
	/* Not fatal: the steps below matter more than this fsync. */
	if (n > 0 && fsync(sp->tmp_fd) < 0)
		log_err(NULL, "spool recover fsync dir=%s/tmp error=%s",
		    sp->dir, strerror(errno));
	/* Recycled files: emptied, so that nothing a crash may have left
	   half-renamed is ever written over (a pass again when the last
	   removed something: readdir may skip while entries go). */
	for (n = 0, i = 0; i < 8 && (k = empty_dir(sp->free_fd)) > 0; i++)
		n += k;
	pthread_mutex_lock(&sp->free_lock);
	sp->free_n = sp->free_i = 0;
	sp->free_est = FREE_MAX;	/* a process forked later counts again */
	sp->free_empty_ms = sp->free_count_ms = 0;
	pthread_mutex_unlock(&sp->free_lock);
	if (n > 0)
		log_info(NULL, "spool recover recycled_files_removed=%zu", n);
	/* Whatever another program or an earlier life left unwritten is
	   made durable once: a queue/ file recycled later is written over
	   without an fdatasync of its own when its size stays. */
	if (syncfs(sp->dirfd) < 0) {
		log_err(NULL, "spool recover syncfs dir=%s error=%s "
		    "(every file gets its own fdatasync)", sp->dir,
		    strerror(errno));
		sp->in_place = false;
	}

	if ((r = spool_scan(sp, &names, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		r = spool_load(sp, names[i], &m);
		if (r == 0) {
			spool_message_fini(&m);
			continue;
		}
		if (r == E_NOTFOUND)
			continue;
		if (r != E_CORRUPT && r != E_INVAL) {
			log_err(names[i], "spool recover error=%s",
			    err_str(r));
			/* I/O trouble: leave it be, not fatal */
			continue;
		}
		if (spool_quarantine(sp, names[i]) == 0)
			bad++;
	}
	spool_ids_free(names, n);
	return bad;
}
