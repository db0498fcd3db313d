/*
 * smtp/address.c - the RFC 5321 / RFC 6531 address grammar.
 */
#include "smtp/address.h"

#include <arpa/inet.h>
#include <string.h>

#include "util/err.h"

/* is_alpha - ASCII letter */
static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* is_digit - ASCII digit */
static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* is_atext - RFC 5322 3.2.3 atext (ASCII part) */
static bool
is_atext(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/*
 * utf8_seq - length of one well-formed UTF8-non-ascii character (RFC 3629)
 * at p, or 0.  Overlong forms, surrogates, code points past U+10FFFF and
 * the C1 controls U+0080..U+009F are refused.
 */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len, i;
	unsigned long cp;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

/* dot_string - length of the Dot-string at p, 0 if none */
static size_t
dot_string(const unsigned char *p, size_t n, bool *utf8)
{
	size_t i = 0, k;
	bool need_atom = true;

	while (i < n) {
		if (is_atext(p[i])) {
			i++;
			need_atom = false;
		} else if (p[i] >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			i += k;
			*utf8 = true;
			need_atom = false;
		} else if (p[i] == '.' && !need_atom) {
			i++;
			need_atom = true;
		} else
			break;
	}
	if (need_atom)
		return 0;
	return i;
}

/* quoted_string - length of the Quoted-string at p (incl. quotes), 0 */
static size_t
quoted_string(const unsigned char *p, size_t n, bool *utf8)
{
	size_t i = 1, k;

	if (n < 2 || p[0] != '"')
		return 0;
	while (i < n) {
		unsigned char c = p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			/* RFC 5321 quoted-pairSMTP: %d92 %d32-126 */
			if (i + 1 >= n || p[i + 1] < 32 || p[i + 1] > 126)
				return 0;
			i += 2;
		} else if (c >= 32 && c <= 126) {
			i++;
		} else if (c >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			i += k;
			*utf8 = true;
		} else
			return 0;
	}
	return 0;
}

/* domain_len - length of the Domain at the start of p, 0 if none */
static size_t
domain_len(const unsigned char *p, size_t n, bool *utf8)
{
	size_t i = 0, label = 0, k;
	unsigned char last = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (is_alpha(c) || is_digit(c)) {
			i++;
			label++;
			last = c;
		} else if (c == '-' && label > 0) {
			i++;
			label++;
			last = c;
		} else if (c >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			/* RFC 6531 3.3: sub-domain =/ U-label */
			i += k;
			label += k;
			last = 'a';
			*utf8 = true;
		} else if (c == '.' && label > 0 && last != '-') {
			if (label > 63)
				return 0;
			i++;
			label = 0;
		} else
			break;
	}
	/* a domain ends in a complete label: no trailing dot or hyphen */
	if (label == 0 || last == '-' || label > 63)
		return 0;
	if (i > SMTP_DOMAIN_MAX)
		return 0;
	return i;
}

/* ipv4_literal - RFC 5321 IPv4-address-literal: 4 Snum of 1-3 digits */
static bool
ipv4_literal(const char *p, size_t n)
{
	size_t i = 0, part;

	for (part = 0; part < 4; part++) {
		size_t digits = 0;
		unsigned v = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			i++;
		}
		while (i < n && is_digit((unsigned char)p[i]) && digits < 4) {
			v = v * 10 + (unsigned)(p[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return false;
	}
	return i == n;
}

int
smtp_address_literal(const char *p, size_t n)
{
	char tmp[64];
	size_t i, tag;

	if (n < 3 || p[0] != '[' || p[n - 1] != ']')
		return E_SYNTAX;
	p++;
	n -= 2;
	if (ipv4_literal(p, n))
		return 0;
	if (n > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		struct in6_addr a;

		/* the RFC 5321 IPv6 forms are those of inet_pton */
		if (n - 5 >= sizeof(tmp))
			return E_SYNTAX;
		for (i = 5; i < n; i++)
			if (!(is_digit((unsigned char)p[i]) ||
			    strchr("abcdefABCDEF:.", p[i]) != NULL) ||
			    p[i] == '\0')
				return E_SYNTAX;
		memcpy(tmp, p + 5, n - 5);
		tmp[n - 5] = '\0';
		return inet_pton(AF_INET6, tmp, &a) == 1 ? 0 : E_SYNTAX;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (tag = 0; tag < n && p[tag] != ':'; tag++)
		if (!(is_alpha((unsigned char)p[tag]) ||
		    is_digit((unsigned char)p[tag]) ||
		    (p[tag] == '-' && tag > 0)))
			return E_SYNTAX;
	if (tag == 0 || tag >= n - 1 || p[tag - 1] == '-')
		return E_SYNTAX;
	for (i = tag + 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		/* dcontent = %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || (c >= 91 && c <= 93))
			return E_SYNTAX;
	}
	return 0;
}

int
smtp_address_domain(const char *p, size_t n, bool *utf8)
{
	bool u = false;

	if (n == 0 || domain_len((const unsigned char *)p, n, &u) != n)
		return E_SYNTAX;
	if (utf8)
		*utf8 = u;
	return 0;
}

int
smtp_address_mailbox(const char *p, size_t n, bool *utf8)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t lp;
	bool has = false;

	if (n == 0)
		return E_SYNTAX;
	if (u[0] == '"')
		lp = quoted_string(u, n, &has);
	else
		lp = dot_string(u, n, &has);
	if (lp == 0 || lp > SMTP_LOCAL_PART_MAX || lp + 1 >= n || p[lp] != '@')
		return E_SYNTAX;
	p += lp + 1;
	n -= lp + 1;
	if (p[0] == '[') {
		if (smtp_address_literal(p, n) < 0)
			return E_SYNTAX;
	} else if (domain_len((const unsigned char *)p, n, &has) != n)
		return E_SYNTAX;
	if (utf8)
		*utf8 = has;
	return 0;
}

/* mailbox_end - length of the Mailbox at p (up to but excluding '>') */
static size_t
mailbox_end(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t lp, i;
	bool has = false;

	if (n == 0)
		return 0;
	lp = u[0] == '"' ? quoted_string(u, n, &has) : dot_string(u, n, &has);
	if (lp == 0 || lp >= n || p[lp] != '@')
		return 0;
	i = lp + 1;
	if (i < n && p[i] == '[') {
		const char *e = memchr(p + i, ']', n - i);

		return e ? (size_t)(e - p) + 1 : 0;
	}
	return i + domain_len(u + i, n - i, &has);
}

int
smtp_address_path(const char *p, size_t n, unsigned flags,
    struct smtp_path *out)
{
	size_t i = 1, mlen;
	bool utf8 = false;

	memset(out, 0, sizeof(*out));
	out->mailbox = "";
	if (n < 2 || p[0] != '<')
		return E_SYNTAX;
	if (p[1] == '>') {
		if (!(flags & SMTP_PATH_NULL_OK))
			return E_SYNTAX;
		out->len = 2;
		out->null = true;
		return 0;
	}
	if ((flags & SMTP_PATH_POSTMASTER_OK) && n >= 12 &&
	    strncasecmp(p + 1, "postmaster>", 11) == 0) {
		out->len = 12;
		out->mailbox = p + 1;
		out->mailbox_len = 10;
		return 0;
	}
	/* A-d-l = At-domain *( "," At-domain ), then ":" */
	if (p[1] == '@') {
		for (;;) {
			size_t d;

			if (i >= n || p[i] != '@')
				return E_SYNTAX;
			i++;
			d = domain_len((const unsigned char *)p + i, n - i,
			    &utf8);
			if (d == 0)
				return E_SYNTAX;
			i += d;
			if (i < n && p[i] == ',') {
				i++;
				continue;
			}
			if (i < n && p[i] == ':') {
				i++;
				break;
			}
			return E_SYNTAX;
		}
	}
	mlen = mailbox_end(p + i, n - i);
	if (mlen == 0 || i + mlen >= n || p[i + mlen] != '>')
		return E_SYNTAX;
	if (smtp_address_mailbox(p + i, mlen, &utf8) < 0)
		return E_SYNTAX;
	if (i + mlen + 1 > SMTP_PATH_MAX)
		return E_SYNTAX;
	out->len = i + mlen + 1;
	out->mailbox = p + i;
	out->mailbox_len = mlen;
	out->utf8 = utf8;
	return 0;
}
