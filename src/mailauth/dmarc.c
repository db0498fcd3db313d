/*
 * mailauth/dmarc.c - DMARC policy discovery, alignment and verdict
 * (RFC 7489 section 6.6, RFC 9989 sections 4.10 and 5.3).
 *
 * The machine re-runs its evaluation from the start each time it is asked
 * for the next step, reading DNS answers from its own cache; whenever the
 * evaluation needs an answer the cache lacks, that is the next query.
 * This keeps the code a straight reading of the RFC's steps, and bounds
 * the cost: every name is asked for once, and DMARC_MAX_QUERIES caps the
 * total.
 */
#include "mailauth/dmarc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/psl.h"
#include "util/err.h"
#include "util/idna.h"
#include "util/xmalloc.h"

/* Our cap on DNS queries for one message: the author domain's walk (8),
   three existence queries (RFC 9091 np), and a few identifier walks.
   Identifiers whose walk would pass the cap are treated as unaligned. */
#define DMARC_MAX_QUERIES 40

struct entry {
	char *name;		/* the domain (not the _dmarc. name) */
	enum dns_type type;	/* TXT for _dmarc.name, or A/AAAA/MX */
	enum dns_status st;
	int nrec;		/* TXT strings that are DMARC records */
	struct dmarc_record rec;	/* when nrec == 1 */
};

struct dmarc_eval {
	struct dmarc_params p;
	char *from;		/* A-label form, lower case */
	char *from_shown;	/* as the message gave it (ASCII lower-cased) */
	const char *from_idn_error;	/* why from has no A-label form */
	char *spf_domain;
	struct dmarc_auth *dkim;
	char **dkim_domains;

	struct entry *cache;
	size_t ncache;

	bool pending;
	char qname[DMARC_DOMAIN_MAX + 8];
	char *pname;		/* the domain of the pending query */
	enum dns_type ptype;
	bool over_budget;

	bool done;
	struct dmarc_verdict v;
	char org[DMARC_DOMAIN_MAX + 1];
	char policy_domain[DMARC_DOMAIN_MAX + 1];
	char aligned_dkim[DMARC_DOMAIN_MAX + 1];
	char reason[DMARC_DOMAIN_MAX + 64];
};

/* The outcome of one evaluation pass. */
enum pass_state { PASS_DONE, PASS_NEED };

/* dmarc_result_str - the RFC 8601 2.7.7 result word */
const char *
dmarc_result_str(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE: return "none";
	case DMARC_RESULT_PASS: return "pass";
	case DMARC_RESULT_FAIL: return "fail";
	case DMARC_RESULT_TEMPERROR: return "temperror";
	case DMARC_RESULT_PERMERROR: return "permerror";
	}
	return "permerror";
}

/* dmarc_policy_str - the record's word for a policy */
const char *
dmarc_policy_str(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_UNSET: return "unset";
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	}
	return "unset";
}

/* labels - how many labels a name has */
static size_t
labels(const char *name)
{
	size_t n = 1;

	if (*name == '\0')
		return 0;
	for (; *name; name++)
		if (*name == '.')
			n++;
	return n;
}

/* suffix_labels - the suffix of name holding its last k labels */
static const char *
suffix_labels(const char *name, size_t k)
{
	size_t x = labels(name);
	const char *p = name;

	while (x > k && (p = strchr(p, '.')) != NULL) {
		p++;
		x--;
	}
	return p ? p : name;
}

/* next_suffix - RFC 9989 4.10 steps 3, 4 and 7: the next walk target as
   a suffix of name, or NULL when no labels remain */
static const char *
next_suffix(const char *name)
{
	size_t x = labels(name);

	if (x <= 1)
		return NULL;
	if (x >= 8)
		return suffix_labels(name, 7);
	return suffix_labels(name, x - 1);
}

/* dmarc_treewalk_next_name - next_suffix copied out */
bool
dmarc_treewalk_next_name(const char *name, char *out, size_t outsz)
{
	const char *s = next_suffix(name);
	size_t len;

	if (s == NULL || (len = strlen(s)) + 1 > outsz)
		return false;
	memcpy(out, s, len + 1);
	return true;
}

/* dmarc_treewalk_org_domain - RFC 9989 4.10.2 selection */
const char *
dmarc_treewalk_org_domain(const struct dmarc_walk_entry *w, size_t n,
    const char *start)
{
	const char *fewest = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!w[i].has_record)
			continue;
		if (w[i].psd == DMARC_PSD_N)
			return w[i].name;
		if (w[i].psd == DMARC_PSD_Y &&
		    strcasecmp(w[i].name, start) != 0 &&
		    labels(w[i].name) < labels(start))
			return suffix_labels(start, labels(w[i].name) + 1);
		fewest = w[i].name;
	}
	return fewest ? fewest : start;
}

/* is_ancestor_or_self - is anc the same name as name, or an ancestor? */
static bool
is_ancestor_or_self(const char *anc, const char *name)
{
	size_t a = strlen(anc), n = strlen(name);

	if (a > n)
		return false;
	if (strcasecmp(name + n - a, anc) != 0)
		return false;
	return a == n || name[n - a - 1] == '.';
}

/* dmarc_aligned - RFC 7489 3.1.1 and 3.1.2 */
bool
dmarc_aligned(const char *a, const char *org_a, const char *b,
    const char *org_b, enum dmarc_align mode)
{
	if (a == NULL || b == NULL)
		return false;
	if (mode == DMARC_ALIGN_STRICT)
		return strcasecmp(a, b) == 0;
	if (org_a == NULL || org_b == NULL)
		return false;
	return strcasecmp(org_a, org_b) == 0;
}

/* lower_dup - a lower-case copy */
static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s), *p;

	for (p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/*
 * alabel_dup - a lower-case copy of d in A-label form (RFC 8616 6: DMARC
 * looks up and aligns A-labels), or NULL when d has none (*why then
 * says why).  An ASCII name is only lower-cased.
 */
static char *
alabel_dup(const char *d, const char **why)
{
	char a[DMARC_DOMAIN_MAX + 2];
	int r;

	if (why != NULL)
		*why = NULL;
	if (idna_is_ascii(d))
		return lower_dup(d);
	if ((r = idna_to_ascii(d, a, sizeof(a))) != 0) {
		if (why != NULL)
			*why = idna_strerror(r);
		return NULL;
	}
	return lower_dup(a);
}

/* dmarc_eval_new - copy the parameters and start */
struct dmarc_eval *
dmarc_eval_new(const struct dmarc_params *params)
{
	struct dmarc_eval *e = xcalloc(1, sizeof(*e));
	size_t i;

	e->p = *params;
	/* Every identifier in A-label form, so policy discovery (both
	   ways) and alignment compare one form, case aside (RFC 8616 6). An
	   SPF or DKIM domain with no A-label form cannot align. */
	if (params->from_domain && *params->from_domain) {
		e->from_shown = lower_dup(params->from_domain);
		e->from = alabel_dup(params->from_domain, &e->from_idn_error);
	}
	if (params->spf.domain && *params->spf.domain)
		e->spf_domain = alabel_dup(params->spf.domain, NULL);
	e->p.spf.domain = e->spf_domain;
	if (params->ndkim > 0) {
		e->dkim = xcalloc(params->ndkim, sizeof(*e->dkim));
		e->dkim_domains = xcalloc(params->ndkim, sizeof(char *));
		for (i = 0; i < params->ndkim; i++) {
			e->dkim[i] = params->dkim[i];
			if (params->dkim[i].domain)
				e->dkim_domains[i] =
				    alabel_dup(params->dkim[i].domain, NULL);
			e->dkim[i].domain = e->dkim_domains[i];
		}
	}
	e->p.dkim = e->dkim;
	e->p.from_domain = e->from;
	if (e->p.sample > 99)
		e->p.sample = 99;
	return e;
}

/* dmarc_eval_free - everything the machine owns */
void
dmarc_eval_free(struct dmarc_eval *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->ncache; i++) {
		free(e->cache[i].name);
		if (e->cache[i].nrec == 1)
			dmarc_record_fini(&e->cache[i].rec);
	}
	free(e->cache);
	for (i = 0; i < e->p.ndkim; i++)
		free(e->dkim_domains[i]);
	free(e->dkim_domains);
	free(e->dkim);
	free(e->spf_domain);
	free(e->from);
	free(e->from_shown);
	free(e->pname);
	free(e);
}

/*
 * lookup - the cached answer for (name, type), or NULL after arranging
 * for it to be the next query (or, past the budget, marking that).
 */
static const struct entry *
lookup(struct dmarc_eval *e, const char *name, enum dns_type type)
{
	size_t i;

	for (i = 0; i < e->ncache; i++)
		if (e->cache[i].type == type &&
		    strcmp(e->cache[i].name, name) == 0)
			return &e->cache[i];
	if (e->ncache >= DMARC_MAX_QUERIES) {
		e->over_budget = true;
		return NULL;
	}
	if (!e->pending) {
		e->pending = true;
		free(e->pname);
		e->pname = xstrdup(name);
		e->ptype = type;
		if (type == DNS_T_TXT)
			snprintf(e->qname, sizeof(e->qname), "_dmarc.%s", name);
		else
			snprintf(e->qname, sizeof(e->qname), "%s", name);
	}
	return NULL;
}

/* is_tempfail - an answer that says nothing about the name */
static bool
is_tempfail(enum dns_status st)
{
	return st == DNS_SERVFAIL || st == DNS_TIMEOUT || st == DNS_ERROR;
}

/*
 * walk - the RFC 9989 4.10 tree walk from start, into w (room for
 * DMARC_TREEWALK_MAX_QUERIES).  Returns PASS_NEED when an answer is
 * missing; *tempfail when a query failed.
 */
static enum pass_state
walk(struct dmarc_eval *e, const char *start, struct dmarc_walk_entry *w,
    const struct dmarc_record **recs, size_t *nw, bool *tempfail)
{
	const char *name = start;
	const struct entry *en;

	*nw = 0;
	*tempfail = false;
	while (name != NULL && *nw < DMARC_TREEWALK_MAX_QUERIES) {
		if ((en = lookup(e, name, DNS_T_TXT)) == NULL)
			return PASS_NEED;
		if (is_tempfail(en->st)) {
			*tempfail = true;
			return PASS_DONE;
		}
		w[*nw].name = en->name;
		w[*nw].has_record = en->nrec == 1;
		w[*nw].psd = en->nrec == 1 ? en->rec.psd : DMARC_PSD_U;
		recs[*nw] = en->nrec == 1 ? &en->rec : NULL;
		(*nw)++;
		/* Step 2 and 6: a record with a psd tag ends the walk. */
		if (en->nrec == 1 && en->rec.psd != DMARC_PSD_U &&
		    en->rec.other_invalid == false)
			break;
		name = next_suffix(name);
	}
	return PASS_DONE;
}

/*
 * org_of - the Organizational Domain of an authenticated identifier id,
 * given the author domain's.  NULL with *need when DNS is needed; NULL
 * otherwise means "cannot be aligned".
 */
static const char *
org_of(struct dmarc_eval *e, const char *id, const char *org_from,
    bool *need, char *buf, size_t bufsz)
{
	struct dmarc_walk_entry w[DMARC_TREEWALK_MAX_QUERIES];
	const struct dmarc_record *recs[DMARC_TREEWALK_MAX_QUERIES];
	size_t nw;
	bool tf;

	*need = false;
	if (e->p.discovery == DMARC_DISCOVERY_PSL) {
		if (e->p.psl == NULL || pubsuffix_org_domain(e->p.psl, id,
		    strlen(id), buf, bufsz) < 0)
			return NULL;
		return buf;
	}
	/* Relaxed alignment means equal org domains, and an org domain is
	   always the name or one of its ancestors: an identifier outside
	   the author's org domain cannot align, so no DNS is spent on it. */
	if (!is_ancestor_or_self(org_from, id))
		return NULL;
	if (walk(e, id, w, recs, &nw, &tf) == PASS_NEED) {
		if (e->over_budget)
			return NULL;
		*need = true;
		return NULL;
	}
	if (tf)
		return NULL;
	snprintf(buf, bufsz, "%s", dmarc_treewalk_org_domain(w, nw, id));
	return buf;
}

/* lower_policy - pct= sampling and t=y ask for one level less */
static enum dmarc_policy
lower_policy(enum dmarc_policy p)
{
	if (p == DMARC_POLICY_REJECT)
		return DMARC_POLICY_QUARANTINE;
	return DMARC_POLICY_NONE;
}

/* finish - the verdict is known */
static void
finish(struct dmarc_eval *e, enum dmarc_result r, const char *why)
{
	e->v.result = r;
	snprintf(e->reason, sizeof(e->reason), "%s", why);
	e->v.reason = e->reason;
	e->done = true;
}

/* copy_record - keep the record that applied in the verdict */
static void
copy_record(struct dmarc_eval *e, const struct dmarc_record *r)
{
	size_t i;

	e->v.record = *r;
	for (i = 0; i < r->nrua; i++)
		e->v.record.rua[i].uri = r->rua[i].uri;
	for (i = 0; i < r->nruf; i++)
		e->v.record.ruf[i].uri = r->ruf[i].uri;
	/* The URIs stay owned by the cache entry, freed with the machine:
	   the verdict's copy must not free them, so it is never fini'd. */
	e->v.has_record = true;
}

/*
 * discover - find the policy record and the author's Organizational
 * Domain.  PASS_DONE with *rec NULL and the verdict finished when there
 * is nothing to apply.
 */
static enum pass_state
discover(struct dmarc_eval *e, const struct dmarc_record **rec)
{
	struct dmarc_walk_entry w[DMARC_TREEWALK_MAX_QUERIES];
	const struct dmarc_record *recs[DMARC_TREEWALK_MAX_QUERIES];
	const struct entry *en;
	const char *org;
	size_t nw, i;
	bool tf;

	*rec = NULL;
	if (e->p.discovery == DMARC_DISCOVERY_PSL) {
		/* RFC 7489 6.6.3: the author domain, then its org domain. */
		if ((en = lookup(e, e->from, DNS_T_TXT)) == NULL)
			return PASS_NEED;
		if (is_tempfail(en->st)) {
			finish(e, DMARC_RESULT_TEMPERROR, "DNS failure");
			return PASS_DONE;
		}
		if (e->p.psl == NULL || pubsuffix_org_domain(e->p.psl, e->from,
		    strlen(e->from), e->org, sizeof(e->org)) < 0)
			snprintf(e->org, sizeof(e->org), "%s", e->from);
		if (en->nrec == 1) {
			*rec = &en->rec;
			snprintf(e->policy_domain, sizeof(e->policy_domain),
			    "%s", e->from);
			return PASS_DONE;
		}
		if (strcmp(e->org, e->from) != 0) {
			if ((en = lookup(e, e->org, DNS_T_TXT)) == NULL)
				return PASS_NEED;
			if (is_tempfail(en->st)) {
				finish(e, DMARC_RESULT_TEMPERROR,
				    "DNS failure");
				return PASS_DONE;
			}
			if (en->nrec == 1) {
				*rec = &en->rec;
				snprintf(e->policy_domain,
				    sizeof(e->policy_domain), "%s", e->org);
				return PASS_DONE;
			}
		}
		finish(e, DMARC_RESULT_NONE, "no DMARC record");
		return PASS_DONE;
	}

	/* RFC 9989 4.10.1: the author domain, then the tree walk. */
	if (walk(e, e->from, w, recs, &nw, &tf) == PASS_NEED) {
		if (e->over_budget) {
			finish(e, DMARC_RESULT_TEMPERROR, "query budget");
			return PASS_DONE;
		}
		return PASS_NEED;
	}
	if (tf) {
		finish(e, DMARC_RESULT_TEMPERROR, "DNS failure");
		return PASS_DONE;
	}
	org = dmarc_treewalk_org_domain(w, nw, e->from);
	snprintf(e->org, sizeof(e->org), "%s", org);
	if (nw > 0 && w[0].has_record) {
		*rec = recs[0];
		snprintf(e->policy_domain, sizeof(e->policy_domain), "%s",
		    e->from);
		return PASS_DONE;
	}
	/* The org domain's record, else the public suffix domain's. */
	for (i = 0; i < nw; i++)
		if (w[i].has_record && strcmp(w[i].name, e->org) == 0)
			*rec = recs[i];
	for (i = 0; *rec == NULL && i < nw; i++)
		if (w[i].has_record && w[i].psd == DMARC_PSD_Y)
			*rec = recs[i];
	if (*rec == NULL) {
		finish(e, DMARC_RESULT_NONE, "no DMARC record");
		return PASS_DONE;
	}
	for (i = 0; i < nw; i++)
		if (recs[i] == *rec)
			snprintf(e->policy_domain, sizeof(e->policy_domain),
			    "%s", w[i].name);
	return PASS_DONE;
}

/*
 * from_exists - RFC 9091 / RFC 9989: the author domain does not exist
 * when A, AAAA and MX all answer NXDOMAIN.  A failure counts as existing
 * (the milder sp policy).
 */
static enum pass_state
from_exists(struct dmarc_eval *e, bool *exists)
{
	static const enum dns_type types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX };
	const struct entry *en;
	size_t i;

	*exists = true;
	for (i = 0; i < 3; i++) {
		if ((en = lookup(e, e->from, types[i])) == NULL)
			return e->over_budget ? PASS_DONE : PASS_NEED;
		if (en->st != DNS_NXDOMAIN)
			return PASS_DONE;
	}
	*exists = false;
	return PASS_DONE;
}

/* evaluate - one pass over the cache; see the top of the file */
static enum pass_state
evaluate(struct dmarc_eval *e)
{
	const struct dmarc_record *rec;
	enum dmarc_policy pol;
	char buf[DMARC_DOMAIN_MAX + 1], msg[96];
	const char *o;
	bool need, exists, candidate;
	size_t i;

	memset(&e->v, 0, sizeof(e->v));
	e->v.from_domain = e->from_shown ? e->from_shown : "";
	e->v.from_domain_ascii = e->from ? e->from : "";
	e->v.policy_domain = e->policy_domain;
	e->v.org_domain = e->org;
	e->v.policy_tag = "";
	e->policy_domain[0] = e->org[0] = e->aligned_dkim[0] = '\0';
	if (e->from == NULL && e->from_idn_error != NULL) {
		snprintf(msg, sizeof(msg), "invalid internationalised From "
		    "domain: %s", e->from_idn_error);
		finish(e, DMARC_RESULT_PERMERROR, msg);
		return PASS_DONE;
	}
	if (e->from == NULL) {
		finish(e, DMARC_RESULT_PERMERROR,
		    dmarc_from_status_str(e->p.from_status == DMARC_FROM_OK ?
		    DMARC_FROM_NONE : e->p.from_status));
		return PASS_DONE;
	}
	if (discover(e, &rec) == PASS_NEED)
		return PASS_NEED;
	if (e->done)
		return PASS_DONE;
	copy_record(e, rec);

	/* A malformed record is an error, not a guess (RFC 8601 2.7.7
	   permerror), except the one case both RFCs define: a record whose
	   p, sp or np is missing or invalid but that has a valid rua acts as
	   p=none (RFC 7489 6.6.3 step 6, RFC 9989 4.10.1). */
	if (rec->other_invalid) {
		snprintf(msg, sizeof(msg), "malformed DMARC record: %s %s",
		    dmarc_record_error_str(rec->error), rec->err_tag);
		finish(e, DMARC_RESULT_PERMERROR, msg);
		return PASS_DONE;
	}
	if ((rec->p_invalid || rec->p == DMARC_POLICY_UNSET) &&
	    rec->nrua == 0) {
		finish(e, DMARC_RESULT_PERMERROR,
		    rec->p_invalid ? "malformed DMARC record: invalid policy" :
		    "malformed DMARC record: no p tag");
		return PASS_DONE;
	}

	/* Alignment: SPF, then each DKIM signature that covers the whole
	   body (a signature with l= short of the body never counts). */
	if (e->p.spf.pass && e->spf_domain) {
		if (strcmp(e->spf_domain, e->from) == 0)
			e->v.spf_aligned = true;
		else if (rec->aspf == DMARC_ALIGN_RELAXED) {
			o = org_of(e, e->spf_domain, e->org, &need, buf,
			    sizeof(buf));
			if (need)
				return PASS_NEED;
			e->v.spf_aligned = dmarc_aligned(e->spf_domain, o,
			    e->from, e->org, DMARC_ALIGN_RELAXED);
		}
	}
	for (i = 0; i < e->p.ndkim; i++) {
		const struct dmarc_auth *a = &e->dkim[i];

		candidate = a->pass && !a->body_partial && a->domain;
		if (!candidate)
			continue;
		if (strcmp(a->domain, e->from) == 0)
			o = e->org;
		else if (rec->adkim == DMARC_ALIGN_STRICT)
			continue;
		else {
			o = org_of(e, a->domain, e->org, &need, buf,
			    sizeof(buf));
			if (need)
				return PASS_NEED;
			if (!dmarc_aligned(a->domain, o, e->from, e->org,
			    DMARC_ALIGN_RELAXED))
				continue;
		}
		e->v.dkim_aligned = true;
		snprintf(e->aligned_dkim, sizeof(e->aligned_dkim), "%s",
		    a->domain);
		e->v.dkim_aligned_domain = e->aligned_dkim;
		break;
	}

	/* The policy asked for: p for the author domain's own record; for
	   a subdomain np when it does not exist, else sp, else p. */
	if (rec->p_invalid || rec->p == DMARC_POLICY_UNSET) {
		pol = DMARC_POLICY_NONE;
		e->v.policy_tag = "p";
	} else if (strcmp(e->policy_domain, e->from) == 0) {
		pol = rec->p;
		e->v.policy_tag = "p";
	} else {
		pol = rec->sp != DMARC_POLICY_UNSET ? rec->sp : rec->p;
		e->v.policy_tag = rec->sp != DMARC_POLICY_UNSET ? "sp" : "p";
		if (rec->np != DMARC_POLICY_UNSET && !e->v.spf_aligned &&
		    !e->v.dkim_aligned) {
			if (from_exists(e, &exists) == PASS_NEED)
				return PASS_NEED;
			if (!exists) {
				pol = rec->np;
				e->v.policy_tag = "np";
				e->v.from_nonexistent = true;
			}
		}
	}
	e->v.policy = pol;
	if (e->v.spf_aligned || e->v.dkim_aligned) {
		e->v.disposition = DMARC_POLICY_NONE;
		finish(e, DMARC_RESULT_PASS, e->v.dkim_aligned ?
		    "aligned DKIM pass" : "aligned SPF pass");
		return PASS_DONE;
	}
	e->v.disposition = pol;
	if (rec->testing ||
	    (rec->pct < 100 && e->p.sample >= (unsigned)rec->pct)) {
		e->v.disposition = lower_policy(pol);
		e->v.sampled_out = pol != DMARC_POLICY_NONE;
	}
	finish(e, DMARC_RESULT_FAIL, "no aligned SPF or DKIM pass");
	return PASS_DONE;
}

/* dmarc_eval_next - run the evaluation until it needs an answer */
enum dmarc_step
dmarc_eval_next(struct dmarc_eval *e, struct dmarc_query *q)
{
	if (e->done)
		return DMARC_DONE;
	if (!e->pending && evaluate(e) == PASS_DONE) {
		e->done = true;
		return DMARC_DONE;
	}
	if (!e->pending) {
		/* Cannot happen: every "need" names a query.  Never loop. */
		finish(e, DMARC_RESULT_TEMPERROR, "internal: no query");
		return DMARC_DONE;
	}
	q->name = e->qname;
	q->type = e->ptype;
	return DMARC_NEED_DNS;
}

/* dmarc_eval_answer - store the answer in the cache */
int
dmarc_eval_answer(struct dmarc_eval *e, enum dns_status status,
    const char *const *txt, const size_t *len, size_t n)
{
	struct entry *en;
	size_t i, which = 0;

	if (!e->pending)
		return E_INVAL;
	e->pending = false;
	e->cache = xrealloc(e->cache, (e->ncache + 1) * sizeof(*e->cache));
	en = &e->cache[e->ncache++];
	memset(en, 0, sizeof(*en));
	en->name = e->pname;
	e->pname = NULL;
	en->type = e->ptype;
	en->st = status;
	if (en->type != DNS_T_TXT || status != DNS_OK)
		return 0;
	/* RFC 9989 4.10 step 2: only records starting with v=DMARC1 count,
	   and several of them are all discarded. */
	for (i = 0; i < n; i++)
		if (dmarc_is_record(txt[i], len[i])) {
			en->nrec++;
			which = i;
		}
	if (en->nrec == 1)
		(void)dmarc_record_parse(&en->rec, txt[which], len[which]);
	return 0;
}

/* dmarc_eval_verdict - valid once the machine said DONE */
const struct dmarc_verdict *
dmarc_eval_verdict(const struct dmarc_eval *e)
{
	return &e->v;
}
