/*
 * msg/header.h - split an RFC 5322 message into header fields and body.
 *
 * The parser is pure: it reads a message held in memory (CRLF line ends,
 * as SMTP delivers it) and returns an index of pointers into that memory,
 * so nothing is copied and the caller keeps ownership of the bytes, which
 * must outlive the index.  Each field keeps its raw text with the folding
 * intact (DKIM simple canonicalisation needs the exact bytes), its name,
 * and its position in the header section.  Lookups are case-insensitive
 * (RFC 5322 1.2.2).  Callers that hold LF-only text (files on disk, the
 * command-line tool) convert it with msg_lf_to_crlf() first.
 *
 * Used by the DKIM verifier and signer, DMARC's From parser and the
 * receiver; runs in whichever process calls it.
 */
#ifndef MSG_HEADER_H
#define MSG_HEADER_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* RFC 5322 2.1.1: a line is at most 998 octets; we take fields as long as
   the caller's message cap allows but bound their number. */
#define MSG_HEADER_MAX_FIELDS_DEFAULT 1000

struct msg_field {
	const char *raw;	/* the whole field, name to last CRLF */
	size_t raw_len;		/* excluding the final CRLF */
	const char *name;	/* the field name, trailing WSP trimmed */
	size_t name_len;
	const char *value;	/* after the colon, folding kept */
	size_t value_len;	/* excluding the final CRLF */
	size_t pos;		/* 0-based index in the header section */
	bool ws_before_colon;	/* "From : x" (obsolete syntax, suspicious) */
	bool bare_lf;		/* the field held an LF not preceded by CR */
};

struct msg_header {
	struct msg_field *fields;
	size_t nfields;
	const char *body;	/* after the blank line; NULL if none */
	size_t body_len;
	bool has_separator;	/* a blank line ended the header section */
};

enum msg_header_flags {
	/* the header section may end without a blank line (no body) */
	MSG_HEADER_ALLOW_NO_BODY = 1 << 0,
};

/*
 * msg_header_parse - index the header fields of p[0..n) into h.
 * A line in the header section that neither starts a field (name, colon)
 * nor continues one (starts with SP or HTAB) is E_SYNTAX; more than
 * max_fields fields is E_LIMIT (0 means MSG_HEADER_MAX_FIELDS_DEFAULT).
 * A message that ends without a blank line is accepted with body NULL.
 * On error h is left empty (msg_header_fini is still safe).
 */
int msg_header_parse(struct msg_header *h, const char *p, size_t n,
    size_t max_fields);
/* msg_header_fini - release the index (not the message) */
void msg_header_fini(struct msg_header *h);

/* msg_field_is - does the field's name equal name (case-insensitive)? */
bool msg_field_is(const struct msg_field *f, const char *name, size_t len);
/*
 * msg_header_find - the first field named name at index >= from, or NULL.
 * msg_header_find_last - the last field named name at index < before
 * (DKIM selects header instances from the bottom up, RFC 6376 5.4.2).
 */
const struct msg_field *msg_header_find(const struct msg_header *h,
    const char *name, size_t len, size_t from);
const struct msg_field *msg_header_find_last(const struct msg_header *h,
    const char *name, size_t len, size_t before);
/* msg_header_count - how many fields carry this name */
size_t msg_header_count(const struct msg_header *h, const char *name,
    size_t len);

/* msg_unfold - append v with every CRLF removed (RFC 5322 2.2.3) */
int msg_unfold(struct buf *out, const char *v, size_t n);
/*
 * msg_lf_to_crlf - append p with each bare LF turned into CRLF (CRLF
 * stays as it is); for LF-only text from files and pipes.
 */
int msg_lf_to_crlf(struct buf *out, const char *p, size_t n);

#endif
