/*
 * msg/received_parse.c - read one Received header field.
 *
 * The value is first flattened (folding and control characters become
 * spaces) into a private copy, the date is split off at the last ';'
 * outside comments, and the rest is cut into words and comments.  The
 * clauses (RFC 5321 4.4: from, by, via, with, id, for, and RFC 8314's
 * tls) are then read in any order; comments belong to the clause before
 * them.  Finally the TLS evidence is weighed (see received_parse.h).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "msg/received_parse.h"
#include "util/err.h"
#include "util/xmalloc.h"

enum tok_type { TOK_WORD, TOK_COMMENT };

struct tok {
	enum tok_type type;
	const char *p;		/* comments: the text inside the parens */
	size_t n;
};

/* The clauses a Received field may hold, and where words go after them. */
enum clause {
	CL_NONE, CL_FROM, CL_BY, CL_VIA, CL_WITH, CL_ID, CL_FOR, CL_TLS,
};

static const struct {
	const char *word;
	enum clause cl;
} clauses[] = {
	{ "from", CL_FROM }, { "by", CL_BY }, { "via", CL_VIA },
	{ "with", CL_WITH }, { "id", CL_ID }, { "for", CL_FOR },
	{ "tls", CL_TLS },
};

/* The most words a multi-word protocol name takes ("Microsoft SMTP
   Server" has three). */
#define PROTO_MAX_WORDS 4

/* Obsolete zone names (RFC 5322 4.3) and their offsets in minutes. */
static const struct {
	const char *name;
	int minutes;
} zones[] = {
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
	{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
	{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
};

static const char *const months[] = { "jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec" };

/* is_ws - a space after flattening */
static bool
is_ws(char c)
{
	return c == ' ';
}

/* lower - ASCII lower case */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* ieq - does p[0..n) equal the word s, ignoring ASCII case? */
static bool
ieq(const char *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || lower(p[i]) != lower(s[i]))
			return false;
	return s[n] == '\0';
}

/* iprefix - does p[0..n) start with s, ignoring ASCII case? */
static bool
iprefix(const char *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= n || lower(p[i]) != lower(s[i]))
			return false;
	return true;
}

/* is_digit - an ASCII digit */
static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* set_once - keep the first value a field gets */
static void
set_once(char **dst, const char *p, size_t n)
{
	if (*dst == NULL && n > 0)
		*dst = xstrndup(p, n);
}

/* received_init - see received_parse.h */
void
received_init(struct received *r)
{
	memset(r, 0, sizeof(*r));
}

/* received_fini - see received_parse.h */
void
received_fini(struct received *r)
{
	free(r->from);
	free(r->from_rdns);
	free(r->from_ip);
	free(r->by);
	free(r->protocol);
	free(r->id);
	free(r->for_addr);
	free(r->date_text);
	free(r->tls_version);
	free(r->cipher);
	memset(r, 0, sizeof(*r));
}

/* received_tls_str - see received_parse.h */
const char *
received_tls_str(enum received_tls t)
{
	switch (t) {
	case RECEIVED_TLS_YES:
		return "yes";
	case RECEIVED_TLS_NO:
		return "no";
	default:
		return "unknown";
	}
}

/* ---- dates ---- */

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/* date_num - up to max digits at *i; -1 when there are none */
static long
date_num(const char *s, size_t n, size_t *i, size_t max)
{
	long v = 0;
	size_t k = 0;

	while (*i < n && k < max && is_digit(s[*i])) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	if (k == 0 || (*i < n && is_digit(s[*i])))
		return -1;
	return v;
}

/* skip_ws - past spaces, tabs, CR and LF */
static void
skip_ws(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' ||
	    s[*i] == '\n'))
		(*i)++;
}

/* received_parse_date - see received_parse.h */
bool
received_parse_date(const char *s, size_t n, long long *out)
{
	size_t i = 0, k, ndig;
	long day, year, hh, mm, ss = 0, zone = 0;
	int mon = -1;
	bool yes = false;

	skip_ws(s, n, &i);
	/* an optional day name and comma */
	for (k = i; k < n && ((s[k] >= 'a' && s[k] <= 'z') ||
	    (s[k] >= 'A' && s[k] <= 'Z')); k++)
		;
	if (k > i) {
		i = k;
		skip_ws(s, n, &i);
		if (i >= n || s[i] != ',')
			return false;
		i++;
		skip_ws(s, n, &i);
	}
	if ((day = date_num(s, n, &i, 2)) < 1 || day > 31)
		return false;
	skip_ws(s, n, &i);
	if (n - i < 3)
		return false;
	for (k = 0; k < 12; k++)
		if (ieq(s + i, 3, months[k]))
			mon = (int)k;
	if (mon < 0)
		return false;
	i += 3;
	if (i < n && s[i] != ' ' && s[i] != '\t')
		return false;
	skip_ws(s, n, &i);
	k = i;
	if ((year = date_num(s, n, &i, 4)) < 0)
		return false;
	ndig = i - k;
	if (ndig == 2)	/* RFC 5322 4.3 */
		year += year < 50 ? 2000 : 1900;
	else if (ndig == 3)
		year += 1900;
	if (year < 1900)
		return false;
	skip_ws(s, n, &i);
	if ((hh = date_num(s, n, &i, 2)) < 0 || hh > 23 || i >= n ||
	    s[i++] != ':' || (mm = date_num(s, n, &i, 2)) < 0 || mm > 59)
		return false;
	if (i < n && s[i] == ':') {
		i++;
		if ((ss = date_num(s, n, &i, 2)) < 0 || ss > 60)
			return false;
	}
	skip_ws(s, n, &i);
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		bool neg = s[i] == '-';
		long z;

		i++;
		k = i;
		if ((z = date_num(s, n, &i, 4)) < 0 || i - k != 4 ||
		    z % 100 > 59)
			return false;
		zone = (z / 100) * 60 + z % 100;
		if (neg)
			zone = -zone;
		yes = true;
	} else {
		for (k = i; k < n && ((s[k] >= 'a' && s[k] <= 'z') ||
		    (s[k] >= 'A' && s[k] <= 'Z')); k++)
			;
		if (k - i == 1)	/* military zones mean -0000 (4.3) */
			yes = true;
		for (size_t z = 0; !yes && z < sizeof(zones) /
		    sizeof(zones[0]); z++)
			if (ieq(s + i, k - i, zones[z].name)) {
				zone = zones[z].minutes;
				yes = true;
			}
		i = k;
	}
	if (!yes)
		return false;
	skip_ws(s, n, &i);
	/* only a comment such as "(UTC)" may follow */
	if (i < n && s[i] != '(')
		return false;
	*out = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) *
	    86400 + hh * 3600 + mm * 60 + ss - zone * 60;
	return true;
}

/* ---- TLS evidence ---- */

/* looks_like_version - "TLSv1.3", "TLS1_2", "TLS1.3", "SSLv3" */
static bool
looks_like_version(const char *p, size_t n)
{
	size_t i = 3;

	if (n < 4 || !(iprefix(p, n, "tls") || iprefix(p, n, "ssl")))
		return false;
	if (p[i] == 'v' || p[i] == 'V')
		i++;
	if (i >= n || !is_digit(p[i]))
		return false;
	for (; i < n; i++)
		if (!is_digit(p[i]) && p[i] != '.' && p[i] != '_')
			return false;
	return true;
}

/* set_version - the version in "TLSv1.3" form where it fits that shape */
static void
set_version(struct received *r, const char *p, size_t n)
{
	size_t i = 3, k = 0;
	char *v;

	if (r->tls_version != NULL || n == 0)
		return;
	if (!looks_like_version(p, n)) {
		r->tls_version = xstrndup(p, n);
		return;
	}
	v = xmalloc(n + 2);
	v[k++] = (char)(p[0] & ~0x20);
	v[k++] = (char)(p[1] & ~0x20);
	v[k++] = (char)(p[2] & ~0x20);
	v[k++] = 'v';
	if (p[i] == 'v' || p[i] == 'V')
		i++;
	for (; i < n; i++)
		v[k++] = p[i] == '_' ? '.' : p[i];
	v[k] = '\0';
	r->tls_version = v;
}

/* set_bits - the leading decimal of p as the cipher's bits */
static void
set_bits(struct received *r, const char *p, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n && i < 6 && is_digit(p[i]); i++)
		v = v * 10 + (p[i] - '0');
	if (r->bits == 0 && i > 0)
		r->bits = v;
}

/* is_sep - separates words inside a TLS comment */
static bool
is_sep(char c)
{
	return c == ' ' || c == ',' || c == '(' || c == ')';
}

/* blank_quoted - a copy of p[0..n) with <...> and "..." spans (peer
   addresses, quoted local parts) turned into spaces */
static char *
blank_quoted(const char *p, size_t n)
{
	char *c = xmalloc(n + 1), end = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (end != 0) {
			c[i] = ' ';
			if (p[i] == end)
				end = 0;
			continue;
		}
		if (p[i] == '<' || p[i] == '"') {
			end = p[i] == '<' ? '>' : '"';
			c[i] = ' ';
			continue;
		}
		c[i] = p[i];
	}
	c[n] = '\0';
	return c;
}

/* scan_tls - look for TLS facts in the text of one comment; true when
   some were found.  Text the client chose (an envelope address in
   <...>, a quoted string, Exim's "(envelope-from ...)") is not read. */
static bool
scan_tls(struct received *r, const char *text, size_t n)
{
	const char *w[2] = { NULL, NULL };	/* the two words before */
	size_t wn[2] = { 0, 0 };
	size_t i = 0, s, k;
	bool found = false;
	char *p;

	while (i < n && text[i] == ' ')
		i++;
	if (iprefix(text + i, n - i, "envelope-from"))
		return false;
	i = 0;
	p = blank_quoted(text, n);
	if (memmem(p, n, "Google Transport Security", 25) != NULL)
		found = true;
	while (i < n) {
		while (i < n && is_sep(p[i]))
			i++;
		s = i;
		while (i < n && !is_sep(p[i]))
			i++;
		if (i == s)
			break;
		const char *q = p + s;
		size_t qn = i - s;

		if (iprefix(q, qn, "version=") && qn > 8) {
			set_version(r, q + 8, qn - 8);
			found = true;
		} else if (iprefix(q, qn, "cipher=") && qn > 7) {
			set_once(&r->cipher, q + 7, qn - 7);
			found = true;
		} else if (iprefix(q, qn, "bits=")) {
			set_bits(r, q + 5, qn - 5);
		} else if ((iprefix(q, qn, "tls") || iprefix(q, qn, "ssl")) &&
		    memchr(q, ':', qn) != NULL) {
			/* OpenSMTPD and old Exim: VERSION:CIPHER[:BITS...] */
			const char *c1 = memchr(q, ':', qn), *c2;
			size_t rest = qn - (size_t)(c1 + 1 - q);

			set_version(r, q, (size_t)(c1 - q));
			c2 = memchr(c1 + 1, ':', rest);
			set_once(&r->cipher, c1 + 1, c2 ? (size_t)(c2 - c1 - 1)
			    : rest);
			if (c2 != NULL)
				set_bits(r, c2 + 1, qn - (size_t)(c2 + 1 - q));
			found = true;
		} else if (looks_like_version(q, qn)) {
			/* Postfix "using TLSv1.3", Exim "(TLS1.3)" */
			set_version(r, q, qn);
			found = true;
		} else if (w[1] != NULL && ieq(w[1], wn[1], "cipher") &&
		    w[0] != NULL && ieq(w[0], wn[0], "with")) {
			/* Postfix: "with cipher NAME (256/256 bits)" */
			set_once(&r->cipher, q, qn);
			found = true;
			k = i;
			while (k < n && (p[k] == ' ' || p[k] == '('))
				k++;
			if (k < n && is_digit(p[k]))
				set_bits(r, p + k, n - k);
		}
		w[0] = w[1];
		wn[0] = wn[1];
		w[1] = q;
		wn[1] = qn;
	}
	free(p);
	return found;
}

/* ---- addresses ---- */

/* valid_ip - p[0..n) (an "IPv6:" prefix allowed) is an address; writes
   the bare form to out */
static bool
valid_ip(const char *p, size_t n, char *out, size_t outsz)
{
	unsigned char tmp[16];

	if (iprefix(p, n, "ipv6:")) {
		p += 5;
		n -= 5;
	}
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return inet_pton(AF_INET, out, tmp) == 1 ||
	    inet_pton(AF_INET6, out, tmp) == 1;
}

/* find_bracket_ip - the first "[address]" in p[0..n) */
static bool
find_bracket_ip(const char *p, size_t n, char *out, size_t outsz)
{
	const char *a, *b;

	while ((a = memchr(p, '[', n)) != NULL) {
		n -= (size_t)(a + 1 - p);
		p = a + 1;
		if ((b = memchr(p, ']', n)) == NULL)
			return false;
		if (valid_ip(p, (size_t)(b - p), out, outsz))
			return true;
	}
	return false;
}

/* tcp_info - the from clause's first comment: address and reverse name */
static void
tcp_info(struct received *r, const char *p, size_t n)
{
	char ip[64];
	size_t i = 0, s;

	while (i < n && p[i] == ' ')
		i++;
	s = i;
	while (i < n && p[i] != ' ' && p[i] != '(' && p[i] != ')')
		i++;
	if (find_bracket_ip(p, n, ip, sizeof(ip)))
		set_once(&r->from_ip, ip, strlen(ip));
	else if (valid_ip(p + s, i - s, ip, sizeof(ip)))
		set_once(&r->from_ip, ip, strlen(ip));	/* Microsoft */
	if (i > s && memchr(p + s, '=', i - s) == NULL &&
	    memchr(p + s, '[', i - s) == NULL &&
	    !valid_ip(p + s, i - s, ip, sizeof(ip)) &&
	    !ieq(p + s, i - s, "unknown")) {
		/* sendmail writes the ident user first: user@host */
		const char *at = memchr(p + s, '@', i - s);

		if (at != NULL)
			s = (size_t)(at + 1 - p);
		set_once(&r->from_rdns, p + s, i - s);
	}
}

/* ---- protocol ---- */

/* classify - kind, and what the keyword alone says about TLS */
static enum received_tls
classify(struct received *r)
{
	const char *p = r->protocol;
	size_t n, k;
	char up[16];

	r->kind = RECEIVED_KIND_UNKNOWN;
	if (p == NULL)
		return RECEIVED_TLS_UNKNOWN;
	n = strlen(p);
	if (strchr(p, ' ') != NULL) {
		if (strstr(p, "SMTP") != NULL || strstr(p, "smtp") != NULL)
			r->kind = RECEIVED_KIND_SMTP;
		return RECEIVED_TLS_UNKNOWN;
	}
	if (n >= sizeof(up))
		return RECEIVED_TLS_UNKNOWN;
	for (k = 0; k <= n; k++)
		up[k] = (char)(p[k] >= 'a' && p[k] <= 'z' ? p[k] - 32 : p[k]);
	if (strcmp(up, "HTTP") == 0 || strcmp(up, "HTTPS") == 0) {
		r->kind = RECEIVED_KIND_HTTP;
		memcpy(r->protocol, up, n);
		return up[4] == 'S' ? RECEIVED_TLS_YES : RECEIVED_TLS_NO;
	}
	if (strcmp(up, "LOCAL") == 0 || strcmp(up, "MAPI") == 0 ||
	    strcmp(up, "PICKUP") == 0) {
		r->kind = RECEIVED_KIND_LOCAL;
		return RECEIVED_TLS_UNKNOWN;
	}
	/* RFC 3848 and RFC 6531: [UTF8](SMTP|ESMTP|LMTP)[S][A], and the
	   common SMTPS for implicit TLS */
	const char *b = up;
	if (strncmp(b, "UTF8", 4) == 0)
		b += 4;
	if (strncmp(b, "ESMTP", 5) == 0)
		b += 5;
	else if (strncmp(b, "SMTP", 4) == 0)
		b += 4;
	else if (strncmp(b, "LMTP", 4) == 0) {
		b += 4;
		r->kind = RECEIVED_KIND_LMTP;
	} else
		return RECEIVED_TLS_UNKNOWN;
	if (*b != '\0' && strcmp(b, "A") != 0 && strcmp(b, "S") != 0 &&
	    strcmp(b, "SA") != 0) {
		r->kind = RECEIVED_KIND_UNKNOWN;
		return RECEIVED_TLS_UNKNOWN;
	}
	if (r->kind == RECEIVED_KIND_UNKNOWN)
		r->kind = RECEIVED_KIND_SMTP;
	memcpy(r->protocol, up, n);
	return *b == 'S' ? RECEIVED_TLS_YES : RECEIVED_TLS_NO;
}

/* ---- the field ---- */

/* flatten - a copy of the value with folding and controls as spaces */
static char *
flatten(const char *v, size_t n)
{
	char *s = xmalloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		s[i] = c == 0 ? '?' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	s[n] = '\0';
	return s;
}

/* collapse - p[0..n) trimmed, inner runs of spaces made one */
static char *
collapse(const char *p, size_t n)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (is_ws(p[i]) && (k == 0 || is_ws(o[k - 1])))
			continue;
		o[k++] = p[i];
	}
	while (k > 0 && is_ws(o[k - 1]))
		k--;
	o[k] = '\0';
	return o;
}

/* tokenize - words and comments of s[0..n); returns how many */
static size_t
tokenize(const char *s, size_t n, struct tok *t)
{
	size_t i = 0, nt = 0, st;
	int depth;

	while (i < n) {
		if (is_ws(s[i]) || s[i] == ';' || s[i] == ')') {
			i++;
			continue;
		}
		if (s[i] == '(') {
			st = ++i;
			depth = 1;
			while (i < n) {
				if (s[i] == '\\' && i + 1 < n) {
					i += 2;
					continue;
				}
				if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0)
					break;
				i++;
			}
			t[nt].type = TOK_COMMENT;
			t[nt].p = s + st;
			t[nt++].n = (i < n ? i : n) - st;
			i++;
			continue;
		}
		st = i;
		while (i < n && !is_ws(s[i]) && s[i] != '(' && s[i] != ';')
			i++;
		t[nt].type = TOK_WORD;
		t[nt].p = s + st;
		t[nt++].n = i - st;
	}
	return nt;
}

/* clause_of - the clause a word opens, or CL_NONE */
static enum clause
clause_of(const struct tok *t)
{
	size_t k;

	if (t->type != TOK_WORD)
		return CL_NONE;
	for (k = 0; k < sizeof(clauses) / sizeof(clauses[0]); k++)
		if (ieq(t->p, t->n, clauses[k].word))
			return clauses[k].cl;
	return CL_NONE;
}

/* last_semicolon - the last ';' outside comments, or n */
static size_t
last_semicolon(const char *s, size_t n)
{
	size_t i, at = n;
	int depth = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && depth > 0 && i + 1 < n)
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && depth > 0)
			depth--;
		else if (s[i] == ';' && depth == 0)
			at = i;
	}
	return at;
}

/* received_parse - see received_parse.h */
int
received_parse(struct received *r, const char *value, size_t n)
{
	struct tok *t = NULL;
	enum clause cl = CL_NONE, c2;
	enum received_tls by_proto;
	char *s = NULL, *d;
	size_t nt, i, semi, pw = 0, ps = 0, pe = 0;
	bool evidence = false, want_tcpinfo = false, proto_open = false;
	char ip[64];
	int rc = 0;

	received_init(r);
	if (n > RECEIVED_MAX_VALUE)
		return E_LIMIT;
	s = flatten(value, n);
	semi = last_semicolon(s, n);
	if (semi < n) {
		d = collapse(s + semi + 1, n - semi - 1);
		if (*d != '\0') {
			r->date_text = d;
			r->has_date = received_parse_date(d, strlen(d),
			    &r->date);
		} else
			free(d);
	}
	t = xcalloc(semi + 1, sizeof(*t));
	nt = tokenize(s, semi, t);
	for (i = 0; i < nt; i++) {
		c2 = clause_of(&t[i]);
		if (proto_open && (c2 != CL_NONE || t[i].type == TOK_COMMENT ||
		    pw == PROTO_MAX_WORDS)) {
			proto_open = false;
			if (r->protocol == NULL && pw > 0)
				r->protocol = collapse(s + ps, pe - ps);
		}
		if (c2 != CL_NONE) {
			cl = c2;
			want_tcpinfo = false;
			if (cl == CL_WITH) {
				proto_open = r->protocol == NULL;
				pw = 0;
			}
			continue;
		}
		if (t[i].type == TOK_COMMENT) {
			if (want_tcpinfo) {
				want_tcpinfo = false;
				tcp_info(r, t[i].p, t[i].n);
				continue;
			}
			if (scan_tls(r, t[i].p, t[i].n))
				evidence = true;
			if (cl == CL_FROM && r->from_ip == NULL &&
			    find_bracket_ip(t[i].p, t[i].n, ip, sizeof(ip)))
				set_once(&r->from_ip, ip, strlen(ip));
			continue;
		}
		switch (cl) {
		case CL_FROM:
			if (r->from == NULL) {
				set_once(&r->from, t[i].p, t[i].n);
				want_tcpinfo = true;
			}
			break;
		case CL_BY:
			set_once(&r->by, t[i].p, t[i].n);
			break;
		case CL_WITH:
			if (proto_open) {
				if (pw++ == 0)
					ps = (size_t)(t[i].p - s);
				pe = (size_t)(t[i].p - s) + t[i].n;
			}
			break;
		case CL_ID:
			set_once(&r->id, t[i].p, t[i].n);
			break;
		case CL_FOR:
			if (r->for_addr == NULL) {
				const char *a = t[i].p;
				size_t an = t[i].n;

				if (an >= 2 && a[0] == '<' && a[an - 1] == '>') {
					a++;
					an -= 2;
				}
				set_once(&r->for_addr, a, an);
			}
			break;
		case CL_TLS:
			/* RFC 8314 4.3: "tls" names the cipher suite */
			set_once(&r->cipher, t[i].p, t[i].n);
			evidence = true;
			break;
		default:
			break;
		}
		/* a clause takes one word (with: the protocol words) */
		if (cl != CL_WITH)
			cl = CL_NONE;
	}
	if (proto_open && r->protocol == NULL && pw > 0)
		r->protocol = collapse(s + ps, pe - ps);
	if (r->from != NULL && r->from_ip == NULL &&
	    valid_ip(r->from[0] == '[' ? r->from + 1 : r->from,
	    strcspn(r->from[0] == '[' ? r->from + 1 : r->from, "]"), ip,
	    sizeof(ip)))
		set_once(&r->from_ip, ip, strlen(ip));
	by_proto = classify(r);
	/* RFC 5321 4.4 requires "from" of an SMTP relay: a field without
	   it and without a protocol records a local submission (Postfix
	   pickup, sendmail's "(from user@localhost)") */
	if (r->from == NULL && r->protocol == NULL && r->by != NULL)
		r->kind = RECEIVED_KIND_LOCAL;
	if (evidence || by_proto == RECEIVED_TLS_YES)
		r->tls = RECEIVED_TLS_YES;
	else
		r->tls = by_proto;
	if (r->from == NULL && r->by == NULL && r->date_text == NULL)
		rc = E_SYNTAX;
	free(t);
	free(s);
	return rc;
}
