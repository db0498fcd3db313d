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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/spool.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define NAME_PART_MAX 255	/* NAME_MAX: one path component */
#define QID_MAX 31

struct maildir_batch {
	char *root;
	char host[NAME_PART_MAX + 1];
	bool recheck;		/* look in cur/ too (see maildir.h) */
	char **dirs;		/* new/ directories to fsync at commit */
	size_t ndirs;
	size_t capdirs;
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

/* maildir_batch_free - forget the batch (commit first) */
void
maildir_batch_free(struct maildir_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->ndirs; i++)
		free(b->dirs[i]);
	free(b->dirs);
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

/* remember_dir - add a new/ directory to the commit list (once) */
static void
remember_dir(struct maildir_batch *b, const char *dir)
{
	size_t i;

	for (i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], dir) == 0)
			return;
	if (b->ndirs == b->capdirs) {
		b->capdirs = b->capdirs ? b->capdirs * 2 : 16;
		b->dirs = xrealloc(b->dirs, b->capdirs * sizeof(*b->dirs));
	}
	b->dirs[b->ndirs++] = xstrdup(dir);
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

/* write_tmp - create (or truncate a crash's leftover) tmp file and write
   the whole message, fdatasync'ed; ENOENT when the maildir is missing */
static int
write_tmp(const char *path, const char *p, size_t n, int *err)
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
		if (w < 0)
			goto fail;
		p += w;
		n -= (size_t)w;
	}
	if (fdatasync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	*err = errno;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
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

/* maildir_batch_deliver - write, fdatasync and link one message */
int
maildir_batch_deliver(struct maildir_batch *b, const char *address,
    const char *folder, const char *queue_id, unsigned rcpt_index,
    const char *msg, size_t len)
{
	char dir[PATH_MAX], base[NAME_PART_MAX + 1];
	char tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];
	int64_t t;
	int r, e = 0, tries;

	if (!qid_ok(queue_id))
		return E_INVAL;
	if ((r = maildir_path(b->root, address, folder, dir, sizeof(dir))) < 0)
		return r;
	t = spool_id_time(queue_id);
	to_lf(b, msg, len);
	if ((size_t)snprintf(base, sizeof(base), "%lld.%s_%u.%s",
	    (long long)(t < 0 ? 0 : t), queue_id, rcpt_index, b->host) >=
	    sizeof(base) - 48)
		return E_INVAL;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, base) >=
	    sizeof(tmp) ||
	    (size_t)snprintf(newdir, sizeof(newdir), "%s/new", dir) >=
	    sizeof(newdir) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/new/%s,S=%zu,W=%zu", dir,
	    base, b->conv_len, b->conv_crlf_len) >= sizeof(dst))
		return E_INVAL;

	/* After a crash the reader may have moved our earlier copy from new/
	   to cur/; the caller asks for this (rare, costly) look when the
	   message may have been delivered before. */
	if (b->recheck && in_cur(dir, base)) {
		log_info(queue_id, "maildir already in cur/ index=%u",
		    rcpt_index);
		return 0;
	}
	for (tries = 0; tries < 2; tries++) {
		if (write_tmp(tmp, b->conv, b->conv_len, &e) == 0)
			break;
		if (e != ENOENT || tries > 0)
			goto fail;
		if ((r = make_maildir(dir, folder != NULL)) < 0) {
			e = r == E_NOSPACE ? ENOSPC : EIO;
			goto fail;
		}
	}
	for (tries = 0; tries < 2; tries++) {
		if (link(tmp, dst) == 0 || errno == EEXIST)
			break;	/* EEXIST: delivered before a crash */
		e = errno;
		if (e != ENOENT || tries > 0 ||
		    make_maildir(dir, folder != NULL) < 0) {
			unlink(tmp);
			goto fail;
		}
	}
	unlink(tmp);
	remember_dir(b, newdir);
	return 0;
fail:
	{
		char esc[128];

		log_escape(esc, sizeof(esc), address, strlen(address));
		log_warn(queue_id, "maildir deliver to=\"%s\" error=\"%s\"",
		    esc, strerror(e));
	}
	return errno_to_err(e);
}

/* maildir_batch_commit - fsync every new/ directory touched */
int
maildir_batch_commit(struct maildir_batch *b)
{
	size_t i;
	int r, first = 0;

	for (i = 0; i < b->ndirs; i++) {
		if ((r = sync_dir(b->dirs[i])) < 0 && first == 0) {
			log_err(NULL, "maildir fsync dir=%s error=%s",
			    b->dirs[i], err_str(r));
			first = r;
		}
		free(b->dirs[i]);
	}
	b->ndirs = 0;
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
