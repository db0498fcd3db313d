/*
 * mailauth/dmarc_from.c - the RFC5322.From domain for DMARC, strictly.
 *
 * DMARC protects the one address a reader sees, so any doubt about which
 * address that is must end in "no domain" (never a pass).  The shapes
 * here are those of "Composition Kills" (Chen et al., USENIX Security
 * 2020): several From fields, several mailboxes in one field, a second
 * address hidden in a comment, quoted string or encoded word, "From :"
 * with space before the colon, and domains that are not host names.
 * RFC 7489 6.6.1 lets a receiver reject such messages; we never let
 * them pass.
 */
#include "mailauth/dmarc.h"

#include <string.h>

#include "util/err.h"
#include "util/idna.h"

/* dmarc_from_status_str - a few words for comments and logs */
const char *
dmarc_from_status_str(enum dmarc_from_status s)
{
	switch (s) {
	case DMARC_FROM_OK:
		return "ok";
	case DMARC_FROM_NONE:
		return "no From field";
	case DMARC_FROM_MULTIPLE_FIELDS:
		return "multiple From fields";
	case DMARC_FROM_MULTIPLE_ADDRESSES:
		return "multiple addresses in From";
	case DMARC_FROM_NO_ADDRESS:
		return "no address in From";
	case DMARC_FROM_SYNTAX:
		return "unparsable From";
	case DMARC_FROM_BAD_NAME:
		return "malformed From field name";
	case DMARC_FROM_ENCODED_WORD:
		return "encoded word in From address";
	case DMARC_FROM_BAD_DOMAIN:
		return "invalid From domain";
	case DMARC_FROM_IDN_UTF8:
		return "From domain is not valid UTF-8";
	case DMARC_FROM_IDN_DISALLOWED:
		return "From domain has a code point IDNA2008 disallows";
	case DMARC_FROM_IDN_LENGTH:
		return "From domain's A-label form is too long";
	case DMARC_FROM_IDN_INVALID:
		return "From domain is not a valid internationalised name";
	}
	return "unknown";
}

struct scan {
	const char *p;
	size_t n, i;
	enum dmarc_from_status st;	/* first problem found */
};

/* problem - remember the first thing wrong */
static void
problem(struct scan *s, enum dmarc_from_status st)
{
	if (s->st == DMARC_FROM_OK)
		s->st = st;
}

/* RFC 5322 3.2.3 atext, plus UTF-8 bytes (RFC 6532 3.2) */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

/* skip_cfws - whitespace, line breaks (folding) and nested comments */
static void
skip_cfws(struct scan *s)
{
	int depth;

	while (s->i < s->n) {
		unsigned char c = (unsigned char)s->p[s->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			s->i++;
			continue;
		}
		if (c != '(')
			return;
		depth = 0;
		while (s->i < s->n) {
			c = (unsigned char)s->p[s->i++];
			if (c == '\\') {
				if (s->i >= s->n)
					break;
				s->i++;
			} else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				break;
			else if (c == '\0')
				problem(s, DMARC_FROM_SYNTAX);
		}
		if (depth != 0) {
			problem(s, DMARC_FROM_SYNTAX);
			return;
		}
	}
}

/* quoted - skip a quoted-string starting at '"'; false if unterminated */
static bool
quoted(struct scan *s)
{
	s->i++;
	while (s->i < s->n) {
		unsigned char c = (unsigned char)s->p[s->i++];

		if (c == '\\') {
			if (s->i >= s->n)
				return false;
			s->i++;
		} else if (c == '"')
			return true;
		else if (c == '\0')
			return false;
	}
	return false;
}

/* word - one atom (dots allowed, obs-phrase) or quoted-string */
static bool
word(struct scan *s, const char **start, size_t *len)
{
	size_t b = s->i;

	if (s->i < s->n && s->p[s->i] == '"') {
		if (!quoted(s))
			return false;
	} else {
		while (s->i < s->n && (is_atext((unsigned char)s->p[s->i]) ||
		    s->p[s->i] == '.'))
			s->i++;
	}
	*start = s->p + b;
	*len = s->i - b;
	return *len > 0;
}

/* has_encoded_word - does the text hold an RFC 2047 "=?" opener? */
static bool
has_encoded_word(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (p[i] == '=' && p[i + 1] == '?')
			return true;
	return false;
}

/* idn_status - the From status for an idna_to_ascii() error */
static enum dmarc_from_status
idn_status(int r)
{
	switch (r) {
	case IDNA_E_UTF8:
		return DMARC_FROM_IDN_UTF8;
	case IDNA_E_DISALLOWED:
		return DMARC_FROM_IDN_DISALLOWED;
	case IDNA_E_LABEL_LEN:
	case IDNA_E_DOMAIN_LEN:
		return DMARC_FROM_IDN_LENGTH;
	case IDNA_E_EMPTY:
		return DMARC_FROM_BAD_DOMAIN;
	default:
		return DMARC_FROM_IDN_INVALID;
	}
}

/*
 * domain - a dot-atom host name after '@': letters, digits, hyphens and
 * underscores in labels of 1 to 63 bytes, at most 253 in all; copied
 * lower-case into out.  Labels with UTF-8 (U-labels, RFC 6532 3.2) are
 * allowed when the whole name has an A-label form (RFC 8616 6); out then
 * holds that form, and the limits apply to it.
 */
static void
domain(struct scan *s, char *out, size_t outsz)
{
	size_t b, len, i, label = 0;
	bool nonascii = false, long_label = false;
	int r;

	skip_cfws(s);
	if (s->i < s->n && s->p[s->i] == '[') {
		problem(s, DMARC_FROM_BAD_DOMAIN);	/* domain-literal */
		while (s->i < s->n && s->p[s->i] != ']')
			s->i++;
		if (s->i < s->n)
			s->i++;
		return;
	}
	b = s->i;
	while (s->i < s->n && (is_atext((unsigned char)s->p[s->i]) ||
	    s->p[s->i] == '.'))
		s->i++;
	len = s->i - b;
	if (len == 0) {
		problem(s, DMARC_FROM_BAD_DOMAIN);
		return;
	}
	if (has_encoded_word(s->p + b, len)) {
		problem(s, DMARC_FROM_ENCODED_WORD);
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s->p[b + i];

		if (c == '.') {
			if (label == 0)
				break;
			label = 0;
			continue;
		}
		if (++label > 63)
			long_label = true;
		if (c >= 0x80)
			nonascii = true;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			break;
	}
	if (i < len || label == 0 ||
	    (!nonascii && (long_label || len > DMARC_DOMAIN_MAX))) {
		problem(s, DMARC_FROM_BAD_DOMAIN);
		return;
	}
	if (nonascii) {
		char tmp[IDNA_DOMAIN_MAX + 2], in[DMARC_DOMAIN_MAX * 4 + 1];

		if (len >= sizeof(in)) {
			problem(s, DMARC_FROM_IDN_LENGTH);
			return;
		}
		memcpy(in, s->p + b, len);
		in[len] = '\0';
		if ((r = idna_to_ascii(in, tmp, sizeof(tmp))) != 0) {
			problem(s, idn_status(r));
			return;
		}
		/* the A-label form, lower case: a plain host name, as for
		   ASCII domains (RFC 8616 6) */
		len = strlen(tmp);
		if (len + 1 > outsz) {
			problem(s, DMARC_FROM_BAD_DOMAIN);
			return;
		}
		for (i = 0; i <= len; i++)
			out[i] = tmp[i] >= 'A' && tmp[i] <= 'Z' ?
			    (char)(tmp[i] - 'A' + 'a') : tmp[i];
		return;
	}
	if (len + 1 > outsz) {
		problem(s, DMARC_FROM_BAD_DOMAIN);
		return;
	}
	for (i = 0; i < len; i++) {
		char c = s->p[b + i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
}

/*
 * addr_rest - the local-part word has been read and the @ is next.
 * Checks the local part for encoded words, then reads the domain.
 */
static void
addr_rest(struct scan *s, const char *lp, size_t lplen, char *out,
    size_t outsz)
{
	if (has_encoded_word(lp, lplen))
		problem(s, DMARC_FROM_ENCODED_WORD);
	if (lplen == 0 || lp[0] == '.' || lp[lplen - 1] == '.')
		problem(s, DMARC_FROM_SYNTAX);
	s->i++;		/* '@' */
	domain(s, out, outsz);
}

/* angle_addr - "<" addr-spec ">"; obsolete routes are refused */
static void
angle_addr(struct scan *s, char *out, size_t outsz)
{
	const char *lp;
	size_t lplen;

	s->i++;		/* '<' */
	skip_cfws(s);
	if (!word(s, &lp, &lplen)) {
		problem(s, s->i < s->n && s->p[s->i] == '>' ?
		    DMARC_FROM_NO_ADDRESS : DMARC_FROM_SYNTAX);
		return;
	}
	skip_cfws(s);
	if (s->i >= s->n || s->p[s->i] != '@') {
		problem(s, DMARC_FROM_SYNTAX);
		return;
	}
	addr_rest(s, lp, lplen, out, outsz);
	skip_cfws(s);
	if (s->i >= s->n || s->p[s->i] != '>') {
		problem(s, DMARC_FROM_SYNTAX);
		return;
	}
	s->i++;
}

/*
 * mailbox - one mailbox or group; adds the mailboxes it saw to *count.
 * in_group: a ';' ends the list.
 */
static void
mailbox(struct scan *s, char *out, size_t outsz, int *count, bool in_group)
{
	const char *w = NULL;
	size_t wlen = 0;
	int words = 0;

	for (;;) {
		const char *t;
		size_t tlen;

		skip_cfws(s);
		if (s->i >= s->n)
			break;
		if (s->p[s->i] != '"' && !is_atext((unsigned char)s->p[s->i]) &&
		    s->p[s->i] != '.')
			break;
		if (!word(s, &t, &tlen)) {
			problem(s, DMARC_FROM_SYNTAX);
			return;
		}
		if (words++ == 0) {
			w = t;
			wlen = tlen;
		}
	}
	if (s->i >= s->n) {
		problem(s, words ? DMARC_FROM_SYNTAX : DMARC_FROM_NO_ADDRESS);
		return;
	}
	switch (s->p[s->i]) {
	case '<':
		(*count)++;
		angle_addr(s, out, outsz);
		return;
	case '@':
		if (words != 1) {
			problem(s, DMARC_FROM_SYNTAX);
			return;
		}
		(*count)++;
		addr_rest(s, w, wlen, out, outsz);
		return;
	case ':':
		if (in_group || words == 0) {
			problem(s, DMARC_FROM_SYNTAX);
			return;
		}
		/* A group: display-name ":" [mailbox-list] ";" */
		s->i++;
		skip_cfws(s);
		if (s->i < s->n && s->p[s->i] == ';') {
			s->i++;
			return;
		}
		for (;;) {
			mailbox(s, out, outsz, count, true);
			if (s->st != DMARC_FROM_OK)
				return;
			skip_cfws(s);
			if (s->i < s->n && s->p[s->i] == ',') {
				s->i++;
				continue;
			}
			if (s->i < s->n && s->p[s->i] == ';') {
				s->i++;
				return;
			}
			problem(s, DMARC_FROM_SYNTAX);
			return;
		}
	default:
		problem(s, words ? DMARC_FROM_SYNTAX : DMARC_FROM_NO_ADDRESS);
		return;
	}
}

/* dmarc_from_field_domain - the domain of a From value's one mailbox */
int
dmarc_from_field_domain(const char *value, size_t n, char *out,
    size_t outsz, enum dmarc_from_status *status)
{
	struct scan s = { value, n, 0, DMARC_FROM_OK };
	int count = 0;

	if (outsz > 0)
		out[0] = '\0';
	for (;;) {
		mailbox(&s, out, outsz, &count, false);
		if (s.st != DMARC_FROM_OK)
			break;
		skip_cfws(&s);
		if (s.i >= s.n)
			break;
		if (s.p[s.i] != ',') {
			problem(&s, DMARC_FROM_SYNTAX);
			break;
		}
		s.i++;
	}
	/* Several mailboxes outrank a syntax problem later in the list: it
	   names the real danger. */
	if (count > 1 && (s.st == DMARC_FROM_OK || s.st == DMARC_FROM_SYNTAX))
		s.st = DMARC_FROM_MULTIPLE_ADDRESSES;
	if (s.st == DMARC_FROM_OK && count == 0)
		s.st = DMARC_FROM_NO_ADDRESS;
	*status = s.st;
	if (s.st != DMARC_FROM_OK) {
		if (outsz > 0)
			out[0] = '\0';
		return E_SYNTAX;
	}
	return 0;
}

/*
 * dmarc_from_domain - find the From field(s) in a header section.  A
 * field name is everything before the first colon of a line that does
 * not start with whitespace; "From" with whitespace before the colon
 * (RFC 5322 4.5 obsolete syntax) counts as a From field but is refused,
 * since readers disagree on it.  Lines without a colon are skipped (an
 * mbox "From " line is not a header field).
 */
int
dmarc_from_domain(const char *hdr, size_t n, char *out, size_t outsz,
    enum dmarc_from_status *status)
{
	const char *value = NULL;
	size_t vlen = 0, i = 0;
	int fields = 0;
	bool badname = false;

	if (outsz > 0)
		out[0] = '\0';
	while (i < n) {
		size_t b = i, e, colon, nameend, namestart;

		/* One field: this line and its continuation lines. */
		e = i;
		for (;;) {
			while (e < n && hdr[e] != '\n')
				e++;
			if (e < n)
				e++;
			if (e >= n || (hdr[e] != ' ' && hdr[e] != '\t'))
				break;
		}
		i = e;
		if (hdr[b] == '\r' || hdr[b] == '\n')
			break;	/* the empty line: end of header */
		for (colon = b; colon < e && hdr[colon] != ':' &&
		    hdr[colon] != '\n'; colon++)
			;
		if (colon >= e || hdr[colon] != ':')
			continue;
		nameend = colon;
		while (nameend > b && (hdr[nameend - 1] == ' ' ||
		    hdr[nameend - 1] == '\t'))
			nameend--;
		/* Only the first line can start with white space (it has
		   nothing to continue); some readers take " From:" there as
		   a From field, so it counts, and is refused. */
		namestart = b;
		while (namestart < nameend && (hdr[namestart] == ' ' ||
		    hdr[namestart] == '\t'))
			namestart++;
		if (nameend - namestart != 4 ||
		    strncasecmp(hdr + namestart, "from", 4) != 0)
			continue;
		fields++;
		if (nameend != colon || namestart != b)
			badname = true;
		value = hdr + colon + 1;
		vlen = e - colon - 1;
	}
	if (fields == 0)
		*status = DMARC_FROM_NONE;
	else if (fields > 1)
		*status = DMARC_FROM_MULTIPLE_FIELDS;
	else if (badname)
		*status = DMARC_FROM_BAD_NAME;
	else
		return dmarc_from_field_domain(value, vlen, out, outsz, status);
	return E_SYNTAX;
}
