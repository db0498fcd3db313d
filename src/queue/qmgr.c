/*
 * queue/qmgr.c - the queue manager's core: batches of local deliveries.
 *
 * Why the order of operations makes delivery exactly once: a message's
 * spool file is edited (removed or rewritten) only after the Maildir
 * new/ directories holding its copies have been fsync'ed.  A crash before
 * that point leaves the spool file as it was, and the next run repeats the
 * deliveries; each one finds its file already in new/ (same queue id, same
 * recipient index, same name) and does not copy it again.  A crash after
 * it repeats nothing, because the spool no longer names those recipients.
 */
#include "queue/qmgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/maildir.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define RETRY_MIN_DEFAULT 60
#define RETRY_MAX_DEFAULT 3600
#define BATCH_DEFAULT 64
#define BATCH_MAX 1024

/* What the manager remembers about a message between runs. */
struct qstate {
	char id[32];
	int64_t next;		/* retry not before (deferred) */
	unsigned attempts;	/* temporary failures so far */
	bool parked;		/* local delivery done; waits for outbound */
	bool seen;		/* present in this run's scan */
};

struct qmgr {
	struct spool *sp;
	struct qmgr_params p;
	char *mail_dir;
	struct maildir_batch *mb;
	int64_t started;	/* real time qmgr_new ran */
	struct qstate *st;	/* sorted by id */
	size_t nst;
	size_t capst;
};

/* One message of the batch being delivered. */
struct job {
	struct spool_message m;
	unsigned char *done;	/* per rcpt: 1 delivered */
	unsigned char *failed;	/* per rcpt: 1 failed for good */
	size_t *ticket;		/* per rcpt: maildir ticket, NO_TICKET */
	const char **folder;	/* per rcpt: the folder it went to */
	bool temp;		/* a temporary failure: retry the message */
};

#define NO_TICKET ((size_t)-1)

/* qmgr_new_params - a queue manager on sp */
struct qmgr *
qmgr_new_params(struct spool *sp, const struct qmgr_params *p)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));

	q->sp = sp;
	q->p = *p;
	q->mail_dir = xstrdup(p->mail_dir ? p->mail_dir : "mail");
	q->p.mail_dir = q->mail_dir;
	if (q->p.retry_min == 0)
		q->p.retry_min = RETRY_MIN_DEFAULT;
	if (q->p.retry_max == 0)
		q->p.retry_max = RETRY_MAX_DEFAULT;
	if (q->p.retry_max < q->p.retry_min)
		q->p.retry_max = q->p.retry_min;
	if (q->p.batch == 0)
		q->p.batch = BATCH_DEFAULT;
	if (q->p.batch > BATCH_MAX)
		q->p.batch = BATCH_MAX;
	q->mb = maildir_batch_new(q->mail_dir);
	q->started = (int64_t)time(NULL);
	return q;
}

/* qmgr_free - release the manager (the spool stays open) */
void
qmgr_free(struct qmgr *q)
{
	if (q == NULL)
		return;
	maildir_batch_free(q->mb);
	free(q->st);
	free(q->mail_dir);
	free(q);
}

/* now - the hook's clock or the system's */
static int64_t
now(const struct qmgr *q)
{
	return q->p.now ? q->p.now(q->p.arg) : (int64_t)time(NULL);
}

/* state_find - binary search; the slot where id is or would go */
static size_t
state_find(const struct qmgr *q, const char *id, bool *found)
{
	size_t lo = 0, hi = q->nst, mid;
	int c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(q->st[mid].id, id);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* state_get - the state of id, created when absent */
static struct qstate *
state_get(struct qmgr *q, const char *id)
{
	bool found;
	size_t i = state_find(q, id, &found);

	if (found)
		return &q->st[i];
	if (q->nst == q->capst) {
		q->capst = q->capst ? q->capst * 2 : 64;
		q->st = xrealloc(q->st, q->capst * sizeof(*q->st));
	}
	memmove(&q->st[i + 1], &q->st[i], (q->nst - i) * sizeof(*q->st));
	memset(&q->st[i], 0, sizeof(q->st[i]));
	snprintf(q->st[i].id, sizeof(q->st[i].id), "%s", id);
	q->nst++;
	return &q->st[i];
}

/* state_prune - forget messages that have left the spool */
static void
state_prune(struct qmgr *q)
{
	size_t i, o = 0;

	for (i = 0; i < q->nst; i++)
		if (q->st[i].seen)
			q->st[o++] = q->st[i];
	q->nst = o;
}

/* defer - schedule a retry with exponential backoff */
static void
defer(struct qmgr *q, const char *id, int64_t t)
{
	struct qstate *s = state_get(q, id);
	uint64_t d = q->p.retry_min;
	unsigned i;

	s->seen = true;
	s->attempts++;
	for (i = 1; i < s->attempts && d < q->p.retry_max; i++)
		d *= 2;
	if (d > q->p.retry_max)
		d = q->p.retry_max;
	s->next = t + (int64_t)d;
	log_info(id, "qmgr deferred attempts=%u retry_in=%llus", s->attempts,
	    (unsigned long long)d);
}

/* park - local delivery is over; outbound work will take it from here */
static void
park(struct qmgr *q, const char *id)
{
	struct qstate *s = state_get(q, id);

	s->seen = true;
	s->parked = true;
	s->attempts = 0;
}

/* rcpt_domain - the domain of an address (after the last '@') */
static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* deliver_job - queue a Maildir delivery for every pending local
   recipient of one message (made durable by the batch's commit) */
static void
deliver_job(struct qmgr *q, struct job *j)
{
	struct spool_message *m = &j->m;
	const char *folder;
	size_t i;
	int r;

	j->done = xcalloc(m->env.nrcpts, 1);
	j->failed = xcalloc(m->env.nrcpts, 1);
	j->ticket = xcalloc(m->env.nrcpts, sizeof(size_t));
	j->folder = xcalloc(m->env.nrcpts, sizeof(char *));
	for (i = 0; i < m->env.nrcpts; i++)
		j->ticket[i] = NO_TICKET;
	for (i = 0; i < m->env.nrcpts; i++) {
		if (m->rcpt_status && m->rcpt_status[i] == SPOOL_RCPT_FAILED) {
			j->failed[i] = 1;
			continue;
		}
		if (q->p.is_local == NULL ||
		    !q->p.is_local(q->p.arg, rcpt_domain(m->env.rcpts[i])))
			continue;
		folder = q->p.folder ? q->p.folder(q->p.arg, m, i) : NULL;
		j->folder[i] = folder;
		r = maildir_batch_add(q->mb, m->env.rcpts[i], folder, m->id,
		    (unsigned)i, m->msg, m->msg_len, &j->ticket[i]);
		if (r < 0 && r != E_INVAL)
			break;	/* the whole message is retried */
	}
}

/* collect_job - after the commit: what became of each recipient */
static void
collect_job(struct qmgr *q, struct job *j)
{
	struct spool_message *m = &j->m;
	char esc[128];
	size_t i;
	int r;

	for (i = 0; i < m->env.nrcpts; i++) {
		if (j->ticket[i] == NO_TICKET)
			continue;
		r = maildir_batch_result(q->mb, j->ticket[i]);
		log_escape(esc, sizeof(esc), m->env.rcpts[i],
		    strlen(m->env.rcpts[i]));
		if (r == 0) {
			j->done[i] = 1;
			log_info(m->id, "qmgr delivered to=\"%s\" folder=%s "
			    "size=%zu", esc, j->folder[i] ? j->folder[i] :
			    "inbox", m->msg_len);
		} else if (r == E_INVAL) {
			j->failed[i] = 1;
			log_err(m->id, "qmgr failed to=\"%s\" "
			    "reason=bad_mailbox", esc);
		} else {
			log_warn(m->id, "qmgr temporary failure to=\"%s\" "
			    "error=%s", esc, err_str(r));
			j->temp = true;
		}
	}
}

/* finish_job - after the batch's Maildirs are durable: rewrite the spool
   file, or queue it for removal; false if the message must be retried */
static bool
finish_job(struct qmgr *q, struct job *j, char **remove, size_t *nremove)
{
	struct spool_message *m = &j->m, keep;
	size_t i, n = 0;
	bool any_failed = false;
	int r;

	for (i = 0; i < m->env.nrcpts; i++)
		if (!j->done[i])
			n++;
	if (n == 0) {
		remove[(*nremove)++] = m->id;
		return true;
	}
	/* Keep the recipients not delivered here; the message text and the
	   rest of the envelope are shared with m. */
	keep = *m;
	keep.env.rcpts = xcalloc(n, sizeof(char *));
	keep.rcpt_status = xcalloc(n, 1);
	keep.env.nrcpts = 0;
	for (i = 0; i < m->env.nrcpts; i++) {
		if (j->done[i])
			continue;
		keep.rcpt_status[keep.env.nrcpts] = j->failed[i] ?
		    SPOOL_RCPT_FAILED : SPOOL_RCPT_PENDING;
		any_failed |= j->failed[i] != 0;
		keep.env.rcpts[keep.env.nrcpts++] = m->env.rcpts[i];
	}
	if (!any_failed) {
		free(keep.rcpt_status);
		keep.rcpt_status = NULL;
	}
	keep.flags |= SPOOL_F_LOCAL_DONE;
	r = spool_rewrite(q->sp, &keep);
	free(keep.env.rcpts);
	free(keep.rcpt_status);
	if (r < 0) {
		log_warn(m->id, "qmgr rewrite error=%s", err_str(r));
		return false;
	}
	log_info(m->id, "qmgr kept rcpts=%zu state=outbound", n);
	return true;
}

/* job_fini - free one job */
static void
job_fini(struct job *j)
{
	spool_message_fini(&j->m);
	free(j->done);
	free(j->failed);
	free(j->ticket);
	free(j->folder);
	memset(j, 0, sizeof(*j));
}

/* run_batch - deliver, make durable, then edit the spool */
static void
run_batch(struct qmgr *q, char **ids, size_t n, int64_t t,
    unsigned *delivered, unsigned *deferred)
{
	struct job *jobs = xcalloc(n, sizeof(*jobs));
	char **remove = xcalloc(n, sizeof(char *));
	size_t i, nremove = 0;
	bool *ok = xcalloc(n, sizeof(bool)), *live = xcalloc(n, sizeof(bool));
	int r;

	for (i = 0; i < n; i++) {
		r = spool_load(q->sp, ids[i], &jobs[i].m);
		if (r == E_CORRUPT || r == E_INVAL) {
			log_warn(ids[i], "qmgr corrupt spool file quarantined");
			spool_quarantine(q->sp, ids[i]);
			continue;
		}
		if (r == E_NOTFOUND)
			continue;
		if (r < 0) {
			log_warn(ids[i], "qmgr load error=%s", err_str(r));
			defer(q, ids[i], t);
			(*deferred)++;
			continue;
		}
		if (jobs[i].m.flags & SPOOL_F_LOCAL_DONE) {
			park(q, ids[i]);	/* e.g. after a restart */
			continue;
		}
		live[i] = true;
		/* Queued before this manager started (an earlier one may have
		   delivered it and died) or tried before: the reader may have
		   moved a copy to cur/ already, so look there too. */
		{
			bool found;
			size_t k = state_find(q, ids[i], &found);

			maildir_batch_recheck(q->mb,
			    spool_id_time(ids[i]) <= q->started ||
			    (found && q->st[k].attempts > 0));
		}
		deliver_job(q, &jobs[i]);
	}
	/* The batch's files are synced together, then each touched new/
	   directory once; every ticket then says whether it is durable. */
	maildir_batch_commit(q->mb);
	for (i = 0; i < n; i++) {
		if (!live[i])
			continue;
		collect_job(q, &jobs[i]);
		if (jobs[i].temp || !finish_job(q, &jobs[i], remove,
		    &nremove)) {
			defer(q, ids[i], t);
			(*deferred)++;
			continue;
		}
		ok[i] = true;
		(*delivered)++;
	}
	/* Deliveries are durable: now the spool may forget them. */
	if (nremove > 0 && (r = spool_remove_batch(q->sp, remove,
	    nremove)) < 0)
		log_warn(NULL, "qmgr remove error=%s (redelivery is harmless)",
		    err_str(r));
	for (i = 0; i < n; i++) {
		size_t d, left = 0;

		/* Removed files drop out of the table at the next scan;
		   rewritten ones wait for outbound. */
		for (d = 0; ok[i] && d < jobs[i].m.env.nrcpts; d++)
			left += !jobs[i].done[d];
		if (left > 0) {
			park(q, ids[i]);
		} else if (ok[i]) {
			bool found;
			size_t k = state_find(q, ids[i], &found);

			if (found)
				q->st[k].attempts = 0;	/* not due again */
		}
		job_fini(&jobs[i]);
	}
	free(ok);
	free(live);
	free(remove);
	free(jobs);
}

/* qmgr_run_once - one pass over the spool */
int
qmgr_run_once(struct qmgr *q, unsigned *delivered, unsigned *deferred)
{
	char **ids, **todo;
	size_t n, i, ntodo = 0, k;
	struct qstate *s;
	bool found;
	int64_t t = now(q);
	unsigned dl = 0, df = 0;
	int r;

	if ((r = spool_scan(q->sp, &ids, &n)) < 0) {
		log_err(NULL, "qmgr scan error=%s", err_str(r));
		return r;
	}
	for (i = 0; i < q->nst; i++)
		q->st[i].seen = false;
	todo = xcalloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		k = state_find(q, ids[i], &found);
		if (found) {
			s = &q->st[k];
			s->seen = true;
			if (s->parked || s->next > t)
				continue;
		}
		todo[ntodo++] = ids[i];
	}
	state_prune(q);
	for (i = 0; i < ntodo; i += q->p.batch)
		run_batch(q, todo + i, ntodo - i < q->p.batch ? ntodo - i :
		    q->p.batch, t, &dl, &df);
	free(todo);
	spool_ids_free(ids, n);
	if (delivered)
		*delivered = dl;
	if (deferred)
		*deferred = df;
	return 0;
}

/* qmgr_next_due - when the earliest deferred message is due */
bool
qmgr_next_due(const struct qmgr *q, int64_t *when)
{
	size_t i;
	bool any = false;

	for (i = 0; i < q->nst; i++) {
		if (q->st[i].parked || q->st[i].attempts == 0)
			continue;
		if (!any || q->st[i].next < *when)
			*when = q->st[i].next;
		any = true;
	}
	return any;
}

/* put_addr - an address for the listing, bytes outside printable ASCII
   and UTF-8 written as \xHH */
static void
put_addr(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('<', out);
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('>', out);
}

/* qmgr_list - the `smtpsd --queue` listing */
int
qmgr_list(struct spool *sp, FILE *out)
{
	struct spool_message m;
	char **ids, when[32];
	size_t n, i, r, count = 0;
	unsigned long long bytes = 0;
	struct tm tm;
	time_t a;
	int rc;

	if ((rc = spool_scan(sp, &ids, &n)) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		rc = spool_load(sp, ids[i], &m);
		if (rc == E_NOTFOUND)
			continue;	/* delivered while we listed */
		count++;
		if (rc < 0) {
			fprintf(out, "%s - - %s\n", ids[i],
			    rc == E_CORRUPT || rc == E_INVAL ? "corrupt" :
			    "unreadable");
			continue;
		}
		a = (time_t)m.env.arrival;
		if (gmtime_r(&a, &tm) == NULL || strftime(when, sizeof(when),
		    "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof(when), "-");
		fprintf(out, "%s %s %zu %s ", m.id, when, m.msg_len,
		    (m.flags & SPOOL_F_LOCAL_DONE) ? "outbound" : "queued");
		put_addr(out, m.env.mail_from);
		for (r = 0; r < m.env.nrcpts; r++) {
			fputc(' ', out);
			put_addr(out, m.env.rcpts[r]);
			if (m.rcpt_status &&
			    m.rcpt_status[r] == SPOOL_RCPT_FAILED)
				fputs("(failed)", out);
		}
		fputc('\n', out);
		bytes += m.msg_len;
		spool_message_fini(&m);
	}
	spool_ids_free(ids, n);
	fprintf(out, "-- %zu message%s, %llu bytes\n", count,
	    count == 1 ? "" : "s", bytes);
	return ferror(out) ? E_IO : 0;
}
