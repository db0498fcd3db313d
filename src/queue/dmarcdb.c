/*
 * queue/dmarcdb.c - DMARC evaluations in SQLite (see dmarcdb.h).
 */
#include "queue/dmarcdb.h"

#include <stdlib.h>

#include <sqlite3.h>

#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* Writers in other workers hold the lock for one short transaction. */
#define DMARCDB_BUSY_MS 5000

struct dmarcdb {
	sqlite3 *db;
	sqlite3_stmt *ins, *ins_dkim;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS dmarc_eval ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " queue_id TEXT,"
    " source_ip TEXT NOT NULL,"
    " helo TEXT,"
    " envelope_from TEXT,"
    " header_from TEXT,"
    " policy_domain TEXT,"
    " spf_domain TEXT,"
    " spf_result TEXT,"
    " spf_aligned INTEGER NOT NULL DEFAULT 0,"
    " dkim_aligned INTEGER NOT NULL DEFAULT 0,"
    " dmarc_result TEXT NOT NULL,"
    " policy TEXT,"
    " disposition TEXT NOT NULL,"
    " override TEXT,"
    " action TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dmarc_eval_domain_time"
    " ON dmarc_eval(header_from, time);"
    "CREATE TABLE IF NOT EXISTS dmarc_dkim ("
    " eval_id INTEGER NOT NULL REFERENCES dmarc_eval(id),"
    " domain TEXT,"
    " selector TEXT,"
    " result TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dmarc_dkim_eval ON dmarc_dkim(eval_id);";

static const char insert_sql[] =
    "INSERT INTO dmarc_eval (time, queue_id, source_ip, helo,"
    " envelope_from, header_from, policy_domain, spf_domain, spf_result,"
    " spf_aligned, dkim_aligned, dmarc_result, policy, disposition,"
    " override, action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
    " ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char insert_dkim_sql[] =
    "INSERT INTO dmarc_dkim (eval_id, domain, selector, result)"
    " VALUES (?1, ?2, ?3, ?4)";

/* dmarcdb_open - see dmarcdb.h */
int
dmarcdb_open(struct dmarcdb **out, const char *path)
{
	struct dmarcdb *d = xcalloc(1, sizeof(*d));
	char *msg = NULL;

	*out = NULL;
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(d->db, DMARCDB_BUSY_MS);
	if (sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(d->db, insert_sql, -1, &d->ins, NULL) !=
	    SQLITE_OK || sqlite3_prepare_v2(d->db, insert_dkim_sql, -1,
	    &d->ins_dkim, NULL) != SQLITE_OK)
		goto fail;
	*out = d;
	return 0;
fail:
	log_err(NULL, "dmarcdb open path=%s: %s", path, msg ? msg :
	    d->db ? sqlite3_errmsg(d->db) : "out of memory");
	sqlite3_free(msg);
	dmarcdb_close(d);
	return E_IO;
}

/* dmarcdb_close - finalise and close; NULL does nothing */
void
dmarcdb_close(struct dmarcdb *d)
{
	if (d == NULL)
		return;
	sqlite3_finalize(d->ins);
	sqlite3_finalize(d->ins_dkim);
	sqlite3_close(d->db);
	free(d);
}

/* bind_text - a string or NULL */
static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* insert_one - one record and its signatures */
static int
insert_one(struct dmarcdb *d, const struct dmarcdb_record *r)
{
	sqlite3_stmt *st = d->ins;
	sqlite3_int64 id;
	size_t i;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, r->time);
	bind_text(st, 2, r->queue_id);
	bind_text(st, 3, r->source_ip ? r->source_ip : "");
	bind_text(st, 4, r->helo);
	bind_text(st, 5, r->envelope_from);
	bind_text(st, 6, r->header_from);
	bind_text(st, 7, r->policy_domain);
	bind_text(st, 8, r->spf_domain);
	bind_text(st, 9, r->spf_result);
	sqlite3_bind_int(st, 10, r->spf_aligned);
	sqlite3_bind_int(st, 11, r->dkim_aligned);
	bind_text(st, 12, r->dmarc_result ? r->dmarc_result : "none");
	bind_text(st, 13, r->policy);
	bind_text(st, 14, r->disposition ? r->disposition : "none");
	bind_text(st, 15, r->override);
	bind_text(st, 16, r->action ? r->action : "accepted");
	if (sqlite3_step(st) != SQLITE_DONE)
		return E_IO;
	id = sqlite3_last_insert_rowid(d->db);
	for (i = 0; i < r->ndkim; i++) {
		st = d->ins_dkim;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, r->dkim[i].domain);
		bind_text(st, 3, r->dkim[i].selector);
		bind_text(st, 4, r->dkim[i].result ? r->dkim[i].result :
		    "none");
		if (sqlite3_step(st) != SQLITE_DONE)
			return E_IO;
	}
	return 0;
}

/* dmarcdb_insert - see dmarcdb.h */
int
dmarcdb_insert(struct dmarcdb *d, struct dmarcdb_record *const *recs,
    size_t n)
{
	size_t i;
	int r = 0;

	if (n == 0)
		return 0;
	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		log_err(NULL, "dmarcdb begin: %s", sqlite3_errmsg(d->db));
		return E_IO;
	}
	for (i = 0; i < n && r == 0; i++)
		r = insert_one(d, recs[i]);
	if (r == 0 && sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) ==
	    SQLITE_OK)
		return 0;
	log_err(NULL, "dmarcdb insert: %s", sqlite3_errmsg(d->db));
	(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return E_IO;
}

/* dmarcdb_record_free - see dmarcdb.h */
void
dmarcdb_record_free(struct dmarcdb_record *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->queue_id);
	free(r->source_ip);
	free(r->helo);
	free(r->envelope_from);
	free(r->header_from);
	free(r->policy_domain);
	free(r->spf_domain);
	free(r->spf_result);
	free(r->dmarc_result);
	free(r->policy);
	free(r->disposition);
	free(r->override);
	free(r->action);
	for (i = 0; i < r->ndkim; i++) {
		free(r->dkim[i].domain);
		free(r->dkim[i].selector);
		free(r->dkim[i].result);
	}
	free(r->dkim);
	free(r);
}
