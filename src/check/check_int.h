/*
 * check/check_int.h - the pieces of check_run() shared between its files:
 * a blocking DNS lookup that keeps a copy of the answer, the HTTPS fetch
 * of an MTA-STS policy and the SMTP/TLS probe.  Not part of the contract.
 */
#ifndef CHECK_CHECK_INT_H
#define CHECK_CHECK_INT_H

#include <stdint.h>

#include "check/check.h"

/* A copy of a DNS answer that outlives the callback. */
struct ck_rr {
	uint16_t type;
	uint8_t addr[16];
	uint16_t pref;
	char *name;
	char *txt;		/* NUL-terminated copy; txt_len bytes */
	size_t txt_len;
	uint8_t *rdata;
	size_t rdata_len;
};

struct ck_answer {
	enum dns_status status;
	bool secure, bogus;
	struct ck_rr *rrs;
	size_t nrrs;
};

/* ck_lookup - resolve name/type and wait (bounded by the resolver's
   timeout); the answer is the caller's until ck_answer_fini() */
void ck_lookup(struct dns_resolver *r, const char *name, enum dns_type type,
    struct ck_answer *out);
void ck_answer_fini(struct ck_answer *a);

/* What a policy fetch gave. */
struct ck_fetch {
	int http_status;	/* 0 when no HTTP answer */
	char *content_type;	/* NULL if none */
	struct buf body;	/* capped at MTA_STS_POLICY_MAX */
	bool too_big;		/* the cap was reached: transfer stopped */
	char error[256];	/* curl's explanation when it failed */
	bool ok;		/* a complete HTTP answer arrived */
};

/* ck_fetch_policy - GET https://mta-sts.DOMAIN[:port]/.well-known/
   mta-sts.txt, the name pinned to addr (text), certificate checked */
void ck_fetch_policy(const struct check_opts *o, const char *addr,
    struct ck_fetch *f);
void ck_fetch_fini(struct ck_fetch *f);

/* The TLSA records that apply to one probe (DANE, RFC 7672). */
struct ck_tlsa {
	uint8_t usage, selector, mtype;
	const uint8_t *data;
	size_t len;
};

enum ck_probe_mode {
	CK_PROBE_STARTTLS,	/* port 25 or 587 */
	CK_PROBE_IMPLICIT,	/* port 465 */
};

/* ck_probe - connect to host (name, for SNI and name checks) at addr
   (text) and port, speak SMTP (or TLS first), and add findings under
   area; tlsa may be NULL */
void ck_probe(struct check_report *rep, const struct check_opts *o,
    const char *area, const char *host, const char *addr, int port,
    enum ck_probe_mode mode, bool auth_check, const struct ck_tlsa *tlsa,
    size_t ntlsa, bool tlsa_secure);

#endif
