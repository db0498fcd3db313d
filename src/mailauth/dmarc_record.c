/*
 * mailauth/dmarc_record.c - DMARC policy records (RFC 7489 6.3-6.4,
 * RFC 9989 4.7).
 *
 * The record is a tag list.  Every known tag's value is checked against
 * its grammar, and the first problem is kept with the tag's name, so a
 * malformed record is reported as malformed rather than read as
 * something its owner did not write.  Unknown tags are ignored, as both
 * RFCs require, but must still look like tags.
 */
#include "mailauth/dmarc.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xmalloc.h"

/* dmarc_record_error_str - a few words for logs and comments */
const char *
dmarc_record_error_str(enum dmarc_record_error e)
{
	switch (e) {
	case DMARC_REC_OK:
		return "ok";
	case DMARC_REC_NOT_DMARC:
		return "not a DMARC record";
	case DMARC_REC_SYNTAX:
		return "tag list syntax error";
	case DMARC_REC_DUP_TAG:
		return "duplicate tag";
	case DMARC_REC_BAD_VALUE:
		return "invalid tag value";
	case DMARC_REC_TOO_LONG:
		return "record too long";
	}
	return "unknown";
}

/* is_wsp - RFC 5234 WSP */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
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

/* trim - strip WSP from both ends of [*p, *p+*n) */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_wsp(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_wsp((*p)[*n - 1]))
		(*n)--;
}

/* eq_nocase - does [p, p+n) equal the lower-case word w, ignoring case? */
static bool
eq_nocase(const char *p, size_t n, const char *w)
{
	size_t i;

	if (strlen(w) != n)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[i])
			return false;
	}
	return true;
}

/* dmarc_is_record - RFC 7489 6.4: the record starts with "v=DMARC1" and
   a separator (or ends there); WSP is allowed around "=". */
bool
dmarc_is_record(const char *txt, size_t n)
{
	size_t i = 0;

	while (i < n && is_wsp(txt[i]))
		i++;
	if (i >= n || txt[i] != 'v')
		return false;
	i++;
	while (i < n && is_wsp(txt[i]))
		i++;
	if (i >= n || txt[i] != '=')
		return false;
	i++;
	while (i < n && is_wsp(txt[i]))
		i++;
	if (n - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return false;
	i += 6;
	while (i < n && is_wsp(txt[i]))
		i++;
	return i == n || txt[i] == ';';
}

/* fail - remember the first problem and the tag it was in */
static void
fail(struct dmarc_record *r, enum dmarc_record_error e, const char *tag,
    size_t tlen)
{
	if (r->error != DMARC_REC_OK)
		return;
	r->error = e;
	if (tlen >= sizeof(r->err_tag))
		tlen = sizeof(r->err_tag) - 1;
	memcpy(r->err_tag, tag, tlen);
	r->err_tag[tlen] = '\0';
}

/* parse_policy - none, quarantine or reject */
static bool
parse_policy(const char *v, size_t n, enum dmarc_policy *out)
{
	if (eq_nocase(v, n, "none"))
		*out = DMARC_POLICY_NONE;
	else if (eq_nocase(v, n, "quarantine"))
		*out = DMARC_POLICY_QUARANTINE;
	else if (eq_nocase(v, n, "reject"))
		*out = DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

/* parse_uint - 1*DIGIT no larger than max */
static bool
parse_uint(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return false;
		if (x > (max - (uint64_t)(v[i] - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/*
 * parse_uri - one dmarc-uri: an absolute URI (scheme ":" rest, RFC 3986)
 * with an optional "!" size and unit k, m, g or t (RFC 7489 6.4; RFC 9989
 * tells reporters to ignore the size, but it must still parse).
 */
static bool
parse_uri(const char *v, size_t n, struct dmarc_uri *u)
{
	const char *bang;
	size_t i, ulen;
	uint64_t size = 0, mult = 1;

	bang = memchr(v, '!', n);
	ulen = bang ? (size_t)(bang - v) : n;
	if (ulen == 0 || !is_alpha(v[0]))
		return false;
	for (i = 1; i < ulen && v[i] != ':'; i++)
		if (!is_alpha(v[i]) && !is_digit(v[i]) && v[i] != '+' &&
		    v[i] != '-' && v[i] != '.')
			return false;
	if (i >= ulen - 1)	/* no ':' or nothing after it */
		return false;
	for (; i < ulen; i++) {
		unsigned char c = (unsigned char)v[i];

		/* RFC 3986 characters only; no WSP, no controls. */
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' ||
		    c == '>' || c == '\\' || c == '^' || c == '`' ||
		    c == '{' || c == '|' || c == '}')
			return false;
	}
	if (bang) {
		const char *s = bang + 1;
		size_t sn = n - ulen - 1;

		if (sn > 0 && is_alpha(s[sn - 1])) {
			switch (s[sn - 1]) {
			case 'k': case 'K': mult = 1ULL << 10; break;
			case 'm': case 'M': mult = 1ULL << 20; break;
			case 'g': case 'G': mult = 1ULL << 30; break;
			case 't': case 'T': mult = 1ULL << 40; break;
			default: return false;
			}
			sn--;
		}
		if (!parse_uint(s, sn, UINT64_MAX / mult, &size))
			return false;
		size *= mult;
		if (size == 0)
			return false;
	}
	u->uri = xstrndup(v, ulen);
	u->max_size = size;
	return true;
}

/* parse_uris - a comma-separated list; false if any URI is bad */
static bool
parse_uris(const char *v, size_t n, struct dmarc_uri *list, size_t *count,
    bool *none_valid)
{
	const char *comma;
	bool ok = true;
	size_t len;

	*none_valid = true;
	for (;;) {
		const char *item = v;

		comma = memchr(v, ',', n);
		len = comma ? (size_t)(comma - v) : n;
		trim(&item, &len);
		if (*count >= DMARC_URIS_MAX)
			ok = false;
		else if (parse_uri(item, len, &list[*count])) {
			(*count)++;
			*none_valid = false;
		} else
			ok = false;
		if (comma == NULL)
			break;
		n -= (size_t)(comma - v) + 1;
		v = comma + 1;
	}
	return ok;
}

/* parse_fo - fo=: 0, 1, d, s separated by ":" (WSP allowed) */
static bool
parse_fo(const char *v, size_t n, unsigned *fo)
{
	const char *colon;
	size_t len;

	*fo = 0;
	for (;;) {
		const char *item = v;

		colon = memchr(v, ':', n);
		len = colon ? (size_t)(colon - v) : n;
		trim(&item, &len);
		if (len != 1)
			return false;
		switch (item[0]) {
		case '0': *fo |= DMARC_FO_0; break;
		case '1': *fo |= DMARC_FO_1; break;
		case 'd': case 'D': *fo |= DMARC_FO_D; break;
		case 's': case 'S': *fo |= DMARC_FO_S; break;
		default: return false;
		}
		if (colon == NULL)
			return true;
		n -= (size_t)(colon - v) + 1;
		v = colon + 1;
	}
}

/* parse_rf - Keyword *(":" Keyword); afrf is the one format defined */
static bool
parse_rf(const char *v, size_t n, bool *afrf)
{
	const char *colon;
	size_t len, i;

	*afrf = false;
	for (;;) {
		const char *item = v;

		colon = memchr(v, ':', n);
		len = colon ? (size_t)(colon - v) : n;
		trim(&item, &len);
		if (len == 0 || !is_alpha(item[0]))
			return false;
		for (i = 1; i < len; i++)
			if (!is_alpha(item[i]) && !is_digit(item[i]) &&
			    item[i] != '-')
				return false;
		if (eq_nocase(item, len, "afrf"))
			*afrf = true;
		if (colon == NULL)
			return true;
		n -= (size_t)(colon - v) + 1;
		v = colon + 1;
	}
}

/* The known tags, in a table: each bit marks one as seen. */
enum tag_id {
	T_V, T_P, T_SP, T_NP, T_PCT, T_T, T_ADKIM, T_ASPF, T_RUA, T_RUF,
	T_FO, T_RF, T_RI, T_PSD, T_UNKNOWN
};

static const char *const tag_names[] = {
	"v", "p", "sp", "np", "pct", "t", "adkim", "aspf", "rua", "ruf",
	"fo", "rf", "ri", "psd",
};

/* tag_value - apply one known tag's value; false if it is invalid */
static bool
tag_value(struct dmarc_record *r, enum tag_id id, const char *v, size_t n)
{
	uint64_t x;
	bool none;

	switch (id) {
	case T_V:
		return false;	/* v= anywhere but first */
	case T_P:
		return parse_policy(v, n, &r->p);
	case T_SP:
		return parse_policy(v, n, &r->sp);
	case T_NP:
		return parse_policy(v, n, &r->np);
	case T_PCT:
		if (!parse_uint(v, n, 100, &x))
			return false;
		r->pct = (int)x;
		r->has_pct = true;
		return true;
	case T_T:
		r->has_t = true;
		if (eq_nocase(v, n, "y"))
			r->testing = true;
		else if (!eq_nocase(v, n, "n"))
			return false;
		return true;
	case T_ADKIM:
	case T_ASPF: {
		enum dmarc_align *a = id == T_ADKIM ? &r->adkim : &r->aspf;

		if (eq_nocase(v, n, "r"))
			*a = DMARC_ALIGN_RELAXED;
		else if (eq_nocase(v, n, "s"))
			*a = DMARC_ALIGN_STRICT;
		else
			return false;
		return true;
	}
	case T_RUA:
		if (!parse_uris(v, n, r->rua, &r->nrua, &none)) {
			r->rua_invalid = none;
			return false;
		}
		return true;
	case T_RUF:
		return parse_uris(v, n, r->ruf, &r->nruf, &none);
	case T_FO:
		return parse_fo(v, n, &r->fo);
	case T_RF:
		return parse_rf(v, n, &r->rf_afrf);
	case T_RI:
		if (!parse_uint(v, n, UINT32_MAX, &x))
			return false;
		r->ri = (uint32_t)x;
		return true;
	case T_PSD:
		if (eq_nocase(v, n, "y"))
			r->psd = DMARC_PSD_Y;
		else if (eq_nocase(v, n, "n"))
			r->psd = DMARC_PSD_N;
		else if (eq_nocase(v, n, "u"))
			r->psd = DMARC_PSD_U;
		else
			return false;
		return true;
	case T_UNKNOWN:
		break;
	}
	return true;
}

/* dmarc_record_parse - the record, every known tag checked */
int
dmarc_record_parse(struct dmarc_record *r, const char *txt, size_t n)
{
	unsigned seen = 0;
	const char *semi;
	bool first = true;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->fo = DMARC_FO_0;
	r->rf_afrf = true;
	r->ri = 86400;
	if (n > DMARC_RECORD_MAX) {
		fail(r, DMARC_REC_TOO_LONG, "", 0);
		r->other_invalid = true;
		return E_SYNTAX;
	}
	if (!dmarc_is_record(txt, n)) {
		fail(r, DMARC_REC_NOT_DMARC, "v", 1);
		r->other_invalid = true;
		return E_SYNTAX;
	}
	for (;;) {
		const char *seg = txt, *name, *val, *eq;
		size_t len, nlen, vlen;
		enum tag_id id = T_UNKNOWN;

		semi = memchr(txt, ';', n);
		len = semi ? (size_t)(semi - txt) : n;
		trim(&seg, &len);
		if (len == 0)
			goto next;	/* a trailing or doubled separator */
		eq = memchr(seg, '=', len);
		if (eq == NULL) {
			fail(r, DMARC_REC_SYNTAX, seg, len);
			r->other_invalid = true;
			goto next;
		}
		name = seg;
		nlen = (size_t)(eq - seg);
		trim(&name, &nlen);
		val = eq + 1;
		vlen = (size_t)(seg + len - val);
		trim(&val, &vlen);
		/* RFC 6376 3.2 tag-name: ALPHA *(ALPHA / DIGIT / "_") */
		if (nlen == 0 || !is_alpha(name[0])) {
			fail(r, DMARC_REC_SYNTAX, name, nlen);
			r->other_invalid = true;
			goto next;
		}
		for (i = 1; i < nlen; i++)
			if (!is_alpha(name[i]) && !is_digit(name[i]) &&
			    name[i] != '_')
				break;
		if (i < nlen) {
			fail(r, DMARC_REC_SYNTAX, name, nlen);
			r->other_invalid = true;
			goto next;
		}
		if (first) {
			first = false;	/* v=DMARC1, checked above */
			seen |= 1u << T_V;
			goto next;
		}
		for (i = 0; i < T_UNKNOWN; i++)
			if (eq_nocase(name, nlen, tag_names[i]))
				id = (enum tag_id)i;
		if (id == T_UNKNOWN)
			goto next;
		if (seen & (1u << id)) {
			fail(r, DMARC_REC_DUP_TAG, name, nlen);
			if (id == T_P || id == T_SP || id == T_NP)
				r->p_invalid = true;
			else
				r->other_invalid = true;
			goto next;
		}
		seen |= 1u << id;
		if (!tag_value(r, id, val, vlen)) {
			fail(r, DMARC_REC_BAD_VALUE, name, nlen);
			if (id == T_P || id == T_SP || id == T_NP)
				r->p_invalid = true;
			else
				r->other_invalid = true;
		}
next:
		if (semi == NULL)
			break;
		n -= (size_t)(semi - txt) + 1;
		txt = semi + 1;
	}
	return r->error == DMARC_REC_OK ? 0 : E_SYNTAX;
}

/* dmarc_record_fini - free the URI copies */
void
dmarc_record_fini(struct dmarc_record *r)
{
	size_t i;

	for (i = 0; i < r->nrua; i++)
		free(r->rua[i].uri);
	for (i = 0; i < r->nruf; i++)
		free(r->ruf[i].uri);
	r->nrua = r->nruf = 0;
}
