/*
 * mailauth/authres.h - Authentication-Results header fields (RFC 8601).
 *
 * One structure serves both directions: the receiver fills it from its
 * SPF, DKIM and DMARC results and formats it (folded to 78 columns, one
 * resinfo a line), and the header analyser parses other servers' fields
 * into it.  Parsing is lenient about whitespace and comments (CFWS is
 * allowed between every token) but strict about structure: a field that
 * does not follow the grammar is E_SYNTAX, never half-read silently.
 * Pure: no I/O.
 */
#ifndef MAILAUTH_AUTHRES_H
#define MAILAUTH_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Caps for parsing other servers' fields (ours). */
#define AUTHRES_MAX_RESINFO 64
#define AUTHRES_MAX_PROPS 32
#define AUTHRES_MAX_FIELD 16384

/* One property: ptype "." property "=" value, e.g. header.d=example.com */
struct authres_prop {
	char *ptype;		/* "smtp", "header", "policy", ... */
	char *property;		/* "mailfrom", "d", "dmarc", ... */
	char *value;		/* unquoted */
};

/* One resinfo: method[/version] "=" result [reason] *prop */
struct authres_resinfo {
	char *method;		/* lower-cased: "spf", "dkim", "dmarc" */
	int method_version;	/* 0 when absent */
	char *result;		/* lower-cased: "pass", "fail", ... */
	char *reason;		/* unquoted, or NULL */
	char *comment;		/* generation: written after the result
				   as "(...)"; parsing keeps the first
				   comment seen inside the resinfo */
	struct authres_prop *props;
	size_t nprops;
};

struct authres {
	char *authserv_id;
	int version;		/* 0 when absent (means 1) */
	bool none;		/* "none": no checks were made */
	struct authres_resinfo *res;
	size_t nres;
};

/* authres_init / authres_fini - an empty field; fini frees everything */
void
authres_init(struct authres *ar, const char *authserv_id);
void
authres_fini(struct authres *ar);

/* authres_add - append a resinfo (strings are copied; reason, comment
   may be NULL) and return it for authres_add_prop() */
struct authres_resinfo *
authres_add(struct authres *ar, const char *method, const char *result,
    const char *reason, const char *comment);
/* authres_add_prop - append ptype.property=value to a resinfo */
void
authres_add_prop(struct authres_resinfo *ri, const char *ptype,
    const char *property, const char *value);

/*
 * authres_format - append the whole field, "Authentication-Results: "
 * through the final CRLF, to out: the authserv-id, then each resinfo on
 * a line of its own, folded at whitespace so no line passes 78 columns
 * unless one token is longer.  Values that are not tokens are quoted.
 * With no resinfo it writes "none".  E_LIMIT if out's cap is reached.
 */
int
authres_format(const struct authres *ar, struct buf *out);

/*
 * authres_parse - parse one field's value (the text after the colon,
 * folded or not; n bytes) into ar (initialised here; call authres_fini
 * whatever the result).  E_SYNTAX when it does not follow RFC 8601
 * section 2.2, E_LIMIT past the caps above.
 */
int
authres_parse(struct authres *ar, const char *value, size_t n);

/* authres_find - the first resinfo of a method, or NULL */
const struct authres_resinfo *
authres_find(const struct authres *ar, const char *method);
/* authres_prop_value - a property's value in a resinfo, or NULL */
const char *
authres_prop_value(const struct authres_resinfo *ri, const char *ptype,
    const char *property);

#endif
