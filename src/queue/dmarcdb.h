/*
 * queue/dmarcdb.h - the record of every DMARC evaluation, for the
 * aggregate reports (RFC 7489 7.2) a later issue sends.
 *
 * One SQLite database, SPOOL/dmarc.sqlite in WAL mode, shared by the
 * workers: each worker's helper thread opens it and inserts a batch of
 * records in one transaction, so the event loop and the 250 never wait
 * for it.  Rejected messages are recorded too (queue_id NULL then).
 * The schema (docs/INBOUND.md):
 *
 *	dmarc_eval(id INTEGER PRIMARY KEY, time INTEGER, queue_id TEXT,
 *	    source_ip TEXT, helo TEXT, envelope_from TEXT,
 *	    header_from TEXT, policy_domain TEXT, spf_domain TEXT,
 *	    spf_result TEXT, spf_aligned INTEGER, dkim_aligned INTEGER,
 *	    dmarc_result TEXT, policy TEXT, disposition TEXT,
 *	    override TEXT, action TEXT)
 *	dmarc_dkim(eval_id INTEGER, domain TEXT, selector TEXT,
 *	    result TEXT)	-- one row per DKIM signature
 *
 * Not thread-safe per handle: one handle per thread.
 */
#ifndef QUEUE_DMARCDB_H
#define QUEUE_DMARCDB_H

#include <stddef.h>
#include <stdint.h>

struct dmarcdb;

struct dmarcdb_dkim {
	char *domain, *selector, *result;
};

/* One evaluation.  Every string is owned (NULL allowed). */
struct dmarcdb_record {
	int64_t time;		/* unix seconds */
	char *queue_id;		/* NULL when the message was refused */
	char *source_ip, *helo, *envelope_from;
	char *header_from, *policy_domain;
	char *spf_domain, *spf_result;
	int spf_aligned, dkim_aligned;
	char *dmarc_result;	/* pass fail none temperror permerror */
	char *policy;		/* what the domain asked: none quarantine
				   reject, NULL without a record */
	char *disposition;	/* what we did: none quarantine reject */
	char *override;		/* trusted_forwarder, local_policy, ... */
	char *action;		/* the SMTP outcome: accepted, junk,
				   rejected, deferred */
	struct dmarcdb_dkim *dkim;
	size_t ndkim;
};

/* dmarcdb_open - open or create the database at path (WAL, schema) */
int
dmarcdb_open(struct dmarcdb **out, const char *path);
void
dmarcdb_close(struct dmarcdb *db);
/* dmarcdb_insert - store n records in one transaction; 0 or E_IO */
int
dmarcdb_insert(struct dmarcdb *db, struct dmarcdb_record *const *recs,
    size_t n);
/* dmarcdb_record_free - free a record and its strings; NULL is fine */
void
dmarcdb_record_free(struct dmarcdb_record *r);

#endif
