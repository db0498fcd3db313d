/*
 * check/check.h - how well is a domain's mail protected (smtpsctl check).
 *
 * The engine looks at a domain's DNS (MX, SPF, DMARC, DKIM keys, BIMI,
 * MTA-STS, TLS-RPT, DANE), fetches its MTA-STS policy over HTTPS and
 * probes each MX (and a submission host) over SMTP and TLS, and writes
 * what it found as a list of findings: an area, a grade, a one-line
 * reason and a one-line fix.  It never stops at the first problem: a
 * name that does not exist, a DNS server that times out, an MX that does
 * not answer or answers garbage, a policy file that is far too big, each
 * becomes a finding, and every network step has a deadline.
 *
 * The pieces that read peer data without I/O (the MTA-STS policy parser,
 * MX pattern matching, the report) are pure and tested alone; the
 * network runs only inside check_run().  Everything lives in the caller's
 * struct check_report until check_report_fini().  Run by smtpsctl only.
 */
#ifndef CHECK_CHECK_H
#define CHECK_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"
#include "util/buf.h"

/* Grades, best first.  UNKNOWN is "could not evaluate" (DNS timed out,
   local failure): it is reported as a finding like the others. */
enum check_grade {
	CHECK_PASS = 0,
	CHECK_INFO,
	CHECK_WARN,
	CHECK_FAIL,
	CHECK_UNKNOWN,
};

struct check_finding {
	char *area;		/* "mx", "spf", "tls mx.example.org:25" ... */
	enum check_grade grade;
	char *reason;		/* one line */
	char *fix;		/* one line; "" when nothing is to be done */
};

struct check_report {
	char *domain;
	struct check_finding *f;
	size_t n, cap;
};

/* check_report_init - an empty report for domain */
void check_report_init(struct check_report *r, const char *domain);
void check_report_fini(struct check_report *r);
/* check_report_add - one finding; the reason is formatted (our format,
   peer text passed as %s is made printable on one line) */
void check_report_add(struct check_report *r, const char *area,
    enum check_grade g, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* check_report_sort - worst grade first; equal grades keep their order */
void check_report_sort(struct check_report *r);
/* check_report_exit - 0 all pass/info, 1 a warn, 2 a fail, 3 something
   could not be evaluated */
int check_report_exit(const struct check_report *r);
/* check_report_table - the report as a table a person reads */
int check_report_table(const struct check_report *r, struct buf *out);
/* check_report_json - {"domain":..,"status":..,"findings":[...]} */
int check_report_json(const struct check_report *r, struct buf *out);
const char *check_grade_str(enum check_grade g);	/* "pass" ... */

/* ---- MTA-STS policy (RFC 8461 3.2), pure ---- */

/* RFC 8461 3.3 lets a sender cap the policy body; 64 KiB, as the RFC's
   own guidance suggests. */
#define MTA_STS_POLICY_MAX	65536
/* RFC 8461 3.2: max_age is at most 31557600 seconds (about a year). */
#define MTA_STS_MAX_AGE_MAX	31557600L
/* Ours: the most mx lines kept from one policy. */
#define MTA_STS_MX_MAX		32

enum mta_sts_mode {
	MTA_STS_MODE_UNSET = 0,
	MTA_STS_MODE_ENFORCE,
	MTA_STS_MODE_TESTING,
	MTA_STS_MODE_NONE,
};

struct mta_sts_policy {
	enum mta_sts_mode mode;
	long max_age;		/* -1 when absent or invalid */
	char *mx[MTA_STS_MX_MAX];
	size_t nmx;
	bool mx_truncated;	/* more mx lines than MTA_STS_MX_MAX */
};

/*
 * mta_sts_policy_parse - parse a policy body (n bytes, CRLF or LF lines).
 * Returns 0, or E_SYNTAX with *why (a static string) naming the first
 * problem; the fields read so far stay set.  Unknown keys are ignored
 * (RFC 8461 3.2).  mta_sts_policy_fini() either way.
 */
int mta_sts_policy_parse(struct mta_sts_policy *p, const char *txt,
    size_t n, const char **why);
void mta_sts_policy_fini(struct mta_sts_policy *p);
/* mta_sts_mx_match - does host match an mx pattern ("mail.example.com"
   or "*.example.com", one label only; RFC 8461 4.1)? */
bool mta_sts_mx_match(const char *pattern, const char *host);
const char *mta_sts_mode_str(enum mta_sts_mode m);

/* ---- the whole check ---- */

#define CHECK_MAX_SELECTORS	16

struct check_opts {
	const char *domain;
	const char *selectors[CHECK_MAX_SELECTORS];
	size_t nselectors;
	int smtp_port;			/* 25 */
	const char *submission;		/* host, or NULL */
	int submissions_port;		/* 465: implicit TLS */
	int submission_port;		/* 587: STARTTLS */
	int mta_sts_port;		/* 443 */
	const char *ca_file;		/* NULL: the system's CAs */
	int timeout_ms;			/* per probe and per DNS query */
};

/* check_run - every check of o->domain into rep, DNS through r */
void check_run(struct check_report *rep, struct dns_resolver *r,
    const struct check_opts *o);

#endif
