/* test_dmarcdb - DMARC evaluations stored in SQLite, read back */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue/dmarcdb.h"
#include "util/err.h"
#include "util/xmalloc.h"
#include "testlib.h"

/* make_record - a record with ndkim signatures named d0.example ... */
static struct dmarcdb_record *
make_record(const char *qid, const char *from, const char *result,
    const char *disp, size_t ndkim)
{
	struct dmarcdb_record *r = xcalloc(1, sizeof(*r));
	size_t i;

	r->time = 1700000000;
	r->queue_id = qid ? xstrdup(qid) : NULL;
	r->source_ip = xstrdup("192.0.2.1");
	r->helo = xstrdup("mail.example");
	r->envelope_from = xstrdup("a@bounce.example");
	r->header_from = xstrdup(from);
	r->policy_domain = xstrdup(from);
	r->spf_domain = xstrdup("bounce.example");
	r->spf_result = xstrdup("pass");
	r->dmarc_result = xstrdup(result);
	r->policy = xstrdup("reject");
	r->disposition = xstrdup(disp);
	r->action = xstrdup(qid ? "accepted" : "rejected");
	r->dkim = xcalloc(ndkim + 1, sizeof(*r->dkim));
	r->ndkim = ndkim;
	for (i = 0; i < ndkim; i++) {
		r->dkim[i].domain = xasprintf("d%zu.example", i);
		r->dkim[i].selector = xstrdup("sel");
		r->dkim[i].result = xstrdup(i ? "fail" : "pass");
	}
	return r;
}

/* query_text - the first column of the first row, or NULL */
static char *
query_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *out = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static const struct {
	const char *name, *sql, *want;
} reads[] = {
	{ "two evaluations", "SELECT count(*) FROM dmarc_eval", "2" },
	{ "three signatures", "SELECT count(*) FROM dmarc_dkim", "3" },
	{ "WAL mode", "PRAGMA journal_mode", "wal" },
	{ "accepted one keeps its queue id",
	    "SELECT queue_id FROM dmarc_eval WHERE header_from='ok.example'",
	    "Q1" },
	{ "rejected one has no queue id",
	    "SELECT coalesce(queue_id,'NULL') FROM dmarc_eval "
	    "WHERE header_from='bad.example'", "NULL" },
	{ "rejected one's action",
	    "SELECT action FROM dmarc_eval WHERE header_from='bad.example'",
	    "rejected" },
	{ "disposition", "SELECT disposition FROM dmarc_eval WHERE "
	    "header_from='bad.example'", "reject" },
	{ "signatures belong to their evaluation",
	    "SELECT group_concat(k.domain || '=' || k.result, ' ') FROM "
	    "dmarc_dkim k JOIN dmarc_eval e ON k.eval_id = e.id WHERE "
	    "e.header_from='bad.example'", "d0.example=pass d1.example=fail" },
	{ "source ip", "SELECT source_ip FROM dmarc_eval LIMIT 1",
	    "192.0.2.1" },
	{ "spf result", "SELECT spf_domain || ' ' || spf_result FROM "
	    "dmarc_eval LIMIT 1", "bounce.example pass" },
};

int
main(void)
{
	char dir[] = "/tmp/test_dmarcdb.XXXXXX", *path, *got;
	struct dmarcdb *d = NULL;
	struct dmarcdb_record *recs[2];
	sqlite3 *db = NULL;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	path = xasprintf("%s/dmarc.sqlite", dir);
	CHECK_INT(dmarcdb_open(&d, path), 0, "open creates the database");
	recs[0] = make_record("Q1", "ok.example", "pass", "none", 1);
	recs[1] = make_record(NULL, "bad.example", "fail", "reject", 2);
	if (d != NULL)
		CHECK_INT(dmarcdb_insert(d, recs, 2), 0, "insert a batch");
	dmarcdb_close(d);
	dmarcdb_record_free(recs[0]);
	dmarcdb_record_free(recs[1]);
	dmarcdb_record_free(NULL);
	/* A second open finds the schema in place. */
	d = NULL;
	CHECK_INT(dmarcdb_open(&d, path), 0, "reopen");
	CHECK_INT(dmarcdb_insert(d, NULL, 0), 0, "empty batch");
	dmarcdb_close(d);
	CHECK_INT(dmarcdb_open(&d, "/nonexistent-dir/x/dmarc.sqlite"),
	    E_IO, "unwritable path fails");
	dmarcdb_close(d);

	if (sqlite3_open(path, &db) == SQLITE_OK) {
		for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
			got = query_text(db, reads[i].sql);
			CHECK_STR(got, reads[i].want, reads[i].name);
			free(got);
		}
	} else
		CHECK(false, "read the database back");
	sqlite3_close(db);
	{
		char *cmd = xasprintf("rm -rf '%s'", dir);

		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
		free(cmd);
	}
	free(path);
	return test_done();
}
