/*
 * queue/spool.h - the durable spool: nothing acknowledged is lost.
 *
 * Layout under the spool directory:
 *	tmp/	files being written (discarded at start)
 *	queue/	committed messages, one file each, named by queue id
 *	corrupt/ files that failed validation (kept for the admin, logged)
 *	free/	delivered files kept for reuse (emptied at start)
 *
 * A spool file is a sequence of typed, length-prefixed records:
 *	u8 type, u32 length (big-endian), length bytes
 * in this order: VERSION, ENVELOPE fields (FROM, RCPT..., HELO, CLIENT,
 * AUTH, PROTO, ARRIVAL...), MESSAGE, then END holding a CRC-32C (or
 * SHA-256 prefix) over every byte before it.  A file without a valid END
 * is not a message.  CR, LF and NUL never appear in an envelope field.
 *
 * Commit (workers):
 *	spool_write()   - write the file into tmp/ (no fsync; fast)
 *	spool_sync()    - fdatasync one written file (may run on a thread)
 *	spool_publish() - rename a batch into queue/, then fsync queue/ once
 * Only after spool_publish() returns 0 for an entry may the 250 be sent.
 * Concurrent commits share the directory fsync (group commit); each file
 * still gets its own fdatasync.  Disk full / I/O error: E_NOSPACE / E_IO,
 * and the tmp file is removed.
 *
 * Read (queue manager): spool_scan(), spool_load(), spool_remove(),
 * spool_rewrite() (after partial delivery, keeps the undelivered recipients).
 *
 * docs/SPOOL.md gives the file format byte by byte, the commit protocol and
 * the recovery rules.  The checksum is CRC-32C (queue/crc32c.h).
 */
#ifndef QUEUE_SPOOL_H
#define QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct spool_envelope {
	char *mail_from;	/* "" for <> */
	char **rcpts;
	size_t nrcpts;
	char *helo;
	char *client_ip;
	char *auth_user;	/* NULL if none */
	char *protocol;		/* ESMTPS ... */
	bool smtputf8;
	bool body_8bit;
	int64_t arrival;	/* unix seconds */
	/* DMARC quarantine (issue 4): deliver into the Junk folder.  Stored
	   as SPOOL_F_QUARANTINE in the file's state record. */
	bool quarantine;
};

struct spool_entry {
	char id[32];		/* queue id, also the file name */
	char tmp_path[512];
	int fd;			/* open on the tmp file until published */
	int error;		/* 0, or why this entry failed */
	/* Written over a recycled file of the same size and blocks: its
	   metadata did not change, so writing its data back and one cache
	   flush for the whole batch make it durable (spool_sync_batch). */
	bool overwrite;
};

/* spool_message.flags */
#define SPOOL_F_LOCAL_DONE	0x1	/* local delivery finished; the
					   recipients left wait for outbound */
#define SPOOL_F_QUARANTINE	0x2	/* the receiver quarantined it (DMARC):
					   local delivery goes to Junk */

/* spool_message.rcpt_status[i] */
enum spool_rcpt_status {
	SPOOL_RCPT_PENDING = 0,
	SPOOL_RCPT_FAILED = 1,	/* failed permanently; kept for a DSN */
};

struct spool_message {
	char id[32];
	struct spool_envelope env;
	char *msg;		/* the message as received, with our Received */
	size_t msg_len;
	/* Added after the first contract; zero when read from a file the
	   receiver wrote.  spool_rewrite() stores them. */
	unsigned flags;		/* SPOOL_F_* */
	unsigned char *rcpt_status; /* nrcpts entries, or NULL: all pending */
	size_t file_size;	/* bytes of the file it was read from */
	void *image;		/* private: the file's bytes (msg points in) */
};

/* Limits a valid spool file respects (checked on write and on read). */
#define SPOOL_FIELD_MAX	1000	/* RFC 5321 4.5.3.1.6: a text line */
#define SPOOL_RCPTS_MAX	10000
#define SPOOL_FILE_MAX	((size_t)1 << 30)
#define SPOOL_VERSION	2	/* written; version 1 files are read too */

struct spool;

int spool_open(struct spool **out, const char *dir);
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/* spool_new_id - a unique queue id (time, pid, counter; base32); 16
   characters of base32hex that sort by time.  sp is unused (may be NULL) */
void spool_new_id(struct spool *sp, char id[32]);

/* spool_write - write envelope + message parts into tmp/ (no fsync) */
int spool_write(struct spool *sp, const struct spool_envelope *env,
    const void *const *parts, const size_t *lens, size_t nparts,
    struct spool_entry *e);
/* spool_write_named - the same under an id the caller took from
   spool_new_id() and already wrote into the message (Received header);
   the id is never retried, so a taken name is E_IO, never an overwrite */
int spool_write_named(struct spool *sp, const char *id,
    const struct spool_envelope *env, const void *const *parts,
    const size_t *lens, size_t nparts, struct spool_entry *e);
/* spool_sync - fdatasync the entry's file (thread-safe, blocking) */
int spool_sync(struct spool_entry *e);
/* spool_sync_batch - make every entry's file ready to publish: the
   others get an fdatasync each, several at a time on the fan-out pool
   (concurrent fdatasyncs share the file system's commits); entries
   written over a recycled file of the same shape (e->overwrite) have
   their data written back and waited for, and become durable with the
   cache flush of spool_publish()'s directory fsync, which must follow.
   Entries whose error is already set are left alone; returns the first
   error. */
int spool_sync_batch(struct spool *sp, struct spool_entry *const *e,
    size_t n);
/* spool_publish - rename each synced entry (error == 0) into queue/ and
   fsync the directory once; failed entries are removed.  Thread-safe. */
int spool_publish(struct spool *sp, struct spool_entry *const *e, size_t n);
/* spool_counters - how many publishes renamed into queue/ and how many
   directory fsyncs covered them (group commit makes the second smaller) */
void spool_counters(struct spool *sp, uint64_t *renames,
    uint64_t *dir_syncs);
/* spool_writes_in_place - may a same-size recycled file skip its own
   fdatasync here (see docs/SPOOL.md, "Written over in place")? */
bool spool_writes_in_place(const struct spool *sp);
/* spool_abort - remove an unpublished entry */
void spool_abort(struct spool *sp, struct spool_entry *e);

/* spool_recover - at start: empty tmp/, validate queue/ files, move any
   invalid one to corrupt/ (logged); returns the number quarantined */
int spool_recover(struct spool *sp);
/* spool_scan - ids of the files in queue/, oldest first; free with
   spool_ids_free */
int spool_scan(struct spool *sp, char ***ids, size_t *n);
void spool_ids_free(char **ids, size_t n);
/* spool_load - read and validate one file; E_CORRUPT if invalid */
int spool_load(struct spool *sp, const char *id, struct spool_message *m);
void spool_message_fini(struct spool_message *m);
/* spool_rewrite - atomically replace the file with fewer recipients */
int spool_rewrite(struct spool *sp, const struct spool_message *m);
/* spool_remove - unlink a delivered message and fsync queue/ */
int spool_remove(struct spool *sp, const char *id);
/* spool_quarantine - move a file to corrupt/ */
int spool_quarantine(struct spool *sp, const char *id);

/* spool_remove_batch - unlink several delivered messages, then fsync
   queue/ once; returns the first error (every id is still tried) */
int spool_remove_batch(struct spool *sp, char *const *ids, size_t n);
/* spool_parse - validate a file image held in memory, read from the file
   named id (a version 2 file's checksum covers it; NULL: unknown, which
   only a version 1 file passes).  With m != NULL the message is filled in
   (strings allocated; m->msg points into p, so p must outlive m; free
   with spool_message_fini).  E_CORRUPT if invalid, *why (if given) names
   the first problem found. */
int spool_parse(const void *p, size_t n, const char *id,
    struct spool_message *m, const char **why);
/* spool_id_is_valid - id has the shape spool_new_id() gives */
bool spool_id_is_valid(const char *id);
/* spool_id_time - the unix seconds encoded in a valid id, else -1 */
int64_t spool_id_time(const char *id);

#endif
