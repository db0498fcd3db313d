/*
 * mailauth/psl.h - the Public Suffix List: organisational domains for
 * DMARC as RFC 7489 section 3.2 defines them.
 *
 * A thin layer over libpsl.  Its symbols already use the psl_ prefix, so
 * this module's prefix is pubsuffix_.  A list is loaded once (the system
 * list that Debian's publicsuffix package installs, or a pinned file for
 * tests) and is then read-only: any number of sessions may share it.
 * Pure: the only disk access is in the two loaders, which a daemon calls
 * at start-up.
 */
#ifndef MAILAUTH_PSL_H
#define MAILAUTH_PSL_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: 255 octets on the wire, so 253 in text form. */
#define PUBSUFFIX_NAME_MAX 253

struct pubsuffix;

/*
 * pubsuffix_load_file - read a list in the publicsuffix.org text format
 * (public_suffix_list.dat) or libpsl's DAFSA form.  E_IO when the file
 * cannot be read or parsed.
 */
int
pubsuffix_load_file(struct pubsuffix **out, const char *path);

/*
 * pubsuffix_load_system - the system's list: Debian's
 * /usr/share/publicsuffix data when it is present and newer than the
 * copy built into libpsl, else the built-in one.  E_NOTFOUND if neither
 * is available.
 */
int
pubsuffix_load_system(struct pubsuffix **out);

/* pubsuffix_free - release a list; NULL does nothing */
void
pubsuffix_free(struct pubsuffix *ps);

/*
 * pubsuffix_registrable - the registrable domain of name (public suffix
 * plus one label), lower-cased, into out (outsz bytes, NUL-terminated).
 * name is n bytes, ASCII or UTF-8, any case, without a trailing dot.
 * E_NOTFOUND when name is itself a public suffix (or an unlisted
 * top-level label), E_SYNTAX when it is not a domain name (empty label,
 * leading dot, control bytes, too long), E_LIMIT when out is too small.
 */
int
pubsuffix_registrable(const struct pubsuffix *ps, const char *name,
    size_t n, char *out, size_t outsz);

/*
 * pubsuffix_org_domain - the RFC 7489 3.2 Organizational Domain of name:
 * its registrable domain, or name itself when name is a public suffix
 * (so that a message from a suffix aligns only with that suffix).
 */
int
pubsuffix_org_domain(const struct pubsuffix *ps, const char *name,
    size_t n, char *out, size_t outsz);

/* pubsuffix_is_suffix - is name a public suffix on this list? */
bool
pubsuffix_is_suffix(const struct pubsuffix *ps, const char *name, size_t n);

#endif
