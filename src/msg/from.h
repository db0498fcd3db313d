/*
 * msg/from.h - the one author address of a message (RFC 5322 3.6.2).
 *
 * A pure, strict parser: it finds the From: header field in a header
 * section and returns its single mailbox's addr-spec.  It is used where a
 * lax answer would let someone spoof: the sender check of authenticated
 * submitters ("may this user write From: x?") and DMARC's RFC5322.From
 * identifier.  So everything that different mail programs might read
 * differently is refused rather than guessed at:
 *
 *	- no From: field, two or more From: fields, or "From :" (blanks
 *	  before the colon, which some programs see as From and some not);
 *	- several mailboxes ("From: <a@evil>,<b@good>"), groups, routes;
 *	- an '@', '<' or '>' inside a display name, a comment or a quoted
 *	  string, also once an RFC 2047 encoded-word is decoded, so that no
 *	  second address hides where a reader might show it;
 *	- encoded-words inside the address itself, domain literals, NUL,
 *	  control characters, bare CR, malformed header lines.
 *
 * Header lines end in CRLF or LF; folding (CRLF + blank) is undone.  The
 * header section ends at the first empty line or at the end of the input.
 * UTF-8 (RFC 6532) is allowed in display names and local parts; a domain
 * must be ASCII letters, digits, hyphens and dots (A-labels for IDNs).
 */
#ifndef MSG_FROM_H
#define MSG_FROM_H

#include <stddef.h>

/*
 * msg_from_extract - the address of the only From: field in the header
 * section hdr (hdr, len; the whole message is fine too).  On success *addr
 * is a new string "local@domain" (the local part as written, a quoted one
 * with its quotes; the domain lower-cased).  Errors: E_NOTFOUND (no From),
 * E_INVAL (several From fields or several addresses), E_SYNTAX (anything
 * unparsable or ambiguous).  *why, if why is not NULL, gets a fixed
 * English reason on error ("two From header fields").
 */
int msg_from_extract(const char *hdr, size_t len, char **addr,
    const char **why);

/*
 * msg_from_parse - the same for one unfolded or folded From: field value
 * (the text after "From:", without the final line end).
 */
int msg_from_parse(const char *value, size_t len, char **addr,
    const char **why);

#endif
