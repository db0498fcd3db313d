/*
 * msg/received_parse.h - read one Received header field (RFC 5321 4.4,
 * RFC 5322 3.6.7) written by any common MTA.
 *
 * The parser is pure: it takes the field's value (the text after the
 * colon, folded or not, any bytes) and fills a struct received with what
 * the header says about the hop: the sending host's name and address,
 * the receiving host, the protocol, the queue id, the recipient, the
 * date, and whether the hop was encrypted.  Strings in the result are
 * NUL-terminated copies owned by the struct (received_fini frees them);
 * a NUL byte in the input ends nothing, it is kept as '?' in the copies.
 *
 * Transit security is three-valued on purpose:
 *  - RECEIVED_TLS_YES when the header carries evidence of TLS: an RFC
 *    3848 "with" keyword holding an S (ESMTPS, ESMTPSA, LMTPS,
 *    UTF8SMTPS...), SMTPS or HTTPS, the RFC 8314 "tls" clause, or a TLS
 *    comment in one of the formats of smtpsd, Postfix, Exim, OpenSMTPD,
 *    sendmail, Microsoft 365 or Gmail;
 *  - RECEIVED_TLS_NO when the protocol keyword itself says there was no
 *    TLS (SMTP, ESMTP, ESMTPA, LMTP, LMTPA, HTTP and their UTF8 forms,
 *    RFC 3848 section 2) and nothing in the header says otherwise;
 *  - RECEIVED_TLS_UNKNOWN when the header does not say (no "with", a
 *    private protocol name, "local", a malformed or truncated field).
 * The first comment after "from" (the TCP-info, which may quote the
 * client's HELO) is never read as TLS evidence, so a client cannot
 * claim encryption by its choice of HELO name.
 *
 * Used by `smtpsctl headers` (cli/cmd_headers.c); runs in that process.
 */
#ifndef MSG_RECEIVED_PARSE_H
#define MSG_RECEIVED_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* One Received value longer than this (unfolded) is refused with E_LIMIT
   (ours: real ones stay under 1 KiB; RFC 5322 2.1.1 lines are 998). */
#define RECEIVED_MAX_VALUE 16384
/* Comments nest at most this deep; deeper text stays in the outer one. */
#define RECEIVED_MAX_DEPTH 16

enum received_tls {
	RECEIVED_TLS_UNKNOWN = 0,
	RECEIVED_TLS_YES,
	RECEIVED_TLS_NO,
};

/* What kind of hop the protocol keyword names. */
enum received_kind {
	RECEIVED_KIND_UNKNOWN = 0,	/* no keyword, or a private one */
	RECEIVED_KIND_SMTP,		/* SMTP family, incl. Microsoft's */
	RECEIVED_KIND_LMTP,		/* delivery to a local store */
	RECEIVED_KIND_HTTP,		/* web submission (HTTP, HTTPS) */
	RECEIVED_KIND_LOCAL,		/* "local", "mapi", "pickup"... */
};

struct received {
	char *from;		/* the from clause's name, as written */
	char *from_rdns;	/* the host name in its TCP-info, if any */
	char *from_ip;		/* the bracketed (or bare) address, without
				   "IPv6:" */
	char *by;
	char *protocol;		/* RFC 3848 keywords upper-cased; others
				   ("Microsoft SMTP Server", "local") kept */
	char *id;
	char *for_addr;		/* without angle brackets */
	char *date_text;	/* after the last ';', whitespace collapsed */
	long long date;		/* seconds since the epoch, UTC */
	bool has_date;		/* date_text parsed as an RFC 5322 date */
	enum received_tls tls;
	enum received_kind kind;
	char *tls_version;	/* "TLSv1.3" form, or as written */
	char *cipher;
	int bits;		/* 0 when not written */
};

/* received_init - an empty result */
void
received_init(struct received *r);
/* received_fini - free the strings; the struct is empty again */
void
received_fini(struct received *r);

/*
 * received_parse - read value[0..n) into r (initialised here; call
 * received_fini whatever the result).  Returns 0 when a from, by or
 * date clause was found, E_SYNTAX when none was (r still holds what
 * could be read, TLS unknown unless evidence was found), E_LIMIT when
 * the value is longer than RECEIVED_MAX_VALUE (r empty).
 */
int
received_parse(struct received *r, const char *value, size_t n);

/*
 * received_parse_date - an RFC 5322 date-time (section 3.3, with the
 * obsolete zones and two-digit years of 4.3) into seconds since the
 * epoch.  Leading and trailing whitespace and a trailing comment are
 * allowed.  false when it is not one.
 */
bool
received_parse_date(const char *s, size_t n, long long *out);

/* received_tls_str - "yes", "no" or "unknown" */
const char *
received_tls_str(enum received_tls t);

#endif
