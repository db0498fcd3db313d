/*
 * queue/qmgr.h - the queue manager's core: local delivery out of the spool.
 *
 * The queue-manager process calls qmgr_run_once() whenever a worker wakes
 * it (and when qmgr_next_due() says a retry is due).  Each run walks the
 * spool oldest first and, in batches, delivers every recipient whose
 * domain is local to its Maildir, fsyncs each touched new/ directory once
 * per batch, and only then edits the spool:
 *	- no recipient left: the file is unlinked (queue/ fsync'ed once per
 *	  batch);
 *	- non-local recipients left (mail from authenticated submitters): the
 *	  file is rewritten with only those, marked SPOOL_F_LOCAL_DONE, and
 *	  stays queued for the outbound work; it is never delivered locally
 *	  again;
 *	- a local recipient that cannot be a Maildir path (permanent) is kept
 *	  in the file with SPOOL_RCPT_FAILED, for the bounce work to come;
 *	- a temporary failure (I/O error, disk full) leaves the file as it is;
 *	  it is retried later with exponential backoff, and deliveries that
 *	  already happened are not duplicated (Maildir names are derived from
 *	  the queue id and recipient index).
 * A file that fails validation is moved to corrupt/ and logged.
 *
 * qmgr_list() is the `smtpsd --queue` listing; it needs only the spool.
 * The backoff state lives in memory: after a restart every queued message
 * is tried at once.
 */
#ifndef QUEUE_QMGR_H
#define QUEUE_QMGR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "queue/spool.h"

struct qmgr;

struct qmgr_params {
	const char *mail_dir;	/* Maildir root: MAILDIR/DOMAIN/LOCAL/ */
	/* is_local - domain (any case) is delivered to a local Maildir */
	bool (*is_local)(void *arg, const char *domain);
	/* folder - the Maildir++ folder for recipient i of m, NULL for the
	   inbox ("Junk" for .Junk); NULL hook: always the inbox.  This is
	   where a later filter files spam. */
	const char *(*folder)(void *arg, const struct spool_message *m,
	    size_t rcpt);
	/* now - unix seconds; NULL hook: time(NULL).  Tests move time. */
	int64_t (*now)(void *arg);
	void *arg;		/* passed to every hook */
	unsigned retry_min;	/* first retry delay, seconds (0: 60) */
	unsigned retry_max;	/* longest retry delay, seconds (0: 3600) */
	unsigned batch;		/* messages per fsync round (0: 64) */
};

/* qmgr_new_params - a queue manager on sp; p is copied (mail_dir too) */
struct qmgr *
qmgr_new_params(struct spool *sp, const struct qmgr_params *p);
void
qmgr_free(struct qmgr *q);

/* qmgr_config_is_local - is_local hook asking the configuration */
static inline bool
qmgr_config_is_local(void *arg, const char *domain)
{
	return config_is_local_domain((const struct config *)arg, domain);
}

/* qmgr_config_folder - folder hook: a message the receiver quarantined
   (DMARC, SPOOL_F_QUARANTINE) goes to the recipient's Junk folder */
static inline const char *
qmgr_config_folder(void *arg, const struct spool_message *m, size_t rcpt)
{
	return (m->flags & SPOOL_F_QUARANTINE) ? "Junk" : NULL;
}

/* qmgr_new - a queue manager delivering cfg's local domains into
   cfg->mail_dir; quarantined messages into Junk, the rest the inbox.  Inline so that code which never calls it
   does not need the config module at link time. */
static inline struct qmgr *
qmgr_new(struct spool *sp, const struct config *cfg)
{
	struct qmgr_params p = {
		.mail_dir = cfg->mail_dir,
		.is_local = qmgr_config_is_local,
		.folder = qmgr_config_folder,
		.arg = (void *)cfg,
	};

	return qmgr_new_params(sp, &p);
}

/* qmgr_run_once - one pass over the spool.  *delivered counts messages
   whose local delivery finished in this pass (removed, or left for
   outbound), *deferred those left for a retry.  0, or E_IO if the spool
   could not be read. */
int
qmgr_run_once(struct qmgr *q, unsigned *delivered, unsigned *deferred);

/* qmgr_next_due - when the earliest deferred message is due (unix
   seconds); false when nothing waits for a retry */
bool
qmgr_next_due(const struct qmgr *q, int64_t *when);

/* qmgr_list - the `smtpsd --queue` listing: one line per message
	ID ARRIVAL SIZE STATE <sender> <rcpt>...
   (STATE: queued, outbound, corrupt; a failed recipient is followed by
   "(failed)") and a closing "-- N messages, B bytes".  0 or E_IO. */
int
qmgr_list(struct spool *sp, FILE *out);

#endif
