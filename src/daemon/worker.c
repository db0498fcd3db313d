/*
 * daemon/worker.c - one SMTP worker: an event loop serving many sessions.
 *
 * Each session is a socket, an optional TLS object and a session machine
 * (smtp/server.h).  Bytes read from the peer go into the machine; its
 * replies are flushed in one write per pipelined group (TCP_NODELAY is on,
 * so nothing waits for Nagle); its actions are answered here: MAIL and
 * RCPT by the policy below, AUTH and the spool commit by the helper
 * thread, STARTTLS by a handshake on the same socket.
 *
 * On the mx role every message is checked (issue 4, docs/INBOUND.md):
 * SPF starts when MAIL is accepted, DKIM and DMARC when the data is in,
 * all on the worker's one asynchronous resolver (mailauth/inbound.h),
 * whose descriptor and deadline timer sit on this loop, so a session
 * waiting for DNS costs nothing.  The verdict decides the end-of-data
 * reply (550 for a DMARC reject, Junk for quarantine) and adds the
 * Authentication-Results and Received-SPF fields below our Received.
 *
 * The helper thread does the blocking work: it hashes passwords and makes
 * committed messages durable, and then records DMARC evaluations in
 * SPOOL/dmarc.sqlite (queue/dmarcdb.h), after the 250s of its batch.
 * Commits that queue up while it is busy are synced together and
 * published with one directory fsync (group commit); the 250 is sent
 * only after spool_publish() succeeded for that message.
 */
#include "daemon/daemon.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>

#include "deliver/maildir.h"
#include "dns/dns.h"
#include "mailauth/inbound.h"
#include "msg/from.h"
#include "queue/dmarcdb.h"
#include "smtp/received.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define READ_CHUNK 16384
#define READS_PER_EVENT 8	/* fairness: then let other sessions run */
#define DATA_CHECK_SECS 10	/* how often the DATA phase is checked */
#define RATE_GRACE_SECS 30	/* min-data-rate applies after this long */
#define DRAIN_LIMIT_SECS 30	/* SIGTERM: most time given to sessions */

struct session;

enum job_type { JOB_COMMIT, JOB_AUTH, JOB_DMARC };

struct job {
	enum job_type type;
	struct session *sess;	/* NULL once the session went away */
	struct job *next;
	/* JOB_COMMIT */
	struct spool_entry entry;
	int result;
	/* JOB_AUTH */
	char *user;
	char *pass;
	bool ok;
	/* JOB_DMARC */
	struct dmarcdb_record *rec;
};

/* S_DEAD: closed, waiting for the reaper to free it, so that callers up
   the stack may still look at the state after session_close() */
enum sess_state { S_HANDSHAKE, S_RUN, S_CLOSING, S_DEAD };

struct session {
	struct worker *w;
	struct session *prev, *next;
	const struct listener *l;
	int fd;
	SSL *ssl;
	enum sess_state state;
	bool starttls;		/* handshake after the output is flushed */
	bool waiting;		/* the machine waits for a job or a timer */
	bool out_blocked;	/* the peer is not reading our replies */
	bool want_read_on_write; /* TLS: a write needs the socket readable */
	bool want_write_on_read; /* TLS: a read needs the socket writable */
	struct smtp_server *sm;
	struct event *rev, *wev, *timer, *delay;
	struct job *job;
	uint8_t addr[16];
	size_t addrlen;
	char ip[INET6_ADDRSTRLEN];
	char id[16];
	char *auth_user;
	struct smtp_tls_info tls;
	time_t cmd_start;	/* when the machine last answered */
	time_t last_read;
	time_t data_start;	/* 0 outside DATA */
	size_t data_bytes;
	unsigned auth_failures;
	bool counted;		/* holds an iplimit count */
	struct inbound *ib;	/* this transaction's checks, or NULL */
	bool checks_sync;	/* inside inbound_message() */
	bool checks_done;	/* its callback came */
	struct rdns *rd;	/* reverse DNS lookup, or NULL */
	char rdns[256];		/* verified reverse name, "" if none (yet) */
};

struct worker {
	struct daemon_ctx *d;
	struct event_base *base;
	struct event **lev;
	struct event *sigterm, *sigusr1, *sigint, *drain_timer, *jobs_ev;
	struct session *sessions;
	struct session *dead;	/* closed, freed by the reaper */
	struct event *reaper;
	size_t nsessions;
	bool draining;
	unsigned long seq;

	/* the helper thread */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *todo, *todo_tail;
	struct job *done;
	bool stop;
	int efd;
	struct dmarcdb *db;	/* the helper thread's handle */
	bool db_failed;

	/* inbound checks (NULL resolver: off) */
	struct dns_resolver *r;
	struct rdns *rdns_all;	/* reverse lookups with a query out */
	struct event *dns_ev, *dns_timer;
	struct pubsuffix *psl;
};

static void session_process(struct session *s);
static void session_flush(struct session *s);
static void session_close(struct session *s);
static void session_read(struct session *s);
static void arm_timer(struct session *s);

/* ---------------------------------------------------------------- */
/* The helper thread                                                  */

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->pass) {
		explicit_bzero(j->pass, strlen(j->pass));
		free(j->pass);
	}
	free(j->user);
	dmarcdb_record_free(j->rec);
	free(j);
}

/* record_dmarc - the helper thread stores a batch of evaluations */
static void
record_dmarc(struct worker *w, struct job *list)
{
	struct dmarcdb_record *recs[256];
	struct job *j, *next;
	size_t n = 0;

	if (w->db == NULL && !w->db_failed) {
		char *path = xasprintf("%s/dmarc.sqlite", w->d->cfg->spool_dir);

		if (dmarcdb_open(&w->db, path) < 0)
			w->db_failed = true;
		free(path);
	}
	for (j = list; j != NULL; j = next) {
		next = j->next;
		recs[n++] = j->rec;
		if (n == sizeof(recs) / sizeof(recs[0]) || next == NULL) {
			if (w->db != NULL)
				(void)dmarcdb_insert(w->db, recs, n);
			n = 0;
		}
	}
	for (j = list; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
}

/* commit_batch - make a batch durable: every new file gets its own
   fdatasync (run concurrently, so they share journal commits) and the
   files written over in place are written back (spool_sync_batch), then
   the renames share one fsync of the queue directory (group commit),
   whose cache flush makes the latter durable too */
static void
commit_batch(struct worker *w, struct spool_entry **commits, size_t n)
{
	spool_sync_batch(w->d->spool, commits, n);
	spool_publish(w->d->spool, commits, n);
}

/* helper_run - take every queued job, do it, hand the batch back */
static void *
helper_run(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct spool_entry *commits[256];
		struct job *batch, *j, *last = NULL, *dmarc;
		size_t n = 0;
		uint64_t one = 1;

		pthread_mutex_lock(&w->lock);
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->todo == NULL && w->stop) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		batch = w->todo;
		w->todo = w->todo_tail = NULL;
		pthread_mutex_unlock(&w->lock);

		/* DMARC records wait until the batch's replies are out. */
		{
			struct job **pp = &batch, *dtail = NULL;

			dmarc = NULL;
			while ((j = *pp) != NULL) {
				if (j->type != JOB_DMARC) {
					pp = &j->next;
					continue;
				}
				*pp = j->next;
				j->next = NULL;
				if (dtail)
					dtail->next = j;
				else
					dmarc = j;
				dtail = j;
			}
		}
		for (j = batch; j != NULL; j = j->next) {
			last = j;
			if (j->type == JOB_AUTH) {
				j->ok = w->d->passwd != NULL &&
				    passwd_db_verify(w->d->passwd, j->user,
				    j->pass);
				continue;
			}
			commits[n++] = &j->entry;
			if (n == sizeof(commits) / sizeof(commits[0])) {
				commit_batch(w, commits, n);
				n = 0;
			}
		}
		if (n > 0)
			commit_batch(w, commits, n);
		for (j = batch; j != NULL; j = j->next)
			if (j->type == JOB_COMMIT)
				j->result = j->entry.error;

		if (last != NULL) {
			pthread_mutex_lock(&w->lock);
			last->next = w->done;
			w->done = batch;
			pthread_mutex_unlock(&w->lock);
			if (write(w->efd, &one, sizeof(one)) < 0 &&
			    errno != EAGAIN)
				log_err(NULL, "worker eventfd write: %m");
		}
		if (dmarc != NULL)
			record_dmarc(w, dmarc);
	}
	dmarcdb_close(w->db);
	w->db = NULL;
	return NULL;
}

static void
job_submit(struct worker *w, struct job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->todo_tail)
		w->todo_tail->next = j;
	else
		w->todo = j;
	w->todo_tail = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void
wake_qmgr(struct worker *w)
{
	char c = 1;

	if (w->d->qmgr_wake_fd >= 0 &&
	    write(w->d->qmgr_wake_fd, &c, 1) < 0 && errno != EAGAIN)
		log_warn(NULL, "queue manager wake-up failed: %m");
}

static void
auth_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->waiting = false;
	smtp_server_auth_result(s->sm, false);
	session_process(s);
}

/* job_finished - the helper thread is done with j: answer the machine */
static void
job_finished(struct worker *w, struct job *j)
{
	struct session *s = j->sess;
	char text[96];

	if (s == NULL) {
		/* The peer went away meanwhile.  A commit that succeeded stays
		   queued: delivering twice beats losing mail. */
		if (j->type == JOB_COMMIT && j->result == 0)
			wake_qmgr(w);
		job_free(j);
		return;
	}
	s->job = NULL;
	if (j->type == JOB_AUTH) {
		if (j->ok) {
			s->auth_user = xstrdup(j->user);
			log_info(s->id, "auth ok user=%s", j->user);
			s->waiting = false;
			smtp_server_auth_result(s->sm, true);
		} else {
			struct timeval tv;
			long ms = w->d->cfg->auth_delay_ms;
			char esc[128];

			/* Each failure doubles the delay before the 535. */
			for (unsigned k = 0; k < s->auth_failures && ms < 60000;
			    k++)
				ms *= 2;
			s->auth_failures++;
			log_warn(s->id, "auth failed user=\"%s\" ip=%s",
			    log_escape(esc, sizeof(esc), j->user,
			    strlen(j->user)), s->ip);
			tv.tv_sec = ms / 1000;
			tv.tv_usec = (ms % 1000) * 1000;
			evtimer_add(s->delay, &tv);
			job_free(j);
			return;
		}
	} else if (j->result == 0) {
		struct smtp_envelope env;

		smtp_server_envelope(s->sm, &env);
		log_info(s->id, "accepted id=%s size=%zu rcpts=%zu tls=%s%s%s",
		    j->entry.id, env.msg_len, env.nrcpts,
		    env.tls ? env.tls->version : "no",
		    env.auth_user ? " user=" : "",
		    env.auth_user ? env.auth_user : "");
		snprintf(text, sizeof(text), "Ok: queued as %s", j->entry.id);
		s->waiting = false;
		smtp_server_verdict(s->sm, 250, "2.0.0", text);
		wake_qmgr(w);
	} else {
		log_err(s->id, "spool commit failed: %s", err_str(j->result));
		s->waiting = false;
		smtp_server_verdict(s->sm, 452, "4.3.1",
		    j->result == E_NOSPACE ?
		    "Insufficient system storage, try again later" :
		    "Local error in processing, try again later");
	}
	job_free(j);
	session_process(s);
}

static void
jobs_ready(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct job *list, *j, *rev = NULL;
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err(NULL, "worker eventfd read: %m");
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	/* batches come back newest first: answer in arrival order */
	while (list) {
		j = list;
		list = list->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		j = rev;
		rev = rev->next;
		job_finished(w, j);
	}
}

/* ---------------------------------------------------------------- */
/* DNS on the event loop                                              */

/* dns_rearm - the timer follows the resolver's earliest deadline */
static void
dns_rearm(struct worker *w)
{
	int ms;

	if (w->r == NULL)
		return;
	ms = dns_resolver_timeout_ms(w->r);
	if (ms < 0) {
		evtimer_del(w->dns_timer);
	} else {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		evtimer_add(w->dns_timer, &tv);
	}
}

/* on_dns - answers are readable, or a deadline passed: deliver them
   (their callbacks may start queries, end checks and reply) */
static void
on_dns(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	dns_resolver_process(w->r);
	dns_rearm(w);
}

/* dns_start - the worker's resolver on its loop; checks stay off (and
   are logged so) when it cannot be made */
static void
dns_start(struct worker *w)
{
	const struct config *cfg = w->d->cfg;
	char *err = NULL;
	int ms, fd;

	if (!cfg->inbound_checks)
		return;
	if (dns_resolver_new(&w->r, cfg->resolver, &err) != 0) {
		log_err(NULL, "inbound checks off: resolver %s: %s",
		    cfg->resolver ? cfg->resolver : "(system)",
		    err ? err : "cannot start");
		free(err);
		w->r = NULL;
		return;
	}
	/* One query may take the shortest check's whole budget. */
	ms = cfg->check_timeout_spf;
	if (cfg->check_timeout_dkim < ms)
		ms = cfg->check_timeout_dkim;
	if (cfg->check_timeout_dmarc < ms)
		ms = cfg->check_timeout_dmarc;
	dns_set_timeout(w->r, ms * 1000);
	fd = dns_resolver_fd(w->r);
	if (fd >= 0) {
		w->dns_ev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_dns,
		    w);
		event_add(w->dns_ev, NULL);
	}
	w->dns_timer = evtimer_new(w->base, on_dns, w);
	if (cfg->dmarc_discovery_psl && pubsuffix_load_system(&w->psl) < 0) {
		log_err(NULL, "dmarc-discovery psl: no public suffix list, "
		    "using the tree walk");
		w->psl = NULL;
	}
}

static void rdns_free(struct rdns *rd);

/* dns_stop - free the resolver (no callback runs afterwards) */
static void
dns_stop(struct worker *w)
{
	if (w->dns_ev)
		event_free(w->dns_ev);
	if (w->dns_timer)
		event_free(w->dns_timer);
	dns_resolver_free(w->r);
	pubsuffix_free(w->psl);
	w->r = NULL;
	/* no callback comes any more: the lookups still out go with it */
	while (w->rdns_all != NULL)
		rdns_free(w->rdns_all);
}

/* ---------------------------------------------------------------- */
/* Reverse DNS of the client, for the Received header                  */

/* The client's name is the PTR name whose A/AAAA records hold its
   address (forward-confirmed, as RFC 8601 2.7.3's iprev and every MTA's
   Received header mean it).  Asked at connect when the worker has a
   resolver; a message that ends before the answers gets "unknown". */
#define RDNS_MAX_NAMES 4	/* PTR names followed forward */

struct rdns_fwd {
	struct rdns *rd;
	char name[256];
};

struct rdns {
	struct worker *w;
	struct rdns *prev, *next;	/* the worker's list (dns_stop) */
	struct session *s;	/* NULL once the session is gone */
	unsigned outstanding;	/* queries whose callback is still due */
	uint8_t addr[16];
	size_t addrlen;
	struct rdns_fwd fwd[RDNS_MAX_NAMES];
};

static void
rdns_free(struct rdns *rd)
{
	struct worker *w = rd->w;

	if (rd->prev)
		rd->prev->next = rd->next;
	else
		w->rdns_all = rd->next;
	if (rd->next)
		rd->next->prev = rd->prev;
	if (rd->s != NULL)
		rd->s->rd = NULL;
	free(rd);
}

/* rdns_release - drop a reference held by a finished query */
static void
rdns_release(struct rdns *rd)
{
	if (--rd->outstanding == 0 && rd->s == NULL)
		rdns_free(rd);
}

static bool
rdns_name_ok(const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && n[i] != '-' &&
		    n[i] != '.' && n[i] != '_')
			return false;
	return true;
}

static void
rdns_fwd_cb(void *arg, const struct dns_answer *ans)
{
	struct rdns_fwd *f = arg;
	struct rdns *rd = f->rd;
	size_t i;

	if (rd->s != NULL && rd->s->rdns[0] == '\0' &&
	    ans->status == DNS_OK) {
		for (i = 0; i < ans->nrrs; i++) {
			const struct dns_rr *rr = &ans->rrs[i];

			if ((rr->type == DNS_T_A && rd->addrlen == 4) ||
			    (rr->type == DNS_T_AAAA && rd->addrlen == 16)) {
				if (memcmp(rr->addr, rd->addr, rd->addrlen) ==
				    0) {
					snprintf(rd->s->rdns,
					    sizeof(rd->s->rdns), "%s",
					    f->name);
					break;
				}
			}
		}
	}
	rdns_release(rd);
}

static void
rdns_ptr_cb(void *arg, const struct dns_answer *ans)
{
	struct rdns *rd = arg;
	struct worker *w;
	size_t i, asked = 0;

	if (rd->s != NULL && ans->status == DNS_OK) {
		w = rd->s->w;
		for (i = 0; i < ans->nrrs && asked < RDNS_MAX_NAMES; i++) {
			const struct dns_rr *rr = &ans->rrs[i];
			struct rdns_fwd *f;

			if (rr->type != DNS_T_PTR || rr->name == NULL ||
			    !rdns_name_ok(rr->name))
				continue;
			f = &rd->fwd[asked];
			f->rd = rd;
			snprintf(f->name, sizeof(f->name), "%s", rr->name);
			rd->outstanding++;
			if (dns_query(w->r, f->name, rd->addrlen == 4 ?
			    DNS_T_A : DNS_T_AAAA, rdns_fwd_cb, f) < 0) {
				rd->outstanding--;
				continue;
			}
			asked++;
		}
		if (asked)
			dns_rearm(w);
	}
	rdns_release(rd);
}

/* rdns_start - ask for the client's PTR names (no resolver: nothing) */
static void
rdns_start(struct session *s)
{
	struct worker *w = s->w;
	struct rdns *rd;
	char name[80];

	if (w->r == NULL)
		return;
	dns_reverse_name(s->addr, s->addrlen, name, sizeof(name));
	rd = xcalloc(1, sizeof(*rd));
	rd->w = w;
	rd->s = s;
	rd->outstanding = 1;
	memcpy(rd->addr, s->addr, s->addrlen);
	rd->addrlen = s->addrlen;
	if (dns_query(w->r, name, DNS_T_PTR, rdns_ptr_cb, rd) < 0) {
		free(rd);
		return;
	}
	rd->next = w->rdns_all;
	if (rd->next)
		rd->next->prev = rd;
	w->rdns_all = rd;
	s->rd = rd;
	dns_rearm(w);
}

/* rdns_detach - the session goes: answers still due land nowhere */
static void
rdns_detach(struct session *s)
{
	struct rdns *rd = s->rd;

	if (rd == NULL)
		return;
	s->rd = NULL;
	rd->s = NULL;
	if (rd->outstanding == 0)
		rdns_free(rd);
}

/* ---------------------------------------------------------------- */
/* Policy: what MAIL, RCPT and the committed message may be           */

static const char *
addr_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : NULL;
}

/* checks_start - a new transaction on the mx role: SPF starts now, while
   the client sends RCPT and DATA (authenticated submission is not
   checked: the sender is known) */
static void
checks_start(struct session *s, const char *addr)
{
	struct worker *w = s->w;
	const struct config *cfg = w->d->cfg;
	struct inbound_params p;
	struct smtp_envelope env;
	unsigned draw;

	inbound_free(s->ib);
	s->ib = NULL;
	s->checks_done = false;
	if (w->r == NULL || s->l->role != SMTP_ROLE_MX || s->auth_user)
		return;
	smtp_server_envelope(s->sm, &env);
	if (getrandom(&draw, sizeof(draw), 0) != sizeof(draw))
		draw = (unsigned)random();
	memset(&p, 0, sizeof(p));
	p.ip = s->ip;
	p.helo = env.helo ? env.helo : "";
	p.mail_from = addr;
	p.authserv_id = config_authserv_id(cfg);
	p.now = (long long)time(NULL);
	p.sample = draw % 100;
	p.discovery = w->psl ? DMARC_DISCOVERY_PSL : DMARC_DISCOVERY_TREEWALK;
	p.psl = w->psl;
	p.spf_budget_ms = cfg->check_timeout_spf * 1000;
	p.dkim_budget_ms = cfg->check_timeout_dkim * 1000;
	p.dmarc_budget_ms = cfg->check_timeout_dmarc * 1000;
	p.check_helo = cfg->spf_helo_check;
	if (inbound_new(&s->ib, &p) != 0) {
		log_warn(s->id, "inbound checks skipped: bad client address "
		    "ip=%s", s->ip);
		s->ib = NULL;
		return;
	}
	inbound_start_spf(s->ib, w->r);
	dns_rearm(w);
}

/* policy_mail - may this session use this envelope sender? */
static void
policy_mail(struct session *s, const char *addr)
{
	const struct config *cfg = s->w->d->cfg;

	if (s->auth_user != NULL && !config_sender_allowed(cfg, s->auth_user,
	    addr)) {
		smtp_server_verdict(s->sm, 553, "5.7.1",
		    "Sender address not granted to this user");
		return;
	}
	smtp_server_verdict(s->sm, 250, "2.1.0", "Ok");
	checks_start(s, addr);
}

/* policy_rcpt - local mailboxes for all; other domains only for
   authenticated submitters (no open relay) */
static void
policy_rcpt(struct session *s, const char *addr)
{
	const struct config *cfg = s->w->d->cfg;
	const char *dom = addr_domain(addr);

	if (dom == NULL) {
		/* RFC 5321 4.5.1: "postmaster" without a domain is ours */
		if (strcasecmp(addr, "postmaster") == 0)
			smtp_server_verdict(s->sm, 250, "2.1.5", "Ok");
		else
			smtp_server_verdict(s->sm, 550, "5.1.3",
			    "Recipient address needs a domain");
		return;
	}
	if (config_is_local_domain(cfg, dom)) {
		char path[1024];

		/* A local part that cannot be a mailbox name (a '/', a
		   leading '.', control characters) is refused now rather
		   than accepted and left undeliverable. */
		if (maildir_path(cfg->mail_dir, addr, NULL, path,
		    sizeof(path)) < 0)
			smtp_server_verdict(s->sm, 550, "5.1.1",
			    "No such user here");
		else if (config_mailbox_exists(cfg, addr))
			smtp_server_verdict(s->sm, 250, "2.1.5", "Ok");
		else
			smtp_server_verdict(s->sm, 550, "5.1.1",
			    "No such user here");
		return;
	}
	if (s->auth_user != NULL) {
		smtp_server_verdict(s->sm, 250, "2.1.5", "Ok, will relay");
		return;
	}
	smtp_server_verdict(s->sm, 554, "5.7.1", "Relay access denied");
}

/* header_section_len - length of the header section of msg */
static size_t
header_section_len(const char *msg, size_t len)
{
	const char *p = memmem(msg, len, "\r\n\r\n", 4);

	if (msg == NULL || len == 0)
		return 0;
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 0;
	return p ? (size_t)(p - msg) + 2 : len;
}

/* What the checks made of a message. */
enum verdict_action { V_ACCEPT, V_JUNK, V_REJECT, V_DEFER };

struct verdict {
	enum verdict_action action;
	const char *override;	/* policy.override=, or NULL */
	int code;		/* reply for V_REJECT and V_DEFER */
	const char *status;
	char text[320];
};

/* any_rcpt_opted_out - a recipient domain asked for no DMARC enforcement */
static bool
any_rcpt_opted_out(const struct config *cfg, const struct smtp_envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		const char *dom = addr_domain(env->rcpts[i]);

		if (dom != NULL && config_dmarc_opted_out(cfg, dom))
			return true;
	}
	return false;
}

/*
 * decide - the local policy over the verdicts (docs/INBOUND.md): a DMARC
 * failure whose disposition is reject or quarantine is enforced unless
 * enforcement is off, the client is a trusted forwarder or a recipient
 * domain opted out (then policy.override says why); SPF fail alone is
 * refused only for domains without DMARC and only when configured; a
 * temporary error is never a 5xx, and a 4xx only when configured.
 */
static void
decide(struct session *s, const struct smtp_envelope *env, struct verdict *v)
{
	const struct config *cfg = s->w->d->cfg;
	const struct dmarc_verdict *d = inbound_dmarc(s->ib);
	const struct spf *spf = inbound_spf(s->ib);
	enum spf_result sr = spf_result(spf);
	bool trusted = config_is_trusted_forwarder(cfg, s->addr, s->addrlen);
	bool opted_out = any_rcpt_opted_out(cfg, env);
	const char *exempt = !cfg->dmarc_enforce ? "local_policy" :
	    trusted ? "trusted_forwarder" : opted_out ? "local_policy" : NULL;

	memset(v, 0, sizeof(*v));
	v->action = V_ACCEPT;
	if (d->result == DMARC_RESULT_FAIL &&
	    (d->disposition == DMARC_POLICY_REJECT ||
	    d->disposition == DMARC_POLICY_QUARANTINE)) {
		if (exempt != NULL) {
			v->override = exempt;
			return;
		}
		if (d->disposition == DMARC_POLICY_QUARANTINE) {
			v->action = V_JUNK;
			return;
		}
		v->action = V_REJECT;
		v->code = 550;
		v->status = "5.7.1";
		snprintf(v->text, sizeof(v->text), "Message rejected: DMARC "
		    "policy of %s is reject and the message failed it",
		    d->from_domain);
		return;
	}
	if (d->result == DMARC_RESULT_NONE && sr == SPF_FAIL &&
	    cfg->spf_reject_without_dmarc && !trusted && !opted_out) {
		/* RFC 7372 3.2: X.7.23 SPF validation failed */
		v->action = V_REJECT;
		v->code = 550;
		v->status = "5.7.23";
		snprintf(v->text, sizeof(v->text), "SPF check failed for %s "
		    "from %s", spf_domain(spf) ? spf_domain(spf) : "the sender",
		    s->ip);
		return;
	}
	if (cfg->temperror_defer && !trusted) {
		if (d->result == DMARC_RESULT_TEMPERROR) {
			v->action = V_DEFER;
			v->code = 451;
			v->status = "4.7.5";
			snprintf(v->text, sizeof(v->text), "DMARC policy of "
			    "%s could not be checked, try again later",
			    d->from_domain);
		} else if (sr == SPF_TEMPERROR &&
		    d->result != DMARC_RESULT_PASS) {
			/* RFC 7372 3.2: X.7.24 SPF validation error */
			v->action = V_DEFER;
			v->code = 451;
			v->status = "4.7.24";
			snprintf(v->text, sizeof(v->text), "SPF check of %s "
			    "failed temporarily, try again later",
			    spf_domain(spf) ? spf_domain(spf) : "the sender");
		}
	}
}

/* dup_or_null - xstrdup of s, or NULL */
static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* record_submit - hand the evaluation to the helper thread, which stores
   it after the replies of its batch */
static void
record_submit(struct session *s, const struct smtp_envelope *env,
    const struct verdict *v, const char *qid)
{
	static const char *const actions[] = { "accepted", "junk",
	    "rejected", "deferred" };
	static const char *const dispositions[] = { "none", "quarantine",
	    "reject", "none" };
	const struct dmarc_verdict *d = inbound_dmarc(s->ib);
	const struct spf *spf = inbound_spf(s->ib);
	const struct dkim_verify *dk = inbound_dkim(s->ib);
	struct dmarcdb_record *r = xcalloc(1, sizeof(*r));
	struct job *j;
	size_t i, n = dk ? dkim_verify_nsigs(dk) : 0;

	r->time = (int64_t)time(NULL);
	r->queue_id = dup_or_null(qid);
	r->source_ip = dup_or_null(s->ip);
	r->helo = dup_or_null(env->helo);
	r->envelope_from = dup_or_null(env->mail_from);
	r->header_from = d->from_domain && *d->from_domain ?
	    xstrdup(d->from_domain) : NULL;
	r->policy_domain = d->policy_domain && *d->policy_domain ?
	    xstrdup(d->policy_domain) : NULL;
	r->spf_domain = dup_or_null(spf_domain(spf));
	r->spf_result = dup_or_null(spf_result_str(spf_result(spf)));
	r->spf_aligned = d->spf_aligned;
	r->dkim_aligned = d->dkim_aligned;
	r->dmarc_result = dup_or_null(dmarc_result_str(d->result));
	r->policy = d->has_record ? dup_or_null(dmarc_policy_str(d->policy)) : NULL;
	r->disposition = dup_or_null(dispositions[v->action]);
	r->override = dup_or_null(v->override);
	r->action = dup_or_null(actions[v->action]);
	r->dkim = xcalloc(n + 1, sizeof(*r->dkim));
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *sr = dkim_verify_sig(dk, i);

		r->dkim[i].domain = dup_or_null(sr->domain);
		r->dkim[i].selector = dup_or_null(sr->selector);
		r->dkim[i].result = dup_or_null(dkim_result_str(sr->result));
	}
	r->ndkim = n;
	j = xcalloc(1, sizeof(*j));
	j->type = JOB_DMARC;
	j->rec = r;
	job_submit(s->w, j);
}

/* commit_message - the checks (if any) are done: apply the policy, write
   the message with our fields to the spool, hand the sync to the helper
   thread */
static void
commit_message(struct session *s)
{
	struct worker *w = s->w;
	struct smtp_envelope env;
	struct spool_envelope se;
	struct verdict v;
	struct buf rcv, ar, body;
	struct job *j;
	const void *parts[3];
	size_t lens[3], nparts = 0, stripped = 0;
	char qid[32];
	int r;

	smtp_server_envelope(s->sm, &env);
	memset(&v, 0, sizeof(v));
	if (s->ib != NULL) {
		const struct dmarc_verdict *d = inbound_dmarc(s->ib);

		decide(s, &env, &v);
		log_info(s->id, "checks spf=%s dkim=%zu dmarc=%s from=%s "
		    "policy=%s action=%s%s%s", spf_result_str(spf_result(
		    inbound_spf(s->ib))), dkim_verify_nsigs(inbound_dkim(
		    s->ib)), dmarc_result_str(d->result), *d->from_domain ?
		    d->from_domain : "-", d->has_record ?
		    dmarc_policy_str(d->policy) : "-", v.action == V_ACCEPT ?
		    "accept" : v.action == V_JUNK ? "junk" :
		    v.action == V_REJECT ? "reject" : "defer",
		    v.override ? " override=" : "", v.override ? v.override :
		    "");
		if (v.action == V_REJECT || v.action == V_DEFER) {
			record_submit(s, &env, &v, NULL);
			inbound_free(s->ib);
			s->ib = NULL;
			smtp_server_verdict(s->sm, v.code, v.status, v.text);
			return;
		}
	}

	spool_new_id(w->d->spool, qid);
	buf_init(&rcv, 4096);
	buf_init(&ar, 65536);
	buf_init(&body, env.msg_len + 1);
	if (smtp_received_header(&rcv, &env, s->ip,
	    s->rdns[0] ? s->rdns : NULL, w->d->cfg->hostname,
	    qid, time(NULL)) < 0)
		goto local_error;
	if (s->ib != NULL) {
		/* RFC 8601 5: nobody else may speak for our authserv-id. */
		if (inbound_authres(s->ib, v.override, &ar) < 0 ||
		    inbound_received_spf(s->ib, &ar) < 0 ||
		    inbound_strip_authres(env.msg, env.msg_len,
		    config_authserv_id(w->d->cfg), &body, &stripped) < 0)
			goto local_error;
		if (stripped)
			log_info(s->id, "removed %zu Authentication-Results "
			    "claiming our authserv-id", stripped);
	}
	memset(&se, 0, sizeof(se));
	se.mail_from = (char *)env.mail_from;
	se.rcpts = (char **)env.rcpts;
	se.nrcpts = env.nrcpts;
	se.helo = (char *)(env.helo ? env.helo : "");
	se.client_ip = s->ip;
	se.auth_user = (char *)env.auth_user;
	se.protocol = (char *)env.protocol;
	se.smtputf8 = env.smtputf8;
	se.body_8bit = env.body_8bit;
	se.arrival = time(NULL);
	se.quarantine = v.action == V_JUNK;
	parts[nparts] = buf_data(&rcv);
	lens[nparts++] = buf_size(&rcv);
	if (s->ib != NULL) {
		parts[nparts] = buf_data(&ar);
		lens[nparts++] = buf_size(&ar);
		parts[nparts] = buf_data(&body);
		lens[nparts++] = buf_size(&body);
	} else {
		parts[nparts] = env.msg;
		lens[nparts++] = env.msg_len;
	}

	j = xcalloc(1, sizeof(*j));
	j->type = JOB_COMMIT;
	/* The id was chosen for the Received header: keep it for the file. */
	r = spool_write_named(w->d->spool, qid, &se, parts, lens, nparts,
	    &j->entry);
	buf_fini(&rcv);
	buf_fini(&ar);
	buf_fini(&body);
	if (r < 0) {
		log_err(s->id, "spool write failed: %s", err_str(r));
		free(j);
		inbound_free(s->ib);
		s->ib = NULL;
		smtp_server_verdict(s->sm, 452, "4.3.1",
		    r == E_NOSPACE ? "Insufficient system storage" :
		    "Local error in processing, try again later");
		return;
	}
	j->sess = s;
	s->job = j;
	s->waiting = true;
	job_submit(w, j);
	if (s->ib != NULL) {
		record_submit(s, &env, &v, qid);
		inbound_free(s->ib);
		s->ib = NULL;
	}
	return;
local_error:
	buf_fini(&rcv);
	buf_fini(&ar);
	buf_fini(&body);
	inbound_free(s->ib);
	s->ib = NULL;
	smtp_server_verdict(s->sm, 451, "4.3.0", "Local error in processing");
}

/* checks_done_cb - the verdicts are in: finish the end of data */
static void
checks_done_cb(void *arg, struct inbound *ib)
{
	struct session *s = arg;

	s->checks_done = true;
	if (s->checks_sync)
		return;		/* policy_commit goes on by itself */
	s->waiting = false;
	commit_message(s);
	session_process(s);
}

/* policy_commit - check the message; the checks' callback (or this
   function, when they need no DNS) commits it */
static void
policy_commit(struct session *s)
{
	struct worker *w = s->w;
	struct smtp_envelope env;
	int r;

	smtp_server_envelope(s->sm, &env);
	if (s->auth_user != NULL) {
		const char *why = NULL;
		char *from = NULL;

		r = msg_from_extract(env.msg, header_section_len(env.msg,
		    env.msg_len), &from, &why);
		if (r < 0) {
			char text[160];

			snprintf(text, sizeof(text), "From: header refused: %s",
			    why ? why : err_str(r));
			smtp_server_verdict(s->sm, 553, "5.7.1", text);
			return;
		}
		if (!config_sender_allowed(w->d->cfg, s->auth_user, from)) {
			free(from);
			smtp_server_verdict(s->sm, 553, "5.7.1",
			    "From: address not granted to this user");
			return;
		}
		free(from);
	}
	if (s->ib != NULL && !s->checks_done) {
		s->waiting = true;
		s->checks_sync = true;
		inbound_message(s->ib, w->r, env.msg, env.msg_len,
		    checks_done_cb, s);
		s->checks_sync = false;
		dns_rearm(w);
		if (!s->checks_done)
			return;		/* checks_done_cb continues */
		s->waiting = false;
	}
	commit_message(s);
}

/* ---------------------------------------------------------------- */
/* Session I/O                                                        */

static void
update_events(struct session *s)
{
	bool want_read, want_write;

	if (s->state == S_HANDSHAKE) {
		/* the handshake sets its own interest */
		return;
	}
	want_write = s->out_blocked && !s->want_read_on_write;
	want_read = (s->state == S_RUN && !s->waiting && !s->out_blocked &&
	    !s->starttls) || s->want_read_on_write;
	if (s->want_write_on_read)
		want_write = true;
	if (want_read)
		event_add(s->rev, NULL);
	else
		event_del(s->rev);
	if (want_write)
		event_add(s->wev, NULL);
	else
		event_del(s->wev);
}

static void
start_handshake(struct session *s)
{
	s->ssl = tls_store_new_ssl(s->w->d->tls);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
		log_err(s->id, "cannot start TLS");
		session_close(s);
		return;
	}
	s->state = S_HANDSHAKE;
	s->starttls = false;
	event_del(s->wev);
	event_add(s->rev, NULL);
}

static void
handshake(struct session *s)
{
	int r = SSL_accept(s->ssl);
	char e[256];

	if (r != 1) {
		switch (SSL_get_error(s->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			event_del(s->wev);
			event_add(s->rev, NULL);
			return;
		case SSL_ERROR_WANT_WRITE:
			event_del(s->rev);
			event_add(s->wev, NULL);
			return;
		default:
			log_info(s->id, "TLS handshake failed ip=%s: %s", s->ip,
			    tls_error_string(e, sizeof(e)));
			SSL_free(s->ssl);
			s->ssl = NULL;
			session_close(s);
			return;
		}
	}
	tls_info(s->ssl, &s->tls);
	log_info(s->id, "tls version=%s cipher=%s sni=%s", s->tls.version,
	    s->tls.cipher, s->tls.sni[0] ? s->tls.sni : "-");
	s->state = S_RUN;
	s->cmd_start = time(NULL);
	if (s->sm == NULL) {
		/* implicit TLS: the session starts now, greeting and all */
		struct smtp_server_params p;

		memset(&p, 0, sizeof(p));
		p.role = s->l->role;
		p.hostname = s->w->d->cfg->hostname;
		p.client_ip = s->ip;
		p.limits = s->w->d->cfg->limits;
		p.tls_offered = false;
		p.tls = &s->tls;
		s->sm = smtp_server_new(&p);
	} else {
		smtp_server_tls_started(s->sm, &s->tls);
	}
	session_process(s);
	if (s->state == S_RUN)
		session_read(s);
}

/* session_read - read what the peer sent and run the machine on it */
static void
session_read(struct session *s)
{
	char buf[READ_CHUNK];
	int i;

	for (i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n;

		if (s->state != S_RUN || s->waiting || s->out_blocked ||
		    s->starttls)
			break;
		s->want_write_on_read = false;
		if (s->ssl) {
			int r = SSL_read(s->ssl, buf, sizeof(buf));

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				if (e == SSL_ERROR_WANT_READ)
					break;
				if (e == SSL_ERROR_WANT_WRITE) {
					s->want_write_on_read = true;
					break;
				}
				ERR_clear_error();
				session_close(s);
				return;
			}
			n = r;
		} else {
			n = read(s->fd, buf, sizeof(buf));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				session_close(s);
				return;
			}
		}
		s->last_read = time(NULL);
		if (s->state != S_RUN)
			return;
		if (smtp_server_feed(s->sm, buf, (size_t)n) < 0) {
			log_warn(s->id, "input buffer full, closing ip=%s",
			    s->ip);
			session_close(s);
			return;
		}
		if (s->data_start)
			s->data_bytes += (size_t)n;
		session_process(s);
		if (s->state == S_DEAD)
			return;
		if ((size_t)n < sizeof(buf) && (s->ssl == NULL ||
		    SSL_pending(s->ssl) == 0))
			break;
	}
	if (s->state == S_RUN)
		update_events(s);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == S_HANDSHAKE) {
		handshake(s);
		return;
	}
	if (s->want_read_on_write) {
		s->want_read_on_write = false;
		session_flush(s);
		if (s->state != S_RUN && s->state != S_CLOSING)
			return;
	}
	if (s->state == S_RUN)
		session_read(s);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == S_HANDSHAKE) {
		handshake(s);
		return;
	}
	if (s->want_write_on_read) {
		s->want_write_on_read = false;
		session_read(s);
		return;
	}
	session_flush(s);
	if (s->state == S_RUN && !s->out_blocked)
		session_read(s);
}

/* session_flush - send the machine's replies; close or start TLS when
   that was waiting for the replies to leave */
static void
session_flush(struct session *s)
{
	for (;;) {
		size_t len;
		const char *p = smtp_server_output(s->sm, &len);
		ssize_t n;

		if (len == 0)
			break;
		s->want_read_on_write = false;
		if (s->ssl) {
			int r = SSL_write(s->ssl, p, (int)(len > INT32_MAX ?
			    INT32_MAX : len));

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE) {
					s->out_blocked = true;
					update_events(s);
					return;
				}
				if (e == SSL_ERROR_WANT_READ) {
					s->out_blocked = true;
					s->want_read_on_write = true;
					update_events(s);
					return;
				}
				ERR_clear_error();
				session_close(s);
				return;
			}
			n = r;
		} else {
			n = send(s->fd, p, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					s->out_blocked = true;
					update_events(s);
					return;
				}
				session_close(s);
				return;
			}
		}
		smtp_server_output_consume(s->sm, (size_t)n);
	}
	s->out_blocked = false;
	if (s->state == S_CLOSING) {
		session_close(s);
		return;
	}
	if (s->starttls) {
		start_handshake(s);
		return;
	}
	if (!s->waiting && smtp_server_idle(s->sm))
		smtp_server_release_buffers(s->sm);
	update_events(s);
}

/* session_process - run the machine until it needs input or an answer */
static void
session_process(struct session *s)
{
	struct smtp_out out;
	size_t before, after;
	bool was_in_data;

	if (s->state != S_RUN || s->waiting)
		return;
	smtp_server_output(s->sm, &before);
	was_in_data = s->data_start != 0;
	for (;;) {
		enum smtp_action a = smtp_server_next(s->sm, &out);

		if (a == SMTP_ACT_READ)
			break;
		if (a == SMTP_ACT_CLOSE) {
			s->state = S_CLOSING;
			break;
		}
		if (a == SMTP_ACT_STARTTLS) {
			if (tls_store_count(s->w->d->tls) == 0) {
				session_close(s);
				return;
			}
			s->starttls = true;
			break;
		}
		if (a == SMTP_ACT_MAIL) {
			policy_mail(s, out.addr);
			continue;
		}
		if (a == SMTP_ACT_RCPT) {
			policy_rcpt(s, out.addr);
			continue;
		}
		if (a == SMTP_ACT_AUTH) {
			struct job *j = xcalloc(1, sizeof(*j));

			j->type = JOB_AUTH;
			j->user = xstrdup(out.user ? out.user : "");
			j->pass = xstrdup(out.pass ? out.pass : "");
			j->sess = s;
			s->job = j;
			s->waiting = true;
			job_submit(s->w, j);
			break;
		}
		if (a == SMTP_ACT_COMMIT) {
			policy_commit(s);
			if (s->waiting)
				break;
			continue;
		}
	}
	/* The command timer restarts whenever the machine answered. */
	smtp_server_output(s->sm, &after);
	if (after != before || s->waiting)
		s->cmd_start = time(NULL);
	if (smtp_server_in_data(s->sm)) {
		if (!was_in_data) {
			s->data_start = time(NULL);
			s->data_bytes = 0;
			arm_timer(s);
		}
	} else if (s->data_start) {
		s->data_start = 0;
		arm_timer(s);
	} else if (after != before) {
		arm_timer(s);
	}
	session_flush(s);
}

/* ---------------------------------------------------------------- */
/* Timers                                                             */

static void
arm_timer(struct session *s)
{
	const struct config *cfg = s->w->d->cfg;
	struct timeval tv = { 0, 0 };

	if (s->data_start)
		tv.tv_sec = cfg->timeout_command < DATA_CHECK_SECS ?
		    cfg->timeout_command : DATA_CHECK_SECS;
	else
		tv.tv_sec = cfg->timeout_command;
	if (tv.tv_sec <= 0)
		tv.tv_sec = 1;
	evtimer_add(s->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	const struct config *cfg = s->w->d->cfg;
	time_t now = time(NULL);
	const char *why = NULL;

	if (s->state == S_HANDSHAKE) {
		log_info(s->id, "TLS handshake timeout ip=%s", s->ip);
		session_close(s);
		return;
	}
	if (s->state != S_RUN)
		return;
	if (s->waiting) {
		/* our own work, not the peer's slowness */
		arm_timer(s);
		return;
	}
	if (s->data_start) {
		time_t el = now - s->data_start;

		if (el >= cfg->timeout_data)
			why = "data timeout";
		else if (now - s->last_read >= cfg->timeout_command)
			why = "data idle timeout";
		else if (cfg->min_data_rate > 0 && el >= RATE_GRACE_SECS &&
		    s->data_bytes / (size_t)el < (size_t)cfg->min_data_rate)
			why = "data rate too low";
	} else if (now - s->cmd_start >= cfg->timeout_command) {
		why = "command timeout";
	}
	if (why == NULL) {
		struct timeval tv = { 1, 0 };

		if (s->data_start)
			arm_timer(s);
		else {
			tv.tv_sec = s->cmd_start + cfg->timeout_command - now;
			if (tv.tv_sec < 1)
				tv.tv_sec = 1;
			evtimer_add(s->timer, &tv);
		}
		return;
	}
	log_info(s->id, "%s ip=%s", why, s->ip);
	smtp_server_timeout(s->sm);
	session_process(s);
}

/* ---------------------------------------------------------------- */
/* Accept and close                                                   */

static void
session_close(struct session *s)
{
	struct worker *w = s->w;

	if (s->state == S_DEAD)
		return;
	if (s->job) {
		s->job->sess = NULL;
		s->job = NULL;
	}
	/* Queries still out answer into the orphaned checks, never here. */
	inbound_free(s->ib);
	s->ib = NULL;
	rdns_detach(s);
	if (s->ssl) {
		SSL_set_quiet_shutdown(s->ssl, 1);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	event_free(s->rev);
	event_free(s->wev);
	event_free(s->timer);
	event_free(s->delay);
	close(s->fd);
	if (s->counted)
		iplimit_release(w->d->iplimit, w->d->worker_slot, s->addr,
		    s->addrlen);
	smtp_server_free(s->sm);
	s->sm = NULL;
	free(s->auth_user);
	s->auth_user = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	log_debug(s->id, "closed");
	s->state = S_DEAD;
	s->next = w->dead;
	w->dead = s;
	event_active(w->reaper, EV_TIMEOUT, 0);
	if (w->draining && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	while (w->dead) {
		struct session *s = w->dead;

		w->dead = s->next;
		free(s);
	}
}

static void
session_start(struct worker *w, int fd, const struct listener *l,
    const struct sockaddr_storage *ss)
{
	struct session *s = xcalloc(1, sizeof(*s));
	const struct config *cfg = w->d->cfg;
	int one = 1;

	s->w = w;
	s->l = l;
	s->fd = fd;
	snprintf(s->id, sizeof(s->id), "%02x%06lx", w->d->worker_slot & 0xff,
	    (w->seq++) & 0xffffff);
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			memcpy(s->addr, &a->sin6_addr.s6_addr[12], 4);
			s->addrlen = 4;
			inet_ntop(AF_INET, s->addr, s->ip, sizeof(s->ip));
		} else {
			memcpy(s->addr, &a->sin6_addr, 16);
			s->addrlen = 16;
			inet_ntop(AF_INET6, s->addr, s->ip, sizeof(s->ip));
		}
	} else {
		const struct sockaddr_in *a = (const void *)ss;

		memcpy(s->addr, &a->sin_addr, 4);
		s->addrlen = 4;
		inet_ntop(AF_INET, s->addr, s->ip, sizeof(s->ip));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, s);
	s->wev = event_new(w->base, fd, EV_WRITE | EV_PERSIST, on_write, s);
	s->timer = evtimer_new(w->base, on_timer, s);
	s->delay = evtimer_new(w->base, auth_delay_done, s);
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	s->cmd_start = s->last_read = time(NULL);

	if (!iplimit_acquire(w->d->iplimit, w->d->worker_slot, s->addr,
	    s->addrlen, cfg->max_conn_per_ip)) {
		static const char msg[] =
		    "421 4.7.0 Too many connections from your address, "
		    "try again later\r\n";

		log_warn(s->id, "connection limit reached ip=%s", s->ip);
		if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL) < 0) {
			/* nothing more to say to this peer */
		}
		session_close(s);
		return;
	}
	s->counted = true;
	log_info(s->id, "connect ip=%s port=%s role=%s", s->ip, l->name,
	    l->role == SMTP_ROLE_MX ? "mx" : l->role == SMTP_ROLE_SUBMISSION ?
	    "submission" : "submissions");
	arm_timer(s);
	rdns_start(s);
	if (l->role == SMTP_ROLE_SUBMISSIONS) {
		start_handshake(s);
		return;
	}
	{
		struct smtp_server_params p;

		memset(&p, 0, sizeof(p));
		p.role = l->role;
		p.hostname = cfg->hostname;
		p.client_ip = s->ip;
		p.limits = cfg->limits;
		p.tls_offered = tls_store_count(w->d->tls) > 0;
		s->sm = smtp_server_new(&p);
	}
	s->state = S_RUN;
	session_process(s);
}

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	const struct listener *l = NULL;
	size_t i;
	int k;

	for (i = 0; i < w->d->nlisteners; i++)
		if (w->d->listeners[i].fd == fd)
			l = &w->d->listeners[i];
	for (k = 0; k < 64 && l != NULL && !w->draining; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn(NULL, "accept: %m");
				return;
			}
			log_err(NULL, "accept: %m");
			return;
		}
		if ((int)w->nsessions >= w->d->cfg->max_connections) {
			static const char msg[] =
			    "421 4.3.2 Too many connections, try again later\r\n";

			if (send(c, msg, sizeof(msg) - 1, MSG_NOSIGNAL) < 0) {
				/* ignored: closing anyway */
			}
			close(c);
			continue;
		}
		session_start(w, c, l, &ss);
	}
}

/* ---------------------------------------------------------------- */
/* Stopping                                                           */

static void
stop_accepting(struct worker *w)
{
	size_t i;

	w->draining = true;
	for (i = 0; i < w->d->nlisteners; i++)
		if (w->lev[i])
			event_del(w->lev[i]);
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_info(NULL, "worker stopping with %zu sessions open",
	    w->nsessions);
	event_base_loopexit(w->base, NULL);
}

/* on_sigterm - stop: say 421 to idle sessions, let commits finish */
static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	struct session *s, *next;
	struct timeval tv = { DRAIN_LIMIT_SECS, 0 };

	stop_accepting(w);
	for (s = w->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_RUN && !s->waiting && s->sm != NULL &&
		    !smtp_server_in_data(s->sm)) {
			smtp_server_shutdown(s->sm);
			session_process(s);
		} else if (s->state == S_HANDSHAKE) {
			session_close(s);
		}
	}
	if (w->nsessions == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	tv.tv_sec = sig == SIGTERM || sig == SIGINT ? 10 : DRAIN_LIMIT_SECS;
	evtimer_add(w->drain_timer, &tv);
}

/* on_sigusr1 - a new generation took over: finish sessions, then exit */
static void
on_sigusr1(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { 3600, 0 };

	stop_accepting(w);
	if (w->nsessions == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	evtimer_add(w->drain_timer, &tv);
}

int
worker_main(struct daemon_ctx *d)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	size_t i;

	w->d = d;
	w->base = event_base_new();
	if (w->base == NULL) {
		log_err(NULL, "worker: event_base_new failed");
		return 1;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0 || pthread_create(&w->thread, NULL, helper_run, w)) {
		log_err(NULL, "worker: cannot start helper thread");
		return 1;
	}
	w->jobs_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST,
	    jobs_ready, w);
	event_add(w->jobs_ev, NULL);
	w->lev = xcalloc(d->nlisteners, sizeof(*w->lev));
	for (i = 0; i < d->nlisteners; i++) {
		w->lev[i] = event_new(w->base, d->listeners[i].fd,
		    EV_READ | EV_PERSIST, on_accept, w);
		event_add(w->lev[i], NULL);
	}
	w->sigterm = evsignal_new(w->base, SIGTERM, on_sigterm, w);
	w->sigint = evsignal_new(w->base, SIGINT, on_sigterm, w);
	w->sigusr1 = evsignal_new(w->base, SIGUSR1, on_sigusr1, w);
	w->drain_timer = evtimer_new(w->base, on_drain_timeout, w);
	w->reaper = event_new(w->base, -1, 0, reap, w);
	dns_start(w);
	event_add(w->sigterm, NULL);
	event_add(w->sigint, NULL);
	event_add(w->sigusr1, NULL);

	event_base_dispatch(w->base);

	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	jobs_ready(w->efd, EV_READ, w);
	while (w->sessions)
		session_close(w->sessions);
	reap(-1, 0, w);
	dns_stop(w);
	event_free(w->reaper);
	for (i = 0; i < d->nlisteners; i++)
		event_free(w->lev[i]);
	free(w->lev);
	event_free(w->jobs_ev);
	event_free(w->sigterm);
	event_free(w->sigint);
	event_free(w->sigusr1);
	event_free(w->drain_timer);
	event_base_free(w->base);
	close(w->efd);
	free(w);
	return 0;
}
