/*
 * mailauth/dmarc.h - DMARC (RFC 7489 and RFC 9989, its successor).
 *
 * Four pieces, all pure (no sockets, clock, DNS or disk):
 *  - dmarc_record_parse: one TXT record to a struct, every tag checked; a
 *    malformed record is reported as such with the tag at fault.
 *  - dmarc_from_domain (dmarc_from.c): the RFC5322.From domain, strictly.
 *    No From, several From fields, several addresses, or anything that
 *    does not parse gives no domain, so DMARC can never pass on it.
 *  - dmarc_eval: a machine that finds the policy (RFC 9989 DNS tree walk
 *    by default, or RFC 7489 with the Public Suffix List), checks
 *    identifier alignment and gives the verdict.  It asks its caller for
 *    DNS answers one query at a time:
 *
 *	e = dmarc_eval_new(&params);
 *	while (dmarc_eval_next(e, &q) == DMARC_NEED_DNS)
 *		... resolve q.name / q.type (dns_query) ...
 *		dmarc_eval_answer(e, status, txts, lens, n);
 *	v = dmarc_eval_verdict(e);
 *	dmarc_eval_free(e);
 *
 *    The random number for pct sampling is passed in; nothing is read
 *    from the clock or a random source inside.
 *  - the names of results and policies for Authentication-Results.
 *
 * The session that owns a dmarc_eval owns everything it returns; the
 * verdict lives until dmarc_eval_free().
 */
#ifndef MAILAUTH_DMARC_H
#define MAILAUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

struct pubsuffix;

/* RFC 1035 2.3.4: a name is at most 253 characters in text form. */
#define DMARC_DOMAIN_MAX 253
/* RFC 9989 4.10: a tree walk makes at most 8 queries. */
#define DMARC_TREEWALK_MAX_QUERIES 8
/* A cap on URIs in one rua= or ruf= list (ours; no RFC limit). */
#define DMARC_URIS_MAX 16
/* The longest TXT record (all strings joined) we parse (ours). */
#define DMARC_RECORD_MAX 4096

enum dmarc_policy {
	DMARC_POLICY_UNSET = 0,
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED = 0,	/* "r", the default */
	DMARC_ALIGN_STRICT,		/* "s" */
};

enum dmarc_psd {
	DMARC_PSD_U = 0,	/* unset or "u": the default */
	DMARC_PSD_Y,		/* a Public Suffix Domain's record */
	DMARC_PSD_N,		/* this is an Organizational Domain */
};

/* fo= flags, RFC 7489 6.3 */
#define DMARC_FO_0 0x01
#define DMARC_FO_1 0x02
#define DMARC_FO_D 0x04
#define DMARC_FO_S 0x08

/* What dmarc_record_parse found wrong (the first problem). */
enum dmarc_record_error {
	DMARC_REC_OK = 0,
	DMARC_REC_NOT_DMARC,	/* does not start with v=DMARC1: not ours */
	DMARC_REC_SYNTAX,	/* tag-list grammar broken (tag, '=', ';') */
	DMARC_REC_DUP_TAG,	/* a tag given twice */
	DMARC_REC_BAD_VALUE,	/* a known tag with a value outside its
				   grammar: err_tag names it */
	DMARC_REC_TOO_LONG,
};

struct dmarc_uri {
	char *uri;		/* as written, commas and '!' removed */
	uint64_t max_size;	/* from a "!10m" suffix, in bytes; 0: none */
};

struct dmarc_record {
	enum dmarc_policy p, sp, np;	/* UNSET when absent */
	bool p_invalid;		/* p (or sp, np) present but malformed */
	bool other_invalid;	/* a problem other than p_invalid */
	int pct;		/* 0..100; 100 when absent (RFC 7489) */
	bool has_pct;
	bool testing;		/* t=y (RFC 9989) */
	bool has_t;
	enum dmarc_align adkim, aspf;
	struct dmarc_uri rua[DMARC_URIS_MAX], ruf[DMARC_URIS_MAX];
	size_t nrua, nruf;
	bool rua_invalid;	/* rua= present but has no valid URI */
	unsigned fo;		/* DMARC_FO_*; DMARC_FO_0 when absent */
	bool rf_afrf;		/* rf= lists afrf (the one format) */
	uint32_t ri;		/* seconds; 86400 when absent */
	enum dmarc_psd psd;
	enum dmarc_record_error error;
	char err_tag[16];	/* the tag at fault, for messages */
};

/*
 * dmarc_record_parse - parse one DMARC TXT record (n bytes, the strings
 * already joined).  Returns 0 for a well-formed record, E_SYNTAX with
 * r->error saying why otherwise (r is still filled as far as it could
 * be read: the tree walk needs psd= even from a damaged record).
 * Unknown tags are ignored (RFC 7489 6.3, RFC 9989 4.7).
 * dmarc_record_fini() must be called either way.
 */
int
dmarc_record_parse(struct dmarc_record *r, const char *txt, size_t n);
void
dmarc_record_fini(struct dmarc_record *r);
/* dmarc_record_error_str - "unknown tag value for pct" and the like */
const char *
dmarc_record_error_str(enum dmarc_record_error e);
/* dmarc_is_record - does this TXT string start with v=DMARC1? */
bool
dmarc_is_record(const char *txt, size_t n);

/* ---- RFC5322.From (dmarc_from.c) ---- */

enum dmarc_from_status {
	DMARC_FROM_OK = 0,
	DMARC_FROM_NONE,		/* no From field */
	DMARC_FROM_MULTIPLE_FIELDS,	/* two or more From fields */
	DMARC_FROM_MULTIPLE_ADDRESSES,	/* several mailboxes in one */
	DMARC_FROM_NO_ADDRESS,		/* empty, or a group with none */
	DMARC_FROM_SYNTAX,		/* does not parse as RFC 5322 */
	DMARC_FROM_BAD_NAME,		/* "From :" and other odd names */
	DMARC_FROM_ENCODED_WORD,	/* RFC 2047 word inside the address */
	DMARC_FROM_BAD_DOMAIN,		/* empty, literal, not a name */
	/* A domain with U-labels that has no A-label form (RFC 8616 6): */
	DMARC_FROM_IDN_UTF8,		/* not valid UTF-8 */
	DMARC_FROM_IDN_DISALLOWED,	/* a code point IDNA2008 forbids */
	DMARC_FROM_IDN_LENGTH,		/* a label or the name too long */
	DMARC_FROM_IDN_INVALID,		/* another IDNA rule broken */
};

/*
 * dmarc_from_domain - the domain of the single RFC5322.From mailbox in
 * the header section hdr (n bytes, up to and optionally including the
 * empty line; CRLF or LF line ends), lower-cased into out (outsz bytes).
 * A domain with U-labels comes back in its A-label form (RFC 8616 6), so
 * out is always a plain ASCII host name; one with no A-label form gives
 * a DMARC_FROM_IDN_* status.
 * Returns 0 and DMARC_FROM_OK, or E_SYNTAX with *status saying why (any
 * status other than OK means DMARC cannot pass).
 */
int
dmarc_from_domain(const char *hdr, size_t n, char *out, size_t outsz,
    enum dmarc_from_status *status);
/*
 * dmarc_from_field_domain - the same for one From field's value (the
 * text after the colon, unfolded or not).
 */
int
dmarc_from_field_domain(const char *value, size_t n, char *out,
    size_t outsz, enum dmarc_from_status *status);
const char *
dmarc_from_status_str(enum dmarc_from_status s);

/* ---- Evaluation ---- */

enum dmarc_result {
	DMARC_RESULT_NONE = 0,	/* no policy record: no DMARC */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,	/* DNS failed while finding the policy */
	DMARC_RESULT_PERMERROR,	/* malformed record, or unusable From */
};

enum dmarc_discovery {
	DMARC_DISCOVERY_TREEWALK = 0,	/* RFC 9989 4.10, the default */
	DMARC_DISCOVERY_PSL,		/* RFC 7489 6.6.3 with the PSL */
};

/*
 * One authenticated identifier as SPF or DKIM reported it.  For SPF,
 * domain is the RFC5321.MailFrom domain (the HELO name when MAIL FROM
 * was null, RFC 7489 3.1.2).  For DKIM, domain is d=; body_partial is
 * set when l= left part of the body unsigned: such a signature never
 * counts for DMARC, whatever its result.
 */
struct dmarc_auth {
	const char *domain;	/* A-labels or U-labels (RFC 8616 5 lets d=
				   carry U-labels): dmarc_eval converts */
	bool pass;
	bool body_partial;
};

struct dmarc_params {
	const char *from_domain;	/* from dmarc_from_domain(), or NULL;
					   U-labels are converted inside */
	enum dmarc_from_status from_status;	/* why from_domain is NULL */
	struct dmarc_auth spf;		/* domain NULL: no SPF result */
	const struct dmarc_auth *dkim;	/* one per signature */
	size_t ndkim;
	enum dmarc_discovery discovery;
	const struct pubsuffix *psl;	/* required for DISCOVERY_PSL */
	/* A number in [0, 100) drawn by the caller for pct= sampling:
	   the policy applies when sample < pct. */
	unsigned sample;
};

enum dmarc_step {
	DMARC_DONE = 0,
	DMARC_NEED_DNS,
};

struct dmarc_query {
	const char *name;	/* valid until the next call */
	enum dns_type type;	/* TXT, or A/AAAA/MX to test existence */
};

struct dmarc_verdict {
	enum dmarc_result result;
	const char *from_domain;	/* as handed in, lower-cased (A-labels
					   from dmarc_from_domain); "" if none */
	const char *from_domain_ascii;	/* its A-label form, the one looked
					   up and aligned; "" when none */
	const char *policy_domain;	/* where the record was, "" if none */
	const char *org_domain;		/* of the From domain */
	bool spf_aligned, dkim_aligned;
	const char *dkim_aligned_domain;	/* the signature that aligned */
	/* The policy the record asks for (p, sp or np as applicable). */
	enum dmarc_policy policy;
	const char *policy_tag;		/* "p", "sp" or "np" */
	/* What the receiver should apply on failure after pct= sampling and
	   t=y: "none" means deliver as usual. */
	enum dmarc_policy disposition;
	bool sampled_out;		/* pct= or t=y lowered the policy */
	bool from_nonexistent;		/* np applied */
	struct dmarc_record record;	/* the record that applied */
	bool has_record;
	const char *reason;		/* a short explanation */
};

struct dmarc_eval;

/* dmarc_eval_new - start an evaluation; params are copied */
struct dmarc_eval *
dmarc_eval_new(const struct dmarc_params *params);
/* dmarc_eval_free - release it; NULL does nothing */
void
dmarc_eval_free(struct dmarc_eval *e);
/* dmarc_eval_next - the next DNS query needed, or DMARC_DONE */
enum dmarc_step
dmarc_eval_next(struct dmarc_eval *e, struct dmarc_query *q);
/*
 * dmarc_eval_answer - the answer to the query dmarc_eval_next asked for:
 * its status and, for TXT, each record's strings already joined
 * (txt[i], len[i]).  E_INVAL if no query was outstanding.
 */
int
dmarc_eval_answer(struct dmarc_eval *e, enum dns_status status,
    const char *const *txt, const size_t *len, size_t n);
/* dmarc_eval_verdict - the verdict once dmarc_eval_next said DONE */
const struct dmarc_verdict *
dmarc_eval_verdict(const struct dmarc_eval *e);

/*
 * dmarc_run - drive e over a resolver (dns.h), one query at a time, and
 * call cb once when the verdict is known.  Returns NULL when it finished
 * at once (cb has been called), else a handle valid until cb is called.
 * dmarc_run_cancel() stops it: cb is never called and e may be freed at
 * once; the handle itself goes when the outstanding answer arrives.
 * This is the glue for an event loop; the machine itself stays pure.
 */
typedef void dmarc_done_cb(void *arg, struct dmarc_eval *e);
struct dmarc_runner;
struct dmarc_runner *
dmarc_run(struct dmarc_eval *e, struct dns_resolver *r, dmarc_done_cb *cb,
    void *arg);
void
dmarc_run_cancel(struct dmarc_runner *run);

/*
 * dmarc_org_domain_treewalk - the pieces of the machine, for tests and
 * tools: given the names queried from longest to shortest and whether
 * each had one valid record and its psd tag, the Organizational Domain
 * (RFC 9989 4.10.2).
 */
struct dmarc_walk_entry {
	const char *name;
	bool has_record;
	enum dmarc_psd psd;
};
const char *
dmarc_treewalk_org_domain(const struct dmarc_walk_entry *w, size_t n,
    const char *start);
/*
 * dmarc_treewalk_next_name - the next target of a tree walk after name
 * (RFC 9989 4.10 steps 3, 4 and 7): one label less, or seven labels when
 * name has eight or more.  Writes into out; false when no labels remain.
 */
bool
dmarc_treewalk_next_name(const char *name, char *out, size_t outsz);

/* dmarc_aligned - are a and b aligned in this mode, given their
   Organizational Domains? (RFC 7489 3.1)  All four in one form (A-labels,
   RFC 8616 6), compared without regard to ASCII case. */
bool
dmarc_aligned(const char *a, const char *org_a, const char *b,
    const char *org_b, enum dmarc_align mode);

const char *dmarc_result_str(enum dmarc_result r);	/* "pass" ... */
const char *dmarc_policy_str(enum dmarc_policy p);	/* "reject" ... */

#endif
