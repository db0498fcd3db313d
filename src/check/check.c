/*
 * check/check.c - smtpsctl check: the DNS posture of a domain, then its
 * MTA-STS policy and live probes of its MX hosts (probe.c).
 *
 * Each step reads DNS through the shared resolver one query at a time
 * (every query has the resolver's timeout) and adds findings; a step
 * whose data is missing or broken says so and the next step still runs.
 * Only when the domain itself cannot be looked up (no such domain, or
 * the DNS server does not answer) does the check stop early.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "check/check_int.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Ours: the most MX hosts probed (RFC 7208 4.6.4 uses 10 too). */
#define CHECK_MAX_MX		10
/* Ours: the most report URIs whose authorisation is looked up. */
#define CHECK_MAX_REPORT_URIS	8
/* A BIMI, MTA-STS or TLS-RPT record longer than this is not read. */
#define CHECK_RECORD_MAX	2048
/* After this many DNS queries have timed out, the rest are not sent:
   each would wait its whole timeout, and the report is "could not
   evaluate" already (ours). */
#define CHECK_MAX_DNS_TIMEOUTS	3

struct mx_host {
	char *name;
	uint16_t pref;
	char addr[INET6_ADDRSTRLEN];	/* first address, "" if none */
};

struct run {
	struct check_report *rep;
	struct dns_resolver *r;
	const struct check_opts *o;
	struct mx_host mx[CHECK_MAX_MX];
	size_t nmx;
	bool null_mx;
	enum dmarc_policy dmarc_p;	/* UNSET when no usable record */
	char org[DMARC_DOMAIN_MAX + 1];	/* Organizational Domain */
	int dns_timeouts;		/* queries that timed out so far */
};

/* ---- DNS ---- */

/* on_answer - copy what the checks read out of the answer */
static void
on_answer(void *arg, const struct dns_answer *ans)
{
	struct ck_answer *a = arg;
	size_t i;

	a->status = ans->status;
	a->secure = ans->secure;
	a->bogus = ans->bogus;
	a->nrrs = ans->nrrs;
	a->rrs = ans->nrrs ? xcalloc(ans->nrrs, sizeof(*a->rrs)) : NULL;
	for (i = 0; i < ans->nrrs; i++) {
		const struct dns_rr *s = &ans->rrs[i];
		struct ck_rr *d = &a->rrs[i];

		d->type = s->type;
		memcpy(d->addr, s->addr, sizeof(d->addr));
		d->pref = s->pref;
		d->name = s->name ? xstrdup(s->name) : NULL;
		if (s->txt != NULL) {
			d->txt = xmalloc(s->txt_len + 1);
			memcpy(d->txt, s->txt, s->txt_len);
			d->txt[s->txt_len] = '\0';
			d->txt_len = s->txt_len;
		}
		if (s->rdata != NULL && s->rdata_len > 0) {
			d->rdata = xmalloc(s->rdata_len);
			memcpy(d->rdata, s->rdata, s->rdata_len);
			d->rdata_len = s->rdata_len;
		}
	}
}

/* ck_lookup - one query, waited for */
void
ck_lookup(struct dns_resolver *r, const char *name, enum dns_type type,
    struct ck_answer *out)
{
	memset(out, 0, sizeof(*out));
	out->status = DNS_ERROR;
	if (dns_query(r, name, type, on_answer, out) != 0)
		return;
	dns_resolver_wait(r);
}

/* ck_answer_fini - free a copied answer */
void
ck_answer_fini(struct ck_answer *a)
{
	size_t i;

	for (i = 0; i < a->nrrs; i++) {
		free(a->rrs[i].name);
		free(a->rrs[i].txt);
		free(a->rrs[i].rdata);
	}
	free(a->rrs);
	memset(a, 0, sizeof(*a));
}

/* lookup - ck_lookup, unless DNS has timed out too often already: then
   the query is not sent and the answer is a timeout at once */
static void
lookup(struct run *u, const char *name, enum dns_type type,
    struct ck_answer *out)
{
	if (u->dns_timeouts >= CHECK_MAX_DNS_TIMEOUTS) {
		memset(out, 0, sizeof(*out));
		out->status = DNS_TIMEOUT;
		return;
	}
	ck_lookup(u->r, name, type, out);
	if (out->status == DNS_TIMEOUT &&
	    ++u->dns_timeouts == CHECK_MAX_DNS_TIMEOUTS)
		check_report_add(u->rep, "dns", CHECK_UNKNOWN, "check that "
		    "every name server of the domain answers", "%d DNS lookups"
		    " timed out or failed (the last: %s); further lookups "
		    "were not tried", CHECK_MAX_DNS_TIMEOUTS, name);
}

/* dns_gave_up - true (and the area says so) when no more DNS is sent */
static bool
dns_gave_up(struct run *u, const char *area)
{
	if (u->dns_timeouts < CHECK_MAX_DNS_TIMEOUTS)
		return false;
	check_report_add(u->rep, area, CHECK_UNKNOWN, "", "not checked: DNS "
	    "timed out");
	return true;
}

/* dns_failed - a status that means "could not look", not "not there" */
static bool
dns_failed(enum dns_status s)
{
	return s == DNS_SERVFAIL || s == DNS_TIMEOUT || s == DNS_ERROR;
}

/* starts_with_tag - does a TXT record start with "v=TAG" (case-blind),
   followed by ';', space or its end? */
static bool
starts_with_tag(const char *txt, size_t n, const char *v)
{
	size_t vl = strlen(v);

	while (n > 0 && (*txt == ' ' || *txt == '\t')) {
		txt++;
		n--;
	}
	if (n < vl || strncasecmp(txt, v, vl) != 0)
		return false;
	return n == vl || txt[vl] == ';' || txt[vl] == ' ' || txt[vl] == '\t';
}

/* find_records - the TXT records at name starting with v; returns how
   many, the first in *first; a keeps the answer (and its status) */
static size_t
find_records(struct run *u, const char *name, const char *v,
    struct ck_answer *a, const struct ck_rr **first)
{
	size_t i, n = 0;

	*first = NULL;
	lookup(u, name, DNS_T_TXT, a);
	for (i = 0; i < a->nrrs; i++) {
		if (a->rrs[i].txt == NULL ||
		    !starts_with_tag(a->rrs[i].txt, a->rrs[i].txt_len, v))
			continue;
		if (n++ == 0)
			*first = &a->rrs[i];
	}
	return n;
}

/* tag_value - the value of tag in a "k=v; k=v" record, trimmed, into
   out; false when absent */
static bool
tag_value(const char *rec, const char *tag, char *out, size_t outsz)
{
	const char *p = rec;
	size_t tl = strlen(tag);

	while (*p) {
		const char *e = strchr(p, ';'), *k = p, *v, *ve;

		if (e == NULL)
			e = p + strlen(p);
		while (k < e && (*k == ' ' || *k == '\t'))
			k++;
		v = memchr(k, '=', (size_t)(e - k));
		if (v != NULL) {
			const char *ke = v;

			while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			if ((size_t)(ke - k) == tl &&
			    strncasecmp(k, tag, tl) == 0) {
				v++;
				while (v < e && (*v == ' ' || *v == '\t'))
					v++;
				ve = e;
				while (ve > v && (ve[-1] == ' ' ||
				    ve[-1] == '\t'))
					ve--;
				snprintf(out, outsz, "%.*s", (int)(ve - v), v);
				return true;
			}
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

/* ---- MX ---- */

/* resolve_host - the first address of name (A, then AAAA) as text; the
   DNS status of the last lookup */
static enum dns_status
resolve_host(struct run *u, const char *name, char *out, size_t outsz)
{
	struct ck_answer a;
	enum dns_status st;
	static const enum dns_type types[] = { DNS_T_A, DNS_T_AAAA };
	size_t i;

	out[0] = '\0';
	for (i = 0; i < 2; i++) {
		lookup(u, name, types[i], &a);
		st = a.status;
		if (a.status == DNS_OK && a.nrrs > 0) {
			inet_ntop(types[i] == DNS_T_A ? AF_INET : AF_INET6,
			    a.rrs[0].addr, out, (socklen_t)outsz);
			ck_answer_fini(&a);
			return DNS_OK;
		}
		ck_answer_fini(&a);
		if (st == DNS_NXDOMAIN || st == DNS_TIMEOUT)
			break;
	}
	return st;
}

/* check_mx - MX records (RFC 7505 null MX) and that each name resolves;
   false when the domain cannot be looked at any further */
static bool
check_mx(struct run *u)
{
	struct ck_answer a;
	struct check_report *rep = u->rep;
	const char *d = u->o->domain;
	size_t i, j;
	bool null_seen = false;

	lookup(u, d, DNS_T_MX, &a);
	if (a.status == DNS_NXDOMAIN) {
		check_report_add(rep, "domain", CHECK_FAIL, "check the spelling, "
		    "or register the domain and publish its DNS",
		    "%s does not exist (NXDOMAIN)", d);
		ck_answer_fini(&a);
		return false;
	}
	if (dns_failed(a.status)) {
		check_report_add(rep, "domain", CHECK_UNKNOWN, "check that the "
		    "domain's name servers answer (or --resolver)",
		    "cannot look up %s: DNS %s", d, dns_status_str(a.status));
		ck_answer_fini(&a);
		return false;
	}
	for (i = 0; i < a.nrrs; i++)
		if (a.rrs[i].name != NULL && a.rrs[i].name[0] == '\0')
			null_seen = true;
	if (null_seen) {
		if (a.nrrs == 1 && a.rrs[0].pref == 0) {
			u->null_mx = true;
			check_report_add(rep, "mx", CHECK_INFO, "", "null MX: "
			    "the domain accepts no mail (RFC 7505)");
		} else
			check_report_add(rep, "mx", CHECK_FAIL, "a null MX must "
			    "be the only MX record, with preference 0 (RFC 7505"
			    " 3)", "null MX mixed with other MX records");
		ck_answer_fini(&a);
		return true;
	}
	if (a.nrrs == 0) {
		char addr[INET6_ADDRSTRLEN];

		if (resolve_host(u, d, addr, sizeof(addr)) == DNS_OK) {
			check_report_add(rep, "mx", CHECK_WARN, "publish an MX "
			    "record (or a null MX if the domain takes no mail)",
			    "no MX record: mail goes to the address of %s "
			    "(RFC 5321 5.1)", d);
			u->mx[0].name = xstrdup(d);
			snprintf(u->mx[0].addr, sizeof(u->mx[0].addr), "%s",
			    addr);
			u->nmx = 1;
		} else
			check_report_add(rep, "mx", CHECK_FAIL, "publish an MX "
			    "record, or a null MX (\"0 .\", RFC 7505) if the "
			    "domain takes no mail", "no MX record and no "
			    "address: the domain cannot receive mail");
		ck_answer_fini(&a);
		return true;
	}
	/* Sort by preference, keep the first CHECK_MAX_MX. */
	for (i = 0; i < a.nrrs && u->nmx < CHECK_MAX_MX; i++) {
		struct mx_host m = { .pref = a.rrs[i].pref };

		m.name = xstrdup(a.rrs[i].name ? a.rrs[i].name : "");
		for (j = u->nmx; j > 0 && u->mx[j - 1].pref > m.pref; j--)
			u->mx[j] = u->mx[j - 1];
		u->mx[j] = m;
		u->nmx++;
	}
	if (a.nrrs > CHECK_MAX_MX)
		check_report_add(rep, "mx", CHECK_WARN, "fewer MX hosts are "
		    "easier to keep secure", "%zu MX records; the first %d "
		    "are checked", a.nrrs, CHECK_MAX_MX);
	ck_answer_fini(&a);
	for (i = 0; i < u->nmx; i++) {
		enum dns_status st = resolve_host(u, u->mx[i].name,
		    u->mx[i].addr, sizeof(u->mx[i].addr));

		if (st == DNS_OK)
			check_report_add(rep, "mx", CHECK_PASS, NULL,
			    "MX %u %s resolves to %s", u->mx[i].pref,
			    u->mx[i].name, u->mx[i].addr);
		else
			check_report_add(rep, "mx", dns_failed(st) ?
			    CHECK_UNKNOWN : CHECK_FAIL, "give the MX host an A "
			    "or AAAA record (an MX must name a host, not a "
			    "CNAME or an address)", "MX %u %s does not "
			    "resolve: %s", u->mx[i].pref, u->mx[i].name,
			    dns_status_str(st));
	}
	return true;
}

/* ---- SPF ---- */

struct spf_wait {
	bool done;
};

/* on_spf_done - the evaluation ended */
static void
on_spf_done(void *arg, struct spf *s)
{
	((struct spf_wait *)arg)->done = true;
}

/* record_terms - look at the top-level record's all and ptr terms */
static void
record_terms(struct run *u, const char *rec)
{
	struct check_report *rep = u->rep;
	const char *p = rec;
	bool has_all = false, redirect = false;

	while (*p) {
		const char *e;
		size_t n;

		while (*p == ' ')
			p++;
		e = p;
		while (*e && *e != ' ')
			e++;
		n = (size_t)(e - p);
		if (n == 0)
			break;
		if ((n == 3 && strncasecmp(p, "all", 3) == 0) ||
		    (n == 4 && strchr("+-~?", p[0]) != NULL &&
		    strncasecmp(p + 1, "all", 3) == 0)) {
			char q = n == 3 ? '+' : p[0];

			has_all = true;
			if (q == '+')
				check_report_add(rep, "spf", CHECK_FAIL, "end the "
				    "record with -all or ~all", "\"%.*s\" lets "
				    "every host on the internet send as this "
				    "domain", (int)n, p);
			else if (q == '?')
				check_report_add(rep, "spf", CHECK_WARN, "end the "
				    "record with -all or ~all", "\"?all\" is "
				    "neutral: unlisted hosts are not refused");
			else
				check_report_add(rep, "spf", CHECK_PASS, NULL,
				    "record ends with \"%call\"", q == '-' ?
				    '-' : '~');
		} else if (n >= 3 && strncasecmp(p + (p[0] == '+' ||
		    p[0] == '-' || p[0] == '~' || p[0] == '?'), "ptr", 3) ==
		    0)
			check_report_add(rep, "spf", CHECK_WARN, "replace ptr "
			    "with ip4:/ip6: or a (RFC 7208 5.5: do not use)",
			    "record uses the ptr mechanism");
		else if (n > 9 && strncasecmp(p, "redirect=", 9) == 0)
			redirect = true;
		p = e;
	}
	if (!has_all && !redirect)
		check_report_add(rep, "spf", CHECK_WARN, "end the record with "
		    "-all or ~all", "no \"all\" and no redirect: unlisted "
		    "hosts get neutral");
}

/* check_spf - one record, its syntax, and the evaluated lookup counts */
static void
check_spf(struct run *u)
{
	struct check_report *rep = u->rep;
	struct ck_answer a;
	const struct ck_rr *rec;
	struct spf_params p = { 0 };
	struct spf *s = NULL;
	struct spf_wait w = { false };
	char *mail_from;
	const char *problem;
	size_t n;
	int terms;

	n = find_records(u, u->o->domain, "v=spf1", &a, &rec);
	if (dns_failed(a.status)) {
		check_report_add(rep, "spf", CHECK_UNKNOWN, "check the DNS "
		    "servers", "TXT lookup failed: %s",
		    dns_status_str(a.status));
		goto out;
	}
	if (n == 0) {
		check_report_add(rep, "spf", u->null_mx ? CHECK_WARN :
		    CHECK_FAIL, u->null_mx ? "publish \"v=spf1 -all\" so no "
		    "one can send as the domain" : "publish one TXT record "
		    "\"v=spf1 ... -all\" listing the hosts that send mail",
		    "no SPF record");
		goto out;
	}
	if (n > 1) {
		check_report_add(rep, "spf", CHECK_FAIL, "merge them into one "
		    "record", "%zu SPF records: every check is a permerror "
		    "(RFC 7208 4.5)", n);
		goto out;
	}
	if (spf_record_check(rec->txt, rec->txt_len) != 0)
		check_report_add(rep, "spf", CHECK_FAIL, "fix the record's "
		    "syntax (RFC 7208 12)", "record does not parse: \"%s\"",
		    rec->txt);
	else
		check_report_add(rep, "spf", CHECK_PASS, NULL, "one record, "
		    "syntax valid: \"%s\"", rec->txt);
	record_terms(u, rec->txt);

	/* Evaluate for an address nobody lists (RFC 6666 discard prefix),
	   so every include and redirect is followed to the end. */
	if (dns_gave_up(u, "spf"))
		goto out;
	mail_from = xasprintf("postmaster@%s", u->o->domain);
	p.ip = "100::1";
	p.helo = u->o->domain;
	p.mail_from = mail_from;
	p.receiver = "smtpsctl-check";
	p.now = (int64_t)time(NULL);
	p.identity = SPF_ID_MAILFROM;
	if (spf_new(&s, &p) != 0) {
		free(mail_from);
		goto out;
	}
	spf_run(s, u->r, on_spf_done, &w);
	dns_resolver_wait(u->r);
	terms = spf_dns_terms(s);
	problem = spf_problem(s);
	if (!w.done)
		check_report_add(rep, "spf", CHECK_UNKNOWN, "", "evaluation "
		    "did not finish");
	else if (spf_result(s) == SPF_PERMERROR)
		check_report_add(rep, "spf", CHECK_FAIL, "flatten includes or"
		    " drop unused ones: at most 10 DNS-querying terms and 2 "
		    "void lookups (RFC 7208 4.6.4)", "evaluation gives "
		    "permerror after %d DNS lookups: %s", terms,
		    problem ? problem : "");
	else if (spf_result(s) == SPF_TEMPERROR && ++u->dns_timeouts)
		check_report_add(rep, "spf", CHECK_UNKNOWN, "check the DNS "
		    "of the included domains", "evaluation gives temperror "
		    "after %d DNS lookups: %s", terms, problem ? problem : "");
	else if (terms > 8)
		check_report_add(rep, "spf", CHECK_WARN, "flatten includes: "
		    "one more include may break the limit", "%d of 10 "
		    "DNS lookups used (RFC 7208 4.6.4)", terms);
	else
		check_report_add(rep, "spf", CHECK_PASS, NULL, "%d of 10 DNS "
		    "lookups, void lookups within 2 (evaluated)", terms);
	spf_free(s);
	free(mail_from);
out:
	ck_answer_fini(&a);
}

/* ---- DMARC ---- */

struct dmarc_wait {
	bool done;
};

/* on_dmarc_done - the tree walk ended */
static void
on_dmarc_done(void *arg, struct dmarc_eval *e)
{
	((struct dmarc_wait *)arg)->done = true;
}

/* mailto_domain - the domain of a mailto: URI into out; false if the URI
   is not mailto: */
static bool
mailto_domain(const char *uri, char *out, size_t outsz)
{
	const char *at, *end;

	if (strncasecmp(uri, "mailto:", 7) != 0)
		return false;
	if ((at = strrchr(uri + 7, '@')) == NULL)
		return false;
	end = at + 1 + strcspn(at + 1, "?!");
	snprintf(out, outsz, "%.*s", (int)(end - at - 1), at + 1);
	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return *out != '\0';
}

/* in_org - is d the Organizational Domain or under it? */
static bool
in_org(const char *d, const char *org)
{
	size_t dl = strlen(d), ol = strlen(org);

	if (ol == 0)
		return false;
	if (dl == ol)
		return strcasecmp(d, org) == 0;
	return dl > ol && d[dl - ol - 1] == '.' &&
	    strcasecmp(d + dl - ol, org) == 0;
}

/* report_uris - RFC 7489 7.1: a destination outside the domain
   must publish <domain>._report._dmarc.<dest> */
static void
report_uris(struct run *u, const struct dmarc_uri *uris, size_t n,
    const char *tag, const char *policy_domain)
{
	struct check_report *rep = u->rep;
	size_t i;

	for (i = 0; i < n && i < CHECK_MAX_REPORT_URIS; i++) {
		char dest[256], *name;
		struct ck_answer a;
		const struct ck_rr *rec;

		if (!mailto_domain(uris[i].uri, dest, sizeof(dest))) {
			check_report_add(rep, "dmarc", CHECK_WARN, "use a "
			    "mailto: URI", "%s URI %s is not mailto:", tag,
			    uris[i].uri);
			continue;
		}
		if (in_org(dest, u->org)) {
			check_report_add(rep, "dmarc", CHECK_PASS, NULL,
			    "%s %s (same organisation)", tag, uris[i].uri);
			continue;
		}
		name = xasprintf("%s._report._dmarc.%s", policy_domain, dest);
		if (find_records(u, name, "v=DMARC1", &a, &rec) > 0)
			check_report_add(rep, "dmarc", CHECK_PASS, NULL,
			    "%s %s: %s authorises the reports", tag,
			    uris[i].uri, dest);
		else
			check_report_add(rep, "dmarc", dns_failed(a.status) ?
			    CHECK_UNKNOWN : CHECK_FAIL, "ask the receiver to "
			    "publish TXT \"v=DMARC1\" there (RFC 7489 7.1)",
			    "%s %s: no %s record, reports will not be sent",
			    tag, uris[i].uri, name);
		ck_answer_fini(&a);
		free(name);
	}
}

/* check_dmarc - the record the RFC 9989 tree walk finds, graded */
static void
check_dmarc(struct run *u)
{
	struct check_report *rep = u->rep;
	struct dmarc_params p = { 0 };
	struct dmarc_eval *e;
	struct dmarc_wait w = { false };
	const struct dmarc_verdict *v;
	const struct dmarc_record *rec;

	if (dns_gave_up(u, "dmarc"))
		return;
	p.from_domain = u->o->domain;
	p.from_status = DMARC_FROM_OK;
	p.discovery = DMARC_DISCOVERY_TREEWALK;
	p.sample = 0;
	e = dmarc_eval_new(&p);
	if (dmarc_run(e, u->r, on_dmarc_done, &w) != NULL)
		dns_resolver_wait(u->r);
	v = dmarc_eval_verdict(e);
	if (!w.done || v == NULL) {
		check_report_add(rep, "dmarc", CHECK_UNKNOWN, "", "DMARC "
		    "discovery did not finish");
		goto out;
	}
	snprintf(u->org, sizeof(u->org), "%s", v->org_domain ?
	    v->org_domain : "");
	if (v->result == DMARC_RESULT_TEMPERROR) {
		u->dns_timeouts++;
		check_report_add(rep, "dmarc", CHECK_UNKNOWN, "check the DNS "
		    "servers", "DMARC lookup failed: %s", v->reason ?
		    v->reason : "DNS error");
		goto out;
	}
	if (!v->has_record) {
		check_report_add(rep, "dmarc", CHECK_FAIL, "publish TXT at "
		    "_dmarc.DOMAIN: \"v=DMARC1; p=none; rua=mailto:...\", "
		    "then move to quarantine and reject",
		    "no DMARC record (RFC 9989 tree walk)");
		goto out;
	}
	rec = &v->record;
	if (rec->error != DMARC_REC_OK) {
		check_report_add(rep, "dmarc", CHECK_FAIL, "fix the record "
		    "(RFC 9989)", "record at _dmarc.%s is malformed: %s%s%s",
		    v->policy_domain, dmarc_record_error_str(rec->error),
		    *rec->err_tag ? " " : "", rec->err_tag);
		goto out;
	}
	check_report_add(rep, "dmarc", CHECK_PASS, NULL, "record found at "
	    "_dmarc.%s%s", v->policy_domain, strcasecmp(v->policy_domain,
	    u->o->domain) ? " (inherited by tree walk)" : "");
	u->dmarc_p = v->policy;
	switch (v->policy) {
	case DMARC_POLICY_REJECT:
		check_report_add(rep, "dmarc", CHECK_PASS, NULL, "policy %s=reject",
		    v->policy_tag);
		break;
	case DMARC_POLICY_QUARANTINE:
		check_report_add(rep, "dmarc", CHECK_PASS, "", "policy %s="
		    "quarantine", v->policy_tag);
		break;
	default:
		check_report_add(rep, "dmarc", CHECK_WARN, "after reading the "
		    "aggregate reports, move to p=quarantine then p=reject",
		    "policy %s=none: spoofed mail is only reported, not "
		    "stopped", v->policy_tag ? v->policy_tag : "p");
		break;
	}
	if (rec->sp == DMARC_POLICY_NONE && rec->p != DMARC_POLICY_NONE)
		check_report_add(rep, "dmarc", CHECK_WARN, "drop sp= or raise "
		    "it", "sp=none: subdomains can be spoofed freely");
	if (rec->np == DMARC_POLICY_UNSET)
		check_report_add(rep, "dmarc", CHECK_INFO, "add np=reject "
		    "(RFC 9989) so names that do not exist cannot be used",
		    "no np= tag: non-existent subdomains get %s",
		    dmarc_policy_str(rec->sp != DMARC_POLICY_UNSET ? rec->sp :
		    rec->p));
	else if (rec->np == DMARC_POLICY_NONE)
		check_report_add(rep, "dmarc", CHECK_WARN, "set np=reject",
		    "np=none: non-existent subdomains can be spoofed");
	if (rec->has_pct && rec->pct < 100)
		check_report_add(rep, "dmarc", CHECK_WARN, "remove pct= once "
		    "the policy is trusted", "pct=%d: the policy applies to "
		    "part of the failing mail only", rec->pct);
	if (rec->testing)
		check_report_add(rep, "dmarc", CHECK_WARN, "remove t=y",
		    "t=y: receivers apply one policy level lower");
	check_report_add(rep, "dmarc", CHECK_INFO, "", "alignment: "
	    "adkim=%s aspf=%s", rec->adkim == DMARC_ALIGN_STRICT ? "s "
	    "(strict)" : "r (relaxed)", rec->aspf == DMARC_ALIGN_STRICT ?
	    "s (strict)" : "r (relaxed)");
	if (rec->nrua == 0)
		check_report_add(rep, "dmarc", u->null_mx ? CHECK_INFO :
		    CHECK_WARN, "add rua=mailto:"
		    "... to learn who sends as the domain", "no rua=: no "
		    "aggregate reports");
	report_uris(u, rec->rua, rec->nrua, "rua", v->policy_domain);
	report_uris(u, rec->ruf, rec->nruf, "ruf", v->policy_domain);
out:
	dmarc_eval_free(e);
}

/* ---- DKIM ---- */

/* key_bits - the size of a DER SubjectPublicKeyInfo key (0 if it does
   not parse); *is_rsa says whether it is RSA */
static int
key_bits(const unsigned char *der, size_t n, bool *is_rsa)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);
	int bits;

	*is_rsa = false;
	if (k == NULL)
		return 0;
	*is_rsa = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
	bits = EVP_PKEY_get_bits(k);
	EVP_PKEY_free(k);
	return bits;
}

/* check_dkim_selector - one key record */
static void
check_dkim_selector(struct run *u, const char *sel)
{
	struct check_report *rep = u->rep;
	struct ck_answer a;
	struct dkim_keyrec k;
	enum dkim_reason why;
	char *name, area[96];
	size_t i;
	bool is_rsa, parsed = false;
	int bits;

	snprintf(area, sizeof(area), "dkim %s", sel);
	name = xasprintf("%s._domainkey.%s", sel, u->o->domain);
	lookup(u, name, DNS_T_TXT, &a);
	if (dns_failed(a.status)) {
		check_report_add(rep, area, CHECK_UNKNOWN, "check the DNS "
		    "servers", "%s: DNS %s", name, dns_status_str(a.status));
		goto out;
	}
	for (i = 0; i < a.nrrs; i++) {
		memset(&k, 0, sizeof(k));
		if (a.rrs[i].txt != NULL && dkim_keyrec_parse(&k, a.rrs[i].txt,
		    a.rrs[i].txt_len, &why) == 0) {
			parsed = true;
			break;
		}
		dkim_keyrec_fini(&k);
	}
	if (a.nrrs == 0) {
		check_report_add(rep, area, CHECK_FAIL, "publish the selector's"
		    " public key, or drop --selector", "no key record at %s",
		    name);
		goto out;
	}
	if (!parsed) {
		check_report_add(rep, area, CHECK_FAIL, "republish the key as "
		    "\"v=DKIM1; k=rsa|ed25519; p=...\"", "key record at %s "
		    "does not parse: %s", name, dkim_reason_str(why));
		goto out;
	}
	if (k.revoked)
		check_report_add(rep, area, CHECK_FAIL, "sign with a current "
		    "selector, or remove this one from --selector", "key "
		    "revoked (empty p=)");
	else if (k.key_type == DKIM_ALG_ED25519_SHA256)
		check_report_add(rep, area, CHECK_PASS, NULL, "ed25519 key "
		    "(RFC 8463)");
	else {
		bits = key_bits(k.pub, k.pub_len, &is_rsa);
		if (!is_rsa || bits == 0)
			check_report_add(rep, area, CHECK_FAIL, "republish a "
			    "valid RSA public key", "p= is not an RSA public "
			    "key");
		else if (bits < 1024)
			check_report_add(rep, area, CHECK_FAIL, "generate an "
			    "RSA-2048 key (smtpsctl dkim keygen)", "RSA key of "
			    "%d bits: verifiers reject keys under 1024 "
			    "(RFC 8301 3.2)", bits);
		else if (bits < 2048)
			check_report_add(rep, area, CHECK_WARN, "rotate to an "
			    "RSA-2048 key", "RSA key of %d bits: weak, 2048 is "
			    "the norm", bits);
		else
			check_report_add(rep, area, CHECK_PASS, NULL, "RSA key "
			    "of %d bits", bits);
	}
	if (k.testing)
		check_report_add(rep, area, CHECK_WARN, "remove t=y once "
		    "signing works", "t=y: verifiers may treat failures as "
		    "unsigned mail");
	dkim_keyrec_fini(&k);
out:
	ck_answer_fini(&a);
	free(name);
}

/* check_dkim - each --selector */
static void
check_dkim(struct run *u)
{
	size_t i;

	if (u->o->nselectors == 0) {
		check_report_add(u->rep, "dkim", CHECK_INFO, "pass --selector "
		    "S for each selector the domain signs with", "no "
		    "--selector given: DKIM keys cannot be discovered, none "
		    "checked");
		return;
	}
	for (i = 0; i < u->o->nselectors; i++)
		check_dkim_selector(u, u->o->selectors[i]);
}

/* ---- BIMI, MTA-STS, TLS-RPT ---- */

/* check_bimi - default._bimi: l= an https SVG, a= present */
static void
check_bimi(struct run *u)
{
	struct check_report *rep = u->rep;
	struct ck_answer a;
	const struct ck_rr *rec;
	char *name, l[512], av[512];
	size_t n;
	bool strong = u->dmarc_p == DMARC_POLICY_QUARANTINE ||
	    u->dmarc_p == DMARC_POLICY_REJECT;

	name = xasprintf("default._bimi.%s", u->o->domain);
	n = find_records(u, name, "v=BIMI1", &a, &rec);
	if (dns_failed(a.status)) {
		check_report_add(rep, "bimi", CHECK_UNKNOWN, "", "%s: DNS %s",
		    name, dns_status_str(a.status));
		goto out;
	}
	if (n == 0) {
		check_report_add(rep, "bimi", CHECK_INFO, strong ? "publish "
		    "default._bimi with l= an SVG Tiny PS logo" : "BIMI needs"
		    " DMARC at quarantine or reject first", "no BIMI record%s",
		    strong ? "" : " (and DMARC is not at quarantine or "
		    "reject, which BIMI requires)");
		goto out;
	}
	if (n > 1) {
		check_report_add(rep, "bimi", CHECK_FAIL, "keep one record",
		    "%zu BIMI records", n);
		goto out;
	}
	if (!strong)
		check_report_add(rep, "bimi", CHECK_WARN, "raise DMARC to "
		    "p=quarantine or p=reject", "BIMI record present but "
		    "ignored: DMARC is not at quarantine or reject");
	if (rec->txt_len > CHECK_RECORD_MAX || !tag_value(rec->txt, "l", l,
	    sizeof(l)) || *l == '\0')
		check_report_add(rep, "bimi", CHECK_WARN, "set l= to the https "
		    "URL of the logo", "no l= logo URL");
	else if (strncasecmp(l, "https://", 8) != 0 || strlen(l) < 13 ||
	    strcasecmp(l + strlen(l) - 4, ".svg") != 0)
		check_report_add(rep, "bimi", CHECK_FAIL, "serve the logo as "
		    "SVG Tiny PS over https", "l= is not an https SVG URL: %s",
		    l);
	else
		check_report_add(rep, "bimi", CHECK_PASS, NULL, "logo %s", l);
	if (rec->txt_len <= CHECK_RECORD_MAX && tag_value(rec->txt, "a", av,
	    sizeof(av)) && *av != '\0')
		check_report_add(rep, "bimi", CHECK_PASS, NULL, "a= evidence "
		    "(mark certificate) %s", av);
	else
		check_report_add(rep, "bimi", CHECK_INFO, "add a= with a VMC "
		    "or CMC if the logo should show at large mailbox providers",
		    "no a= mark certificate: most providers show no logo");
out:
	ck_answer_fini(&a);
	free(name);
}

/* check_rua_list - a TLS-RPT rua= list: mailto: or https: each */
static void
check_rua_list(struct run *u, const char *list)
{
	char one[512];
	const char *p = list;
	size_t n = 0;

	while (*p) {
		size_t l = strcspn(p, ",");

		snprintf(one, sizeof(one), "%.*s", (int)l, p);
		if (strncasecmp(one, "mailto:", 7) == 0 ||
		    strncasecmp(one, "https://", 8) == 0)
			check_report_add(u->rep, "tls-rpt", CHECK_PASS, NULL,
			    "reports go to %s", one);
		else
			check_report_add(u->rep, "tls-rpt", CHECK_FAIL, "use "
			    "mailto: or https: (RFC 8460 3)", "rua %s is not "
			    "mailto: or https:", one);
		n++;
		p += l;
		if (*p == ',')
			p++;
		while (*p == ' ')
			p++;
	}
	if (n == 0)
		check_report_add(u->rep, "tls-rpt", CHECK_FAIL, "add rua=mailto:"
		    "...", "rua= is empty");
}

/* check_tlsrpt - _smtp._tls */
static void
check_tlsrpt(struct run *u)
{
	struct ck_answer a;
	const struct ck_rr *rec;
	char *name, rua[1024];
	size_t n;

	name = xasprintf("_smtp._tls.%s", u->o->domain);
	n = find_records(u, name, "v=TLSRPTv1", &a, &rec);
	if (dns_failed(a.status))
		check_report_add(u->rep, "tls-rpt", CHECK_UNKNOWN, "", "%s: DNS "
		    "%s", name, dns_status_str(a.status));
	else if (n == 0)
		check_report_add(u->rep, "tls-rpt", u->null_mx ? CHECK_INFO :
		    CHECK_WARN, "publish \"v=TLSRPTv1; rua=mailto:...\" at "
		    "_smtp._tls (RFC 8460)", "no TLS-RPT record: TLS failures"
		    " of senders go unreported");
	else if (n > 1)
		check_report_add(u->rep, "tls-rpt", CHECK_FAIL, "keep one "
		    "record", "%zu TLS-RPT records: senders ignore them all "
		    "(RFC 8460 3)", n);
	else if (rec->txt_len > CHECK_RECORD_MAX || !tag_value(rec->txt,
	    "rua", rua, sizeof(rua)))
		check_report_add(u->rep, "tls-rpt", CHECK_FAIL, "add rua=",
		    "record has no rua=");
	else
		check_rua_list(u, rua);
	ck_answer_fini(&a);
	free(name);
}

/* check_policy_mx - every real MX must match a pattern of the policy */
static void
check_policy_mx(struct run *u, const struct mta_sts_policy *pol)
{
	size_t i, j;

	for (i = 0; i < u->nmx; i++) {
		bool hit = false;

		for (j = 0; j < pol->nmx && !hit; j++)
			hit = mta_sts_mx_match(pol->mx[j], u->mx[i].name);
		if (hit)
			check_report_add(u->rep, "mta-sts", CHECK_PASS, NULL,
			    "MX %s matches the policy", u->mx[i].name);
		else
			check_report_add(u->rep, "mta-sts",
			    pol->mode == MTA_STS_MODE_ENFORCE ? CHECK_FAIL :
			    CHECK_WARN, "add an mx: line for it to the "
			    "policy (and change the id in _mta-sts)", "MX %s matches no mx "
			    "line of the policy: senders in enforce mode will "
			    "not deliver to it", u->mx[i].name);
	}
}

/* check_policy - the fetched policy */
static void
check_policy(struct run *u, struct ck_fetch *f)
{
	struct check_report *rep = u->rep;
	struct mta_sts_policy pol;
	const char *why = NULL;

	if (f->too_big) {
		check_report_add(rep, "mta-sts", CHECK_FAIL, "serve a policy "
		    "of a few hundred bytes", "policy larger than %d bytes: "
		    "download stopped", MTA_STS_POLICY_MAX);
		return;
	}
	if (!f->ok) {
		check_report_add(rep, "mta-sts", CHECK_FAIL, "serve the policy "
		    "over HTTPS with a valid certificate for mta-sts.DOMAIN",
		    "policy fetch failed: %s", f->error);
		return;
	}
	if (f->http_status != 200) {
		check_report_add(rep, "mta-sts", CHECK_FAIL, "serve the policy "
		    "at /.well-known/mta-sts.txt with status 200 (RFC 8461 "
		    "3.3: no redirects)", "policy fetch gave HTTP %d",
		    f->http_status);
		return;
	}
	if (f->content_type == NULL ||
	    strncasecmp(f->content_type, "text/plain", 10) != 0)
		check_report_add(rep, "mta-sts", CHECK_WARN, "serve it as "
		    "text/plain (RFC 8461 3.2)", "policy media type is %s",
		    f->content_type ? f->content_type : "missing");
	if (mta_sts_policy_parse(&pol, buf_data(&f->body),
	    buf_size(&f->body), &why) != 0) {
		check_report_add(rep, "mta-sts", CHECK_FAIL, "fix the policy "
		    "(RFC 8461 3.2)", "policy does not parse: %s", why);
		mta_sts_policy_fini(&pol);
		return;
	}
	if (pol.mode == MTA_STS_MODE_ENFORCE)
		check_report_add(rep, "mta-sts", CHECK_PASS, NULL, "policy "
		    "mode enforce");
	else
		check_report_add(rep, "mta-sts", CHECK_WARN, "move to mode: "
		    "enforce once TLS-RPT reports are clean", "policy mode %s:"
		    " senders do not refuse a bad TLS connection",
		    mta_sts_mode_str(pol.mode));
	if (pol.max_age < 86400)
		check_report_add(rep, "mta-sts", CHECK_WARN, "use a max_age of"
		    " one week or more (604800)", "max_age %ld is under a day",
		    pol.max_age);
	else
		check_report_add(rep, "mta-sts", CHECK_PASS, NULL, "max_age %ld",
		    pol.max_age);
	if (pol.mode != MTA_STS_MODE_NONE)
		check_policy_mx(u, &pol);
	mta_sts_policy_fini(&pol);
}

/* check_mta_sts - _mta-sts TXT, then the policy over HTTPS */
static void
check_mta_sts(struct run *u)
{
	struct check_report *rep = u->rep;
	struct ck_answer a;
	const struct ck_rr *rec;
	struct ck_fetch f;
	char *name, *host, id[128], addr[INET6_ADDRSTRLEN];
	enum dns_status st;
	size_t n;

	name = xasprintf("_mta-sts.%s", u->o->domain);
	host = xasprintf("mta-sts.%s", u->o->domain);
	n = find_records(u, name, "v=STSv1", &a, &rec);
	if (dns_failed(a.status)) {
		check_report_add(rep, "mta-sts", CHECK_UNKNOWN, "", "%s: DNS %s",
		    name, dns_status_str(a.status));
		goto out;
	}
	if (n == 0) {
		check_report_add(rep, "mta-sts", u->null_mx ? CHECK_INFO :
		    CHECK_WARN, "publish _mta-sts TXT \"v=STSv1; id=...\" "
		    "and a policy at https://mta-sts.DOMAIN (RFC 8461)",
		    "no MTA-STS record: senders cannot insist on TLS");
		goto out;
	}
	if (n > 1) {
		check_report_add(rep, "mta-sts", CHECK_FAIL, "keep one record",
		    "%zu MTA-STS records: senders treat it as none (RFC 8461 "
		    "3.1)", n);
		goto out;
	}
	if (rec->txt_len > CHECK_RECORD_MAX || !tag_value(rec->txt, "id", id,
	    sizeof(id)) || *id == '\0')
		check_report_add(rep, "mta-sts", CHECK_FAIL, "add id=<1 to 32 "
		    "letters or digits>", "_mta-sts record has no id=");
	else
		check_report_add(rep, "mta-sts", CHECK_PASS, NULL, "_mta-sts "
		    "record, id=%s", id);
	st = resolve_host(u, host, addr, sizeof(addr));
	if (st != DNS_OK) {
		check_report_add(rep, "mta-sts", dns_failed(st) ?
		    CHECK_UNKNOWN : CHECK_FAIL, "give the name an address "
		    "and an HTTPS server", "%s does not resolve: %s", host,
		    dns_status_str(st));
		goto out;
	}
	ck_fetch_policy(u->o, addr, &f);
	check_policy(u, &f);
	ck_fetch_fini(&f);
out:
	ck_answer_fini(&a);
	free(name);
	free(host);
}

/* ---- DANE and the probes ---- */

/* probe_mx - TLSA of one MX (RFC 7672 2.2) and its live probe */
static void
probe_mx(struct run *u, const struct mx_host *m)
{
	struct check_report *rep = u->rep;
	struct ck_answer a;
	struct ck_tlsa t[16];
	size_t nt = 0, i;
	char *name, area[320];
	int port = u->o->smtp_port;

	snprintf(area, sizeof(area), "tls %s:%d", m->name, port);
	name = xasprintf("_25._tcp.%s", m->name);
	lookup(u, name, DNS_T_TLSA, &a);
	for (i = 0; i < a.nrrs && nt < 16; i++) {
		if (a.rrs[i].rdata == NULL || a.rrs[i].rdata_len < 4)
			continue;
		t[nt].usage = a.rrs[i].rdata[0];
		t[nt].selector = a.rrs[i].rdata[1];
		t[nt].mtype = a.rrs[i].rdata[2];
		t[nt].data = a.rrs[i].rdata + 3;
		t[nt].len = a.rrs[i].rdata_len - 3;
		nt++;
	}
	if (a.bogus)
		check_report_add(rep, "dane", CHECK_FAIL, "fix the DNSSEC "
		    "signatures of the zone", "%s: DNSSEC validation failed "
		    "(bogus): DANE senders will not deliver", name);
	else if (nt == 0)
		check_report_add(rep, "dane", dns_failed(a.status) ?
		    CHECK_UNKNOWN : CHECK_INFO, "sign the zone with DNSSEC "
		    "and publish TLSA 3 1 1 for the MX (RFC 7672)",
		    "%s: no TLSA records (%s)", name, dns_status_str(a.status));
	else if (a.secure)
		check_report_add(rep, "dane", CHECK_PASS, NULL, "%s: %zu TLSA "
		    "records, DNSSEC-validated", name, nt);
	else
		check_report_add(rep, "dane", CHECK_WARN, "sign the zone with "
		    "DNSSEC (and check the resolver has a trust anchor): "
		    "senders ignore unsigned TLSA records", "%s: %zu TLSA "
		    "records present but not DNSSEC-validated", name, nt);
	if (m->addr[0] == '\0')
		check_report_add(rep, area, CHECK_FAIL, "give the MX an "
		    "address", "not probed: no address");
	else
		ck_probe(rep, u->o, area, m->name, m->addr, port,
		    CK_PROBE_STARTTLS, false, a.bogus ? NULL : t,
		    a.bogus ? 0 : nt, a.secure);
	ck_answer_fini(&a);
	free(name);
}

/* probe_submission - --submission HOST on 465 and 587 */
static void
probe_submission(struct run *u)
{
	const char *h = u->o->submission;
	char addr[INET6_ADDRSTRLEN], area[320];
	enum dns_status st;

	st = resolve_host(u, h, addr, sizeof(addr));
	if (st != DNS_OK) {
		check_report_add(u->rep, "submission", dns_failed(st) ?
		    CHECK_UNKNOWN : CHECK_FAIL, "give the host an address",
		    "%s does not resolve: %s", h, dns_status_str(st));
		return;
	}
	snprintf(area, sizeof(area), "tls %s:%d", h, u->o->submissions_port);
	ck_probe(u->rep, u->o, area, h, addr, u->o->submissions_port,
	    CK_PROBE_IMPLICIT, true, NULL, 0, false);
	snprintf(area, sizeof(area), "tls %s:%d", h, u->o->submission_port);
	ck_probe(u->rep, u->o, area, h, addr, u->o->submission_port,
	    CK_PROBE_STARTTLS, true, NULL, 0, false);
}

/* check_run - the whole check, in a fixed order */
void
check_run(struct check_report *rep, struct dns_resolver *r,
    const struct check_opts *o)
{
	struct run u;
	size_t i;

	memset(&u, 0, sizeof(u));
	u.rep = rep;
	u.r = r;
	u.o = o;
	if (check_mx(&u)) {
		check_spf(&u);
		check_dmarc(&u);
		check_dkim(&u);
		check_bimi(&u);
		if (!u.null_mx) {
			check_mta_sts(&u);
			check_tlsrpt(&u);
			for (i = 0; i < u.nmx; i++)
				probe_mx(&u, &u.mx[i]);
		}
	}
	if (o->submission != NULL)
		probe_submission(&u);
	for (i = 0; i < u.nmx; i++)
		free(u.mx[i].name);
}
