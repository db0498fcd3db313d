/*
 * mailauth/psl.c - organisational domains from the Public Suffix List.
 *
 * libpsl does the list matching.  This file adds what DMARC needs around
 * it: input checks (peer data is pointer plus length and may be anything),
 * lower-casing, and the RFC 7489 rule for a name that is itself a suffix.
 */
#include "mailauth/psl.h"

#include <libpsl.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xmalloc.h"

struct pubsuffix {
	psl_ctx_t *ctx;
	bool owned;		/* psl_builtin() must not be freed */
};

/* Debian's publicsuffix package installs the list here. */
static const char *const system_lists[] = {
	"/usr/share/publicsuffix/public_suffix_list.dafsa",
	"/usr/share/publicsuffix/public_suffix_list.dat",
};

/* pubsuffix_load_file - read a list file (text or DAFSA) */
int
pubsuffix_load_file(struct pubsuffix **out, const char *path)
{
	psl_ctx_t *ctx;

	*out = NULL;
	if ((ctx = psl_load_file(path)) == NULL)
		return E_IO;
	*out = xcalloc(1, sizeof(**out));
	(*out)->ctx = ctx;
	(*out)->owned = true;
	return 0;
}

/* pubsuffix_load_system - the newest of Debian's list and the built-in */
int
pubsuffix_load_system(struct pubsuffix **out)
{
	psl_ctx_t *ctx;
	size_t i;

	*out = NULL;
	for (i = 0; i < sizeof(system_lists) / sizeof(system_lists[0]); i++)
		if ((ctx = psl_latest(system_lists[i])) != NULL)
			goto found;
	/* psl_builtin() is static data shared by the process. */
	if ((ctx = (psl_ctx_t *)psl_builtin()) == NULL)
		return E_NOTFOUND;
	*out = xcalloc(1, sizeof(**out));
	(*out)->ctx = ctx;
	return 0;
found:
	*out = xcalloc(1, sizeof(**out));
	(*out)->ctx = ctx;
	(*out)->owned = true;
	return 0;
}

/* pubsuffix_free - release a list */
void
pubsuffix_free(struct pubsuffix *ps)
{
	if (ps == NULL)
		return;
	if (ps->owned)
		psl_free(ps->ctx);
	free(ps);
}

/*
 * normalise - copy name into a lower-case NUL-terminated string after
 * checking that it looks like a domain name: no empty label (so no
 * leading, trailing or double dot), no control bytes, spaces or other
 * characters that cannot be in a host name, and not too long.  Non-ASCII
 * bytes pass through for libpsl's IDNA handling, but must be valid UTF-8.
 */
static int
normalise(const char *name, size_t n, char **out)
{
	char *s, *lower = NULL;
	size_t i, label = 0;
	bool ascii = true;
	unsigned char c;

	*out = NULL;
	if (n == 0 || n > PUBSUFFIX_NAME_MAX * 4)
		return E_SYNTAX;
	for (i = 0; i < n; i++) {
		c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return E_SYNTAX;
			label = 0;
			continue;
		}
		label++;
		if (c >= 0x80) {
			ascii = false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return E_SYNTAX;
	}
	if (label == 0)
		return E_SYNTAX;
	s = xstrndup(name, n);
	if (ascii) {
		if (n > PUBSUFFIX_NAME_MAX) {
			free(s);
			return E_SYNTAX;
		}
		for (i = 0; i < n; i++)
			if (s[i] >= 'A' && s[i] <= 'Z')
				s[i] = (char)(s[i] - 'A' + 'a');
		*out = s;
		return 0;
	}
	/* libpsl lower-cases (and checks) UTF-8 through libidn2/ICU. */
	if (psl_str_to_utf8lower(s, "utf-8", NULL, &lower) != PSL_SUCCESS) {
		free(s);
		return E_SYNTAX;
	}
	free(s);
	*out = xstrdup(lower);
	psl_free_string(lower);
	return 0;
}

/* pubsuffix_registrable - public suffix plus one label */
int
pubsuffix_registrable(const struct pubsuffix *ps, const char *name,
    size_t n, char *out, size_t outsz)
{
	const char *reg;
	char *s;
	size_t len;
	int r;

	if (outsz > 0)
		out[0] = '\0';
	if ((r = normalise(name, n, &s)) < 0)
		return r;
	reg = psl_registrable_domain(ps->ctx, s);
	if (reg == NULL) {
		r = E_NOTFOUND;
		goto out;
	}
	len = strlen(reg);
	if (len + 1 > outsz) {
		r = E_LIMIT;
		goto out;
	}
	memcpy(out, reg, len + 1);
	r = 0;
out:
	free(s);
	return r;
}

/* pubsuffix_org_domain - RFC 7489 3.2; a suffix is its own org domain */
int
pubsuffix_org_domain(const struct pubsuffix *ps, const char *name,
    size_t n, char *out, size_t outsz)
{
	char *s;
	size_t len;
	int r;

	r = pubsuffix_registrable(ps, name, n, out, outsz);
	if (r != E_NOTFOUND)
		return r;
	if ((r = normalise(name, n, &s)) < 0)
		return r;
	len = strlen(s);
	if (len + 1 > outsz) {
		free(s);
		return E_LIMIT;
	}
	memcpy(out, s, len + 1);
	free(s);
	return 0;
}

/* pubsuffix_is_suffix - is name on the list (or an unlisted TLD)? */
bool
pubsuffix_is_suffix(const struct pubsuffix *ps, const char *name, size_t n)
{
	char *s;
	bool yes;

	if (normalise(name, n, &s) < 0)
		return false;
	yes = psl_is_public_suffix2(ps->ctx, s, PSL_TYPE_ANY) != 0;
	free(s);
	return yes;
}
