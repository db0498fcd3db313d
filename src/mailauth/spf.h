/*
 * mailauth/spf.h - Sender Policy Framework (RFC 7208), as a pure machine.
 *
 * One struct spf is one check_host() evaluation of one identity (MAIL FROM
 * or HELO).  It does no I/O: the caller asks spf_next() what it needs,
 * resolves that query (dns_query, a table, a fuzzer) and hands the answer
 * back with spf_answer(), until spf_next() says SPF_STEP_DONE.  The time
 * (for the %{t} macro) and the receiving host's name (%{r}) are passed in.
 * spf_run() is the glue that drives a machine on a struct dns_resolver and
 * calls back when the verdict is known, so a worker can run a thousand
 * evaluations on one event loop.  The caller owns the struct spf; every
 * string it returns lives until spf_free().
 */
#ifndef MAILAUTH_SPF_H
#define MAILAUTH_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"
#include "util/buf.h"

/* RFC 7208 4.6.4: at most 10 mechanisms and modifiers that query DNS
   (include, a, mx, ptr, exists, redirect) per check; exceeding it is a
   permerror. */
#define SPF_MAX_DNS_TERMS	10
/* RFC 7208 4.6.4: "void lookups" (NXDOMAIN or no answer) SHOULD be limited
   to two; the third is a permerror. */
#define SPF_MAX_VOID_LOOKUPS	2
/* RFC 7208 4.6.4: an mx mechanism with more than 10 MX names is a
   permerror. */
#define SPF_MAX_MX_NAMES	10
/* RFC 7208 4.6.4: a ptr mechanism or %{p} macro looks at the first 10 PTR
   names only (the rest are ignored, not an error). */
#define SPF_MAX_PTR_NAMES	10
/* RFC 7208 4.8: a name built by macro expansion longer than 253 octets
   loses labels from the left until it fits. */
#define SPF_MAX_DOMAIN_LEN	253
/* Our own caps on peer data: an SPF record or explanation longer than this
   is refused (permerror) or dropped (explanation), never grown without
   bound.  A TXT RRset carrying an SPF record is itself capped by DNS. */
#define SPF_MAX_RECORD_LEN	4096
#define SPF_MAX_EXPLANATION_LEN	1024

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* Which identity is being checked (RFC 7208 2.3, 2.4). */
enum spf_identity {
	SPF_ID_MAILFROM,	/* MAIL FROM; the null sender uses the HELO */
	SPF_ID_HELO,		/* the HELO/EHLO name */
};

struct spf_params {
	const char *ip;		/* client address, IPv4 or IPv6 text */
	const char *helo;	/* HELO/EHLO argument; NULL or "" if none */
	const char *mail_from;	/* MAIL FROM without <>; "" = null sender */
	const char *receiver;	/* %{r}; NULL gives "unknown" */
	int64_t now;		/* %{t}, seconds since the epoch */
	enum spf_identity identity;
};

/* What the machine wants next. */
enum spf_step {
	SPF_STEP_QUERY,		/* resolve q->name/q->type, call spf_answer */
	SPF_STEP_DONE,		/* spf_result() holds the verdict */
};

struct spf_query {
	const char *name;	/* valid until the next spf_answer() */
	enum dns_type type;
};

struct spf;

/*
 * spf_new - start an evaluation.  Returns 0, or E_SYNTAX when p->ip is not
 * an IP address (then *out is NULL).  An unusable domain is not an error:
 * the evaluation simply ends with SPF_NONE (RFC 7208 4.3).
 */
int spf_new(struct spf **out, const struct spf_params *p);
void spf_free(struct spf *s);

/* spf_next - the next query the machine needs, or SPF_STEP_DONE */
enum spf_step spf_next(struct spf *s, struct spf_query *q);
/* spf_answer - the answer to the query spf_next() last asked for */
void spf_answer(struct spf *s, const struct dns_answer *ans);

enum spf_result spf_result(const struct spf *s);
/* spf_explanation - the exp= text after a fail (RFC 7208 6.2), else NULL */
const char *spf_explanation(const struct spf *s);
/* spf_domain - the domain checked (MAIL FROM domain or HELO name), as
   received: U-labels stay UTF-8 (what the headers show) */
const char *spf_domain(const struct spf *s);
/* spf_domain_ascii - the same in A-label form, the form that was looked
   up (RFC 8616 4); NULL when it has none (the result is then none) */
const char *spf_domain_ascii(const struct spf *s);
/* spf_sender - the <sender> used: the address, or postmaster@HELO, as
   received */
const char *spf_sender(const struct spf *s);
/* spf_problem - why the result is permerror/temperror, or why a domain
   with U-labels could not be checked (result none), else NULL */
const char *spf_problem(const struct spf *s);
/* spf_dns_terms - DNS-querying terms used (the 4.6.4 counter) */
int spf_dns_terms(const struct spf *s);

/* spf_result_str - "pass", "fail", ... as in Authentication-Results */
const char *spf_result_str(enum spf_result r);

/*
 * spf_resinfo - append the Authentication-Results resinfo, e.g.
 * "spf=pass smtp.mailfrom=example.com" or "spf=none smtp.helo=mx.example".
 */
int spf_resinfo(const struct spf *s, struct buf *out);
/*
 * spf_received_header - append a whole Received-SPF header field (RFC 7208
 * 9.1), folded with CRLF + space before 78 columns, without the final
 * CRLF, e.g.
 * "Received-SPF: pass (mx.example: domain of a@example.com designates
 * 192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from=...".
 */
int spf_received_header(const struct spf *s, struct buf *out);

/* spf_expand - expand a macro-string outside an evaluation (tests, tools):
   is_exp allows c, r and t.  Returns 0 or E_SYNTAX; %{p} expands to
   "unknown" since no DNS is available here. */
int spf_expand(const struct spf_params *p, const char *domain,
    const char *spec, size_t len, bool is_exp, struct buf *out);

/* spf_record_check - parse a record only: 0 or E_SYNTAX (permerror) */
int spf_record_check(const char *rec, size_t len);

/* spf_done_cb - the evaluation is over; s still belongs to the caller */
typedef void spf_done_cb(void *arg, struct spf *s);
/* spf_run - drive s over r, one query at a time, then call cb once */
int spf_run(struct spf *s, struct dns_resolver *r, spf_done_cb *cb,
    void *arg);

#endif
