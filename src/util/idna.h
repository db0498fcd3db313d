/*
 * util/idna.h - internationalised domain names (IDNA2008 with UTS #46
 * non-transitional processing, over libidn2).
 *
 * Mail authentication looks names up in the DNS by their A-label
 * ("xn--") form (RFC 8616 3): a domain written with U-labels (UTF-8),
 * as an SMTPUTF8 message may carry it, is converted with
 * idna_to_ascii() before any lookup or comparison.  Pure ASCII input is
 * passed through unchanged (its case kept: DNS is case-insensitive, and
 * "xn--" labels are not decoded), after the same label checks.
 */
#ifndef UTIL_IDNA_H
#define UTIL_IDNA_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: 63 octets a label, 253 in the text form of a name. */
#define IDNA_LABEL_MAX	63
#define IDNA_DOMAIN_MAX	253

enum idna_error {
	IDNA_E_OK = 0,
	IDNA_E_EMPTY = -1,	/* an empty name or an empty label */
	IDNA_E_UTF8 = -2,	/* not valid UTF-8 */
	IDNA_E_LABEL_LEN = -3,	/* a label (A-label form) over 63 octets */
	IDNA_E_DOMAIN_LEN = -4,	/* the A-label form over 253 octets */
	IDNA_E_DISALLOWED = -5,	/* a code point IDNA2008/UTS #46 forbids */
	IDNA_E_INVALID = -6,	/* any other IDNA rule (bidi, hyphens,
				   joiners, combining mark first, ...) */
	IDNA_E_SPACE = -7,	/* out is too small */
};

/*
 * idna_to_ascii - domain (UTF-8, NUL-terminated) in A-label form into out
 * (outsz bytes).  One trailing dot is kept.  Returns 0 or an
 * enum idna_error; on error out holds "".
 */
int
idna_to_ascii(const char *domain, char *out, size_t outsz);
/*
 * idna_to_unicode - for display: the U-label form of domain into out.
 * Labels that are not valid A-labels are an error (IDNA_E_INVALID).
 */
int
idna_to_unicode(const char *domain, char *out, size_t outsz);
/* idna_valid - could idna_to_ascii convert domain? */
bool
idna_valid(const char *domain);
/* idna_is_ascii - does s hold only ASCII bytes? */
bool
idna_is_ascii(const char *s);
/* idna_utf8_valid - is s[0..n) well-formed UTF-8 (RFC 3629)? */
bool
idna_utf8_valid(const char *s, size_t n);
/* idna_utf8_len - the length of the valid UTF-8 sequence at p (n bytes
   left), 1 for ASCII, 0 when it is not valid */
size_t
idna_utf8_len(const char *p, size_t n);
/* idna_strerror - "invalid UTF-8" and the like */
const char *
idna_strerror(int e);

#endif
