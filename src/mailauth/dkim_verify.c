/*
 * mailauth/dkim_verify.c - the DKIM verifier machine (RFC 6376 6).
 *
 * The message is read once: every signature is parsed, its header hash
 * computed and its body hashed while the message is at hand; what is left
 * for the key is one public-key operation on a stored digest.  The caller
 * looks the keys up and hands the answers back in any order.
 */
#include "mailauth/dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/canon.h"
#include "msg/header.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/idna.h"
#include "util/xmalloc.h"

#define DKIM_DEFAULT_MAX_SIGS 16
#define DKIM_DEFAULT_MIN_RSA_BITS 1024	/* RFC 8301 3.2 */
#define DKIM_DEFAULT_SKEW 300

/* What each reason makes of the signature (RFC 8601 2.7.1). */
static const enum dkim_result reason_result[DKIM_R_COUNT] = {
	[DKIM_R_OK] = DKIM_RESULT_PASS,
	[DKIM_R_SIG_SYNTAX] = DKIM_RESULT_PERMERROR,
	[DKIM_R_SIG_VERSION] = DKIM_RESULT_PERMERROR,
	[DKIM_R_SIG_MISSING_TAG] = DKIM_RESULT_PERMERROR,
	[DKIM_R_SIG_BAD_TAG] = DKIM_RESULT_PERMERROR,
	[DKIM_R_ALGORITHM] = DKIM_RESULT_NEUTRAL,
	[DKIM_R_ALGORITHM_SHA1] = DKIM_RESULT_FAIL,
	[DKIM_R_CANON] = DKIM_RESULT_NEUTRAL,
	[DKIM_R_QUERY_METHOD] = DKIM_RESULT_NEUTRAL,
	[DKIM_R_FROM_UNSIGNED] = DKIM_RESULT_PERMERROR,
	[DKIM_R_DOMAIN_MISMATCH] = DKIM_RESULT_PERMERROR,
	[DKIM_R_EXPIRED] = DKIM_RESULT_FAIL,
	[DKIM_R_FUTURE] = DKIM_RESULT_FAIL,
	[DKIM_R_X_BEFORE_T] = DKIM_RESULT_PERMERROR,
	[DKIM_R_BODY_TOO_SHORT] = DKIM_RESULT_FAIL,
	[DKIM_R_TOO_MANY] = DKIM_RESULT_NEUTRAL,
	[DKIM_R_KEY_UNAVAILABLE] = DKIM_RESULT_TEMPERROR,
	[DKIM_R_KEY_MISSING] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_SYNTAX] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_VERSION] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_REVOKED] = DKIM_RESULT_FAIL,
	[DKIM_R_KEY_TYPE] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_HASH] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_SERVICE] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_STRICT] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_INVALID] = DKIM_RESULT_PERMERROR,
	[DKIM_R_KEY_TOO_SMALL] = DKIM_RESULT_FAIL,
	[DKIM_R_BODY_HASH] = DKIM_RESULT_FAIL,
	[DKIM_R_SIGNATURE] = DKIM_RESULT_FAIL,
	[DKIM_R_INTERNAL] = DKIM_RESULT_TEMPERROR,
};

struct sigstate {
	struct dkim_sig sig;
	struct dkim_sig_result res;
	bool decided;
	size_t query;
	unsigned char hdigest[DKIM_HASH_LEN];
	/* body hashing */
	EVP_MD_CTX *bctx;
	struct canon_body cb;
	unsigned long long blen;	/* canonical body bytes seen */
};

enum stage {
	STAGE_START,	/* waiting for the header section */
	STAGE_BODY,	/* taking body bytes */
	STAGE_DONE,	/* body hashed: only key answers now */
};

struct dkim_verify {
	struct dkim_verify_opts o;
	enum stage stage;
	struct sigstate *sigs;
	size_t nsigs;
	char **queries;
	bool *answered;
	size_t nq;
	struct buf hin;		/* header-hash input, reused per signature */
	struct buf sfield;	/* DKIM-Signature field with b= cut */
};

/* decide - give a signature its final verdict */
static void
decide(struct sigstate *s, enum dkim_reason why)
{
	s->decided = true;
	s->res.reason = why;
	s->res.result = reason_result[why];
	s->res.dmarc_usable = s->res.result == DKIM_RESULT_PASS &&
	    !s->res.body_partial;
}

/* dkim_verify_new - a verifier for one message */
struct dkim_verify *
dkim_verify_new(const struct dkim_verify_opts *opts)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));

	if (opts)
		v->o = *opts;
	if (v->o.min_rsa_bits == 0)
		v->o.min_rsa_bits = DKIM_DEFAULT_MIN_RSA_BITS;
	if (v->o.max_signatures == 0)
		v->o.max_signatures = DKIM_DEFAULT_MAX_SIGS;
	if (v->o.clock_skew == 0)
		v->o.clock_skew = DKIM_DEFAULT_SKEW;
	buf_init(&v->hin, DKIM_MAX_HEADER_HASH_INPUT);
	buf_init(&v->sfield, DKIM_MAX_HEADER_HASH_INPUT);
	return v;
}

/* dkim_verify_free - release the verifier */
void
dkim_verify_free(struct dkim_verify *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nsigs; i++) {
		dkim_sig_fini(&v->sigs[i].sig);
		EVP_MD_CTX_free(v->sigs[i].bctx);
	}
	free(v->sigs);
	for (i = 0; i < v->nq; i++)
		free(v->queries[i]);
	free(v->queries);
	free(v->answered);
	buf_fini(&v->hin);
	buf_fini(&v->sfield);
	free(v);
}

/* Names in h= up to this many are tracked on the stack; a longer list
   (a peer may send one) takes one allocation. */
#define HASH_NAMES_ON_STACK 32

/*
 * dkim_header_hash - SHA-256 of the RFC 6376 3.7 header-hash input; b is
 * scratch space for that input (reset here, left holding it), so a caller
 * hashing several signatures reuses one allocation.  The fields are
 * chosen first, so the input's size is known and b grows at most once.
 */
int
dkim_header_hash(struct buf *b, const struct msg_header *h,
    enum canon_mode m, char *const *names, size_t nnames,
    const char *sigfield, size_t siglen, unsigned char *digest)
{
	const struct msg_field *f;
	size_t on_stack[3 * HASH_NAMES_ON_STACK], *len, *next, *pick;
	size_t i, j, before, total;
	unsigned int dlen;
	int r = 0;

	buf_reset(b);
	len = nnames <= HASH_NAMES_ON_STACK ? on_stack :
	    xcalloc(nnames, 3 * sizeof(*len));
	next = len + nnames;
	pick = next + nnames;
	/* next[j]: instances of names[j] below this index are used up; a
	   name's occurrences in h= share one cursor (RFC 6376 5.4.2), so
	   the cursor to start from is that of the nearest earlier mention
	   of the same name.  pick[j]: the field's index + 1, 0 when no
	   instance is left (a missing instance adds nothing). */
	total = siglen;
	for (i = 0; i < nnames; i++) {
		len[i] = strlen(names[i]);
		before = h->nfields;
		for (j = i; j-- > 0;)
			if (len[j] == len[i] &&
			    strncasecmp(names[j], names[i], len[i]) == 0) {
				before = next[j];
				break;
			}
		f = msg_header_find_last(h, names[i], len[i], before);
		next[i] = f ? f->pos : 0;
		pick[i] = f ? f->pos + 1 : 0;
		if (f)
			total += f->raw_len + 2;
	}
	/* Each field is picked at most once, so total is bounded by the
	   header section; past the cap canon_header() says so. */
	(void)buf_reserve(b, total);
	for (i = 0; i < nnames; i++) {
		if (pick[i] == 0)
			continue;
		f = &h->fields[pick[i] - 1];
		if ((r = canon_header(b, m, f->raw, f->raw_len, true)) < 0)
			goto out;
	}
	if ((r = canon_header(b, m, sigfield, siglen, false)) < 0)
		goto out;
	r = EVP_Digest(b->p ? b->p : "", b->len, digest, &dlen, dkim_sha256(),
	    NULL) == 1 ? 0 : E_INVAL;
out:
	if (len != on_stack)
		free(len);
	return r;
}

/* is_fws - a whitespace byte of FWS (SP, HTAB, CR, LF) */
static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * sigfield_without_b - the raw DKIM-Signature field with the b= value
 * removed: from just after "b=" to the value's last character, so the
 * folding whitespace before the value goes and the text after it stays.
 * Called only for a value dkim_sig_parse() accepted, so the tag list is
 * valid and has exactly one b= tag; the scan finds that tag's bounds the
 * way dkim_tags_parse() does (tag-specs split at ';', FWS trimmed around
 * names and values) without building the whole tag array again.  When
 * nothing follows the value (b= last, as signers put it) the result is a
 * prefix of the field and points into it; otherwise it is put together
 * in scratch.
 */
static void
sigfield_without_b(struct buf *scratch, const struct msg_field *f,
    const char **out, size_t *outlen)
{
	const char *p = f->value, *cut = NULL, *end = NULL;
	const char *fend = f->raw + f->raw_len;
	size_t n = f->value_len, i = 0, s, e, k;

	while (i < n && cut == NULL) {
		const char *semi = memchr(p + i, ';', n - i);

		e = semi ? (size_t)(semi - p) : n;
		s = i;
		i = e + 1;
		while (s < e && is_fws(p[s]))
			s++;
		if (s == e || p[s] != 'b')
			continue;
		for (k = s + 1; k < e && is_fws(p[k]); k++)
			;
		if (k == e || p[k] != '=')
			continue;	/* a longer name such as bh */
		s = k + 1;
		cut = p + s;
		while (s < e && is_fws(p[s]))
			s++;
		while (e > s && is_fws(p[e - 1]))
			e--;
		end = p + e;
	}
	if (cut == NULL) {
		*out = f->raw;
		*outlen = f->raw_len;
		return;
	}
	if (end == fend) {
		*out = f->raw;
		*outlen = (size_t)(cut - f->raw);
		return;
	}
	buf_reset(scratch);
	buf_append(scratch, f->raw, (size_t)(cut - f->raw));
	buf_append(scratch, end, (size_t)(fend - end));
	*out = scratch->p ? scratch->p : "";
	*outlen = scratch->len;
}

/* body_emit - canonical body bytes into one signature's hash */
static void
body_emit(void *arg, const void *p, size_t n)
{
	struct sigstate *s = arg;
	unsigned long long take = n;

	if (s->sig.length >= 0) {
		unsigned long long lim = (unsigned long long)s->sig.length;

		take = s->blen >= lim ? 0 : lim - s->blen;
		if (take > n)
			take = n;
	}
	if (take)
		EVP_DigestUpdate(s->bctx, p, (size_t)take);
	s->blen += n;
}

/* check_time - t= and x= against the caller's clock */
static bool
check_time(struct dkim_verify *v, struct sigstate *s)
{
	if (s->sig.expiration >= 0 && s->sig.expiration < v->o.now) {
		decide(s, DKIM_R_EXPIRED);
		return false;
	}
	if (s->sig.timestamp >= 0 &&
	    s->sig.timestamp > v->o.now + v->o.clock_skew) {
		decide(s, DKIM_R_FUTURE);
		return false;
	}
	return true;
}

/* add_query - the index of the query for this key name, added if new */
static size_t
add_query(struct dkim_verify *v, const char *sel, const char *dom)
{
	static const char mid[] = "._domainkey.";
	size_t i, sl = strlen(sel), dl = strlen(dom);
	char *name = xmalloc(sl + sizeof(mid) - 1 + dl + 1);

	memcpy(name, sel, sl);
	memcpy(name + sl, mid, sizeof(mid) - 1);
	memcpy(name + sl + sizeof(mid) - 1, dom, dl + 1);

	for (i = 0; i < v->nq; i++)
		if (strcasecmp(v->queries[i], name) == 0) {
			free(name);
			return i;
		}
	v->queries = xrealloc(v->queries, (v->nq + 1) * sizeof(char *));
	v->answered = xrealloc(v->answered, (v->nq + 1) * sizeof(bool));
	v->queries[v->nq] = name;
	v->answered[v->nq] = false;
	return v->nq++;
}

/*
 * key_name - queue the key query for s.  A selector or d= written in
 * U-labels is looked up by its A-label form (RFC 8616 4); one that has
 * none is a bad tag value (permerror), never sent to the DNS as UTF-8.
 */
static bool
key_name(struct dkim_verify *v, struct sigstate *s)
{
	char sel[IDNA_DOMAIN_MAX + 2], dom[IDNA_DOMAIN_MAX + 2];
	const char *ps = s->sig.selector, *pd = s->sig.domain;

	if (!idna_is_ascii(ps)) {
		if (idna_to_ascii(ps, sel, sizeof(sel)) != IDNA_E_OK)
			goto bad;
		ps = sel;
	}
	if (!idna_is_ascii(pd)) {
		if (idna_to_ascii(pd, dom, sizeof(dom)) != IDNA_E_OK)
			goto bad;
		pd = dom;
	}
	s->query = add_query(v, ps, pd);
	return true;
bad:
	decide(s, DKIM_R_SIG_BAD_TAG);
	return false;
}

/* fill_result - copy what the parse found into the public result */
static void
fill_result(struct sigstate *s)
{
	s->res.domain = s->sig.domain;
	s->res.selector = s->sig.selector;
	s->res.identity = s->sig.identity;
	s->res.alg = s->sig.alg;
	s->res.length = s->sig.length;
	if (s->sig.b_text && strlen(s->sig.b_text) > 8)
		s->sig.b_text[8] = '\0';
	s->res.b_prefix = s->sig.b_text;
}

/* verify_fields - parse the signatures of an indexed header section and
   hash its fields for each */
static void
verify_fields(struct dkim_verify *v, const struct msg_header *h)
{
	const struct msg_field *f;
	struct sigstate *s;
	enum dkim_reason why;
	const char *sf;
	size_t i, count, sflen;

	count = msg_header_count(h, "DKIM-Signature", 14);
	v->sigs = xcalloc(count ? count : 1, sizeof(*v->sigs));
	for (i = 0, f = NULL; i < count; i++) {
		f = msg_header_find(h, "DKIM-Signature", 14,
		    f ? f->pos + 1 : 0);
		s = &v->sigs[v->nsigs++];
		if (dkim_sig_parse(&s->sig, f->value, f->value_len, &why) < 0) {
			fill_result(s);
			decide(s, why);
			continue;
		}
		fill_result(s);
		if (v->nsigs > v->o.max_signatures) {
			decide(s, DKIM_R_TOO_MANY);
			continue;
		}
		if (!check_time(v, s))
			continue;
		sigfield_without_b(&v->sfield, f, &sf, &sflen);
		if (dkim_header_hash(&v->hin, h, s->sig.hcanon, s->sig.headers,
		    s->sig.nheaders, sf, sflen, s->hdigest) < 0) {
			decide(s, DKIM_R_INTERNAL);
			continue;
		}
		if ((s->bctx = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(s->bctx, dkim_sha256(), NULL) != 1) {
			decide(s, DKIM_R_INTERNAL);
			continue;
		}
		canon_body_init(&s->cb, s->sig.bcanon, body_emit, s);
	}
}

/* dkim_verify_header - parse the signatures and hash the headers */
int
dkim_verify_header(struct dkim_verify *v, const char *hdr, size_t n)
{
	struct msg_header h;

	if (v->stage != STAGE_START)
		return E_INVAL;
	v->stage = STAGE_BODY;
	if (msg_header_parse(&h, hdr, n, 0) < 0) {
		v->stage = STAGE_DONE;
		return E_SYNTAX;
	}
	verify_fields(v, &h);
	msg_header_fini(&h);
	return 0;
}

/* dkim_verify_body - the next n bytes of the body, for every signature */
int
dkim_verify_body(struct dkim_verify *v, const void *p, size_t n)
{
	size_t i;

	if (v->stage != STAGE_BODY)
		return E_INVAL;
	for (i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].decided)
			canon_body_feed(&v->sigs[i].cb, p, n);
	return 0;
}

/* dkim_verify_body_end - compare the body hashes; list the key queries */
int
dkim_verify_body_end(struct dkim_verify *v)
{
	unsigned char bh[DKIM_HASH_LEN];
	unsigned int bl;
	struct sigstate *s;
	size_t i;

	if (v->stage != STAGE_BODY)
		return E_INVAL;
	v->stage = STAGE_DONE;
	for (i = 0; i < v->nsigs; i++) {
		s = &v->sigs[i];
		if (s->decided)
			continue;
		canon_body_finish(&s->cb);
		if (EVP_DigestFinal_ex(s->bctx, bh, &bl) != 1) {
			decide(s, DKIM_R_INTERNAL);
			continue;
		}
		if (s->sig.length >= 0) {
			if (s->blen < (unsigned long long)s->sig.length) {
				decide(s, DKIM_R_BODY_TOO_SHORT);
				continue;
			}
			s->res.body_partial =
			    s->blen > (unsigned long long)s->sig.length;
		}
		if (s->sig.bh_len != bl || memcmp(s->sig.bh, bh, bl) != 0) {
			decide(s, DKIM_R_BODY_HASH);
			continue;
		}
		if (!key_name(v, s))
			continue;
	}
	return 0;
}

/* dkim_verify_message - the whole message at once */
int
dkim_verify_message(struct dkim_verify *v, const char *msg, size_t n)
{
	struct msg_header h;
	size_t hlen;
	int r;

	/* The three steps, with the header section indexed once: the
	   index of the whole message holds the same fields as that of its
	   header section alone. */
	if (msg_header_parse(&h, msg, n, 0) < 0) {
		v->stage = STAGE_DONE;
		return E_SYNTAX;
	}
	if (v->stage != STAGE_START) {
		msg_header_fini(&h);
		return E_INVAL;
	}
	v->stage = STAGE_BODY;
	verify_fields(v, &h);
	hlen = h.body ? (size_t)(h.body - msg) : n;
	msg_header_fini(&h);
	if ((r = dkim_verify_body(v, msg + hlen, n - hlen)) < 0)
		return r;
	return dkim_verify_body_end(v);
}

/* dkim_verify_nqueries - distinct key names to look up */
size_t
dkim_verify_nqueries(const struct dkim_verify *v)
{
	return v->nq;
}

/* dkim_verify_query - the i-th key name (TXT) */
const char *
dkim_verify_query(const struct dkim_verify *v, size_t i)
{
	return i < v->nq ? v->queries[i] : NULL;
}

/* check_key - apply one key record to one signature */
static enum dkim_reason
check_key(struct dkim_verify *v, struct sigstate *s,
    const struct dkim_keyrec *k)
{
	const struct dkim_vkey *vk;
	enum dkim_reason why;
	enum dkim_alg want;
	const char *idom;
	int r;

	if (k->revoked)
		return DKIM_R_KEY_REVOKED;
	want = s->sig.alg == DKIM_ALG_ED25519_SHA256 ?
	    DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256;
	if (k->key_type != want)
		return DKIM_R_KEY_TYPE;
	if (!k->sha256_ok)
		return DKIM_R_KEY_HASH;
	if (!k->email_ok)
		return DKIM_R_KEY_SERVICE;
	s->res.testing = k->testing;
	/* RFC 6376 3.6.1 t=s: the i= domain must be d= itself. */
	idom = strchr(s->sig.identity, '@');
	if (k->strict && idom && strcasecmp(idom + 1, s->sig.domain) != 0)
		return DKIM_R_KEY_STRICT;
	if ((why = dkim_vkey_get(k, &vk)) != DKIM_R_OK)
		return why;
	s->res.key_bits = dkim_vkey_bits(vk);
	if (want == DKIM_ALG_RSA_SHA256 &&
	    s->res.key_bits < v->o.min_rsa_bits)
		return DKIM_R_KEY_TOO_SMALL;
	r = dkim_vkey_verify(vk, s->hdigest, s->sig.b, s->sig.b_len);
	return r == 1 ? DKIM_R_OK : DKIM_R_SIGNATURE;
}

/*
 * A few parsed key records per thread, keyed by the exact record text, so
 * a repeated record (the same big senders over and over) is not parsed
 * and base64-decoded again for every message.  Fixed-size slots in
 * thread-local storage: nothing to free, records or keys too long for a
 * slot are simply parsed each time.  Only records that parsed cleanly are
 * kept; a failing record is re-parsed to give its reason.
 */
#define KEYREC_MEMO_SLOTS 4
#define KEYREC_MEMO_TXT 512
#define KEYREC_MEMO_PUB 640

struct keyrec_memo {
	size_t tlen;		/* 0: empty slot */
	char txt[KEYREC_MEMO_TXT];
	struct dkim_keyrec k;	/* k.pub points at pub below */
	unsigned char pub[KEYREC_MEMO_PUB];
	unsigned long long used;
};

static __thread struct keyrec_memo keyrec_memo[KEYREC_MEMO_SLOTS];
static __thread unsigned long long keyrec_memo_clock;

/* keyrec_memo_find - the parsed record for this exact text, or NULL */
static const struct dkim_keyrec *
keyrec_memo_find(const char *txt, size_t n)
{
	struct keyrec_memo *e;
	size_t i;

	for (i = 0; i < KEYREC_MEMO_SLOTS; i++) {
		e = &keyrec_memo[i];
		if (e->tlen != 0 && e->tlen == n && memcmp(e->txt, txt, n) == 0) {
			e->used = ++keyrec_memo_clock;
			return &e->k;
		}
	}
	return NULL;
}

/* keyrec_memo_put - keep a cleanly parsed record, evicting the least
   recently used slot; too long a record or key is not kept */
static void
keyrec_memo_put(const char *txt, size_t n, const struct dkim_keyrec *k)
{
	struct keyrec_memo *e = &keyrec_memo[0];
	size_t i;

	if (n == 0 || n > KEYREC_MEMO_TXT || k->pub_len > KEYREC_MEMO_PUB)
		return;
	for (i = 1; i < KEYREC_MEMO_SLOTS; i++)
		if (keyrec_memo[i].used < e->used)
			e = &keyrec_memo[i];
	memcpy(e->txt, txt, n);
	e->tlen = n;
	e->k = *k;
	if (k->pub_len)
		memcpy(e->pub, k->pub, k->pub_len);
	e->k.pub = k->pub_len ? e->pub : NULL;
	e->used = ++keyrec_memo_clock;
}

/* dkim_verify_dns_answer - see dkim.h */
int
dkim_verify_dns_answer(struct dkim_verify *v, size_t qi,
    const struct dns_answer *ans)
{
	const char **txts;
	size_t *lens, i, n = 0;
	int r;

	switch (ans->status) {
	case DNS_OK:
		txts = xcalloc(ans->nrrs + 1, sizeof(*txts));
		lens = xcalloc(ans->nrrs + 1, sizeof(*lens));
		for (i = 0; i < ans->nrrs; i++) {
			if (ans->rrs[i].type != DNS_T_TXT ||
			    ans->rrs[i].txt == NULL)
				continue;
			txts[n] = ans->rrs[i].txt;
			lens[n++] = ans->rrs[i].txt_len;
		}
		r = dkim_verify_key_answer(v, qi, n ? DKIM_KEY_FOUND :
		    DKIM_KEY_NOTFOUND, txts, lens, n);
		free(txts);
		free(lens);
		return r;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		return dkim_verify_key_answer(v, qi, DKIM_KEY_NOTFOUND, NULL,
		    NULL, 0);
	default:
		return dkim_verify_key_answer(v, qi, DKIM_KEY_TEMPFAIL, NULL,
		    NULL, 0);
	}
}

/* dkim_verify_key_answer - the answer to query i */
int
dkim_verify_key_answer(struct dkim_verify *v, size_t qi,
    enum dkim_key_status st, const char *const *txts, const size_t *lens,
    size_t n)
{
	struct dkim_keyrec k;
	const struct dkim_keyrec *use = NULL;
	enum dkim_reason why = DKIM_R_KEY_MISSING, first = DKIM_R_OK;
	size_t i;

	if (qi >= v->nq || v->answered[qi])
		return E_INVAL;
	v->answered[qi] = true;
	memset(&k, 0, sizeof(k));
	if (st == DKIM_KEY_TEMPFAIL)
		why = DKIM_R_KEY_UNAVAILABLE;
	else if (st == DKIM_KEY_FOUND) {
		for (i = 0; i < n && use == NULL; i++) {
			if ((use = keyrec_memo_find(txts[i], lens[i])) != NULL)
				break;
			if (dkim_keyrec_parse(&k, txts[i], lens[i], &why) == 0) {
				keyrec_memo_put(txts[i], lens[i], &k);
				use = &k;
			} else {
				dkim_keyrec_fini(&k);
				if (first == DKIM_R_OK)
					first = why;
			}
		}
		if (use == NULL)
			why = n ? first : DKIM_R_KEY_MISSING;
	}
	for (i = 0; i < v->nsigs; i++) {
		struct sigstate *s = &v->sigs[i];

		if (s->decided || s->query != qi)
			continue;
		decide(s, use ? check_key(v, s, use) : why);
	}
	dkim_keyrec_fini(&k);
	return 0;
}

/* dkim_verify_done - every query answered */
bool
dkim_verify_done(const struct dkim_verify *v)
{
	size_t i;

	for (i = 0; i < v->nq; i++)
		if (!v->answered[i])
			return false;
	return true;
}

/* dkim_verify_nsigs - how many DKIM-Signature fields were found */
size_t
dkim_verify_nsigs(const struct dkim_verify *v)
{
	return v->nsigs;
}

/* dkim_verify_sig - the verdict of signature i (top to bottom) */
const struct dkim_sig_result *
dkim_verify_sig(const struct dkim_verify *v, size_t i)
{
	return i < v->nsigs ? &v->sigs[i].res : NULL;
}

/* is_token_char - may appear unquoted in an A-R property value */
static bool
is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr(".-_@+/=!#$%&'*^`{|}~", c);
}

/* put_value - a property value, quoted when it is not a plain token */
static int
put_value(struct buf *out, const char *s)
{
	size_t i, n = strlen(s);
	bool plain = n > 0;
	int r;

	for (i = 0; i < n; i++)
		if (!is_token_char(s[i]))
			plain = false;
	if (plain)
		return buf_append(out, s, n);
	if ((r = buf_append(out, "\"", 1)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			continue;
		if ((c == '"' || c == '\\') &&
		    (r = buf_append(out, "\\", 1)) < 0)
			return r;
		if ((r = buf_append(out, s + i, 1)) < 0)
			return r;
	}
	return buf_append(out, "\"", 1);
}

/* dkim_verify_format - append the resinfo text for one result */
int
dkim_verify_format(struct buf *out, const struct dkim_sig_result *res)
{
	int r;

	if ((r = buf_printf(out, "dkim=%s", dkim_result_str(res->result))) <
	    0)
		return r;
	if (res->result != DKIM_RESULT_PASS && res->reason != DKIM_R_OK &&
	    (r = buf_printf(out, " (%s)", dkim_reason_str(res->reason))) < 0)
		return r;
	if (res->result == DKIM_RESULT_PASS && res->body_partial &&
	    (r = buf_append_str(out, " (l= leaves part of the body "
	    "unsigned)")) < 0)
		return r;
	if (res->domain && ((r = buf_append_str(out, " header.d=")) < 0 ||
	    (r = put_value(out, res->domain)) < 0))
		return r;
	if (res->selector && ((r = buf_append_str(out, " header.s=")) < 0 ||
	    (r = put_value(out, res->selector)) < 0))
		return r;
	if (res->alg != DKIM_ALG_UNKNOWN &&
	    (r = buf_printf(out, " header.a=%s", dkim_alg_str(res->alg))) < 0)
		return r;
	return 0;
}
