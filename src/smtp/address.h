/*
 * smtp/address.h - the RFC 5321 address grammar (section 4.1.2 and 4.1.3),
 * with the RFC 6531 (SMTPUTF8) extensions.
 *
 * Pure functions over pointer plus length; nothing is copied or allocated.
 * What is accepted:
 *
 *   Path     = "<" [ A-d-l ":" ] Mailbox ">"    (the source route is
 *              accepted and ignored, RFC 5321 4.1.2 and appendix C)
 *   Mailbox  = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *   Domain   = sub-domain *("." sub-domain), LDH labels of 1..63 octets
 *   address-literal = "[" IPv4 / "IPv6:" IPv6 / tag ":" dcontent "]"
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets, domain 255 octets,
 * path 256 octets including the angle brackets.
 *
 * UTF-8 (RFC 6531 3.3: atext, qtext and sub-domain extended with
 * UTF8-non-ascii) is always parsed, must be well-formed and free of C1
 * controls, and is reported through the utf8 flag: the caller refuses it
 * (553 5.6.7) unless the transaction declared SMTPUTF8.  CR, LF, NUL and
 * every other control character are never accepted anywhere.
 */
#ifndef SMTP_ADDRESS_H
#define SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1.1-3 */
#define SMTP_LOCAL_PART_MAX	64
#define SMTP_DOMAIN_MAX		255
#define SMTP_PATH_MAX		256

struct smtp_path {
	size_t len;		/* octets consumed, "<" through ">" */
	const char *mailbox;	/* inside the input; "" length 0 for <> */
	size_t mailbox_len;
	bool null;		/* the null path "<>" */
	bool utf8;		/* contains non-ASCII (needs SMTPUTF8) */
};

/* path flags */
#define SMTP_PATH_NULL_OK	0x1	/* "<>" is allowed (MAIL FROM) */
#define SMTP_PATH_POSTMASTER_OK	0x2	/* "<Postmaster>" (RCPT TO, 4.1.1.3) */

/*
 * smtp_address_path - parse a Path at the start of p (p[0] must be '<');
 * 0 with *out filled, or E_SYNTAX.  Text after the closing '>' is left
 * for the caller (ESMTP parameters).
 */
int smtp_address_path(const char *p, size_t n, unsigned flags,
    struct smtp_path *out);

/* smtp_address_mailbox - is p..n exactly a Mailbox?  0 or E_SYNTAX;
   *utf8 (may be NULL) says whether it holds non-ASCII octets */
int smtp_address_mailbox(const char *p, size_t n, bool *utf8);

/* smtp_address_domain - is p..n a Domain (dot-separated LDH labels, or
   U-labels)?  0 or E_SYNTAX */
int smtp_address_domain(const char *p, size_t n, bool *utf8);

/* smtp_address_literal - is p..n an address-literal "[...]"? */
int smtp_address_literal(const char *p, size_t n);

#endif
