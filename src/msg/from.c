/*
 * msg/from.c - the one author address of a message, strictly.
 *
 * The grammar is RFC 5322 3.4 cut down to what a single-author From:
 * needs: mailbox = name-addr / addr-spec, with the obsolete forms (routes,
 * blanks inside the address, groups) refused.  Comments, display names and
 * quoted strings are checked for anything that could pass for a second
 * address, also after RFC 2047 decoding.  See msg/from.h for the list.
 */
#include "msg/from.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2: local part 64 octets, domain 255;
   a DNS name is at most 253 characters written out (RFC 1035 2.3.4). */
#define FROM_LOCAL_MAX 64
#define FROM_DOMAIN_MAX 253
#define FROM_LABEL_MAX 63
/* comments nest (RFC 5322 3.2.2); nobody needs more than this */
#define FROM_COMMENT_DEPTH 8
/* a From field longer than this is not a real author address */
#define FROM_VALUE_MAX 16384

struct parser {
	const char *s;		/* the unfolded value */
	size_t n;
	size_t i;
	const char *why;
	int err;
};

/* fail - record the first error and its reason */
static int
fail(struct parser *p, int err, const char *why)
{
	if (p->err == 0) {
		p->err = err;
		p->why = why;
	}
	return err;
}

/* is_atext - RFC 5322 3.2.3 atext, plus UTF-8 (RFC 6532 3.2) */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_wsp - SP or HTAB */
static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* utf8_valid - p[0..n) is well-formed UTF-8 without overlongs/surrogates */
static bool
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	unsigned c, cp, min;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/*
 * has_at_like - does decoded text hold '@', '<' or '>' (or the fullwidth
 * and small commercial at, U+FF20 and U+FE6B, that a reader shows as '@')?
 * mode says how to step over the bytes of multi-byte charsets so that a
 * trail byte 0x40 is not taken for '@': 0 single-byte/UTF-8/EUC, 1 lead
 * byte >= 0x81 takes a trail byte (Shift_JIS, Big5, GBK, GB18030), 2
 * ISO-2022-JP escapes.
 */
static bool
has_at_like(const unsigned char *d, size_t n, int mode)
{
	size_t i = 0;
	bool dbcs = false;

	while (i < n) {
		if (mode == 2 && d[i] == 0x1b) {
			if (n - i >= 3 && d[i + 1] == '$' &&
			    (d[i + 2] == 'B' || d[i + 2] == '@'))
				dbcs = true;
			else if (n - i >= 3 && d[i + 1] == '(' &&
			    (d[i + 2] == 'B' || d[i + 2] == 'J'))
				dbcs = false;
			else
				return true;	/* an escape we do not know */
			i += 3;
			continue;
		}
		if (mode == 2 && dbcs) {
			i += 2;
			continue;
		}
		if (mode == 1 && d[i] >= 0x81) {
			/* GB18030 four-byte sequences have a digit second */
			if (n - i >= 2 && d[i + 1] >= '0' && d[i + 1] <= '9')
				i += 4;
			else
				i += 2;
			continue;
		}
		if (d[i] == '@' || d[i] == '<' || d[i] == '>' || d[i] == '\0')
			return true;
		if (mode == 0 && n - i >= 3 && d[i] == 0xef &&
		    ((d[i + 1] == 0xbc && d[i + 2] == 0xa0) ||
		    (d[i + 1] == 0xb9 && d[i + 2] == 0xab)))
			return true;
		i++;
	}
	return false;
}

/* charset_mode - how has_at_like reads charset cs; -1 if not accepted */
static int
charset_mode(const char *cs, size_t n)
{
	static const struct {
		const char *name;
		bool prefix;
		int mode;
	} sets[] = {
		{ "us-ascii", false, 0 }, { "utf-8", false, 0 },
		{ "iso-8859-", true, 0 }, { "windows-125", true, 0 },
		{ "koi8-", true, 0 }, { "euc-", true, 0 },
		{ "gb2312", false, 0 }, { "ks_c_5601-1987", false, 0 },
		{ "shift_jis", false, 1 }, { "big5", false, 1 },
		{ "gbk", false, 1 }, { "gb18030", false, 1 },
		{ "iso-2022-jp", false, 2 },
	};
	size_t i, k, len;

	/* RFC 2231 5: "charset*language" */
	for (k = 0; k < n && cs[k] != '*'; k++)
		;
	n = k;
	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		len = strlen(sets[i].name);
		if (sets[i].prefix ? n > len : n == len) {
			if (strncasecmp(cs, sets[i].name, len) == 0)
				return sets[i].mode;
		}
	}
	return -1;
}

/* hexval - one hex digit, or -1 */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * encoded_word_hides_address - decode the RFC 2047 encoded-word at
 * t[0..n) ("=?cs?X?text?=") and say whether it hides an address-like
 * character; malformed words and unknown charsets count as hiding one,
 * since some reader somewhere decodes them anyway.
 */
static bool
encoded_word_hides_address(const char *t, size_t n)
{
	const char *cs, *enc, *txt;
	size_t cslen, txtlen, i, o;
	unsigned char *d;
	int mode, h1, h2;
	bool bad;

	/* n counts from "=?" through "?=" */
	cs = t + 2;
	for (cslen = 0; 2 + cslen < n && cs[cslen] != '?'; cslen++)
		;
	if (cslen == 0 || 2 + cslen + 3 > n - 2)
		return true;
	enc = cs + cslen + 1;
	if (enc[1] != '?')
		return true;
	txt = enc + 2;
	txtlen = (size_t)(t + n - 2 - txt);
	if ((mode = charset_mode(cs, cslen)) < 0)
		return true;
	d = xmalloc(txtlen + 1);
	bad = false;
	if (*enc == 'b' || *enc == 'B') {
		if (base64_decode(d, &o, txt, txtlen, false) != 0)
			bad = true;
	} else if (*enc == 'q' || *enc == 'Q') {
		for (i = 0, o = 0; i < txtlen && !bad; i++) {
			if (txt[i] == '_')
				d[o++] = ' ';
			else if (txt[i] == '=') {
				h1 = txtlen - i < 3 ? -1 :
				    hexval((unsigned char)txt[i + 1]);
				h2 = h1 < 0 ? -1 :
				    hexval((unsigned char)txt[i + 2]);
				if (h2 < 0)
					bad = true;
				else {
					d[o++] = (unsigned char)(h1 << 4 | h2);
					i += 2;
				}
			} else
				d[o++] = (unsigned char)txt[i];
		}
	} else
		bad = true;
	if (!bad)
		bad = has_at_like(d, o, mode);
	free(d);
	return bad;
}

/*
 * text_hides_address - display-name, comment or quoted-string text that
 * holds something a reader could take for an address: '@', '<', '>' as
 * they are, or inside an encoded-word.  "=?" that does not start a
 * well-formed encoded-word counts too (lenient decoders differ).
 */
static bool
text_hides_address(const char *t, size_t n)
{
	size_t i, j, q;

	if (has_at_like((const unsigned char *)t, n, 0))
		return true;
	for (i = 0; i + 1 < n; i++) {
		if (t[i] != '=' || t[i + 1] != '?')
			continue;
		/* find the closing "?=" after charset?X?text: three '?' */
		for (j = i + 2, q = 0; j < n; j++) {
			if (t[j] == '?') {
				q++;
				if (q == 3)
					break;
			}
			if (is_wsp((unsigned char)t[j]))
				return true;
		}
		if (q != 3 || j + 1 >= n || t[j + 1] != '=')
			return true;
		if (encoded_word_hides_address(t + i, j + 2 - i))
			return true;
		i = j + 1;
	}
	return false;
}

/* skip_comment - at '(': skip a (nested) comment, checking its text */
static int
skip_comment(struct parser *p)
{
	size_t start = p->i + 1;
	int depth = 0;

	for (; p->i < p->n; p->i++) {
		char c = p->s[p->i];

		if (c == '\\') {
			p->i++;
			if (p->i >= p->n)
				break;
			continue;
		}
		if (c == '(') {
			if (++depth > FROM_COMMENT_DEPTH)
				return fail(p, E_SYNTAX,
				    "comments nested too deep");
		} else if (c == ')') {
			if (--depth == 0) {
				if (text_hides_address(p->s + start,
				    p->i - start))
					return fail(p, E_SYNTAX,
					    "address-like text in a comment");
				p->i++;
				return 0;
			}
		}
	}
	return fail(p, E_SYNTAX, "unterminated comment");
}

/* skip_cfws - skip blanks and comments (RFC 5322 3.2.2) */
static int
skip_cfws(struct parser *p)
{
	while (p->i < p->n) {
		if (is_wsp((unsigned char)p->s[p->i]))
			p->i++;
		else if (p->s[p->i] == '(') {
			if (skip_comment(p) < 0)
				return p->err;
		} else
			break;
	}
	return 0;
}

/* skip_wsp - skip blanks only */
static void
skip_wsp(struct parser *p)
{
	while (p->i < p->n && is_wsp((unsigned char)p->s[p->i]))
		p->i++;
}

/*
 * quoted_string - at '"': the whole quoted string (quotes included) in
 * [*start, p->i); its text must not look like an address
 */
static int
quoted_string(struct parser *p, size_t *start)
{
	*start = p->i;
	for (p->i++; p->i < p->n; p->i++) {
		char c = p->s[p->i];

		if (c == '\\') {
			p->i++;
			if (p->i >= p->n)
				break;
		} else if (c == '"') {
			p->i++;
			if (text_hides_address(p->s + *start + 1,
			    p->i - *start - 2))
				return fail(p, E_SYNTAX,
				    "address-like text in a quoted string");
			return 0;
		}
	}
	return fail(p, E_SYNTAX, "unterminated quoted string");
}

/* domain_valid - ASCII LDH labels, RFC 1035 lengths, lower-cased in d */
static bool
domain_valid(char *d, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > FROM_DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			d[i] = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > FROM_LABEL_MAX)
			return false;
	}
	return label > 0 && d[n - 1] != '-';
}

/*
 * addr_spec - local-part "@" domain, with no blanks or comments inside;
 * the local part starts at local (already read up to p->i)
 */
static int
addr_spec(struct parser *p, size_t local, char **out)
{
	size_t dstart, k;
	char *a;

	if (p->i - local == 0)
		return fail(p, E_SYNTAX, "empty local part");
	if (p->i - local > FROM_LOCAL_MAX)
		return fail(p, E_SYNTAX, "local part too long");
	if (p->s[local] != '"') {
		/* dot-atom-text: no leading, trailing or double dot */
		if (p->s[local] == '.' || p->s[p->i - 1] == '.')
			return fail(p, E_SYNTAX, "bad dot in local part");
		for (k = local; k + 1 < p->i; k++)
			if (p->s[k] == '.' && p->s[k + 1] == '.')
				return fail(p, E_SYNTAX,
				    "bad dot in local part");
		for (k = local; k + 1 < p->i; k++)
			if (p->s[k] == '=' && p->s[k + 1] == '?')
				return fail(p, E_SYNTAX,
				    "encoded-word in the address");
		/* "a\uff20b@evil.test" reads as a@b to a person */
		if (has_at_like((const unsigned char *)p->s + local,
		    p->i - local, 0))
			return fail(p, E_SYNTAX,
			    "address-like text in the local part");
	}
	if (p->i >= p->n || p->s[p->i] != '@')
		return fail(p, E_SYNTAX, "no '@' in the address");
	p->i++;
	if (p->i < p->n && p->s[p->i] == '[')
		return fail(p, E_SYNTAX, "domain literal");
	dstart = p->i;
	while (p->i < p->n && (is_atext((unsigned char)p->s[p->i]) ||
	    p->s[p->i] == '.'))
		p->i++;
	a = xstrndup(p->s + local, p->i - local);
	if (!domain_valid(a + (dstart - local), p->i - dstart)) {
		free(a);
		return fail(p, E_SYNTAX, "bad domain");
	}
	*out = a;
	return 0;
}

/* local_part - read a dot-atom-text or quoted-string local part */
static int
local_part(struct parser *p, size_t *start)
{
	*start = p->i;
	if (p->i < p->n && p->s[p->i] == '"')
		return quoted_string(p, start);
	while (p->i < p->n && (is_atext((unsigned char)p->s[p->i]) ||
	    p->s[p->i] == '.'))
		p->i++;
	return 0;
}

/* angle_addr - at '<': "<" addr-spec ">" (blanks allowed inside the ends) */
static int
angle_addr(struct parser *p, char **out)
{
	size_t local;

	p->i++;
	skip_wsp(p);
	if (p->i < p->n && p->s[p->i] == '@')
		return fail(p, E_SYNTAX, "source route");
	if (p->i < p->n && p->s[p->i] == '>')
		return fail(p, E_SYNTAX, "empty address");
	if (local_part(p, &local) < 0 || addr_spec(p, local, out) < 0)
		return p->err;
	skip_wsp(p);
	if (p->i >= p->n || p->s[p->i] != '>') {
		free(*out);
		*out = NULL;
		return fail(p, E_SYNTAX, "'>' expected after the address");
	}
	p->i++;
	return 0;
}

/* mailbox - name-addr or addr-spec, then the end of the value */
static int
mailbox(struct parser *p, char **out)
{
	size_t words = 0, wstart = 0, wend = 0, start;

	*out = NULL;
	if (skip_cfws(p) < 0)
		return p->err;
	/* a phrase: atoms (with obs-phrase dots) and quoted strings */
	for (;;) {
		if (p->i >= p->n)
			break;
		if (p->s[p->i] == '"') {
			if (quoted_string(p, &start) < 0)
				return p->err;
		} else if (is_atext((unsigned char)p->s[p->i]) ||
		    p->s[p->i] == '.') {
			start = p->i;
			while (p->i < p->n &&
			    (is_atext((unsigned char)p->s[p->i]) ||
			    p->s[p->i] == '.'))
				p->i++;
			if (text_hides_address(p->s + start, p->i - start) &&
			    (p->i >= p->n || p->s[p->i] != '@'))
				return fail(p, E_SYNTAX,
				    "address-like text in the display name");
		} else
			break;
		words++;
		wstart = start;
		wend = p->i;
		if (p->i < p->n && p->s[p->i] == '@')
			break;
		if (skip_cfws(p) < 0)
			return p->err;
	}
	if (p->i < p->n && p->s[p->i] == '@') {
		/* a bare addr-spec: one word, directly before the '@' */
		if (words != 1 || wend != p->i)
			return fail(p, E_SYNTAX, "blanks inside the address");
		p->i = wstart;
		if (local_part(p, &start) < 0 || addr_spec(p, start, out) < 0)
			return p->err;
	} else if (p->i < p->n && p->s[p->i] == '<') {
		if (angle_addr(p, out) < 0)
			return p->err;
	} else if (p->i < p->n && p->s[p->i] == ':')
		return fail(p, E_SYNTAX, "group syntax");
	else if (p->i < p->n && p->s[p->i] == ',')
		return fail(p, E_INVAL, "several addresses");
	else
		return fail(p, E_SYNTAX, "no address");
	if (skip_cfws(p) < 0)
		goto out;
	if (p->i < p->n) {
		if (p->s[p->i] == ',')
			fail(p, E_INVAL, "several addresses");
		else
			fail(p, E_SYNTAX, "text after the address");
	}
out:
	if (p->err) {
		free(*out);
		*out = NULL;
	}
	return p->err;
}

/*
 * unfold - append the value to b with each line end that is followed by
 * a blank removed; refuse NUL, controls, bare CR and unfolded line ends
 */
static int
unfold(struct buf *b, const char *v, size_t n, const char **why)
{
	size_t i, eol;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\r' || c == '\n') {
			eol = (c == '\r') ? 2 : 1;
			if (c == '\r' && (i + 1 >= n || v[i + 1] != '\n')) {
				*why = "bare CR";
				return E_SYNTAX;
			}
			if (i + eol >= n ||
			    !is_wsp((unsigned char)v[i + eol])) {
				*why = "line end inside the field";
				return E_SYNTAX;
			}
			i += eol - 1;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*why = "control character";
			return E_SYNTAX;
		}
		if (buf_append(b, &v[i], 1) < 0) {
			*why = "From field too long";
			return E_SYNTAX;
		}
	}
	return 0;
}

/* msg_from_parse - the single address of one From: value */
int
msg_from_parse(const char *value, size_t len, char **addr, const char **why)
{
	struct parser p;
	struct buf b;
	const char *reason = NULL;
	int r;

	*addr = NULL;
	buf_init(&b, FROM_VALUE_MAX);
	if ((r = unfold(&b, value, len, &reason)) < 0)
		goto out;
	memset(&p, 0, sizeof(p));
	/* buf_cstr, not buf_data: an empty buffer has no storage yet */
	p.s = buf_cstr(&b);
	p.n = buf_size(&b);
	if (!utf8_valid((const unsigned char *)p.s, p.n)) {
		r = E_SYNTAX;
		reason = "invalid UTF-8";
		goto out;
	}
	r = mailbox(&p, addr);
	reason = p.why;
out:
	buf_fini(&b);
	if (r < 0 && why)
		*why = reason;
	return r;
}

/*
 * check_line_ends - in the header section, refuse NUL, bare CR, and a mix
 * of CRLF and bare LF: programs that split lines differently would see
 * different fields (a From hidden after a bare CR, for one)
 */
static int
check_line_ends(const char *hdr, size_t len, const char **why)
{
	size_t i;
	bool crlf = false, lf = false;

	for (i = 0; i < len; i++) {
		if (hdr[i] == '\0') {
			*why = "NUL in the header";
			return E_SYNTAX;
		}
		if (hdr[i] == '\r') {
			if (i + 1 >= len || hdr[i + 1] != '\n') {
				*why = "bare CR in the header";
				return E_SYNTAX;
			}
			crlf = true;
			i++;
		} else if (hdr[i] == '\n')
			lf = true;
		else
			continue;
		/* an empty line ends the header section */
		if (i + 1 < len && hdr[i + 1] == '\n')
			break;
		if (i + 2 < len && hdr[i + 1] == '\r' && hdr[i + 2] == '\n')
			break;
		if (i == 0 || (hdr[0] == '\r' && i == 1))
			break;
	}
	if (crlf && lf) {
		*why = "mixed CRLF and LF line ends";
		return E_SYNTAX;
	}
	return 0;
}

/* name_is_from - a field name "From" (any case) */
static bool
name_is_from(const char *s, size_t n)
{
	return n == 4 && strncasecmp(s, "from", 4) == 0;
}

/* msg_from_extract - find the only From: field, then parse it */
int
msg_from_extract(const char *hdr, size_t len, char **addr, const char **why)
{
	size_t i = 0, eol, next, name_end, k, vstart = 0, vend = 0;
	size_t nfrom = 0;
	const char *reason = NULL;
	int r;

	*addr = NULL;
	if ((r = check_line_ends(hdr, len, &reason)) < 0)
		goto out;
	while (i < len) {
		/* the line [i, eol) and the start of the next one */
		for (eol = i; eol < len && hdr[eol] != '\n'; eol++)
			;
		next = eol < len ? eol + 1 : eol;
		if (eol > i && hdr[eol - 1] == '\r')
			eol--;
		if (eol == i)
			break;		/* the empty line: end of the header */
		/* a field: the name, optional blanks (suspicious), ':' */
		for (k = i; k < eol && hdr[k] != ':' &&
		    (unsigned char)hdr[k] > ' ' && (unsigned char)hdr[k] < 0x7f;
		    k++)
			;
		name_end = k;
		while (k < eol && is_wsp((unsigned char)hdr[k]))
			k++;
		if (name_end == i || k >= eol || hdr[k] != ':') {
			r = E_SYNTAX;
			reason = "malformed header line";
			goto out;
		}
		if (name_is_from(hdr + i, name_end - i)) {
			if (k != name_end) {
				r = E_SYNTAX;
				reason = "blanks before the colon of From";
				goto out;
			}
			nfrom++;
			vstart = k + 1;
		}
		/* continuation lines start with a blank */
		while (next < len && is_wsp((unsigned char)hdr[next])) {
			for (eol = next; eol < len && hdr[eol] != '\n'; eol++)
				;
			next = eol < len ? eol + 1 : eol;
		}
		if (name_is_from(hdr + i, name_end - i)) {
			vend = next;
			/* without the final line end */
			if (vend > vstart && hdr[vend - 1] == '\n')
				vend--;
			if (vend > vstart && hdr[vend - 1] == '\r')
				vend--;
		}
		i = next;
	}
	if (nfrom == 0) {
		r = E_NOTFOUND;
		reason = "no From header field";
		goto out;
	}
	if (nfrom > 1) {
		r = E_INVAL;
		reason = "several From header fields";
		goto out;
	}
	return msg_from_parse(hdr + vstart, vend - vstart, addr, why);
out:
	if (why)
		*why = reason;
	return r;
}
