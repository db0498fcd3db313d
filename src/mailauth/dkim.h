/*
 * mailauth/dkim.h - DKIM signatures (RFC 6376), with RFC 8301 (no
 * rsa-sha1, RSA keys of at least 1024 bits) and RFC 8463 (ed25519-sha256).
 *
 * Verifying is a machine the caller feeds; the module does no DNS, reads
 * no clock and touches no disk:
 *
 *	v = dkim_verify_new(&opts);		opts.now is the current time
 *	dkim_verify_message(v, msg, len);	parses, hashes every body
 *	  (or dkim_verify_header, dkim_verify_body..., dkim_verify_body_end)
 *	for i < dkim_verify_nqueries(v):	"sel._domainkey.example.com"
 *		resolve TXT, then dkim_verify_key_answer(v, i, status, txts)
 *	when dkim_verify_done(v):
 *		for i < dkim_verify_nsigs(v): dkim_verify_sig(v, i)
 *	dkim_verify_free(v);
 *
 * Answers may come in any order and from callbacks on an event loop; the
 * signatures that use a key are finished when its answer arrives.  Each
 * signature gets its own result and, when it did not pass, a reason from
 * a closed list whose text goes into Authentication-Results (RFC 8601).
 * A signature with l= that leaves part of the body unsigned can pass, but
 * is marked body_partial and dmarc_usable is false.
 *
 * Signing takes a private key loaded from PEM (RSA or Ed25519) and a
 * message, and returns the DKIM-Signature field to put on top of it.
 * Signing holds key material: in the daemon it belongs in the signer
 * process (DESIGN.md), never in an internet-facing worker.
 */
#ifndef MAILAUTH_DKIM_H
#define MAILAUTH_DKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"

#include "msg/canon.h"

struct buf;

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,	/* recognised only to refuse it (RFC 8301) */
	DKIM_ALG_UNKNOWN,
};

/* The RFC 8601 2.7.1 result words. */
enum dkim_result {
	DKIM_RESULT_NONE,
	DKIM_RESULT_PASS,
	DKIM_RESULT_FAIL,
	DKIM_RESULT_NEUTRAL,
	DKIM_RESULT_POLICY,
	DKIM_RESULT_TEMPERROR,
	DKIM_RESULT_PERMERROR,
};

/* Why a signature did not pass: a closed list; dkim_reason_str() gives the
   Authentication-Results reason text. */
enum dkim_reason {
	DKIM_R_OK,
	DKIM_R_SIG_SYNTAX,		/* permerror: tag-list syntax */
	DKIM_R_SIG_VERSION,		/* permerror: v= is not 1 */
	DKIM_R_SIG_MISSING_TAG,		/* permerror: a required tag */
	DKIM_R_SIG_BAD_TAG,		/* permerror: a tag's value */
	DKIM_R_ALGORITHM,		/* neutral: unknown a= */
	DKIM_R_ALGORITHM_SHA1,		/* fail: rsa-sha1 (RFC 8301) */
	DKIM_R_CANON,			/* neutral: unknown c= */
	DKIM_R_QUERY_METHOD,		/* neutral: q= without dns/txt */
	DKIM_R_FROM_UNSIGNED,		/* permerror: h= lacks From */
	DKIM_R_DOMAIN_MISMATCH,		/* permerror: i= outside d= */
	DKIM_R_EXPIRED,			/* fail: x= in the past */
	DKIM_R_FUTURE,			/* fail: t= in the future */
	DKIM_R_X_BEFORE_T,		/* permerror: x= before t= */
	DKIM_R_BODY_TOO_SHORT,		/* fail: l= beyond the body */
	DKIM_R_TOO_MANY,		/* neutral: past max_signatures */
	DKIM_R_KEY_UNAVAILABLE,		/* temperror: DNS failed */
	DKIM_R_KEY_MISSING,		/* permerror: no key record */
	DKIM_R_KEY_SYNTAX,		/* permerror: key record syntax */
	DKIM_R_KEY_VERSION,		/* permerror: key v= not DKIM1 */
	DKIM_R_KEY_REVOKED,		/* fail: empty p= */
	DKIM_R_KEY_TYPE,		/* permerror: k= unknown or not a= */
	DKIM_R_KEY_HASH,		/* permerror: h= excludes the hash */
	DKIM_R_KEY_SERVICE,		/* permerror: s= excludes email */
	DKIM_R_KEY_STRICT,		/* permerror: t=s and i= subdomain */
	DKIM_R_KEY_INVALID,		/* permerror: p= not a usable key */
	DKIM_R_KEY_TOO_SMALL,		/* fail: RSA under min_rsa_bits */
	DKIM_R_BODY_HASH,		/* fail: bh= does not match */
	DKIM_R_SIGNATURE,		/* fail: b= does not verify */
	DKIM_R_INTERNAL,		/* temperror: crypto library failure */
	DKIM_R_COUNT
};

const char *dkim_result_str(enum dkim_result r);	/* "pass" */
const char *dkim_reason_str(enum dkim_reason r);	/* "key revoked" */
const char *dkim_alg_str(enum dkim_alg a);		/* "rsa-sha256" */
/* dkim_alg_parse - a= value to enum (DKIM_ALG_UNKNOWN if unknown) */
enum dkim_alg dkim_alg_parse(const char *s, size_t n);

/* ---- tag lists, signatures and key records (also fuzzed alone) ---- */

/* RFC 6376 3.2: tag=value pairs separated by ";" */
#define DKIM_MAX_TAGS 64

struct dkim_tag {
	const char *name;
	size_t name_len;
	const char *value;	/* WSP around it trimmed; folding kept */
	size_t value_len;
};

/*
 * dkim_tags_parse - split a tag list into tags[0..*ntags).  A tag without
 * "=", an invalid tag name, a duplicate name or more than max tags is
 * E_SYNTAX (RFC 6376 3.2: duplicates make the whole list invalid).
 */
int dkim_tags_parse(struct dkim_tag *tags, size_t max, size_t *ntags,
    const char *p, size_t n);

/* A parsed DKIM-Signature value.  Strings are NUL-terminated copies. */
struct dkim_sig {
	enum dkim_alg alg;
	enum canon_mode hcanon, bcanon;
	char *domain;		/* d=, lower-cased */
	char *selector;		/* s= */
	char *identity;		/* i=, or "@" d= when absent */
	char **headers;		/* h=, names as written */
	size_t nheaders;
	unsigned char *bh;	/* bh= decoded */
	size_t bh_len;
	unsigned char *b;	/* b= decoded */
	size_t b_len;
	char *b_text;		/* b= as written, WSP removed (header.b) */
	long long length;	/* l=, -1 when absent */
	long long timestamp;	/* t=, -1 when absent */
	long long expiration;	/* x=, -1 when absent */
};

/*
 * dkim_sig_parse - parse a DKIM-Signature value into s.  On failure the
 * return is E_SYNTAX and *why says which rule (a result of permerror or
 * neutral follows); fields parsed so far (d=, s=) stay set for the report.
 */
int dkim_sig_parse(struct dkim_sig *s, const char *value, size_t n,
    enum dkim_reason *why);
void dkim_sig_fini(struct dkim_sig *s);

/* A parsed key record (RFC 6376 3.6.1). */
struct dkim_keyrec {
	enum dkim_alg key_type;	/* k=: RSA_SHA256 stands for rsa,
				   ED25519_SHA256 for ed25519 */
	bool sha1_ok, sha256_ok;	/* h= (both when absent) */
	bool email_ok;		/* s= allows email (or absent / "*") */
	bool testing;		/* t=y */
	bool strict;		/* t=s */
	bool revoked;		/* p= empty */
	unsigned char *pub;	/* p= decoded */
	size_t pub_len;
};

/* dkim_keyrec_parse - parse a key TXT record; E_SYNTAX with *why */
int dkim_keyrec_parse(struct dkim_keyrec *k, const char *txt, size_t n,
    enum dkim_reason *why);
void dkim_keyrec_fini(struct dkim_keyrec *k);

/* ---- verifying ---- */

struct dkim_verify_opts {
	long long now;		/* seconds since the epoch, for t= and x= */
	unsigned min_rsa_bits;	/* 0: 1024 (RFC 8301 3.2) */
	size_t max_signatures;	/* 0: 16; further ones are neutral */
	long long clock_skew;	/* t= may be this far ahead; 0: 300 s */
};

/* One signature's verdict.  Strings live as long as the verifier. */
struct dkim_sig_result {
	enum dkim_result result;
	enum dkim_reason reason;	/* DKIM_R_OK on pass */
	const char *domain;		/* d= (NULL if unparsable) */
	const char *selector;		/* s= (NULL if unparsable) */
	const char *identity;		/* i= or "@d" */
	enum dkim_alg alg;
	const char *b_prefix;		/* first 8 characters of b= */
	long long length;		/* l= or -1 */
	bool body_partial;		/* l= left body bytes unsigned */
	bool dmarc_usable;		/* pass and the whole body signed */
	bool testing;			/* the key says t=y */
	unsigned key_bits;		/* 0 if the key was not read */
};

enum dkim_key_status {
	DKIM_KEY_FOUND,		/* TXT records arrived (txts, n) */
	DKIM_KEY_NOTFOUND,	/* NXDOMAIN or no TXT record */
	DKIM_KEY_TEMPFAIL,	/* SERVFAIL, timeout */
};

struct dkim_verify;

/* dkim_verify_new - a verifier for one message; opts is copied */
struct dkim_verify *dkim_verify_new(const struct dkim_verify_opts *opts);
void dkim_verify_free(struct dkim_verify *v);
/*
 * dkim_verify_message - take the whole message (CRLF line ends; kept by
 * the caller until this returns; nothing points into it afterwards).
 * Parses every DKIM-Signature, checks what needs no key and hashes the
 * body for each signature (streaming, l= honoured).  E_SYNTAX if the
 * header section cannot be split: no signature is reported then (nsigs 0)
 * and the caller treats the message as malformed.  It is the three calls
 * below in a row.
 */
int dkim_verify_message(struct dkim_verify *v, const char *msg, size_t n);
/*
 * The same in steps, for a message read in pieces (the body need never be
 * in memory at once): dkim_verify_header() with the header section (up to
 * and including the blank line), dkim_verify_body() any number of times,
 * then dkim_verify_body_end(), after which the key queries are listed.
 * Out of order: E_INVAL.
 */
int dkim_verify_header(struct dkim_verify *v, const char *hdr, size_t n);
int dkim_verify_body(struct dkim_verify *v, const void *p, size_t n);
int dkim_verify_body_end(struct dkim_verify *v);
/* dkim_verify_nqueries - distinct key names to look up (TXT) */
size_t dkim_verify_nqueries(const struct dkim_verify *v);
const char *dkim_verify_query(const struct dkim_verify *v, size_t i);
/*
 * dkim_verify_key_answer - the answer to query i: with DKIM_KEY_FOUND,
 * txts[0..n) are the TXT records (each with its strings concatenated) and
 * lens their lengths.  Several records: RFC 6376 3.6.2.2 leaves the choice
 * open; the first record that parses is used.
 */
int dkim_verify_key_answer(struct dkim_verify *v, size_t i,
    enum dkim_key_status st, const char *const *txts, const size_t *lens,
    size_t n);
/*
 * dkim_verify_dns_answer - dkim_verify_key_answer() from a DNS answer:
 * TXT records found, NODATA/NXDOMAIN as no key, anything else a
 * temporary failure.  The one translation the CLI and the daemon share.
 */
int dkim_verify_dns_answer(struct dkim_verify *v, size_t i,
    const struct dns_answer *ans);
/* dkim_verify_done - every query answered (or none needed) */
bool dkim_verify_done(const struct dkim_verify *v);
size_t dkim_verify_nsigs(const struct dkim_verify *v);
const struct dkim_sig_result *dkim_verify_sig(const struct dkim_verify *v,
    size_t i);
/*
 * dkim_verify_format - append the resinfo for result i, e.g.
 * "dkim=fail (body hash did not verify) header.d=example.com
 * header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh"
 */
int dkim_verify_format(struct buf *out, const struct dkim_sig_result *r);

/*
 * dkim_key_cache_clear - forget the public keys this thread has cached
 * (the verifier keeps up to 32 decoded keys per thread, keyed by the exact
 * p= value, so a busy receiver decodes a big sender's key once)
 */
void dkim_key_cache_clear(void);

/* ---- keys and signing ---- */

struct dkim_key;

/* dkim_key_load - a private key in PEM (RSA or Ed25519); *err explains */
int dkim_key_load(struct dkim_key **out, const char *pem, size_t n,
    char **err);
/* dkim_key_generate - a new key: RSA of bits bits, or Ed25519 */
int dkim_key_generate(struct dkim_key **out, enum dkim_alg alg,
    unsigned bits);
void dkim_key_free(struct dkim_key *k);
/* dkim_key_alg - the signing algorithm the key gives */
enum dkim_alg dkim_key_alg(const struct dkim_key *k);
unsigned dkim_key_bits(const struct dkim_key *k);
/* dkim_key_pem - append the private key as PKCS#8 PEM */
int dkim_key_pem(const struct dkim_key *k, struct buf *out);
/* dkim_key_record - append the TXT record value "v=DKIM1; k=...; p=..." */
int dkim_key_record(const struct dkim_key *k, struct buf *out);

struct dkim_sign_opts {
	const char *domain;	/* d= */
	const char *selector;	/* s= */
	const char *identity;	/* i=, NULL for none */
	enum canon_mode hcanon, bcanon;	/* relaxed/relaxed by default */
	long long timestamp;	/* t=; -1 for none */
	long long expiration;	/* x= (absolute); -1 for none */
	/* names to sign, NULL for the default: From, To, Cc, Subject,
	   Date, Message-ID, Reply-To, MIME-Version, Content-Type and
	   Content-Transfer-Encoding, each listed once more than it occurs
	   (oversigning: nobody can add one), plus In-Reply-To and
	   References as they occur */
	const char *const *headers;
	size_t nheaders;
};

/* dkim_sign_opts_init - relaxed/relaxed, no t=, no x=, default headers */
void dkim_sign_opts_init(struct dkim_sign_opts *o);
/*
 * dkim_sign - append to out the "DKIM-Signature: ...\r\n" field that
 * signs msg (CRLF line ends) with k.  Never writes l=.  E_SYNTAX if the
 * message's header section cannot be split or has no From field.
 */
int dkim_sign(struct buf *out, const struct dkim_key *k,
    const struct dkim_sign_opts *o, const char *msg, size_t n);

#endif
