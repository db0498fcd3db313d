/*
 * deliver/maildir.c - Maildir delivery that survives a crash exactly once.
 *
 * The order of operations is the Maildir protocol with the fsyncs it leaves
 * out: write tmp/NAME, fdatasync it, link() it to new/NAME, unlink the tmp
 * name, and fsync new/ before the caller forgets the message.  NAME depends
 * only on the queue id, the recipient index, the message and the host, so
 * after a crash the repeated link() finds new/NAME and reports success.
 */
#include "deliver/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/spool.h"
#include "util/err.h"
#include "util/fanout.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define NAME_PART_MAX 255	/* NAME_MAX: one path component */
#define QID_MAX 31
#define MAILDIR_BATCH_OPEN_MAX 256	/* written files awaiting a sync */

/* One delivery waiting for maildir_batch_commit(). */
struct pend {
	char *tmp;		/* DIR/tmp/NAME, NULL once done */
	char *dst;		/* DIR/new/NAME,S=..,W=.. */
	char *dir;		/* DIR, to create it if new/ is missing */
	char *newdir_path;	/* DIR/new, synced at commit */
	bool folder;
	size_t newdir;		/* index in dirs[] once linked */
	int fd;			/* written, not yet fdatasync'ed */
	int err;		/* errno of the fdatasync stage */
	int result;		/* 0 or E_*, final after commit */
	bool linked;
};

struct maildir_batch {
	char *root;
	char host[NAME_PART_MAX + 1];
	bool recheck;		/* look in cur/ too (see maildir.h) */
	char **dirs;		/* new/ directories to fsync at commit */
	int *dir_err;		/* result of each one's fsync */
	size_t ndirs;
	size_t capdirs;
	struct pend *pend;	/* maildir_batch_add() tickets */
	size_t npend;
	size_t cappend;
	bool committed;		/* tickets hold results until the next add */
	/* The message being delivered, with LF line ends. */
	char *conv;
	size_t conv_cap;
	size_t conv_len;
	size_t conv_crlf_len;
};

/* errno_to_err - a file system failure: no space, or other I/O */
static int
errno_to_err(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return E_NOSPACE;
	default:
		return E_IO;
	}
}

/* name_ok - one path component from an address or folder: not empty,
   no '/', no leading '.', no "..", no control characters */
static bool
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > NAME_PART_MAX || s[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '/')
			return false;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
	}
	return true;
}

/* append_lower - add s (n bytes) lower-cased (ASCII) to out at *o */
static bool
append_lower(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
	size_t i;

	if (n >= outsz - *o)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[(*o)++] = c;
	}
	out[*o] = '\0';
	return true;
}

/* maildir_path - the Maildir directory for address (and folder) */
int
maildir_path(const char *root, const char *address, const char *folder,
    char *out, size_t outsz)
{
	const char *at;
	size_t o, llen, dlen;
	int n;

	at = strrchr(address, '@');
	if (at == NULL)
		return E_INVAL;
	llen = (size_t)(at - address);
	dlen = strlen(at + 1);
	if (!name_ok(address, llen) || !name_ok(at + 1, dlen))
		return E_INVAL;
	if (folder != NULL && !name_ok(folder, strlen(folder)))
		return E_INVAL;
	n = snprintf(out, outsz, "%s/", root);
	if (n < 0 || (size_t)n >= outsz)
		return E_INVAL;
	o = (size_t)n;
	if (!append_lower(out, outsz, &o, at + 1, dlen) ||
	    !append_lower(out, outsz, &o, "/", 1) ||
	    !append_lower(out, outsz, &o, address, llen))
		return E_INVAL;
	if (folder != NULL) {
		/* Maildir++: the folder "Junk" is the directory ".Junk" */
		n = snprintf(out + o, outsz - o, "/.%s", folder);
		if (n < 0 || (size_t)n >= outsz - o)
			return E_INVAL;
	}
	return 0;
}

/* sync_dir - fsync a directory by path */
static int
sync_dir(const char *path)
{
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno_to_err(errno);
	if (fsync(fd) < 0)
		r = errno_to_err(errno);
	close(fd);
	return r;
}

/* make_dir - mkdir one directory; when it is new, fsync its parent so
   the entry survives a crash */
static int
make_dir(char *path)
{
	char *slash;
	int r;

	if (mkdir(path, 0700) < 0)
		return errno == EEXIST ? 0 : errno_to_err(errno);
	slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return 0;
	*slash = '\0';
	r = sync_dir(path);
	*slash = '/';
	return r;
}

/* make_tree - mkdir -p of path, fsyncing each parent that gained a dir */
static int
make_tree(const char *path)
{
	char p[PATH_MAX];
	size_t i, n = strlen(path);
	int r;

	if (n >= sizeof(p))
		return E_INVAL;
	memcpy(p, path, n + 1);
	for (i = 1; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		r = make_dir(p);
		p[i] = '/';
		if (r < 0)
			return r;
	}
	return make_dir(p);
}

/* make_maildir - the directory and its cur, new and tmp (and, for a
   folder, the inbox's too and the Maildir++ "maildirfolder" marker) */
static int
make_maildir(const char *dir, bool is_folder)
{
	static const char *subs[] = { "cur", "new", "tmp" };
	char p[PATH_MAX], *slash;
	size_t i;
	int r, fd;

	if (is_folder) {
		if (strlen(dir) >= sizeof(p))
			return E_INVAL;
		memcpy(p, dir, strlen(dir) + 1);
		slash = strrchr(p, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((r = make_maildir(p, false)) < 0)
				return r;
		}
	}
	if ((r = make_tree(dir)) < 0)
		return r;
	for (i = 0; i < 3; i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, subs[i]) >=
		    sizeof(p))
			return E_INVAL;
		if ((r = make_dir(p)) < 0)
			return r;
	}
	if (is_folder) {
		snprintf(p, sizeof(p), "%s/maildirfolder", dir);
		fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* clean_host - the host name as Maildir wants it in a file name */
static void
clean_host(char *out, size_t outsz)
{
	char h[NAME_PART_MAX + 1];
	size_t i, o = 0;

	if (gethostname(h, sizeof(h)) < 0 || h[0] == '\0')
		snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = '\0';
	for (i = 0; h[i] != '\0' && o + 5 < outsz; i++) {
		if (h[i] == '/' || h[i] == ':') {
			o += (size_t)snprintf(out + o, outsz - o, "\\%03o",
			    (unsigned char)h[i]);
		} else if ((unsigned char)h[i] < 0x20 || h[i] == ',' ||
		    h[i] == 0x7f) {
			out[o++] = '_';
		} else {
			out[o++] = h[i];
		}
	}
	out[o] = '\0';
}

/* maildir_batch_new - deliveries whose new/ dirs are synced together */
struct maildir_batch *
maildir_batch_new(const char *root)
{
	struct maildir_batch *b = xcalloc(1, sizeof(*b));

	b->root = xstrdup(root);
	clean_host(b->host, 101);	/* keeps names well under NAME_MAX */
	return b;
}

static void forget_pend(struct maildir_batch *b);

/* maildir_batch_free - forget the batch (commit first) */
void
maildir_batch_free(struct maildir_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	forget_pend(b);
	for (i = 0; i < b->ndirs; i++)
		free(b->dirs[i]);
	free(b->dirs);
	free(b->dir_err);
	free(b->pend);
	free(b->conv);
	free(b->root);
	free(b);
}

/* to_lf - the message with CRLF turned into LF, in b->conv */
static void
to_lf(struct maildir_batch *b, const char *msg, size_t len)
{
	size_t i, o = 0, lines = 0;

	if (b->conv_cap < len + 1) {
		free(b->conv);
		b->conv = xmalloc(len + 1);
		b->conv_cap = len + 1;
	}
	for (i = 0; i < len; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;
		if (msg[i] == '\n')
			lines++;
		b->conv[o++] = msg[i];
	}
	b->conv_len = o;
	b->conv_crlf_len = o + lines;
}

/* maildir_batch_recheck - see maildir.h */
void
maildir_batch_recheck(struct maildir_batch *b, bool on)
{
	b->recheck = on;
}

/* in_cur - a file for this delivery already sits in cur/ (the reader
   moved it there, adding ":2,FLAGS"); one readdir, so only on recheck */
static bool
in_cur(const char *dir, const char *base)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t n = strlen(base);
	bool found = false;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/cur", dir) >= sizeof(path))
		return false;
	if ((d = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, base, n) == 0 &&
		    (de->d_name[n] == ',' || de->d_name[n] == ':');
	closedir(d);
	return found;
}

/* remember_dir - add a new/ directory to the commit list (once) */
static size_t
remember_dir(struct maildir_batch *b, const char *dir)
{
	size_t i;

	for (i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], dir) == 0)
			return i;
	if (b->ndirs == b->capdirs) {
		b->capdirs = b->capdirs ? b->capdirs * 2 : 16;
		b->dirs = xrealloc(b->dirs, b->capdirs * sizeof(*b->dirs));
		b->dir_err = xrealloc(b->dir_err,
		    b->capdirs * sizeof(*b->dir_err));
	}
	b->dir_err[b->ndirs] = 0;
	b->dirs[b->ndirs] = xstrdup(dir);
	return b->ndirs++;
}

/* qid_ok - a queue id usable inside a file name */
static bool
qid_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++) {
		if (i >= QID_MAX)
			return false;
		if (!((id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= '0' && id[i] <= '9')))
			return false;
	}
	return i > 0;
}

/* open_write - create (or truncate a crash's leftover) tmp file and
   write the whole message; the fd stays open; ENOENT when the maildir is
   missing */
static int
open_write(const char *path, const char *p, size_t n, int *err)
{
	ssize_t w;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			*err = errno;
			close(fd);
			unlink(path);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return fd;
}

/* sync_close - fdatasync and close; 0 or the errno */
static int
sync_close(int fd)
{
	int e = 0;

	if (fdatasync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && e == 0)
		e = errno;
	return e;
}

/* The fdatasync of many files at once: a file system commits its journal
   for all of them together (ext4, xfs), so N files in flight cost little
   more than one, where N in a row cost N journal commits. */
struct sync_job {
	int *fds;		/* in: descriptors (closed after the sync) */
	int *errs;		/* out: errno per descriptor, 0 if durable */
	bool dirs;		/* fsync (directories) instead of fdatasync */
};

/* sync_item - fanout_run() item: sync and close one descriptor */
static void
sync_item(void *arg, size_t i)
{
	struct sync_job *j = arg;

	if (j->dirs) {
		j->errs[i] = fsync(j->fds[i]) < 0 ? errno : 0;
		close(j->fds[i]);
	} else {
		j->errs[i] = sync_close(j->fds[i]);
	}
}

/* sync_many - sync n descriptors, several in flight at once */
static void
sync_many(int *fds, int *errs, size_t n, bool dirs)
{
	struct sync_job j = { fds, errs, dirs };

	fanout_run(sync_item, &j, n);
}

/* link_new - move tmp to dst, never over it (EEXIST: delivered before),
   creating the maildir if new/ is missing; 0 or an errno.  The tmp name
   goes.  One renameat2(RENAME_NOREPLACE) does what link() + unlink()
   did; a file system without it gets those two. */
static int
link_new(const char *tmp, const char *dst, const char *dir, bool folder)
{
	static bool no_noreplace;
	int tries, e = 0, r;

	for (tries = 0; tries < 2; tries++) {
		if (!no_noreplace) {
			r = renameat2(AT_FDCWD, tmp, AT_FDCWD, dst,
			    RENAME_NOREPLACE);
			if (r == 0)
				return 0;
			if (errno == EINVAL || errno == ENOSYS) {
				no_noreplace = true;
				tries--;
				continue;
			}
		} else {
			r = link(tmp, dst);
		}
		if (r == 0 || errno == EEXIST) {
			e = 0;
			break;
		}
		e = errno;
		/* The same delivery twice in one batch: the other ticket has
		   moved (or linked and removed) the shared tmp name already. */
		if (e == ENOENT && access(dst, F_OK) == 0) {
			e = 0;
			break;
		}
		if (e != ENOENT || tries > 0 || make_maildir(dir, folder) < 0)
			break;
	}
	unlink(tmp);
	return e;
}

/* log_fail - one line for a failed delivery */
static void
log_fail(const char *queue_id, const char *address, int e)
{
	char esc[128];

	log_escape(esc, sizeof(esc), address, strlen(address));
	log_warn(queue_id, "maildir deliver to=\"%s\" error=\"%s\"", esc,
	    strerror(e));
}

/* prepare - validate, convert and name one delivery; the directory, the
   tmp path and the new/ path.  1 when a copy already sits in cur/. */
static int
prepare(struct maildir_batch *b, const char *address, const char *folder,
    const char *queue_id, unsigned rcpt_index, const char *msg, size_t len,
    char *dir, char *tmp, char *dst, char *newdir)
{
	char base[NAME_PART_MAX + 1];
	int64_t t;
	int r;

	if (!qid_ok(queue_id))
		return E_INVAL;
	if ((r = maildir_path(b->root, address, folder, dir, PATH_MAX)) < 0)
		return r;
	t = spool_id_time(queue_id);
	to_lf(b, msg, len);
	if ((size_t)snprintf(base, sizeof(base), "%lld.%s_%u.%s",
	    (long long)(t < 0 ? 0 : t), queue_id, rcpt_index, b->host) >=
	    sizeof(base) - 48)
		return E_INVAL;
	if ((size_t)snprintf(tmp, PATH_MAX, "%s/tmp/%s", dir, base) >=
	    PATH_MAX ||
	    (size_t)snprintf(newdir, PATH_MAX, "%s/new", dir) >= PATH_MAX ||
	    (size_t)snprintf(dst, PATH_MAX, "%s/new/%s,S=%zu,W=%zu", dir,
	    base, b->conv_len, b->conv_crlf_len) >= PATH_MAX)
		return E_INVAL;
	/* After a crash the reader may have moved our earlier copy from new/
	   to cur/; the caller asks for this (rare, costly) look when the
	   message may have been delivered before. */
	if (b->recheck && in_cur(dir, base)) {
		log_info(queue_id, "maildir already in cur/ index=%u",
		    rcpt_index);
		return 1;
	}
	return 0;
}

/* write_file - open_write, creating the maildir on ENOENT; fd or -1 */
static int
write_file(struct maildir_batch *b, const char *dir, const char *tmp,
    bool folder, int *e)
{
	int fd, r;

	if ((fd = open_write(tmp, b->conv, b->conv_len, e)) >= 0)
		return fd;
	if (*e != ENOENT)
		return -1;
	if ((r = make_maildir(dir, folder)) < 0) {
		*e = r == E_NOSPACE ? ENOSPC : EIO;
		return -1;
	}
	return open_write(tmp, b->conv, b->conv_len, e);
}

/* maildir_batch_deliver - write, fdatasync and link one message */
int
maildir_batch_deliver(struct maildir_batch *b, const char *address,
    const char *folder, const char *queue_id, unsigned rcpt_index,
    const char *msg, size_t len)
{
	char dir[PATH_MAX], tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];
	int r, e = 0, fd;

	r = prepare(b, address, folder, queue_id, rcpt_index, msg, len, dir,
	    tmp, dst, newdir);
	if (r != 0)
		return r < 0 ? r : 0;
	if ((fd = write_file(b, dir, tmp, folder != NULL, &e)) < 0)
		goto fail;
	if ((e = sync_close(fd)) != 0) {
		unlink(tmp);
		goto fail;
	}
	if ((e = link_new(tmp, dst, dir, folder != NULL)) != 0)
		goto fail;
	remember_dir(b, newdir);
	return 0;
fail:
	log_fail(queue_id, address, e);
	return errno_to_err(e);
}

/* forget_pend - drop the tickets of the last commit */
static void
forget_pend(struct maildir_batch *b)
{
	size_t i;

	for (i = 0; i < b->npend; i++) {
		if (b->pend[i].fd >= 0)
			close(b->pend[i].fd);
		if (b->pend[i].tmp != NULL)	/* never committed */
			unlink(b->pend[i].tmp);
		free(b->pend[i].tmp);
		free(b->pend[i].dst);
		free(b->pend[i].dir);
		free(b->pend[i].newdir_path);
	}
	b->npend = 0;
	b->committed = false;
}

/* flush_pend - fdatasync every written ticket in parallel, then link
   each into new/; results stay provisional until the dirs are synced */
static void
flush_pend(struct maildir_batch *b)
{
	int *fds, *errs;
	size_t *idx, i, n = 0;
	struct pend *p;

	fds = xcalloc(b->npend + 1, sizeof(int));
	errs = xcalloc(b->npend + 1, sizeof(int));
	idx = xcalloc(b->npend + 1, sizeof(size_t));
	for (i = 0; i < b->npend; i++) {
		if (b->pend[i].fd < 0)
			continue;
		idx[n] = i;
		fds[n++] = b->pend[i].fd;
		b->pend[i].fd = -1;	/* sync_many closes it */
	}
	sync_many(fds, errs, n, false);
	for (i = 0; i < n; i++) {
		p = &b->pend[idx[i]];
		p->err = errs[i];
		if (p->err == 0)
			p->err = link_new(p->tmp, p->dst, p->dir, p->folder);
		else
			unlink(p->tmp);
		free(p->tmp);
		p->tmp = NULL;
		if (p->err != 0) {
			p->result = errno_to_err(p->err);
			continue;
		}
		p->result = 0;
		p->linked = true;
		p->newdir = remember_dir(b, p->newdir_path);
	}
	free(fds);
	free(errs);
	free(idx);
}

/* maildir_batch_add - queue one delivery for the next commit */
int
maildir_batch_add(struct maildir_batch *b, const char *address,
    const char *folder, const char *queue_id, unsigned rcpt_index,
    const char *msg, size_t len, size_t *ticket)
{
	char dir[PATH_MAX], tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];
	struct pend *p;
	int r, e = 0, fd = -1;

	if (b->committed)
		forget_pend(b);
	/* Bound the open descriptors: sync what is pending now. */
	if (b->npend > 0 && b->npend % MAILDIR_BATCH_OPEN_MAX == 0)
		flush_pend(b);
	r = prepare(b, address, folder, queue_id, rcpt_index, msg, len, dir,
	    tmp, dst, newdir);
	if (r == 0 && (fd = write_file(b, dir, tmp, folder != NULL, &e)) < 0) {
		log_fail(queue_id, address, e);
		r = errno_to_err(e);
	}
	if (b->npend == b->cappend) {
		b->cappend = b->cappend ? b->cappend * 2 : 64;
		b->pend = xrealloc(b->pend, b->cappend * sizeof(*b->pend));
	}
	p = &b->pend[b->npend];
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->result = r < 0 ? r : 0;	/* 1: already in cur/ */
	if (fd >= 0) {
		p->tmp = xstrdup(tmp);
		p->dst = xstrdup(dst);
		p->dir = xstrdup(dir);
		p->newdir_path = xstrdup(newdir);
		p->folder = folder != NULL;
	}
	*ticket = b->npend++;
	return r < 0 ? r : 0;
}

/* maildir_batch_result - the outcome of a ticket after the commit */
int
maildir_batch_result(const struct maildir_batch *b, size_t ticket)
{
	if (ticket >= b->npend)
		return E_INVAL;
	return b->pend[ticket].result;
}

/* maildir_batch_commit - fsync every new/ directory touched */
int
maildir_batch_commit(struct maildir_batch *b)
{
	int *fds, *errs, first = 0;
	size_t i, n = 0, *idx;

	if (b->committed)
		forget_pend(b);
	flush_pend(b);
	/* One fsync per new/ directory, all of them in flight together. */
	fds = xcalloc(b->ndirs + 1, sizeof(int));
	errs = xcalloc(b->ndirs + 1, sizeof(int));
	idx = xcalloc(b->ndirs + 1, sizeof(size_t));
	for (i = 0; i < b->ndirs; i++) {
		fds[n] = open(b->dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[n] < 0) {
			b->dir_err[i] = errno_to_err(errno);
			continue;
		}
		idx[n++] = i;
	}
	sync_many(fds, errs, n, true);
	for (i = 0; i < n; i++)
		if (errs[i] != 0)
			b->dir_err[idx[i]] = errno_to_err(errs[i]);
	for (i = 0; i < b->ndirs; i++) {
		if (b->dir_err[i] < 0) {
			log_err(NULL, "maildir fsync dir=%s error=%s",
			    b->dirs[i], err_str(b->dir_err[i]));
			if (first == 0)
				first = b->dir_err[i];
		}
	}
	for (i = 0; i < b->npend; i++) {
		struct pend *p = &b->pend[i];

		if (p->linked && b->dir_err[p->newdir] < 0)
			p->result = b->dir_err[p->newdir];
		if (p->result < 0 && first == 0)
			first = p->result;
	}
	for (i = 0; i < b->ndirs; i++)
		free(b->dirs[i]);
	b->ndirs = 0;
	b->committed = true;
	free(fds);
	free(errs);
	free(idx);
	return first;
}

/* maildir_deliver - folder is NULL for the inbox, "Junk" for .Junk */
int
maildir_deliver(const char *root, const char *address, const char *folder,
    const char *queue_id, unsigned rcpt_index, const char *msg, size_t len)
{
	struct maildir_batch *b = maildir_batch_new(root);
	int r;

	r = maildir_batch_deliver(b, address, folder, queue_id, rcpt_index,
	    msg, len);
	if (r == 0)
		r = maildir_batch_commit(b);
	maildir_batch_free(b);
	return r;
}
