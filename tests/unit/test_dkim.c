/*
 * test_dkim - DKIM verify and sign (RFC 6376, 8301, 8463): the RFC 8463
 * example, the dkimpy data set as labelled, every failure reason, the
 * tag-list, signature and key-record parsers, and sign/verify round trips.
 * Reads tests/data/dkim/ (run from the repository root).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mailauth/dkim.h"
#include "mailauth/dkim_int.h"
#include "msg/canon.h"
#include "msg/header.h"
#include "testlib.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define DATA "tests/data/dkim/"
#define RFC8463_T 1528637909LL
#define NOW 1700000000LL

/* slurp - a file's contents, NUL-terminated (exits if missing) */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		printf("FAIL cannot open %s\n", path);
		exit(1);
	}
	buf_init(&b, 1 << 24);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_cstr(&b);
	*len = b.len;
	return b.p;
}

/* crlf - LF-only text (or CRLF text) as CRLF text */
static char *
crlf(const char *s, size_t n, size_t *outlen)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	msg_lf_to_crlf(&b, s, n);
	buf_cstr(&b);
	*outlen = b.len;
	return b.p;
}

/* load_msg - a data file as a CRLF message */
static char *
load_msg(const char *path, size_t *len)
{
	size_t n;
	char *raw = slurp(path, &n), *m = crlf(raw, n, len);

	free(raw);
	return m;
}

/* load_line - a one-line data file without its line end */
static char *
load_line(const char *path)
{
	size_t n;
	char *s = slurp(path, &n);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static struct dkim_key *
load_key(const char *path)
{
	struct dkim_key *k = NULL;
	size_t n;
	char *s = slurp(path, &n), *err = NULL;

	if (dkim_key_load(&k, s, n, &err) < 0) {
		printf("FAIL key %s: %s\n", path, err ? err : "?");
		exit(1);
	}
	free(s);
	free(err);
	return k;
}

struct rec {
	const char *name;	/* query name */
	const char *txt;	/* "TEMPFAIL" for a failed lookup */
};

/* run_verify - verify msg, answering key queries from recs */
static struct dkim_verify *
run_verify(const char *msg, size_t n, long long now, const struct rec *recs,
    size_t nrecs, size_t max_sigs)
{
	struct dkim_verify_opts o = { .now = now, .max_signatures = max_sigs };
	struct dkim_verify *v = dkim_verify_new(&o);
	size_t i, j;

	if (dkim_verify_message(v, msg, n) < 0)
		return v;
	for (i = 0; i < dkim_verify_nqueries(v); i++) {
		const char *q = dkim_verify_query(v, i);
		bool answered = false;

		for (j = 0; j < nrecs && !answered; j++) {
			size_t l;

			if (strcmp(recs[j].name, q) != 0)
				continue;
			answered = true;
			if (strcmp(recs[j].txt, "TEMPFAIL") == 0) {
				dkim_verify_key_answer(v, i, DKIM_KEY_TEMPFAIL,
				    NULL, NULL, 0);
				continue;
			}
			l = strlen(recs[j].txt);
			dkim_verify_key_answer(v, i, DKIM_KEY_FOUND,
			    &recs[j].txt, &l, 1);
		}
		if (!answered)
			dkim_verify_key_answer(v, i, DKIM_KEY_NOTFOUND, NULL,
			    NULL, 0);
	}
	return v;
}

/* check_sig - one signature's result and reason */
static void
check_sig(const struct dkim_verify *v, size_t i, enum dkim_result res,
    enum dkim_reason why, const char *name)
{
	const struct dkim_sig_result *s = dkim_verify_sig(v, i);

	CHECK(s != NULL, name);
	if (s == NULL)
		return;
	CHECK_STR(dkim_result_str(s->result), dkim_result_str(res), name);
	CHECK_STR(dkim_reason_str(s->reason), dkim_reason_str(why), name);
}

/* sign_msg - msg with a DKIM-Signature on top (heap, CRLF) */
static char *
sign_msg(const struct dkim_key *k, const struct dkim_sign_opts *o,
    const char *msg, size_t n, size_t *outlen, int *ret)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	*ret = dkim_sign(&b, k, o, msg, n);
	buf_append(&b, msg, n);
	buf_cstr(&b);
	*outlen = b.len;
	return b.p;
}

/* replace - a copy of s with the first "from" replaced by "to" */
static char *
replace(const char *s, size_t n, const char *from, const char *to,
    size_t *outlen)
{
	const char *p = memmem(s, n, from, strlen(from));
	struct buf b;

	buf_init(&b, 1 << 24);
	if (p == NULL) {
		printf("FAIL replace: '%s' not found\n", from);
		buf_append(&b, s, n);
	} else {
		buf_append(&b, s, (size_t)(p - s));
		buf_append_str(&b, to);
		buf_append(&b, p + strlen(from), n - (size_t)(p - s) -
		    strlen(from));
	}
	buf_cstr(&b);
	*outlen = b.len;
	return b.p;
}

/* ---- RFC 8463 Appendix A ---- */

struct rfc8463 {
	char *msg;
	size_t len;
	char names[2][128];
	char txts[2][512];
	struct rec recs[2];
};

static void
load_rfc8463(struct rfc8463 *x)
{
	size_t n, i;
	char *raw = slurp(DATA "stalwart/rfc8463-001.txt", &n);
	char *p = raw, *body;

	/* Two "name value" lines, a blank line, the message. */
	for (i = 0; i < 2; i++) {
		char *nl = strchr(p, '\n'), *sp = strchr(p, ' ');

		*nl = '\0';
		*sp = '\0';
		snprintf(x->names[i], sizeof(x->names[i]), "%s", p);
		snprintf(x->txts[i], sizeof(x->txts[i]), "%s", sp + 1);
		x->recs[i].name = x->names[i];
		x->recs[i].txt = x->txts[i];
		p = nl + 1;
	}
	body = p + 1;
	x->msg = crlf(body, n - (size_t)(body - raw), &x->len);
	free(raw);
}

static void
test_rfc8463(void)
{
	struct rfc8463 x;
	struct dkim_verify *v;
	const struct dkim_sig_result *s;
	char *m;
	size_t ml;

	load_rfc8463(&x);
	v = run_verify(x.msg, x.len, RFC8463_T, x.recs, 2, 0);
	CHECK_INT(dkim_verify_nsigs(v), 2, "RFC 8463: two signatures");
	CHECK_INT(dkim_verify_nqueries(v), 2, "RFC 8463: two keys");
	CHECK(dkim_verify_done(v), "RFC 8463: done");
	check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "RFC 8463: ed25519");
	check_sig(v, 1, DKIM_RESULT_PASS, DKIM_R_OK, "RFC 8463: rsa");
	s = dkim_verify_sig(v, 0);
	CHECK_STR(s->domain, "football.example.com", "RFC 8463: d=");
	CHECK_STR(s->selector, "brisbane", "RFC 8463: s=");
	CHECK_INT(s->alg, DKIM_ALG_ED25519_SHA256, "RFC 8463: a=");
	CHECK(s->dmarc_usable, "RFC 8463: usable for DMARC");
	CHECK_INT(dkim_verify_sig(v, 1)->key_bits, 1024, "RFC 8463: bits");
	dkim_verify_free(v);

	/* An hour before t=: beyond the allowed clock skew. */
	v = run_verify(x.msg, x.len, RFC8463_T - 3600, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_FUTURE, "t= in the future");
	CHECK_INT(dkim_verify_nqueries(v), 0, "no key needed for a future t=");
	dkim_verify_free(v);
	v = run_verify(x.msg, x.len, RFC8463_T + 86400 * 3650, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "no x=: never expires");
	dkim_verify_free(v);

	m = replace(x.msg, x.len, "hungry", "Hungry", &ml);
	v = run_verify(m, ml, RFC8463_T, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_BODY_HASH, "body changed");
	check_sig(v, 1, DKIM_RESULT_FAIL, DKIM_R_BODY_HASH, "body changed");
	dkim_verify_free(v);
	free(m);

	m = replace(x.msg, x.len, "Is dinner ready?", "Is dinner ready!",
	    &ml);
	v = run_verify(m, ml, RFC8463_T, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_SIGNATURE, "Subject changed");
	check_sig(v, 1, DKIM_RESULT_FAIL, DKIM_R_SIGNATURE, "Subject changed");
	dkim_verify_free(v);
	free(m);

	/* h= names from twice: a From added on top is caught. */
	m = replace(x.msg, x.len, "From: Joe", "From: evil@example.net\r\n"
	    "From: Joe", &ml);
	v = run_verify(m, ml, RFC8463_T, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_SIGNATURE,
	    "a second From added");
	dkim_verify_free(v);
	free(m);

	/* Relaxed header canonicalisation tolerates refolding. */
	m = replace(x.msg, x.len, "Subject: Is dinner ready?",
	    "SUBJECT:   Is dinner\r\n\t ready?  ", &ml);
	v = run_verify(m, ml, RFC8463_T, x.recs, 2, 0);
	check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "relaxed: refolded");
	dkim_verify_free(v);
	free(m);

	/* Unknown key, failed lookup. */
	v = run_verify(x.msg, x.len, RFC8463_T, NULL, 0, 0);
	check_sig(v, 0, DKIM_RESULT_PERMERROR, DKIM_R_KEY_MISSING, "no key");
	dkim_verify_free(v);
	{
		struct rec t[2] = { { x.names[0], "TEMPFAIL" },
		    { x.names[1], "TEMPFAIL" } };

		v = run_verify(x.msg, x.len, RFC8463_T, t, 2, 0);
		check_sig(v, 0, DKIM_RESULT_TEMPERROR, DKIM_R_KEY_UNAVAILABLE,
		    "DNS failure");
		dkim_verify_free(v);
	}
	/* Only one signature verified when max_signatures is 1. */
	v = run_verify(x.msg, x.len, RFC8463_T, x.recs, 2, 1);
	check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "first within the limit");
	check_sig(v, 1, DKIM_RESULT_NEUTRAL, DKIM_R_TOO_MANY, "beyond limit");
	dkim_verify_free(v);

	/* The same message, simple/simple (dkimpy's rfc6376.signed.msg). */
	free(m = NULL);
	{
		size_t n;
		char *sm = load_msg(DATA "dkimpy/rfc6376.signed.msg", &n);

		v = run_verify(sm, n, RFC8463_T, x.recs, 2, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK,
		    "rfc6376.signed.msg ed25519 simple");
		check_sig(v, 1, DKIM_RESULT_PASS, DKIM_R_OK,
		    "rfc6376.signed.msg rsa simple");
		dkim_verify_free(v);
		free(sm);
	}

	/* Our signer with the RFC 8032 7.1 key (the RFC's brisbane key). */
	{
		struct dkim_key *k = load_key(DATA "dkimpy/rfc8032_7_1.key");
		struct dkim_sign_opts o;
		size_t n, un;
		int r;
		char *unsigned_msg = load_msg(DATA "dkimpy/rfc6376.msg", &un);
		char *sm;

		dkim_sign_opts_init(&o);
		o.domain = "football.example.com";
		o.selector = "brisbane";
		o.timestamp = RFC8463_T;
		sm = sign_msg(k, &o, unsigned_msg, un, &n, &r);
		CHECK_INT(r, 0, "sign with the RFC 8032 key");
		v = run_verify(sm, n, RFC8463_T, x.recs, 2, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK,
		    "our signature, the RFC's published key");
		dkim_verify_free(v);
		free(sm);
		free(unsigned_msg);
		dkim_key_free(k);
	}
	free(x.msg);
}

/* The same verdicts when the message comes in pieces. */
static void
test_streaming(void)
{
	struct rfc8463 x;
	size_t step, i, hlen;
	char name[96];
	const char *sep;

	load_rfc8463(&x);
	sep = strstr(x.msg, "\r\n\r\n");
	hlen = (size_t)(sep - x.msg) + 4;
	for (step = 1; step <= 64; step = step * 2 + 1) {
		struct dkim_verify_opts o = { .now = RFC8463_T };
		struct dkim_verify *v = dkim_verify_new(&o);

		snprintf(name, sizeof(name), "streamed %zu bytes at a time",
		    step);
		CHECK_INT(dkim_verify_header(v, x.msg, hlen), 0, name);
		for (i = hlen; i < x.len; i += step)
			dkim_verify_body(v, x.msg + i, x.len - i < step ?
			    x.len - i : step);
		CHECK_INT(dkim_verify_body_end(v), 0, name);
		CHECK_INT(dkim_verify_nqueries(v), 2, name);
		for (i = 0; i < 2; i++) {
			const char *q = dkim_verify_query(v, i);
			const char *t = strcmp(q, x.names[0]) == 0 ? x.txts[0] :
			    x.txts[1];
			size_t l = strlen(t);

			dkim_verify_key_answer(v, i, DKIM_KEY_FOUND, &t, &l, 1);
		}
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, name);
		check_sig(v, 1, DKIM_RESULT_PASS, DKIM_R_OK, name);
		dkim_verify_free(v);
	}
	{
		struct dkim_verify *v = dkim_verify_new(NULL);

		CHECK_INT(dkim_verify_body(v, "x", 1), E_INVAL,
		    "body before header");
		CHECK_INT(dkim_verify_body_end(v), E_INVAL,
		    "end before header");
		CHECK_INT(dkim_verify_header(v, x.msg, hlen), 0, "header");
		CHECK_INT(dkim_verify_header(v, x.msg, hlen), E_INVAL,
		    "header twice");
		CHECK_INT(dkim_verify_body_end(v), 0, "end");
		CHECK_INT(dkim_verify_body(v, "x", 1), E_INVAL,
		    "body after end");
		CHECK_INT(dkim_verify_message(v, x.msg, x.len), E_INVAL,
		    "a verifier is for one message");
		dkim_verify_free(v);
	}
	free(x.msg);
}

/* ---- the dkimpy data set ---- */

static const struct label_case {
	const char *record;
	enum dkim_result res;
	enum dkim_reason why;
} label_cases[] = {
	{ "test.txt", DKIM_RESULT_PASS, DKIM_R_OK },
	{ "test2.txt", DKIM_RESULT_PASS, DKIM_R_OK },	/* k= absent */
	{ "test_bad.txt", DKIM_RESULT_PERMERROR, DKIM_R_KEY_INVALID },
	{ "badk.txt", DKIM_RESULT_PERMERROR, DKIM_R_KEY_TYPE },
	{ "badversion.txt", DKIM_RESULT_PERMERROR, DKIM_R_KEY_VERSION },
	{ "test_tlsrpt.txt", DKIM_RESULT_PERMERROR, DKIM_R_KEY_SERVICE },
};

static void
test_dkimpy(void)
{
	struct dkim_key *k = load_key(DATA "dkimpy/test.private");
	struct dkim_sign_opts o;
	struct dkim_verify *v;
	size_t n, sn, i;
	char *m = load_msg(DATA "dkimpy/test.message", &n), *sm, path[256];
	int r;

	dkim_sign_opts_init(&o);
	o.domain = "example.com";
	o.selector = "test";
	o.timestamp = NOW;
	sm = sign_msg(k, &o, m, n, &sn, &r);
	CHECK_INT(r, 0, "dkimpy: sign test.message");
	for (i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]); i++) {
		struct rec rec = { "test._domainkey.example.com", NULL };

		snprintf(path, sizeof(path), DATA "dkimpy/%s",
		    label_cases[i].record);
		rec.txt = load_line(path);
		v = run_verify(sm, sn, NOW, &rec, 1, 0);
		check_sig(v, 0, label_cases[i].res, label_cases[i].why,
		    label_cases[i].record);
		dkim_verify_free(v);
		free((char *)rec.txt);
	}
	free(sm);
	free(m);

	/* No From: nothing to sign. */
	m = load_msg(DATA "dkimpy/test_nofrom.message", &n);
	sm = sign_msg(k, &o, m, n, &sn, &r);
	CHECK_INT(r, E_SYNTAX, "dkimpy: test_nofrom.message is not signed");
	free(sm);
	free(m);
	dkim_key_free(k);

	/* Degenerate folding (Debian bug 711751): our signature passes, the
	   old Gmail one has no key. */
	k = load_key(DATA "dkimpy/test2.private");
	m = load_msg(DATA "dkimpy/test2.message", &n);
	sm = sign_msg(k, &o, m, n, &sn, &r);
	CHECK_INT(r, 0, "dkimpy: sign test2.message");
	{
		struct rec rec = { "test._domainkey.example.com",
		    load_line(DATA "dkimpy/test2.txt") };

		v = run_verify(sm, sn, NOW, &rec, 1, 0);
		CHECK_INT(dkim_verify_nsigs(v), 2, "test2.message: 2 sigs");
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "test2.message");
		check_sig(v, 1, DKIM_RESULT_PERMERROR, DKIM_R_KEY_MISSING,
		    "test2.message: gmail signature");
		dkim_verify_free(v);
		free((char *)rec.txt);
	}
	free(sm);
	free(m);
	dkim_key_free(k);

	/* Ed25519 seed key and record. */
	k = load_key(DATA "dkimpy/ed25519test.key");
	CHECK_INT(dkim_key_alg(k), DKIM_ALG_ED25519_SHA256, "ed25519 seed");
	m = load_msg(DATA "dkimpy/ed25519test.msg", &n);
	sm = sign_msg(k, &o, m, n, &sn, &r);
	{
		struct rec rec = { "test._domainkey.example.com",
		    load_line(DATA "dkimpy/ed25519test.dns") };

		v = run_verify(sm, sn, NOW, &rec, 1, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "ed25519test");
		dkim_verify_free(v);
		free((char *)rec.txt);
	}
	free(sm);
	free(m);
	dkim_key_free(k);

	/* Exim's ed25519 signature. */
	m = load_msg(DATA "dkimpy/ed25519test2.msg", &n);
	{
		struct rec rec = { "sed._domainkey.test.ex",
		    load_line(DATA "dkimpy/eximtest.dns") };

		v = run_verify(m, n, NOW, &rec, 1, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "exim ed25519");
		dkim_verify_free(v);
		free((char *)rec.txt);
	}
	free(m);
}

/* ---- hand-made signatures for every failure ---- */

struct emit_ctx {
	EVP_MD_CTX *mc;
	long long left;
};

static void
emit_limited(void *arg, const void *p, size_t n)
{
	struct emit_ctx *e = arg;

	if (e->left >= 0 && (long long)n > e->left)
		n = (size_t)e->left;
	EVP_DigestUpdate(e->mc, p, n);
	if (e->left >= 0)
		e->left -= (long long)n;
}

/*
 * craft - msg signed by k with a field built from tags (which must name
 * "h=from:to;" and may hold anything else), relaxed/relaxed, body hashed
 * up to limit bytes (-1 all).
 */
static char *
craft(const struct dkim_key *k, const char *alg, const char *tags,
    long long limit, const char *msg, size_t n, size_t *outlen)
{
	static char *const names[] = { "from", "to" };
	struct msg_header h;
	struct canon_body cb;
	struct emit_ctx e;
	unsigned char bh[32], hd[32], *sig;
	unsigned int bl;
	size_t siglen;
	char b64[1024];
	struct buf f, hin;

	msg_header_parse(&h, msg, n, 0);
	e.mc = EVP_MD_CTX_new();
	e.left = limit;
	EVP_DigestInit_ex(e.mc, EVP_sha256(), NULL);
	canon_body_init(&cb, CANON_RELAXED, emit_limited, &e);
	canon_body_feed(&cb, h.body, h.body_len);
	canon_body_finish(&cb);
	EVP_DigestFinal_ex(e.mc, bh, &bl);
	EVP_MD_CTX_free(e.mc);
	base64_encode(b64, bh, 32);
	buf_init(&f, 1 << 20);
	buf_printf(&f, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; %s "
	    "bh=%s; b=", alg, tags, b64);
	buf_init(&hin, DKIM_MAX_HEADER_HASH_INPUT);
	dkim_header_hash(&hin, &h, CANON_RELAXED, names, 2, f.p, f.len, hd);
	buf_fini(&hin);
	dkim_crypto_sign(dkim_key_pkey(k), dkim_key_alg(k), hd, &sig,
	    &siglen);
	base64_encode(b64, sig, siglen);
	free(sig);
	buf_printf(&f, "%s\r\n", b64);
	buf_append(&f, msg, n);
	buf_cstr(&f);
	msg_header_fini(&h);
	*outlen = f.len;
	return f.p;
}

static const char plain_msg[] =
    "From: a@example.com\r\nTo: b@example.net\r\nSubject: s\r\n\r\n"
    "line one\r\nline two\r\n";

static const struct craft_case {
	const char *name;
	bool rsa;		/* sign with the RSA key (else Ed25519) */
	const char *alg;	/* a= written */
	const char *tags;
	long long limit;
	const char *keyrec;	/* %s: the key's p= value */
	enum dkim_result res;
	enum dkim_reason why;
	bool partial, usable, testing;
	size_t queries;
} craft_cases[] = {
	{ "plain pass", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; k=ed25519; p=%s",
	    DKIM_RESULT_PASS, DKIM_R_OK, false, true, false, 1 },
	{ "l= covering the whole body", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to; l=20;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PASS, DKIM_R_OK, false,
	    true, false, 1 },
	{ "l= leaving part unsigned", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to; l=5;", 5,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PASS, DKIM_R_OK, true,
	    false, false, 1 },
	{ "l= beyond the body", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to; l=21;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_FAIL,
	    DKIM_R_BODY_TOO_SHORT, false, false, false, 0 },
	{ "rsa-sha1 refused (RFC 8301)", true, "rsa-sha1",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; p=%s",
	    DKIM_RESULT_FAIL, DKIM_R_ALGORITHM_SHA1, false, false, false, 0 },
	{ "revoked key", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; k=ed25519; p=",
	    DKIM_RESULT_FAIL, DKIM_R_KEY_REVOKED, false, false, false, 1 },
	{ "key type differs from a=", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; k=rsa; p=%s",
	    DKIM_RESULT_PERMERROR, DKIM_R_KEY_TYPE, false, false, false, 1 },
	{ "key h= allows only sha1", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; h=sha1; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_KEY_HASH, false, false, false, 1 },
	{ "key h= lists sha256", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; h=sha1:sha256; p=%s", DKIM_RESULT_PASS,
	    DKIM_R_OK, false, true, false, 1 },
	{ "key s= not email", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; s=tlsrpt; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_KEY_SERVICE, false, false, false, 1 },
	{ "key s=* is fine", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; s=*; p=%s", DKIM_RESULT_PASS, DKIM_R_OK,
	    false, true, false, 1 },
	{ "key t=s with i= in a subdomain", false, "ed25519-sha256",
	    "d=example.com; s=s; i=a@sub.example.com; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; t=s; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_KEY_STRICT, false, false, false, 1 },
	{ "key t=s with i= at d=", false, "ed25519-sha256",
	    "d=example.com; s=s; i=a@example.com; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; t=s; p=%s", DKIM_RESULT_PASS, DKIM_R_OK,
	    false, true, false, 1 },
	{ "key t=y is reported", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; t=y; p=%s", DKIM_RESULT_PASS, DKIM_R_OK,
	    false, true, true, 1 },
	{ "key record syntax", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; k=ed25519; p",
	    DKIM_RESULT_PERMERROR, DKIM_R_KEY_SYNTAX, false, false, false, 1 },
	{ "key of the wrong length", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=AAAA", DKIM_RESULT_PERMERROR,
	    DKIM_R_KEY_INVALID, false, false, false, 1 },
	{ "signature by another key", false, "ed25519-sha256",
	    "d=example.com; s=s; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	    DKIM_RESULT_FAIL, DKIM_R_SIGNATURE, false, false, false, 1 },
	{ "expired", false, "ed25519-sha256",
	    "d=example.com; s=s; t=1000; x=2000; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_FAIL, DKIM_R_EXPIRED,
	    false, false, false, 0 },
	{ "not yet expired", false, "ed25519-sha256",
	    "d=example.com; s=s; t=1000; x=1700000001; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PASS, DKIM_R_OK,
	    false, true, false, 1 },
	{ "x= before t=", false, "ed25519-sha256",
	    "d=example.com; s=s; t=3000; x=2000; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_X_BEFORE_T, false, false, false, 0 },
	{ "i= outside d=", false, "ed25519-sha256",
	    "d=example.com; s=s; i=a@example.org; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_DOMAIN_MISMATCH, false, false, false, 0 },
	{ "i= in a look-alike domain", false, "ed25519-sha256",
	    "d=example.com; s=s; i=a@badexample.com; h=from:to;", -1,
	    "v=DKIM1; k=ed25519; p=%s", DKIM_RESULT_PERMERROR,
	    DKIM_R_DOMAIN_MISMATCH, false, false, false, 0 },
	{ "rsa-sha256 with the 1024-bit key", true, "rsa-sha256",
	    "d=example.com; s=s; h=from:to;", -1, "v=DKIM1; k=rsa; p=%s",
	    DKIM_RESULT_PASS, DKIM_R_OK, false, true, false, 1 },
};

/* pub_b64 - the p= value of a key, from its record */
static char *
pub_b64(const struct dkim_key *k)
{
	struct buf b;
	char *p, *s;

	buf_init(&b, 1 << 16);
	dkim_key_record(k, &b);
	p = strstr(buf_cstr(&b), "p=");
	s = xstrdup(p + 2);
	buf_fini(&b);
	return s;
}

/* fill - tmpl with its "%s" replaced by pub */
static void
fill(char *out, size_t sz, const char *tmpl, const char *pub)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL)
		snprintf(out, sz, "%s", tmpl);
	else
		snprintf(out, sz, "%.*s%s%s", (int)(p - tmpl), tmpl, pub,
		    p + 2);
}

static void
test_crafted(void)
{
	struct dkim_key *ed, *rsa;
	size_t i;

	dkim_key_generate(&ed, DKIM_ALG_ED25519_SHA256, 0);
	rsa = load_key(DATA "dkimpy/test.private");
	for (i = 0; i < sizeof(craft_cases) / sizeof(craft_cases[0]); i++) {
		const struct craft_case *c = &craft_cases[i];
		const struct dkim_key *k = c->rsa ? rsa : ed;
		char *pub = pub_b64(k), rec[2048], *m;
		struct rec r = { "s._domainkey.example.com", rec };
		struct dkim_verify *v;
		const struct dkim_sig_result *s;
		size_t n;

		fill(rec, sizeof(rec), c->keyrec, pub);
		m = craft(k, c->alg, c->tags, c->limit, plain_msg,
		    sizeof(plain_msg) - 1, &n);
		v = run_verify(m, n, NOW, &r, 1, 0);
		check_sig(v, 0, c->res, c->why, c->name);
		s = dkim_verify_sig(v, 0);
		if (s) {
			CHECK_INT(s->body_partial, c->partial, c->name);
			CHECK_INT(s->dmarc_usable, c->usable, c->name);
			CHECK_INT(s->testing, c->testing, c->name);
		}
		CHECK_INT(dkim_verify_nqueries(v), c->queries, c->name);
		dkim_verify_free(v);
		free(m);
		free(pub);
	}
	dkim_key_free(ed);
	dkim_key_free(rsa);
}

/*
 * craft_b - plain_msg signed by k (Ed25519) with b= wherever the case
 * puts it: the field is "...; bh=X; " bopen gap VALUE after, and what was
 * signed is the same with gap and VALUE left out (RFC 6376 3.7); sent
 * replaces after in the message (NULL: after itself).
 */
static char *
craft_b(const struct dkim_key *k, const char *bopen, const char *gap,
    const char *after, const char *sent, size_t *outlen)
{
	static char *const names[] = { "from", "to" };
	struct msg_header h;
	struct canon_body cb;
	struct emit_ctx e;
	unsigned char bh[32], hd[32], *sig;
	unsigned int bl;
	size_t siglen, pre;
	char b64[1024];
	struct buf f, hin;

	msg_header_parse(&h, plain_msg, sizeof(plain_msg) - 1, 0);
	e.mc = EVP_MD_CTX_new();
	e.left = -1;
	EVP_DigestInit_ex(e.mc, EVP_sha256(), NULL);
	canon_body_init(&cb, CANON_RELAXED, emit_limited, &e);
	canon_body_feed(&cb, h.body, h.body_len);
	canon_body_finish(&cb);
	EVP_DigestFinal_ex(e.mc, bh, &bl);
	EVP_MD_CTX_free(e.mc);
	base64_encode(b64, bh, 32);
	buf_init(&f, 1 << 20);
	buf_printf(&f, "DKIM-Signature: v=1; a=ed25519-sha256; "
	    "c=relaxed/relaxed; d=example.com; s=s; h=from:to; bh=%s; %s",
	    b64, bopen);
	pre = f.len;
	buf_append_str(&f, after);
	buf_init(&hin, DKIM_MAX_HEADER_HASH_INPUT);
	dkim_header_hash(&hin, &h, CANON_RELAXED, names, 2, f.p, f.len, hd);
	buf_fini(&hin);
	dkim_crypto_sign(dkim_key_pkey(k), dkim_key_alg(k), hd, &sig,
	    &siglen);
	base64_encode(b64, sig, siglen);
	free(sig);
	f.len = pre;
	buf_printf(&f, "%s%s%s\r\n", gap, b64, sent ? sent : after);
	buf_append(&f, plain_msg, sizeof(plain_msg) - 1);
	buf_cstr(&f);
	msg_header_fini(&h);
	*outlen = f.len;
	return f.p;
}

/* The b= value is cut from the hashed field wherever the tag stands,
   with the text after it kept (RFC 6376 3.7, 3.5 b=). */
static void
test_b_placement(void)
{
	static const struct {
		const char *name, *bopen, *gap, *after, *sent;
		enum dkim_result res;
	} cases[] = {
		{ "b= last", "b=", "", "", NULL, DKIM_RESULT_PASS },
		{ "b= last, folded before the value", "b=", "\r\n\t", "",
		    NULL, DKIM_RESULT_PASS },
		{ "b= last, then ';' and FWS", "b=", " ", "; ", NULL,
		    DKIM_RESULT_PASS },
		{ "b= before another tag", "b=", "", "; foo=bar", NULL,
		    DKIM_RESULT_PASS },
		{ "b= folded, FWS after the value", "b=", "\r\n\t ",
		    " \r\n\t; foo=bar;", NULL, DKIM_RESULT_PASS },
		{ "FWS between b and =", "b \t=", " ", "; foo=bar", NULL,
		    DKIM_RESULT_PASS },
		{ "text after b= is signed", "b=", "", "; foo=bar", "; foo=baz",
		    DKIM_RESULT_FAIL },
		{ "FWS after the value is signed", "b=", "", "; foo=bar",
		    " ; foo=bar", DKIM_RESULT_FAIL },
	};
	struct dkim_key *k;
	char *pub, rec[256], *m;
	struct rec r = { "s._domainkey.example.com", rec };
	struct dkim_verify *v;
	size_t i, n;

	dkim_key_generate(&k, DKIM_ALG_ED25519_SHA256, 0);
	pub = pub_b64(k);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", pub);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = craft_b(k, cases[i].bopen, cases[i].gap, cases[i].after,
		    cases[i].sent, &n);
		v = run_verify(m, n, NOW, &r, 1, 0);
		check_sig(v, 0, cases[i].res, cases[i].res == DKIM_RESULT_PASS ?
		    DKIM_R_OK : DKIM_R_SIGNATURE, cases[i].name);
		dkim_verify_free(v);
		free(m);
	}
	free(pub);
	dkim_key_free(k);
}

#define SIGN_THREADS 4
#define SIGN_PER_THREAD 25

struct sign_job {
	const struct dkim_key *k;
	char *out[SIGN_PER_THREAD];
	size_t len[SIGN_PER_THREAD];
	int ret[SIGN_PER_THREAD];
};

/* sign_many - one thread's share of test_sign_threads */
static void *
sign_many(void *arg)
{
	struct sign_job *j = arg;
	struct dkim_sign_opts o;
	size_t i;

	dkim_sign_opts_init(&o);
	o.domain = "example.com";
	o.selector = "sel";
	o.timestamp = NOW;
	for (i = 0; i < SIGN_PER_THREAD; i++)
		j->out[i] = sign_msg(j->k, &o, plain_msg, sizeof(plain_msg) - 1,
		    &j->len[i], &j->ret[i]);
	return NULL;
}

/* One key signing from several threads at once: one of them uses the
   key's own signing context, the others their own; every signature
   verifies, for both key types. */
static void
test_sign_threads(void)
{
	struct dkim_key *keys[2];
	struct sign_job jobs[SIGN_THREADS];
	pthread_t th[SIGN_THREADS];
	size_t ki, t, i, good;

	dkim_key_generate(&keys[0], DKIM_ALG_ED25519_SHA256, 0);
	keys[1] = load_key(DATA "dkimpy/test.private");
	for (ki = 0; ki < 2; ki++) {
		char *pub = pub_b64(keys[ki]), rec[2048];
		struct rec r = { "sel._domainkey.example.com", rec };

		snprintf(rec, sizeof(rec), "v=DKIM1; k=%s; p=%s", ki ? "rsa" :
		    "ed25519", pub);
		for (t = 0; t < SIGN_THREADS; t++) {
			jobs[t].k = keys[ki];
			pthread_create(&th[t], NULL, sign_many, &jobs[t]);
		}
		for (t = 0; t < SIGN_THREADS; t++)
			pthread_join(th[t], NULL);
		good = 0;
		for (t = 0; t < SIGN_THREADS; t++)
			for (i = 0; i < SIGN_PER_THREAD; i++) {
				struct dkim_verify *v;
				const struct dkim_sig_result *s;

				v = run_verify(jobs[t].out[i], jobs[t].len[i],
				    NOW, &r, 1, 0);
				s = dkim_verify_sig(v, 0);
				good += jobs[t].ret[i] == 0 && s != NULL &&
				    s->result == DKIM_RESULT_PASS;
				dkim_verify_free(v);
				free(jobs[t].out[i]);
			}
		CHECK_INT((int)good, SIGN_THREADS * SIGN_PER_THREAD, ki ?
		    "rsa signatures made by 4 threads at once all verify" :
		    "ed25519 signatures made by 4 threads at once all verify");
		free(pub);
	}
	dkim_key_free(keys[0]);
	dkim_key_free(keys[1]);
}

/* An RSA key under 1024 bits fails (RFC 8301 3.2). */
static void
test_small_key(void)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
	BIO *bio = BIO_new(BIO_s_mem());
	struct dkim_key *k = NULL;
	char *pem, *pub, rec[1024], *m;
	long len;
	size_t n;
	struct rec r = { "s._domainkey.example.com", rec };
	struct dkim_verify *v;

	PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL);
	len = BIO_get_mem_data(bio, &pem);
	CHECK_INT(dkim_key_load(&k, pem, (size_t)len, NULL), 0,
	    "load a 768-bit key");
	BIO_free(bio);
	EVP_PKEY_free(pk);
	pub = pub_b64(k);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", pub);
	m = craft(k, "rsa-sha256", "d=example.com; s=s; h=from:to;", -1,
	    plain_msg, sizeof(plain_msg) - 1, &n);
	v = run_verify(m, n, NOW, &r, 1, 0);
	check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_KEY_TOO_SMALL, "768 bits");
	CHECK_INT(dkim_verify_sig(v, 0)->key_bits, 768, "768 bits reported");
	dkim_verify_free(v);
	free(m);
	free(pub);
	dkim_key_free(k);
}

/* ---- sign and verify round trips ---- */

static const char *const shapes[][2] = {
	{ "plain", "From: a@example.com\r\nTo: b@example.net\r\n"
	    "Subject: hello\r\n\r\nHi.\r\n" },
	{ "folded headers", "From: A\r\n <a@example.com>\r\nTo: b@example.net,"
	    "\r\n\tc@example.net\r\nSubject: a\r\n  b\r\n\r\nx\r\n" },
	{ "trailing whitespace", "From: a@example.com  \r\nSubject: x \t\r\n"
	    "\r\nline  \r\n\t\r\n  \r\n\r\n" },
	{ "empty body", "From: a@example.com\r\nSubject: empty\r\n\r\n" },
	{ "no body at all", "From: a@example.com\r\nSubject: none\r\n" },
	{ "8-bit body", "From: a@example.com\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac\r\n" },
	{ "duplicate headers", "From: a@example.com\r\nTo: x@example.net\r\n"
	    "To: y@example.net\r\nReceived: 1\r\nReceived: 2\r\n"
	    "Subject: one\r\nSubject: two\r\n\r\nbody\r\n" },
};

static void
test_roundtrip(void)
{
	struct dkim_key *keys[2];
	static const enum canon_mode modes[] = { CANON_SIMPLE, CANON_RELAXED };
	char name[200];
	size_t si, ki, hi, bi;

	dkim_key_generate(&keys[0], DKIM_ALG_ED25519_SHA256, 0);
	keys[1] = load_key(DATA "dkimpy/test.private");
	for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
	for (ki = 0; ki < 2; ki++)
	for (hi = 0; hi < 2; hi++)
	for (bi = 0; bi < 2; bi++) {
		const char *msg = shapes[si][1];
		struct dkim_sign_opts o;
		struct dkim_verify *v;
		char *pub = pub_b64(keys[ki]), rec[2048], *sm, *tm;
		struct rec r = { "sel._domainkey.example.com", rec };
		size_t n, tn;
		int ret;

		snprintf(rec, sizeof(rec), "v=DKIM1; k=%s; p=%s", ki ? "rsa" :
		    "ed25519", pub);
		snprintf(name, sizeof(name), "round trip %s %s %s/%s",
		    shapes[si][0], ki ? "rsa" : "ed25519",
		    canon_mode_str(modes[hi]), canon_mode_str(modes[bi]));
		dkim_sign_opts_init(&o);
		o.domain = "example.com";
		o.selector = "sel";
		o.hcanon = modes[hi];
		o.bcanon = modes[bi];
		o.timestamp = NOW;
		sm = sign_msg(keys[ki], &o, msg, strlen(msg), &n, &ret);
		CHECK_INT(ret, 0, name);
		v = run_verify(sm, n, NOW, &r, 1, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, name);
		dkim_verify_free(v);
		/* A tampered copy fails: a Subject added (oversigned). */
		tm = replace(sm, n, "\r\nFrom:", "\r\nSubject: added\r\nFrom:",
		    &tn);
		v = run_verify(tm, tn, NOW, &r, 1, 0);
		check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_SIGNATURE, name);
		dkim_verify_free(v);
		free(tm);
		free(sm);
		free(pub);
	}
	dkim_key_free(keys[0]);
	dkim_key_free(keys[1]);
}

/*
 * test_idn_domain - a signature whose d= is written in U-labels is
 * verified with the key published under the A-label name (RFC 8616 4);
 * a d= with no A-label form is a bad tag, never queried.
 */
static void
test_idn_domain(void)
{
	static const char msg[] = "From: a@b\xc3\xbc" "cher.example\r\n"
	    "To: b@example.net\r\nSubject: idn\r\n\r\nbody\r\n";
	struct dkim_key *k;
	struct dkim_sign_opts o;
	struct dkim_verify *v;
	char *pub, rec[512], *sm, *bad;
	struct rec r = { "sel._domainkey.xn--bcher-kva.example", rec };
	size_t n, bn;
	int ret;

	dkim_key_generate(&k, DKIM_ALG_ED25519_SHA256, 0);
	pub = pub_b64(k);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", pub);
	dkim_sign_opts_init(&o);
	o.domain = "b\xc3\xbc" "cher.example";
	o.selector = "sel";
	o.timestamp = NOW;
	sm = sign_msg(k, &o, msg, strlen(msg), &n, &ret);
	CHECK_INT(ret, 0, "idn: sign");
	v = run_verify(sm, n, NOW, &r, 1, 0);
	CHECK_INT((long long)dkim_verify_nqueries(v), 1, "idn: one query");
	if (dkim_verify_nqueries(v) == 1)
		CHECK_STR(dkim_verify_query(v, 0),
		    "sel._domainkey.xn--bcher-kva.example",
		    "idn: the key is asked for by its A-label name");
	check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "idn: U-label d= passes");
	if (dkim_verify_sig(v, 0) != NULL)
		CHECK_STR(dkim_verify_sig(v, 0)->domain,
		    "b\xc3\xbc" "cher.example", "idn: header.d as written");
	dkim_verify_free(v);

	/* U+2044 FRACTION SLASH has no IDNA2008 form. */
	bad = replace(sm, n, "d=b\xc3\xbc" "cher.example",
	    "d=ex\xe2\x81\x84" "ample.example", &bn);
	v = run_verify(bad, bn, NOW, &r, 1, 0);
	CHECK_INT((long long)dkim_verify_nqueries(v), 0,
	    "idn: an unconvertible d= is not queried");
	check_sig(v, 0, DKIM_RESULT_PERMERROR, DKIM_R_SIG_BAD_TAG,
	    "idn: an unconvertible d= is a bad tag");
	dkim_verify_free(v);
	free(bad);
	free(sm);
	free(pub);
	dkim_key_free(k);
}

static void
test_sign_fields(void)
{
	struct dkim_key *k;
	struct dkim_sign_opts o;
	struct msg_header h;
	struct dkim_sig sig;
	enum dkim_reason why;
	const char *msg = shapes[6][1];	/* duplicate headers */
	size_t n, i, from = 0, to = 0, cc = 0, subj = 0, rcvd = 0;
	char *sm;
	int ret;

	dkim_key_generate(&k, DKIM_ALG_ED25519_SHA256, 0);
	dkim_sign_opts_init(&o);
	o.domain = "example.com";
	o.selector = "sel";
	o.timestamp = 1000;
	o.expiration = 5000;
	sm = sign_msg(k, &o, msg, strlen(msg), &n, &ret);
	CHECK_INT(msg_header_parse(&h, sm, n, 0), 0, "signed message parses");
	CHECK(msg_field_is(&h.fields[0], "DKIM-Signature", 14),
	    "signature on top");
	CHECK_INT(dkim_sig_parse(&sig, h.fields[0].value,
	    h.fields[0].value_len, &why), 0, "our signature parses");
	for (i = 0; i < sig.nheaders; i++) {
		from += strcmp(sig.headers[i], "from") == 0;
		to += strcmp(sig.headers[i], "to") == 0;
		cc += strcmp(sig.headers[i], "cc") == 0;
		subj += strcmp(sig.headers[i], "subject") == 0;
		rcvd += strcmp(sig.headers[i], "received") == 0;
	}
	CHECK_INT(from, 2, "From oversigned once");
	CHECK_INT(to, 3, "two To, listed three times");
	CHECK_INT(subj, 3, "two Subject, listed three times");
	CHECK_INT(cc, 1, "absent Cc listed once");
	CHECK_INT(rcvd, 0, "Received not signed");
	CHECK_INT(sig.length, -1, "never l=");
	CHECK_INT(sig.timestamp, 1000, "t=");
	CHECK_INT(sig.expiration, 5000, "x=");
	CHECK_INT(sig.hcanon, CANON_RELAXED, "relaxed headers by default");
	CHECK_INT(sig.bcanon, CANON_RELAXED, "relaxed body by default");
	CHECK(memmem(h.fields[0].raw, h.fields[0].raw_len, "l=", 2) == NULL ||
	    strstr(sig.b_text, "l=") != NULL, "no l= tag written");
	for (i = 0; i + 1 < h.fields[0].raw_len; i++)
		if (h.fields[0].raw[i] == '\n')
			CHECK(h.fields[0].raw[i - 1] == '\r' &&
			    h.fields[0].raw[i + 1] == '\t', "folded with CRLF TAB");
	dkim_sig_fini(&sig);
	msg_header_fini(&h);
	free(sm);

	/* Both algorithms on one message. */
	{
		struct dkim_key *rsa = load_key(DATA "dkimpy/test.private");
		char *pe = pub_b64(k), *pr = pub_b64(rsa), re[256], rr[1024];
		struct rec recs[2] = { { "ed._domainkey.example.com", re },
		    { "rsa._domainkey.example.com", rr } };
		struct buf b;
		struct dkim_verify *v;

		snprintf(re, sizeof(re), "v=DKIM1; k=ed25519; p=%s", pe);
		snprintf(rr, sizeof(rr), "v=DKIM1; k=rsa; p=%s", pr);
		buf_init(&b, 1 << 20);
		o.expiration = -1;
		o.selector = "ed";
		dkim_sign(&b, k, &o, msg, strlen(msg));
		o.selector = "rsa";
		dkim_sign(&b, rsa, &o, msg, strlen(msg));
		buf_append_str(&b, msg);
		v = run_verify(b.p, b.len, NOW, recs, 2, 0);
		CHECK_INT(dkim_verify_nsigs(v), 2, "two signatures");
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, "ed25519 of two");
		check_sig(v, 1, DKIM_RESULT_PASS, DKIM_R_OK, "rsa of two");
		CHECK_INT(dkim_verify_sig(v, 0)->alg, DKIM_ALG_ED25519_SHA256,
		    "first is ed25519");
		CHECK_INT(dkim_verify_sig(v, 1)->alg, DKIM_ALG_RSA_SHA256,
		    "second is rsa");
		dkim_verify_free(v);
		buf_fini(&b);
		free(pe);
		free(pr);
		dkim_key_free(rsa);
	}
	/* Bad signing input. */
	{
		struct buf b;

		buf_init(&b, 1 << 20);
		o.domain = "exa mple.com";
		CHECK_INT(dkim_sign(&b, k, &o, msg, strlen(msg)), E_INVAL,
		    "space in d= refused");
		o.domain = "example.com";
		o.selector = "a;b";
		CHECK_INT(dkim_sign(&b, k, &o, msg, strlen(msg)), E_INVAL,
		    "';' in s= refused");
		o.selector = "sel";
		CHECK_INT(dkim_sign(&b, k, &o, "no header\r\n", 11), E_SYNTAX,
		    "unparsable message refused");
		CHECK_INT(b.len, 0, "nothing written on error");
		buf_fini(&b);
	}
	dkim_key_free(k);
}

/* ---- parsers ---- */

static const struct tags_case {
	const char *name, *in;
	int ret;
	size_t n;
	const char *first_value;
} tags_cases[] = {
	{ "simple list", "a=1; b=2", 0, 2, "1" },
	{ "trailing semicolon", "a=1; b=2;", 0, 2, "1" },
	{ "trailing semicolon and FWS", "a=1;\r\n\t", 0, 1, "1" },
	{ "FWS around everything", " a \r\n = \t1 2 ;b=", 0, 2, "1 2" },
	{ "empty value", "a=; b=x", 0, 2, "" },
	{ "empty list", "", 0, 0, NULL },
	{ "duplicate tag", "a=1; a=2", E_SYNTAX, 0, NULL },
	{ "no equals sign", "a=1; b", E_SYNTAX, 0, NULL },
	{ "empty tag-spec in the middle", "a=1;; b=2", E_SYNTAX, 0, NULL },
	{ "name starts with a digit", "1a=1", E_SYNTAX, 0, NULL },
	{ "name with a hyphen", "a-b=1", E_SYNTAX, 0, NULL },
	{ "name with underscore and digit", "a_1=x", 0, 1, "x" },
	{ "space inside the name", "a b=1", E_SYNTAX, 0, NULL },
	{ "equals in the value", "b=abc==", 0, 1, "abc==" },
};

static void
test_tags(void)
{
	struct dkim_tag tags[8];
	size_t i, n;

	for (i = 0; i < sizeof(tags_cases) / sizeof(tags_cases[0]); i++) {
		const struct tags_case *c = &tags_cases[i];
		int r = dkim_tags_parse(tags, 8, &n, c->in, strlen(c->in));

		CHECK_INT(r, c->ret, c->name);
		if (r < 0 || c->ret < 0)
			continue;
		CHECK_INT(n, c->n, c->name);
		if (c->first_value && n > 0) {
			char v[64];

			snprintf(v, sizeof(v), "%.*s", (int)tags[0].value_len,
			    tags[0].value);
			CHECK_STR(v, c->first_value, c->name);
		}
	}
	CHECK_INT(dkim_tags_parse(tags, 2, &n, "a=1;b=2;c=3", 11), E_SYNTAX,
	    "more tags than room");
}

#define SIG_OK "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; " \
    "bh=AAAA; b=AAAA"

static const struct sig_case {
	const char *name, *in;
	enum dkim_reason why;
} sig_cases[] = {
	{ "minimal valid", SIG_OK, DKIM_R_OK },
	{ "v=2", "v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; "
	    "b=AAAA", DKIM_R_SIG_VERSION },
	{ "no v=", "a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; "
	    "b=AAAA", DKIM_R_SIG_MISSING_TAG },
	{ "no bh=", "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=AAAA",
	    DKIM_R_SIG_MISSING_TAG },
	{ "no d=", "v=1; a=rsa-sha256; s=sel; h=from; bh=AAAA; b=AAAA",
	    DKIM_R_SIG_MISSING_TAG },
	{ "empty s=", "v=1; a=rsa-sha256; d=e.com; s=; h=from; bh=AAAA; "
	    "b=AAAA", DKIM_R_SIG_MISSING_TAG },
	{ "unknown algorithm", "v=1; a=rsa-md5; d=e.com; s=sel; h=from; "
	    "bh=AAAA; b=AAAA", DKIM_R_ALGORITHM },
	{ "rsa-sha1", "v=1; a=rsa-sha1; d=e.com; s=sel; h=from; bh=AAAA; "
	    "b=AAAA", DKIM_R_ALGORITHM_SHA1 },
	{ "unknown canonicalization", SIG_OK "; c=strict/simple",
	    DKIM_R_CANON },
	{ "unknown body canonicalization", SIG_OK "; c=simple/loose",
	    DKIM_R_CANON },
	{ "c= header only", SIG_OK "; c=relaxed", DKIM_R_OK },
	{ "h= without From", "v=1; a=rsa-sha256; d=e.com; s=sel; h=to:subject;"
	    " bh=AAAA; b=AAAA", DKIM_R_FROM_UNSIGNED },
	{ "h= with FWS and case", "v=1; a=rsa-sha256; d=e.com; s=sel; h=To :"
	    "\r\n FROM ; bh=AAAA; b=AAAA", DKIM_R_OK },
	{ "h= with an empty name", "v=1; a=rsa-sha256; d=e.com; s=sel; "
	    "h=from::to; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "bad base64 in b=", "v=1; a=rsa-sha256; d=e.com; s=sel; h=from; "
	    "bh=AAAA; b=A!AA", DKIM_R_SIG_BAD_TAG },
	{ "empty b=", "v=1; a=rsa-sha256; d=e.com; s=sel; h=from; bh=AAAA; "
	    "b=", DKIM_R_SIG_BAD_TAG },
	{ "folded b=", "v=1; a=rsa-sha256; d=e.com; s=sel; h=from; bh=AAAA; "
	    "b=AA\r\n AA", DKIM_R_OK },
	{ "l= not a number", SIG_OK "; l=12a", DKIM_R_SIG_BAD_TAG },
	{ "l= too long", SIG_OK "; l=1234567890123456789", DKIM_R_SIG_BAD_TAG },
	{ "t= 13 digits", SIG_OK "; t=1234567890123", DKIM_R_SIG_BAD_TAG },
	{ "x= before t=", SIG_OK "; t=20; x=10", DKIM_R_X_BEFORE_T },
	{ "q= other method", SIG_OK "; q=http/well-known", DKIM_R_QUERY_METHOD },
	{ "q= dns/txt", SIG_OK "; q=dns/txt", DKIM_R_OK },
	{ "i= without @", SIG_OK "; i=example.com", DKIM_R_SIG_BAD_TAG },
	{ "i= subdomain", SIG_OK "; i=x@a.example.com", DKIM_R_OK },
	{ "i= parent domain", SIG_OK "; i=x@com", DKIM_R_DOMAIN_MISMATCH },
	{ "duplicate tag", SIG_OK "; s=other", DKIM_R_SIG_SYNTAX },
	{ "selector with a dot", "v=1; a=rsa-sha256; d=e.com; s=2024.a_b-c; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_OK },
	{ "selector with a space", "v=1; a=rsa-sha256; d=e.com; s=a b; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "selector with a slash", "v=1; a=rsa-sha256; d=e.com; s=../x; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "domain with an empty label", "v=1; a=rsa-sha256; d=e..com; s=s; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "domain with a trailing dot", "v=1; a=rsa-sha256; d=e.com.; s=s; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "label over 63 octets", "v=1; a=rsa-sha256; d=e.com; s="
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; "
	    "h=from; bh=AAAA; b=AAAA", DKIM_R_SIG_BAD_TAG },
	{ "garbage", ";;;", DKIM_R_SIG_SYNTAX },
};

/* test_sig_parse_fields - what a parse leaves in the structure: every
   string and decoded value, also those kept when the parse fails */
static void
test_sig_parse_fields(void)
{
	struct dkim_sig s;
	enum dkim_reason why;
	struct buf h;
	const char *t;
	size_t i;
	int r;

	t = "v=1; a=ed25519-sha256; d=Sub.Example.COM; s=Sel_1; "
	    "h= From :\r\n\tTO:x-Y ; bh=AAEC; B=ignored; bb=x; "
	    "b=AwQF\r\n Bg==";
	r = dkim_sig_parse(&s, t, strlen(t), &why);
	CHECK_INT(r, 0, "fields: parses");
	CHECK_STR(s.domain, "sub.example.com", "fields: d=");
	CHECK_STR(s.selector, "Sel_1", "fields: s= as written");
	CHECK_STR(s.identity, "@sub.example.com", "fields: i= default");
	CHECK_INT(s.nheaders, 3, "fields: h= count");
	if (s.nheaders == 3) {
		CHECK_STR(s.headers[0], "From", "fields: h= 1");
		CHECK_STR(s.headers[1], "TO", "fields: h= 2");
		CHECK_STR(s.headers[2], "x-Y", "fields: h= 3");
	}
	CHECK_STR(s.b_text, "AwQFBg==", "fields: b= without FWS");
	CHECK(s.b_len == 4 && memcmp(s.b, "\3\4\5\6", 4) == 0,
	    "fields: b= decoded");
	CHECK(s.bh_len == 3 && memcmp(s.bh, "\0\1\2", 3) == 0,
	    "fields: bh= decoded");
	CHECK_INT(s.alg, DKIM_ALG_ED25519_SHA256, "fields: a=");
	dkim_sig_fini(&s);

	/* Upper-case or longer names are other tags: b= is missing. */
	t = "v=1; a=rsa-sha256; d=e.com; s=sel; h=from; bh=AAAA; B=AAAA; "
	    "bb=AAAA";
	dkim_sig_parse(&s, t, strlen(t), &why);
	CHECK_STR(dkim_reason_str(why),
	    dkim_reason_str(DKIM_R_SIG_MISSING_TAG), "B= and bb= are not b=");
	dkim_sig_fini(&s);

	/* A failed parse still reports d=, s= and the start of b=. */
	t = "v=1; a=rsa-md5; d=E.com; s=sel; h=from; bh=AAAA; b=ABCD EFGH";
	CHECK_INT(dkim_sig_parse(&s, t, strlen(t), &why), E_SYNTAX,
	    "unknown a= fails");
	CHECK_STR(s.domain, "e.com", "failed parse: d= kept");
	CHECK_STR(s.selector, "sel", "failed parse: s= kept");
	CHECK_STR(s.b_text, "ABCDEFGH", "failed parse: b= kept");
	dkim_sig_fini(&s);
	t = SIG_OK "; i=nobody";
	dkim_sig_parse(&s, t, strlen(t), &why);
	CHECK(s.identity == NULL, "i= without @: no identity");
	dkim_sig_fini(&s);
	t = SIG_OK "; i=a@other.example";
	dkim_sig_parse(&s, t, strlen(t), &why);
	CHECK_STR(s.identity, "a@other.example", "i= outside d= kept");
	dkim_sig_fini(&s);

	/* 256 h= names are fine, 257 are not. */
	buf_init(&h, 1 << 16);
	buf_append_str(&h, "v=1; a=rsa-sha256; d=e.com; s=sel; bh=AAAA; "
	    "b=AAAA; h=from");
	for (i = 1; i < 256; i++)
		buf_append_str(&h, ":to");
	r = dkim_sig_parse(&s, h.p, h.len, &why);
	CHECK_INT(r, 0, "256 h= names");
	CHECK_INT(s.nheaders, 256, "256 h= names kept");
	CHECK_STR(s.headers[255], "to", "the last of 256 names");
	dkim_sig_fini(&s);
	buf_append_str(&h, ":cc");
	CHECK_INT(dkim_sig_parse(&s, h.p, h.len, &why), E_SYNTAX,
	    "257 h= names");
	CHECK_STR(dkim_reason_str(why), dkim_reason_str(DKIM_R_SIG_BAD_TAG),
	    "257 h= names: bad tag");
	dkim_sig_fini(&s);
	buf_fini(&h);
}

static void
test_sig_parse(void)
{
	struct dkim_sig s;
	enum dkim_reason why;
	size_t i;

	for (i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		const struct sig_case *c = &sig_cases[i];
		int r = dkim_sig_parse(&s, c->in, strlen(c->in), &why);

		CHECK_INT(r, c->why == DKIM_R_OK ? 0 : E_SYNTAX, c->name);
		CHECK_STR(dkim_reason_str(why), dkim_reason_str(c->why),
		    c->name);
		dkim_sig_fini(&s);
	}
	dkim_sig_parse(&s, SIG_OK "; i=x@a.example.com; l=42", strlen(SIG_OK
	    "; i=x@a.example.com; l=42"), &why);
	CHECK_STR(s.identity, "x@a.example.com", "i= kept");
	CHECK_INT(s.length, 42, "l= value");
	CHECK_INT(s.nheaders, 2, "h= count");
	dkim_sig_fini(&s);
	{
		const char *t = "v=1; a=rsa-sha256; d=EXAMPLE.Com; s=sel; "
		    "h=from; bh=AAAA; b=AAAA";

		dkim_sig_parse(&s, t, strlen(t), &why);
	}
	CHECK_STR(s.identity, "@example.com", "i= defaults to @d");
	CHECK_STR(s.domain, "example.com", "d= lower-cased");
	dkim_sig_fini(&s);
	test_sig_parse_fields();
}

static const struct keyrec_case {
	const char *name, *in;
	enum dkim_reason why;
	bool revoked, testing, strict, email;
} keyrec_cases[] = {
	{ "plain", "v=DKIM1; k=ed25519; p=AAAA", DKIM_R_OK, false, false,
	    false, true },
	{ "no v=", "k=rsa; p=AAAA", DKIM_R_OK, false, false, false, true },
	{ "v= not first", "k=rsa; v=DKIM1; p=AAAA", DKIM_R_KEY_VERSION,
	    false, false, false, false },
	{ "v=DKIM2", "v=DKIM2; p=AAAA", DKIM_R_KEY_VERSION, false, false,
	    false, false },
	{ "revoked", "v=DKIM1; p=", DKIM_R_OK, true, false, false, true },
	{ "no p=", "v=DKIM1; k=rsa", DKIM_R_KEY_SYNTAX, false, false, false,
	    false },
	{ "unknown k=", "v=DKIM1; k=dsa; p=AAAA", DKIM_R_KEY_TYPE, false,
	    false, false, false },
	{ "t=y:s", "v=DKIM1; t=y:s; p=AAAA", DKIM_R_OK, false, true, true,
	    true },
	{ "s=email", "v=DKIM1; s=email; p=AAAA", DKIM_R_OK, false, false,
	    false, true },
	{ "s=tlsrpt", "v=DKIM1; s=tlsrpt; p=AAAA", DKIM_R_OK, false, false,
	    false, false },
	{ "bad base64", "v=DKIM1; p=A*AA", DKIM_R_KEY_INVALID, false, false,
	    false, false },
	{ "tag syntax", "v=DKIM1; p=AAAA; =x", DKIM_R_KEY_SYNTAX, false,
	    false, false, false },
	{ "unknown tags ignored", "v=DKIM1; n=notes here; zz=1; p=AAAA",
	    DKIM_R_OK, false, false, false, true },
};

static void
test_keyrec_parse(void)
{
	struct dkim_keyrec k;
	enum dkim_reason why;
	size_t i;

	for (i = 0; i < sizeof(keyrec_cases) / sizeof(keyrec_cases[0]); i++) {
		const struct keyrec_case *c = &keyrec_cases[i];
		int r = dkim_keyrec_parse(&k, c->in, strlen(c->in), &why);

		CHECK_INT(r, c->why == DKIM_R_OK ? 0 : E_SYNTAX, c->name);
		CHECK_STR(dkim_reason_str(why), dkim_reason_str(c->why),
		    c->name);
		if (r == 0) {
			CHECK_INT(k.revoked, c->revoked, c->name);
			CHECK_INT(k.testing, c->testing, c->name);
			CHECK_INT(k.strict, c->strict, c->name);
			CHECK_INT(k.email_ok, c->email, c->name);
		}
		dkim_keyrec_fini(&k);
	}
}

/* The per-thread key cache: many keys (more than it holds), each used
   twice; a record that changes under the same name is a new key. */
static void
test_key_cache(void)
{
	enum { NKEYS = 40 };
	struct dkim_key *keys[NKEYS];
	char *signed_msgs[NKEYS], *pubs[NKEYS], rec[256], name[64];
	size_t lens[NKEYS], i, round;
	struct dkim_sign_opts o;
	int r;

	dkim_sign_opts_init(&o);
	o.domain = "example.com";
	o.selector = "s";
	for (i = 0; i < NKEYS; i++) {
		dkim_key_generate(&keys[i], DKIM_ALG_ED25519_SHA256, 0);
		pubs[i] = pub_b64(keys[i]);
		signed_msgs[i] = sign_msg(keys[i], &o, plain_msg,
		    sizeof(plain_msg) - 1, &lens[i], &r);
	}
	for (round = 0; round < 2; round++)
		for (i = 0; i < NKEYS; i++) {
			struct rec rr = { "s._domainkey.example.com", rec };
			struct dkim_verify *v;

			snprintf(rec, sizeof(rec), "k=ed25519; p=%s", pubs[i]);
			snprintf(name, sizeof(name), "cache: key %zu round %zu",
			    i, round);
			v = run_verify(signed_msgs[i], lens[i], NOW, &rr, 1, 0);
			check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK, name);
			dkim_verify_free(v);
			/* The neighbour's key must not verify it. */
			snprintf(rec, sizeof(rec), "k=ed25519; p=%s",
			    pubs[(i + 1) % NKEYS]);
			v = run_verify(signed_msgs[i], lens[i], NOW, &rr, 1, 0);
			check_sig(v, 0, DKIM_RESULT_FAIL, DKIM_R_SIGNATURE, name);
			dkim_verify_free(v);
		}
	dkim_key_cache_clear();
	{
		struct rec rr = { "s._domainkey.example.com", rec };
		struct dkim_verify *v;

		snprintf(rec, sizeof(rec), "k=ed25519; p=%s", pubs[0]);
		v = run_verify(signed_msgs[0], lens[0], NOW, &rr, 1, 0);
		check_sig(v, 0, DKIM_RESULT_PASS, DKIM_R_OK,
		    "cache: after clearing");
		dkim_verify_free(v);
	}
	for (i = 0; i < NKEYS; i++) {
		dkim_key_free(keys[i]);
		free(pubs[i]);
		free(signed_msgs[i]);
	}
}

/* ---- the rest ---- */

static void
test_misc(void)
{
	struct dkim_verify *v;
	struct dkim_key *k = NULL;
	struct buf b, rec1, rec2;
	const char *m = "From: a@b\r\n\r\nbody\r\n";
	size_t i;
	char *err = NULL;

	for (i = 1; i < DKIM_R_COUNT; i++) {
		char name[64];

		snprintf(name, sizeof(name), "reason %zu has text", i);
		CHECK(dkim_reason_str((enum dkim_reason)i)[0] != '\0', name);
	}
	CHECK_STR(dkim_reason_str(DKIM_R_KEY_REVOKED), "key revoked",
	    "key revoked text");
	CHECK_STR(dkim_reason_str(DKIM_R_BODY_HASH),
	    "body hash did not verify", "body hash text");
	CHECK_STR(dkim_result_str(DKIM_RESULT_TEMPERROR), "temperror",
	    "temperror word");
	CHECK_INT(dkim_alg_parse("ED25519-SHA256", 14),
	    DKIM_ALG_ED25519_SHA256, "a= case-insensitive");

	v = run_verify(m, strlen(m), NOW, NULL, 0, 0);
	CHECK_INT(dkim_verify_nsigs(v), 0, "unsigned: no signatures");
	CHECK(dkim_verify_done(v), "unsigned: done at once");
	dkim_verify_free(v);
	v = dkim_verify_new(NULL);
	CHECK_INT(dkim_verify_message(v, "bad line\r\n\r\n", 12), E_SYNTAX,
	    "unparsable header section");
	CHECK_INT(dkim_verify_key_answer(v, 0, DKIM_KEY_NOTFOUND, NULL, NULL,
	    0), E_INVAL, "answer to a query never asked");
	dkim_verify_free(v);

	/* Keys: PEM round trip keeps the public key. */
	buf_init(&b, 1 << 16);
	buf_init(&rec1, 1 << 16);
	buf_init(&rec2, 1 << 16);
	CHECK_INT(dkim_key_generate(&k, DKIM_ALG_RSA_SHA256, 1024), 0,
	    "generate RSA 1024");
	CHECK_INT(dkim_key_bits(k), 1024, "RSA bits");
	dkim_key_pem(k, &b);
	dkim_key_record(k, &rec1);
	dkim_key_free(k);
	CHECK_INT(dkim_key_load(&k, b.p, b.len, NULL), 0, "load our PEM");
	dkim_key_record(k, &rec2);
	CHECK_STR(buf_cstr(&rec2), buf_cstr(&rec1), "PEM round trip");
	CHECK(strncmp(buf_cstr(&rec1), "v=DKIM1; k=rsa; p=", 18) == 0,
	    "RSA record shape");
	dkim_key_free(k);
	CHECK_INT(dkim_key_generate(&k, DKIM_ALG_RSA_SHA256, 512), E_INVAL,
	    "no RSA keys under 1024 bits");
	CHECK_INT(dkim_key_generate(&k, DKIM_ALG_RSA_SHA1, 2048), E_INVAL,
	    "no rsa-sha1 keys");
	CHECK_INT(dkim_key_load(&k, "garbage", 7, &err), E_SYNTAX,
	    "garbage key");
	CHECK(err != NULL, "garbage key explained");
	free(err);
	buf_fini(&b);
	buf_fini(&rec1);
	buf_fini(&rec2);

	/* Result formatting for Authentication-Results. */
	{
		struct dkim_sig_result r = { .result = DKIM_RESULT_FAIL,
		    .reason = DKIM_R_KEY_REVOKED, .domain = "example.com",
		    .selector = "a b", .alg = DKIM_ALG_RSA_SHA256 };

		buf_init(&b, 1024);
		dkim_verify_format(&b, &r);
		CHECK_STR(buf_cstr(&b), "dkim=fail (key revoked) "
		    "header.d=example.com header.s=\"a b\" header.a=rsa-sha256",
		    "format with reason and a quoted value");
		buf_reset(&b);
		r.result = DKIM_RESULT_PASS;
		r.reason = DKIM_R_OK;
		r.selector = "sel";
		dkim_verify_format(&b, &r);
		CHECK_STR(buf_cstr(&b), "dkim=pass header.d=example.com "
		    "header.s=sel header.a=rsa-sha256", "format pass");
		buf_fini(&b);
	}
}

int
main(void)
{
	test_tags();
	test_sig_parse();
	test_keyrec_parse();
	test_rfc8463();
	test_streaming();
	test_dkimpy();
	test_crafted();
	test_b_placement();
	test_small_key();
	test_roundtrip();
	test_idn_domain();
	test_sign_threads();
	test_sign_fields();
	test_key_cache();
	test_misc();
	dkim_key_cache_clear();
	return test_done();
}
