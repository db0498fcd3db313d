/*
 * mailauth/inbound.c - SPF, DKIM and DMARC on one inbound message over an
 * asynchronous resolver, and the fields reporting them (see inbound.h).
 */
#include "mailauth/inbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mailauth/authres.h"
#include "msg/header.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

struct dkim_lookup {
	struct inbound *ib;
	size_t qi;
};

/* One SPF evaluation: the MAIL FROM identity, or the HELO one. */
struct spf_check {
	struct inbound *ib;
	struct spf *s;
	bool done;
};

struct inbound {
	char *ip, *helo, *mail_from, *authserv_id;
	struct inbound_params p;
	struct dns_resolver *r;

	struct spf *spf;		/* MAIL FROM (the null sender: HELO) */
	struct spf *spf_helo;		/* HELO, with p.check_helo */
	struct spf_check chk[2];
	bool spf_started, spf_done;
	long long spf_deadline;		/* monotonic ms, 0: none */

	struct dkim_verify *dkim;
	struct dkim_lookup *dq;
	size_t dkim_pending;
	bool dkim_started, dkim_done;
	long long dkim_deadline;

	struct dmarc_eval *dmarc;
	struct dmarc_auth *auths;
	char from[DMARC_DOMAIN_MAX + 1];
	enum dmarc_from_status from_status;
	bool dmarc_started, dmarc_done;
	long long dmarc_deadline;

	size_t outstanding;		/* queries whose answer is due */
	bool orphan;			/* freed by the caller */
	inbound_done_cb *cb;
	void *arg;
};

static void spf_step(struct spf_check *c);
static void maybe_dmarc(struct inbound *ib);

/* now_ms - the monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline - when a budget of ms started now runs out (0: never) */
static long long
deadline(int ms)
{
	return ms > 0 ? now_ms() + ms : 0;
}

/* expired - has this deadline passed? */
static bool
expired(long long d)
{
	return d != 0 && now_ms() >= d;
}

/* destroy - free everything */
static void
destroy(struct inbound *ib)
{
	dmarc_eval_free(ib->dmarc);
	free(ib->auths);
	dkim_verify_free(ib->dkim);
	free(ib->dq);
	spf_free(ib->spf);
	spf_free(ib->spf_helo);
	free(ib->ip);
	free(ib->helo);
	free(ib->mail_from);
	free(ib->authserv_id);
	free(ib);
}

/* answer_arrived - count one answer in; true if the caller must stop
   because the inbound was orphaned (and is now perhaps freed) */
static bool
answer_arrived(struct inbound *ib)
{
	ib->outstanding--;
	if (!ib->orphan)
		return false;
	if (ib->outstanding == 0)
		destroy(ib);
	return true;
}

/* inbound_new - see inbound.h */
int
inbound_new(struct inbound **out, const struct inbound_params *p)
{
	struct inbound *ib = xcalloc(1, sizeof(*ib));
	struct spf_params sp;

	ib->p = *p;
	ib->ip = xstrdup(p->ip ? p->ip : "");
	ib->helo = xstrdup(p->helo ? p->helo : "");
	ib->mail_from = xstrdup(p->mail_from ? p->mail_from : "");
	ib->authserv_id = xstrdup(p->authserv_id ? p->authserv_id :
	    "localhost");
	ib->p.ip = ib->ip;
	ib->p.helo = ib->helo;
	ib->p.mail_from = ib->mail_from;
	ib->p.authserv_id = ib->authserv_id;
	memset(&sp, 0, sizeof(sp));
	sp.ip = ib->ip;
	sp.helo = ib->helo;
	sp.mail_from = ib->mail_from;
	sp.receiver = ib->authserv_id;
	sp.now = p->now;
	sp.identity = SPF_ID_MAILFROM;
	if (spf_new(&ib->spf, &sp) != 0) {
		destroy(ib);
		*out = NULL;
		return E_INVAL;
	}
	ib->chk[0].ib = ib;
	ib->chk[0].s = ib->spf;
	/* RFC 7208 2.3: the HELO identity on its own, when asked for and
	   when it is not already the one checked (the null sender) */
	if (p->check_helo && *ib->mail_from && *ib->helo) {
		sp.identity = SPF_ID_HELO;
		if (spf_new(&ib->spf_helo, &sp) == 0) {
			ib->chk[1].ib = ib;
			ib->chk[1].s = ib->spf_helo;
		} else
			ib->spf_helo = NULL;
	}
	*out = ib;
	return 0;
}

/* inbound_free - see inbound.h */
void
inbound_free(struct inbound *ib)
{
	if (ib == NULL)
		return;
	if (ib->outstanding > 0) {
		ib->orphan = true;
		return;
	}
	destroy(ib);
}

/* ---- SPF ---- */

/* spf_cb - one SPF answer */
static void
spf_cb(void *arg, const struct dns_answer *ans)
{
	struct spf_check *c = arg;

	if (answer_arrived(c->ib))
		return;
	spf_answer(c->s, ans);
	spf_step(c);
}

/* spf_step - run an SPF machine until it waits for DNS or is done */
static void
spf_step(struct spf_check *c)
{
	struct inbound *ib = c->ib;
	struct spf_query q;

	while (spf_next(c->s, &q) == SPF_STEP_QUERY) {
		struct dns_answer a;

		memset(&a, 0, sizeof(a));
		if (!expired(ib->spf_deadline)) {
			if (dns_query(ib->r, q.name, q.type, spf_cb, c) == 0) {
				ib->outstanding++;
				return;
			}
			a.status = DNS_ERROR;
		} else
			a.status = DNS_TIMEOUT;	/* the budget is spent */
		spf_answer(c->s, &a);
	}
	c->done = true;
	if (!ib->chk[0].done || (ib->spf_helo && !ib->chk[1].done))
		return;
	ib->spf_done = true;
	maybe_dmarc(ib);
}

/* spf_start - both SPF checks start (once) */
static void
spf_start(struct inbound *ib)
{
	ib->spf_started = true;
	ib->spf_deadline = deadline(ib->p.spf_budget_ms);
	/* The HELO check first: the MAIL FROM one may finish at once and
	   must then find the HELO one counted as running. */
	if (ib->spf_helo)
		spf_step(&ib->chk[1]);
	spf_step(&ib->chk[0]);
}

/* inbound_start_spf - see inbound.h */
void
inbound_start_spf(struct inbound *ib, struct dns_resolver *r)
{
	if (ib->spf_started)
		return;
	ib->r = r;
	spf_start(ib);
}

/* ---- DKIM ---- */

/* txt_strings - the TXT records of an answer as (pointer, length) */
static size_t
txt_strings(const struct dns_answer *ans, const char ***txts,
    size_t **lens)
{
	size_t i, n = 0;

	*txts = xcalloc(ans->nrrs + 1, sizeof(**txts));
	*lens = xcalloc(ans->nrrs + 1, sizeof(**lens));
	for (i = 0; i < ans->nrrs; i++) {
		if (ans->rrs[i].type != DNS_T_TXT || ans->rrs[i].txt == NULL)
			continue;
		(*txts)[n] = ans->rrs[i].txt;
		(*lens)[n++] = ans->rrs[i].txt_len;
	}
	return n;
}

/* dkim_key_done - one key lookup finished */
static void
dkim_key_done(struct inbound *ib)
{
	if (--ib->dkim_pending > 0)
		return;
	ib->dkim_done = true;
	maybe_dmarc(ib);
}

/* dkim_cb - one DKIM key answer */
static void
dkim_cb(void *arg, const struct dns_answer *ans)
{
	struct dkim_lookup *l = arg;
	struct inbound *ib = l->ib;

	if (answer_arrived(ib))
		return;
	if (expired(ib->dkim_deadline)) {
		dkim_verify_key_answer(ib->dkim, l->qi, DKIM_KEY_TEMPFAIL,
		    NULL, NULL, 0);
		dkim_key_done(ib);
		return;
	}
	dkim_verify_dns_answer(ib->dkim, l->qi, ans);
	dkim_key_done(ib);
}

/* inbound_message - see inbound.h */
void
inbound_message(struct inbound *ib, struct dns_resolver *r, const char *msg,
    size_t n, inbound_done_cb *cb, void *arg)
{
	struct dkim_verify_opts vo;
	size_t i, nq;

	if (ib->dkim_started)
		return;
	ib->r = r;
	ib->cb = cb;
	ib->arg = arg;
	ib->dkim_started = true;
	memset(&vo, 0, sizeof(vo));
	vo.now = ib->p.now;
	ib->dkim = dkim_verify_new(&vo);
	/* E_SYNTAX leaves no signature: dkim=none, like smtpsctl. */
	(void)dkim_verify_message(ib->dkim, msg, n);
	/* The DMARC From domain is read now, while msg is at hand. */
	{
		const char *m = msg;
		size_t hl = 0, k;

		for (k = 0; k + 1 < n; k++) {
			if (m[k] != '\n')
				continue;
			if (m[k + 1] == '\n' || (m[k + 1] == '\r' &&
			    k + 2 < n && m[k + 2] == '\n')) {
				hl = k + 1;
				break;
			}
		}
		if (k + 1 >= n)
			hl = n;
		ib->from[0] = '\0';
		if (dmarc_from_domain(msg, hl, ib->from, sizeof(ib->from),
		    &ib->from_status) != 0)
			ib->from[0] = '\0';
	}
	nq = dkim_verify_nqueries(ib->dkim);
	ib->dq = xcalloc(nq ? nq : 1, sizeof(*ib->dq));
	ib->dkim_pending = nq + 1;	/* +1: held until the loop ends */
	ib->dkim_deadline = deadline(ib->p.dkim_budget_ms);
	if (!ib->spf_started)
		spf_start(ib);
	for (i = 0; i < nq; i++) {
		ib->dq[i].ib = ib;
		ib->dq[i].qi = i;
		if (dns_query(r, dkim_verify_query(ib->dkim, i), DNS_T_TXT,
		    dkim_cb, &ib->dq[i]) == 0) {
			ib->outstanding++;
			continue;
		}
		dkim_verify_key_answer(ib->dkim, i, DKIM_KEY_TEMPFAIL, NULL,
		    NULL, 0);
		ib->dkim_pending--;
	}
	dkim_key_done(ib);
}

/* ---- DMARC ---- */

/* dmarc_cb - one DMARC answer */
static void
dmarc_cb(void *arg, const struct dns_answer *ans)
{
	struct inbound *ib = arg;
	const char **txt;
	size_t *len, n;

	if (answer_arrived(ib))
		return;
	n = txt_strings(ans, &txt, &len);
	(void)dmarc_eval_answer(ib->dmarc, ans->status, txt, len, n);
	free(txt);
	free(len);
	maybe_dmarc(ib);
}

/* maybe_dmarc - once SPF and DKIM are done, run DMARC to its end and
   report; nothing may touch ib after the callback */
static void
maybe_dmarc(struct inbound *ib)
{
	struct dmarc_query q;

	if (!ib->spf_done || !ib->dkim_done || ib->dmarc_done)
		return;
	if (!ib->dmarc_started) {
		struct dmarc_params dp;
		size_t i, nsig = dkim_verify_nsigs(ib->dkim);

		memset(&dp, 0, sizeof(dp));
		if (ib->from[0] != '\0')
			dp.from_domain = ib->from;
		dp.from_status = ib->from_status;
		if (spf_domain(ib->spf) != NULL) {
			dp.spf.domain = spf_domain(ib->spf);
			dp.spf.pass = spf_result(ib->spf) == SPF_PASS;
		}
		ib->auths = xcalloc(nsig ? nsig : 1, sizeof(*ib->auths));
		for (i = 0; i < nsig; i++) {
			const struct dkim_sig_result *sr =
			    dkim_verify_sig(ib->dkim, i);

			ib->auths[i].domain = sr->domain;
			ib->auths[i].pass = sr->result == DKIM_RESULT_PASS;
			ib->auths[i].body_partial = sr->body_partial ||
			    !sr->dmarc_usable;
		}
		dp.dkim = ib->auths;
		dp.ndkim = nsig;
		dp.discovery = ib->p.discovery;
		dp.psl = ib->p.psl;
		dp.sample = ib->p.sample;
		ib->dmarc = dmarc_eval_new(&dp);
		ib->dmarc_started = true;
		ib->dmarc_deadline = deadline(ib->p.dmarc_budget_ms);
	}
	while (dmarc_eval_next(ib->dmarc, &q) == DMARC_NEED_DNS) {
		enum dns_status st = DNS_TIMEOUT;	/* the budget is spent */

		if (!expired(ib->dmarc_deadline)) {
			if (dns_query(ib->r, q.name, q.type, dmarc_cb, ib) ==
			    0) {
				ib->outstanding++;
				return;
			}
			st = DNS_ERROR;
		}
		(void)dmarc_eval_answer(ib->dmarc, st, NULL, NULL, 0);
	}
	ib->dmarc_done = true;
	if (ib->cb)
		ib->cb(ib->arg, ib);
}

/* inbound_finished - see inbound.h */
bool
inbound_finished(const struct inbound *ib)
{
	return ib->dmarc_done;
}

const struct spf *
inbound_spf(const struct inbound *ib)
{
	return ib->spf;
}

const struct spf *
inbound_spf_helo(const struct inbound *ib)
{
	return ib->spf_helo;
}

const struct dkim_verify *
inbound_dkim(const struct inbound *ib)
{
	return ib->dkim;
}

const struct dmarc_verdict *
inbound_dmarc(const struct inbound *ib)
{
	return ib->dmarc_done ? dmarc_eval_verdict(ib->dmarc) : NULL;
}

/* ---- the fields ---- */

/* add_spf - spf=RESULT smtp.mailfrom=DOMAIN (smtp.helo for the null
   sender, whose check used the HELO name) */
static void
add_spf(struct authres *ar, const struct inbound *ib)
{
	struct authres_resinfo *ri;
	const struct spf *s = ib->spf;

	ri = authres_add(ar, "spf", spf_result_str(spf_result(s)), NULL,
	    spf_problem(s));
	if (*ib->mail_from && strchr(ib->mail_from, '@') != NULL)
		authres_add_prop(ri, "smtp", "mailfrom", spf_domain(s) ?
		    spf_domain(s) : "");
	else
		authres_add_prop(ri, "smtp", "helo", ib->helo);
	if (ib->spf_helo != NULL) {
		ri = authres_add(ar, "spf", spf_result_str(spf_result(
		    ib->spf_helo)), NULL, spf_problem(ib->spf_helo));
		authres_add_prop(ri, "smtp", "helo", ib->helo);
	}
}

/* add_dkim - one resinfo per signature, or dkim=none */
static void
add_dkim(struct authres *ar, const struct dkim_verify *v)
{
	struct authres_resinfo *ri;
	size_t i, n = v ? dkim_verify_nsigs(v) : 0;

	if (n == 0) {
		(void)authres_add(ar, "dkim", "none", NULL, "no signature");
		return;
	}
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *r = dkim_verify_sig(v, i);

		ri = authres_add(ar, "dkim", dkim_result_str(r->result),
		    r->result == DKIM_RESULT_PASS ? NULL :
		    dkim_reason_str(r->reason), r->body_partial ?
		    "l= leaves part of the body unsigned" : NULL);
		if (r->domain)
			authres_add_prop(ri, "header", "d", r->domain);
		if (r->selector)
			authres_add_prop(ri, "header", "s", r->selector);
		if (r->alg != DKIM_ALG_UNKNOWN)
			authres_add_prop(ri, "header", "a",
			    dkim_alg_str(r->alg));
		if (r->b_prefix && *r->b_prefix)
			authres_add_prop(ri, "header", "b", r->b_prefix);
	}
}

/* add_dmarc - dmarc=RESULT (p= sp= dis=) header.from= policy.dmarc=
   [policy.override=] */
static void
add_dmarc(struct authres *ar, const struct dmarc_verdict *d,
    const char *override)
{
	struct authres_resinfo *ri;
	char comment[160];

	if (d->has_record && (d->result == DMARC_RESULT_PASS ||
	    d->result == DMARC_RESULT_FAIL)) {
		snprintf(comment, sizeof(comment), "p=%s sp=%s dis=%s%s",
		    dmarc_policy_str(d->record.p == DMARC_POLICY_UNSET ?
		    DMARC_POLICY_NONE : d->record.p),
		    dmarc_policy_str(d->record.sp == DMARC_POLICY_UNSET ?
		    (d->record.p == DMARC_POLICY_UNSET ? DMARC_POLICY_NONE :
		    d->record.p) : d->record.sp),
		    dmarc_policy_str(override ? DMARC_POLICY_NONE :
		    d->disposition),
		    d->sampled_out ? (d->record.testing ? " t=y" :
		    " pct sampled out") : "");
		ri = authres_add(ar, "dmarc", dmarc_result_str(d->result),
		    NULL, comment);
	} else
		ri = authres_add(ar, "dmarc", dmarc_result_str(d->result),
		    d->result == DMARC_RESULT_NONE ? NULL : d->reason, NULL);
	if (d->from_domain && *d->from_domain)
		authres_add_prop(ri, "header", "from", d->from_domain);
	if (d->has_record && (d->result == DMARC_RESULT_PASS ||
	    d->result == DMARC_RESULT_FAIL))
		authres_add_prop(ri, "policy", "dmarc",
		    dmarc_policy_str(d->policy));
	if (override != NULL)
		authres_add_prop(ri, "policy", "override", override);
}

/* inbound_authres - see inbound.h */
int
inbound_authres(const struct inbound *ib, const char *override,
    struct buf *out)
{
	struct authres ar;
	int r;

	if (!ib->dmarc_done)
		return E_INVAL;
	authres_init(&ar, ib->authserv_id);
	add_spf(&ar, ib);
	add_dkim(&ar, ib->dkim);
	add_dmarc(&ar, dmarc_eval_verdict(ib->dmarc), override);
	r = authres_format(&ar, out);
	authres_fini(&ar);
	return r;
}

/* inbound_received_spf - see inbound.h */
int
inbound_received_spf(const struct inbound *ib, struct buf *out)
{
	int r;

	if (!ib->spf_done)
		return E_INVAL;
	if ((r = spf_received_header(ib->spf, out)) < 0)
		return r;
	return buf_append(out, "\r\n", 2);
}

/* is_ours - an Authentication-Results value claiming authserv_id */
static bool
is_ours(const char *value, size_t n, const char *authserv_id)
{
	struct authres ar;
	bool ours = false;

	if (authres_parse(&ar, value, n) == 0 && ar.authserv_id != NULL)
		ours = strcasecmp(ar.authserv_id, authserv_id) == 0;
	authres_fini(&ar);
	return ours;
}

/* inbound_strip_authres - see inbound.h */
int
inbound_strip_authres(const char *msg, size_t n, const char *authserv_id,
    struct buf *out, size_t *nstripped)
{
	static const char name[] = "Authentication-Results";
	struct msg_header h;
	size_t i, from = 0;
	int r = 0;

	*nstripped = 0;
	if (msg_header_parse(&h, msg, n, 0) < 0) {
		msg_header_fini(&h);
		return buf_append(out, msg, n);
	}
	for (i = 0; i < h.nfields; i++) {
		const struct msg_field *f = &h.fields[i];
		size_t start, end;

		if (!msg_field_is(f, name, sizeof(name) - 1) ||
		    !is_ours(f->value, f->value_len, authserv_id))
			continue;
		start = (size_t)(f->raw - msg);
		end = start + f->raw_len;
		if (end + 2 <= n && msg[end] == '\r' && msg[end + 1] == '\n')
			end += 2;
		else if (end < n && msg[end] == '\n')
			end += 1;
		if ((r = buf_append(out, msg + from, start - from)) < 0)
			goto out;
		from = end;
		(*nstripped)++;
	}
	r = buf_append(out, msg + from, n - from);
out:
	msg_header_fini(&h);
	return r;
}
