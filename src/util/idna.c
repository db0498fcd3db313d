/*
 * util/idna.c - IDNA2008 / UTS #46 conversions over libidn2 (see idna.h).
 *
 * libidn2 does the Unicode work (NFC, the UTS #46 non-transitional
 * mapping, the IDNA2008 code point and context rules, Punycode).  Here
 * are only the checks around it: well-formed UTF-8 before libidn2 sees
 * the bytes, and the DNS limits on the result (no empty label, 63 octets
 * a label, 253 in all), which UTS #46 mapping could otherwise let
 * through (U+3002 becomes a dot, for one).
 */
#define IDN2_SKIP_LIBIDN_COMPAT 1

#include "util/idna.h"

#include <idn2.h>
#include <string.h>

/* idna_utf8_len - see idna.h */
size_t
idna_utf8_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i;
	unsigned cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* RFC 3629 3: no overlong forms, surrogates or values past
	   U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* idna_utf8_valid - see idna.h */
bool
idna_utf8_valid(const char *s, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if ((k = idna_utf8_len(s + i, n - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

/* idna_is_ascii - see idna.h */
bool
idna_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * check_labels - the DNS limits on a name in its A-label form: labels of
 * 1 to 63 octets, 253 octets in all, one trailing dot allowed.
 */
static int
check_labels(const char *d)
{
	size_t len = strlen(d), i, lab = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0)
		return IDNA_E_EMPTY;
	for (i = 0; i <= len; i++) {
		if (i == len || d[i] == '.') {
			if (lab == 0)
				return IDNA_E_EMPTY;
			if (lab > IDNA_LABEL_MAX)
				return IDNA_E_LABEL_LEN;
			lab = 0;
			continue;
		}
		lab++;
	}
	if (len > IDNA_DOMAIN_MAX)
		return IDNA_E_DOMAIN_LEN;
	return 0;
}

/*
 * ascii_ok - the ASCII bytes of a name with U-labels: letters, digits,
 * '-', '_' and '.'.  Without the STD3 rules (which would refuse '_')
 * UTS #46 keeps spaces and punctuation, and silently drops some control
 * characters; none of them belongs in a host name.
 */
static bool
ascii_ok(const char *d)
{
	for (; *d; d++) {
		unsigned char c = (unsigned char)*d;

		if (c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.')
			continue;
		return false;
	}
	return true;
}

/* map_idn2 - a libidn2 return code as an enum idna_error */
static int
map_idn2(int rc)
{
	switch (rc) {
	case IDN2_OK:
		return 0;
	case IDN2_ENCODING_ERROR:
		return IDNA_E_UTF8;
	case IDN2_TOO_BIG_LABEL:
	case IDN2_PUNYCODE_BIG_OUTPUT:
		return IDNA_E_LABEL_LEN;
	case IDN2_TOO_BIG_DOMAIN:
		return IDNA_E_DOMAIN_LEN;
	case IDN2_DISALLOWED:
	case IDN2_UNASSIGNED:
		return IDNA_E_DISALLOWED;
	default:
		return IDNA_E_INVALID;
	}
}

/* put - copy s into out if it fits */
static int
put(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);

	if (n + 1 > outsz)
		return IDNA_E_SPACE;
	memcpy(out, s, n + 1);
	return 0;
}

/* idna_to_ascii - see idna.h */
int
idna_to_ascii(const char *domain, char *out, size_t outsz)
{
	const char *p;
	char *a = NULL;
	int r;

	if (outsz > 0)
		out[0] = '\0';
	if (domain == NULL || *domain == '\0')
		return IDNA_E_EMPTY;
	if (!idna_utf8_valid(domain, strlen(domain)))
		return IDNA_E_UTF8;
	if (idna_is_ascii(domain)) {
		/* Kept as given; only what can never be in a name
		   (white space, control characters) is refused. */
		for (p = domain; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				return IDNA_E_DISALLOWED;
		if ((r = check_labels(domain)) != 0)
			return r;
		return put(domain, out, outsz);
	}
	if (!ascii_ok(domain))
		return IDNA_E_DISALLOWED;
	r = map_idn2(idn2_to_ascii_8z(domain, &a,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL));
	if (r == 0)
		r = check_labels(a);
	if (r == 0)
		r = put(a, out, outsz);
	idn2_free(a);
	if (r != 0 && outsz > 0)
		out[0] = '\0';
	return r;
}

/* idna_to_unicode - see idna.h */
int
idna_to_unicode(const char *domain, char *out, size_t outsz)
{
	char *u = NULL;
	int r;

	if (outsz > 0)
		out[0] = '\0';
	if (domain == NULL || *domain == '\0')
		return IDNA_E_EMPTY;
	if (!idna_utf8_valid(domain, strlen(domain)))
		return IDNA_E_UTF8;
	/* Through the A-label form: the limits apply to it, and the
	   mapping (case, width, NFC) is done once, the same way. */
	{
		char tmp[IDNA_DOMAIN_MAX + 2];
		size_t i;

		if ((r = idna_to_ascii(domain, tmp, sizeof(tmp))) != 0)
			return r;
		for (i = 0; tmp[i]; i++)
			if (tmp[i] >= 'A' && tmp[i] <= 'Z')
				tmp[i] = (char)(tmp[i] - 'A' + 'a');
		r = map_idn2(idn2_to_unicode_8z8z(tmp, &u, 0));
	}
	if (r == 0)
		r = put(u, out, outsz);
	idn2_free(u);
	if (r != 0 && outsz > 0)
		out[0] = '\0';
	return r;
}

/* idna_valid - see idna.h */
bool
idna_valid(const char *domain)
{
	char tmp[IDNA_DOMAIN_MAX + 2];

	return idna_to_ascii(domain, tmp, sizeof(tmp)) == 0;
}

/* idna_strerror - see idna.h */
const char *
idna_strerror(int e)
{
	switch (e) {
	case IDNA_E_OK:
		return "ok";
	case IDNA_E_EMPTY:
		return "empty label";
	case IDNA_E_UTF8:
		return "invalid UTF-8";
	case IDNA_E_LABEL_LEN:
		return "label longer than 63 octets";
	case IDNA_E_DOMAIN_LEN:
		return "name longer than 253 octets";
	case IDNA_E_DISALLOWED:
		return "disallowed code point";
	case IDNA_E_INVALID:
		return "invalid internationalised label";
	case IDNA_E_SPACE:
		return "name too long for its buffer";
	}
	return "unknown IDNA error";
}
