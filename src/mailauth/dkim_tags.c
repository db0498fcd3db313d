/*
 * mailauth/dkim_tags.c - DKIM tag lists, DKIM-Signature values and key
 * records (RFC 6376 3.2, 3.5, 3.6.1), and the names of results and
 * reasons.
 */
#include "mailauth/dkim.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/err.h"
#include "util/idna.h"
#include "util/xmalloc.h"

/* RFC 6376 3.5: t= and x= are at most 12 digits, l= at most 76; we keep
   l= to what a long long holds and call anything longer a syntax error. */
#define DKIM_MAX_TIME_DIGITS 12
#define DKIM_MAX_LEN_DIGITS 18
/* h= names beyond this many are a syntax error (no real signer nears it) */
#define DKIM_MAX_SIGNED_HEADERS 256

static const char *const result_names[] = {
	[DKIM_RESULT_NONE] = "none",
	[DKIM_RESULT_PASS] = "pass",
	[DKIM_RESULT_FAIL] = "fail",
	[DKIM_RESULT_NEUTRAL] = "neutral",
	[DKIM_RESULT_POLICY] = "policy",
	[DKIM_RESULT_TEMPERROR] = "temperror",
	[DKIM_RESULT_PERMERROR] = "permerror",
};

static const char *const reason_names[DKIM_R_COUNT] = {
	[DKIM_R_OK] = "",
	[DKIM_R_SIG_SYNTAX] = "signature syntax error",
	[DKIM_R_SIG_VERSION] = "unsupported signature version",
	[DKIM_R_SIG_MISSING_TAG] = "signature missing required tag",
	[DKIM_R_SIG_BAD_TAG] = "signature tag value invalid",
	[DKIM_R_ALGORITHM] = "unsupported algorithm",
	[DKIM_R_ALGORITHM_SHA1] = "rsa-sha1 not acceptable",
	[DKIM_R_CANON] = "unsupported canonicalization",
	[DKIM_R_QUERY_METHOD] = "unsupported query method",
	[DKIM_R_FROM_UNSIGNED] = "From field not signed",
	[DKIM_R_DOMAIN_MISMATCH] = "identity not within signing domain",
	[DKIM_R_EXPIRED] = "signature expired",
	[DKIM_R_FUTURE] = "signature timestamp in the future",
	[DKIM_R_X_BEFORE_T] = "signature expires before its timestamp",
	[DKIM_R_BODY_TOO_SHORT] = "body shorter than l=",
	[DKIM_R_TOO_MANY] = "too many signatures",
	[DKIM_R_KEY_UNAVAILABLE] = "key unavailable",
	[DKIM_R_KEY_MISSING] = "no key for signature",
	[DKIM_R_KEY_SYNTAX] = "key syntax error",
	[DKIM_R_KEY_VERSION] = "key version not DKIM1",
	[DKIM_R_KEY_REVOKED] = "key revoked",
	[DKIM_R_KEY_TYPE] = "key type mismatch",
	[DKIM_R_KEY_HASH] = "key does not allow the hash algorithm",
	[DKIM_R_KEY_SERVICE] = "key not for email",
	[DKIM_R_KEY_STRICT] = "key does not allow subdomain identity",
	[DKIM_R_KEY_INVALID] = "key invalid",
	[DKIM_R_KEY_TOO_SMALL] = "key too small",
	[DKIM_R_BODY_HASH] = "body hash did not verify",
	[DKIM_R_SIGNATURE] = "signature verification failed",
	[DKIM_R_INTERNAL] = "internal error",
};

/* dkim_result_str - the RFC 8601 result word */
const char *
dkim_result_str(enum dkim_result r)
{
	if ((size_t)r >= sizeof(result_names) / sizeof(result_names[0]))
		return "permerror";
	return result_names[r];
}

/* dkim_reason_str - the Authentication-Results reason text */
const char *
dkim_reason_str(enum dkim_reason r)
{
	if ((size_t)r >= DKIM_R_COUNT)
		return "internal error";
	return reason_names[r];
}

static const struct {
	const char *name;
	enum dkim_alg alg;
} alg_names[] = {
	{ "rsa-sha256", DKIM_ALG_RSA_SHA256 },
	{ "ed25519-sha256", DKIM_ALG_ED25519_SHA256 },
	{ "rsa-sha1", DKIM_ALG_RSA_SHA1 },
};

/* dkim_alg_str - the a= spelling of an algorithm */
const char *
dkim_alg_str(enum dkim_alg a)
{
	size_t i;

	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i].alg == a)
			return alg_names[i].name;
	return "unknown";
}

/* dkim_alg_parse - a= value to enum */
enum dkim_alg
dkim_alg_parse(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (strlen(alg_names[i].name) == n &&
		    strncasecmp(alg_names[i].name, s, n) == 0)
			return alg_names[i].alg;
	return DKIM_ALG_UNKNOWN;
}

/* is_fws - a whitespace byte of FWS (SP, HTAB, CR, LF) */
static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* is_alpha - RFC 5234 ALPHA */
static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - RFC 5234 DIGIT */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* dkim_tags_parse - split a tag list */
int
dkim_tags_parse(struct dkim_tag *tags, size_t max, size_t *ntags,
    const char *p, size_t n)
{
	size_t i = 0, s, e, eq, k, j;

	*ntags = 0;
	while (i <= n) {
		/* One tag-spec runs to the next ';' or the end. */
		s = i;
		for (e = s; e < n && p[e] != ';'; e++)
			;
		i = e + 1;
		while (s < e && is_fws(p[s]))
			s++;
		if (s == e) {
			/* Only the last tag-spec may be empty: the list may
			   end with ';' (RFC 6376 3.2). */
			if (e >= n && *ntags > 0)
				break;
			if (e >= n && *ntags == 0)
				break;
			return E_SYNTAX;
		}
		for (eq = s; eq < e && p[eq] != '='; eq++)
			;
		if (eq == e)
			return E_SYNTAX;
		/* tag-name = ALPHA *ALNUMPUNC */
		for (k = eq; k > s && is_fws(p[k - 1]); k--)
			;
		if (k == s || !is_alpha(p[s]))
			return E_SYNTAX;
		for (j = s; j < k; j++)
			if (!is_alpha(p[j]) && !is_digit(p[j]) && p[j] != '_')
				return E_SYNTAX;
		if (*ntags == max)
			return E_SYNTAX;
		for (j = 0; j < *ntags; j++)
			if (tags[j].name_len == k - s &&
			    memcmp(tags[j].name, p + s, k - s) == 0)
				return E_SYNTAX;
		tags[*ntags].name = p + s;
		tags[*ntags].name_len = k - s;
		s = eq + 1;
		while (s < e && is_fws(p[s]))
			s++;
		while (e > s && is_fws(p[e - 1]))
			e--;
		tags[*ntags].value = p + s;
		tags[*ntags].value_len = e - s;
		(*ntags)++;
	}
	return 0;
}

/* find_tag - the tag named name, or NULL */
static const struct dkim_tag *
find_tag(const struct dkim_tag *tags, size_t n, const char *name)
{
	size_t i, l = strlen(name);

	for (i = 0; i < n; i++)
		if (tags[i].name_len == l && memcmp(tags[i].name, name, l) == 0)
			return &tags[i];
	return NULL;
}

/* parse_number - a decimal of at most maxdigits digits */
static int
parse_number(const struct dkim_tag *t, size_t maxdigits, long long *out)
{
	long long v = 0;
	size_t i;

	if (t->value_len == 0 || t->value_len > maxdigits)
		return E_SYNTAX;
	for (i = 0; i < t->value_len; i++) {
		if (!is_digit(t->value[i]))
			return E_SYNTAX;
		v = v * 10 + (t->value[i] - '0');
	}
	*out = v;
	return 0;
}

/* decode_b64 - a base64 tag value (FWS allowed inside) to bytes */
static int
decode_b64(const struct dkim_tag *t, unsigned char **out, size_t *outlen)
{
	unsigned char *b = xmalloc(t->value_len / 4 * 3 + 4);
	int r;

	if ((r = base64_decode(b, outlen, t->value, t->value_len, true)) < 0) {
		free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* list_has - does a colon-separated list hold item (case-insensitive)? */
static bool
list_has(const char *p, size_t n, const char *item)
{
	size_t i = 0, s, e, l = strlen(item);

	while (i <= n) {
		for (e = i; e < n && p[e] != ':'; e++)
			;
		s = i;
		i = e + 1;
		while (s < e && is_fws(p[s]))
			s++;
		while (e > s && is_fws(p[e - 1]))
			e--;
		if (e - s == l && strncasecmp(p + s, item, l) == 0)
			return true;
	}
	return false;
}

/* domain_within - is dom (from i=) d or a subdomain of d? */
static bool
domain_within(const char *dom, const char *d)
{
	size_t a = strlen(dom), b = strlen(d);

	if (a == b)
		return strcasecmp(dom, d) == 0;
	return a > b && dom[a - b - 1] == '.' && strcasecmp(dom + a - b, d) == 0;
}

/*
 * is_dns_name - labels of letters, digits, '-' and '_' (RFC 6376 3.5 d=
 * and s= are domain names; '_' is tolerated as real selectors use it),
 * each 1 to 63 octets, 253 in all (RFC 1035 2.3.4), no trailing dot
 */
static bool
is_dns_name(const char *s)
{
	size_t i, label = 0, n = strlen(s);

	/* RFC 8616 4: d= and s= may hold U-labels; such a name is valid
	   when it has an A-label form, which the key query then uses. */
	if (!idna_is_ascii(s))
		return idna_valid(s);
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* The tags a DKIM-Signature uses, found in one pass over the list. */
struct sig_tags {
	const struct dkim_tag *a, *b, *bh, *c, *d, *h, *i, *l, *q, *s, *t,
	    *v, *x;
};

/* sig_tags_find - point each known tag at its entry (names are
   case-sensitive, RFC 6376 3.2); unknown tags are ignored */
static void
sig_tags_find(struct sig_tags *st, const struct dkim_tag *tags, size_t nt)
{
	const struct dkim_tag *t;
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < nt; i++) {
		t = &tags[i];
		if (t->name_len == 2) {
			if (t->name[0] == 'b' && t->name[1] == 'h')
				st->bh = t;
			continue;
		}
		if (t->name_len != 1)
			continue;
		switch (t->name[0]) {
		case 'a': st->a = t; break;
		case 'b': st->b = t; break;
		case 'c': st->c = t; break;
		case 'd': st->d = t; break;
		case 'h': st->h = t; break;
		case 'i': st->i = t; break;
		case 'l': st->l = t; break;
		case 'q': st->q = t; break;
		case 's': st->s = t; break;
		case 't': st->t = t; break;
		case 'v': st->v = t; break;
		case 'x': st->x = t; break;
		}
	}
}

/* b64_room - bytes a base64 tag value may decode to (as decode_b64) */
static size_t
b64_room(const struct dkim_tag *t)
{
	return t ? t->value_len / 4 * 3 + 4 : 0;
}

/*
 * dkim_sig_parse - parse a DKIM-Signature value.  Every string and byte
 * array of the result lives in one allocation sized from the tag values
 * up front; it starts with the h= pointer array, so s->headers is what
 * dkim_sig_fini() frees.
 */
int
dkim_sig_parse(struct dkim_sig *s, const char *value, size_t n,
    enum dkim_reason *why)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	struct sig_tags st;
	const struct dkim_tag *t;
	size_t nt, i, nh, e, b, size;
	const char *slash, *at;
	char *ap;

	memset(s, 0, sizeof(*s));
	s->length = s->timestamp = s->expiration = -1;
	s->alg = DKIM_ALG_UNKNOWN;
	*why = DKIM_R_SIG_SYNTAX;
	if (dkim_tags_parse(tags, DKIM_MAX_TAGS, &nt, value, n) < 0)
		return E_SYNTAX;
	sig_tags_find(&st, tags, nt);

	/* h= entries: one more than its colons; past the limit the array
	   is not needed (that is a syntax error below). */
	nh = 0;
	if (st.h) {
		for (i = 0, nh = 1; i < st.h->value_len; i++)
			nh += st.h->value[i] == ':';
		if (nh > DKIM_MAX_SIGNED_HEADERS)
			nh = 0;
	}
	size = nh * sizeof(char *);
	if (st.d)
		size += 2 * (st.d->value_len + 2);	/* d=, "@" d= */
	if (st.s)
		size += st.s->value_len + 1;
	if (st.b)
		size += st.b->value_len + 1;	/* b_text */
	size += b64_room(st.b) + b64_room(st.bh);
	if (st.h)
		size += st.h->value_len + 1;	/* names, a NUL each */
	if (st.i)
		size += st.i->value_len + 1;
	s->headers = xmalloc(size ? size : 1);
	ap = (char *)(s->headers + nh);

	/* Keep d= and s= first so even a bad signature can be reported. */
	if ((t = st.d) != NULL && t->value_len > 0) {
		s->domain = ap;
		for (i = 0; i < t->value_len; i++) {
			char c = t->value[i];

			*ap++ = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') :
			    c;
		}
		*ap++ = '\0';
	}
	if ((t = st.s) != NULL && t->value_len > 0) {
		s->selector = ap;
		memcpy(ap, t->value, t->value_len);
		ap += t->value_len;
		*ap++ = '\0';
	}
	if ((t = st.b) != NULL) {
		/* as written, FWS removed */
		s->b_text = ap;
		for (i = 0; i < t->value_len; i++)
			if (!is_fws(t->value[i]))
				*ap++ = t->value[i];
		*ap++ = '\0';
	}

	*why = DKIM_R_SIG_MISSING_TAG;
	if (st.v == NULL || st.a == NULL || st.b == NULL || st.bh == NULL ||
	    s->domain == NULL || st.h == NULL || s->selector == NULL)
		return E_SYNTAX;
	*why = DKIM_R_SIG_BAD_TAG;
	if (!is_dns_name(s->domain) || !is_dns_name(s->selector))
		return E_SYNTAX;
	*why = DKIM_R_SIG_VERSION;
	if (st.v->value_len != 1 || st.v->value[0] != '1')
		return E_SYNTAX;

	s->alg = dkim_alg_parse(st.a->value, st.a->value_len);
	if (s->alg == DKIM_ALG_UNKNOWN) {
		*why = DKIM_R_ALGORITHM;
		return E_SYNTAX;
	}

	*why = DKIM_R_SIG_BAD_TAG;
	if (base64_decode(ap, &s->b_len, st.b->value, st.b->value_len,
	    true) < 0 || s->b_len == 0)
		return E_SYNTAX;
	s->b = (unsigned char *)ap;
	ap += s->b_len;
	if (base64_decode(ap, &s->bh_len, st.bh->value, st.bh->value_len,
	    true) < 0 || s->bh_len == 0)
		return E_SYNTAX;
	s->bh = (unsigned char *)ap;
	ap += s->bh_len;

	s->hcanon = s->bcanon = CANON_SIMPLE;
	if ((t = st.c) != NULL) {
		*why = DKIM_R_CANON;
		slash = memchr(t->value, '/', t->value_len);
		if (canon_mode_parse(&s->hcanon, t->value, slash ?
		    (size_t)(slash - t->value) : t->value_len) < 0)
			return E_SYNTAX;
		if (slash && canon_mode_parse(&s->bcanon, slash + 1,
		    t->value_len - (size_t)(slash + 1 - t->value)) < 0)
			return E_SYNTAX;
	}

	/* h=: names separated by ':' with FWS around them. */
	t = st.h;
	*why = DKIM_R_SIG_BAD_TAG;
	if (nh == 0)
		return E_SYNTAX;	/* more than DKIM_MAX_SIGNED_HEADERS */
	i = 0;
	while (i <= t->value_len) {
		for (e = i; e < t->value_len && t->value[e] != ':'; e++)
			;
		b = i;
		i = e + 1;
		while (b < e && is_fws(t->value[b]))
			b++;
		while (e > b && is_fws(t->value[e - 1]))
			e--;
		if (b == e)
			return E_SYNTAX;
		s->headers[s->nheaders++] = ap;
		memcpy(ap, t->value + b, e - b);
		ap += e - b;
		*ap++ = '\0';
	}
	*why = DKIM_R_FROM_UNSIGNED;
	if (!list_has(t->value, t->value_len, "from"))
		return E_SYNTAX;

	*why = DKIM_R_SIG_BAD_TAG;
	if ((t = st.l) != NULL &&
	    parse_number(t, DKIM_MAX_LEN_DIGITS, &s->length) < 0)
		return E_SYNTAX;
	if ((t = st.t) != NULL &&
	    parse_number(t, DKIM_MAX_TIME_DIGITS, &s->timestamp) < 0)
		return E_SYNTAX;
	if ((t = st.x) != NULL &&
	    parse_number(t, DKIM_MAX_TIME_DIGITS, &s->expiration) < 0)
		return E_SYNTAX;
	*why = DKIM_R_X_BEFORE_T;
	if (s->timestamp >= 0 && s->expiration >= 0 &&
	    s->expiration < s->timestamp)
		return E_SYNTAX;

	if ((t = st.q) != NULL &&
	    !list_has(t->value, t->value_len, "dns/txt")) {
		*why = DKIM_R_QUERY_METHOD;
		return E_SYNTAX;
	}

	/* i= defaults to "@d"; its domain must be d or below it. */
	s->identity = ap;
	if ((t = st.i) != NULL) {
		*why = DKIM_R_SIG_BAD_TAG;
		at = memchr(t->value, '@', t->value_len);
		/* a NUL inside i= would hide the '@' from string functions */
		if (at == NULL || memchr(t->value, '\0', t->value_len) != NULL) {
			s->identity = NULL;
			return E_SYNTAX;
		}
		memcpy(ap, t->value, t->value_len);
		ap[t->value_len] = '\0';
		*why = DKIM_R_DOMAIN_MISMATCH;
		if (!domain_within(s->identity + (at - t->value) + 1,
		    s->domain))
			return E_SYNTAX;
	} else {
		ap[0] = '@';
		memcpy(ap + 1, s->domain, strlen(s->domain) + 1);
	}

	/* RFC 8301 3.1: rsa-sha1 is never valid. */
	if (s->alg == DKIM_ALG_RSA_SHA1) {
		*why = DKIM_R_ALGORITHM_SHA1;
		return E_SYNTAX;
	}
	*why = DKIM_R_OK;
	return 0;
}

/* dkim_sig_fini - free a parsed signature: its one allocation */
void
dkim_sig_fini(struct dkim_sig *s)
{
	free(s->headers);
	memset(s, 0, sizeof(*s));
}

/* dkim_keyrec_parse - parse a key TXT record */
int
dkim_keyrec_parse(struct dkim_keyrec *k, const char *txt, size_t n,
    enum dkim_reason *why)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	const struct dkim_tag *t;
	size_t nt;

	memset(k, 0, sizeof(*k));
	*why = DKIM_R_KEY_SYNTAX;
	if (dkim_tags_parse(tags, DKIM_MAX_TAGS, &nt, txt, n) < 0)
		return E_SYNTAX;
	/* RFC 6376 3.6.1: v=, if present, is first and is "DKIM1". */
	if ((t = find_tag(tags, nt, "v")) != NULL) {
		*why = DKIM_R_KEY_VERSION;
		if (t != &tags[0] || t->value_len != 5 ||
		    memcmp(t->value, "DKIM1", 5) != 0)
			return E_SYNTAX;
	}
	*why = DKIM_R_KEY_TYPE;
	k->key_type = DKIM_ALG_RSA_SHA256;
	if ((t = find_tag(tags, nt, "k")) != NULL) {
		if (t->value_len == 3 && strncasecmp(t->value, "rsa", 3) == 0)
			k->key_type = DKIM_ALG_RSA_SHA256;
		else if (t->value_len == 7 &&
		    strncasecmp(t->value, "ed25519", 7) == 0)
			k->key_type = DKIM_ALG_ED25519_SHA256;
		else
			return E_SYNTAX;
	}
	k->sha1_ok = k->sha256_ok = true;
	if ((t = find_tag(tags, nt, "h")) != NULL) {
		k->sha1_ok = list_has(t->value, t->value_len, "sha1");
		k->sha256_ok = list_has(t->value, t->value_len, "sha256");
	}
	k->email_ok = true;
	if ((t = find_tag(tags, nt, "s")) != NULL)
		k->email_ok = list_has(t->value, t->value_len, "email") ||
		    list_has(t->value, t->value_len, "*");
	if ((t = find_tag(tags, nt, "t")) != NULL) {
		k->testing = list_has(t->value, t->value_len, "y");
		k->strict = list_has(t->value, t->value_len, "s");
	}
	*why = DKIM_R_KEY_SYNTAX;
	if ((t = find_tag(tags, nt, "p")) == NULL)
		return E_SYNTAX;
	if (t->value_len == 0) {
		k->revoked = true;
		*why = DKIM_R_OK;
		return 0;
	}
	if (decode_b64(t, &k->pub, &k->pub_len) < 0 || k->pub_len == 0) {
		*why = DKIM_R_KEY_INVALID;
		free(k->pub);
		k->pub = NULL;
		return E_SYNTAX;
	}
	*why = DKIM_R_OK;
	return 0;
}

/* dkim_keyrec_fini - free a parsed key record */
void
dkim_keyrec_fini(struct dkim_keyrec *k)
{
	free(k->pub);
	memset(k, 0, sizeof(*k));
}
