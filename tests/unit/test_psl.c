/*
 * test_psl - the Public Suffix List layer: every algorithm test vector of
 * the pinned list (tests/data/publicsuffix/tests/tests.txt, CC0), then
 * the RFC 7489 organisational-domain rule and input checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/psl.h"
#include "util/err.h"
#include "testlib.h"

#define LIST "tests/data/publicsuffix/public_suffix_list.dat"
#define VECTORS "tests/data/publicsuffix/tests/tests.txt"
#define VECTORS_JS "tests/data/publicsuffix/tests/test_psl.txt"

/* run_vectors - each "input expected" line; "null" stands for none */
static void
run_vectors(const struct pubsuffix *ps)
{
	FILE *f;
	char line[512], in[256], want[256], got[PUBSUFFIX_NAME_MAX + 1];
	char name[600];
	int r, cases = 0;

	f = fopen(VECTORS, "r");
	CHECK(f != NULL, "open " VECTORS);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '/' || line[0] == '\n' || line[0] == '\r')
			continue;
		if (sscanf(line, "%255s %255s", in, want) != 2)
			continue;
		cases++;
		if (strcmp(in, "null") == 0)
			r = pubsuffix_registrable(ps, "", 0, got, sizeof(got));
		else
			r = pubsuffix_registrable(ps, in, strlen(in), got,
			    sizeof(got));
		snprintf(name, sizeof(name), "psl vector %s", in);
		CHECK_STR(r == 0 ? got : "null", want, name);
	}
	fclose(f);
	/* The pinned file holds 78 vectors (four more are commented out). */
	CHECK_INT(cases, 78, "psl vector count");
}

/* js_arg - one argument of checkPublicSuffix(): 'text' or null */
static const char *
js_arg(const char *p, char *out, size_t outsz, bool *isnull)
{
	size_t n = 0;

	while (*p == ' ' || *p == ',')
		p++;
	if (strncmp(p, "null", 4) == 0) {
		*isnull = true;
		return p + 4;
	}
	*isnull = false;
	if (*p++ != '\'')
		return NULL;
	while (*p && *p != '\'' && n + 1 < outsz)
		out[n++] = *p++;
	out[n] = '\0';
	return *p == '\'' ? p + 1 : NULL;
}

/* run_js_vectors - the same list in its JavaScript form, test_psl.txt */
static void
run_js_vectors(const struct pubsuffix *ps)
{
	FILE *f;
	char line[512], in[256], want[256], got[PUBSUFFIX_NAME_MAX + 1];
	char name[600];
	const char *p;
	bool in_null, want_null;
	int r, cases = 0;

	f = fopen(VECTORS_JS, "r");
	CHECK(f != NULL, "open " VECTORS_JS);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "checkPublicSuffix(", 18) != 0)
			continue;
		p = js_arg(line + 18, in, sizeof(in), &in_null);
		if (p != NULL)
			p = js_arg(p, want, sizeof(want), &want_null);
		CHECK(p != NULL, line);
		if (p == NULL)
			continue;
		cases++;
		r = pubsuffix_registrable(ps, in_null ? "" : in,
		    in_null ? 0 : strlen(in), got, sizeof(got));
		snprintf(name, sizeof(name), "psl js vector %s",
		    in_null ? "null" : in);
		CHECK_STR(r == 0 ? got : "null", want_null ? "null" : want,
		    name);
	}
	fclose(f);
	CHECK_INT(cases, 78, "psl js vector count");
}

struct org_case {
	const char *name;
	const char *in;
	const char *want;	/* NULL: an error */
	int err;
};

static const struct org_case org_cases[] = {
	{ "subdomain to org", "mail.example.com", "example.com", 0 },
	{ "org is itself", "example.com", "example.com", 0 },
	{ "deep subdomain", "a.b.c.d.example.co.uk", "example.co.uk", 0 },
	{ "mixed case lowered", "Mail.EXAMPLE.Com", "example.com", 0 },
	{ "suffix is its own org", "co.uk", "co.uk", 0 },
	{ "tld is its own org", "com", "com", 0 },
	{ "private section suffix", "foo.blogspot.com", "foo.blogspot.com",
	    0 },
	{ "wildcard rule", "a.b.c.kobe.jp", "b.c.kobe.jp", 0 },
	{ "exception rule", "www.city.kobe.jp", "city.kobe.jp", 0 },
	{ "empty", "", NULL, E_SYNTAX },
	{ "leading dot", ".example.com", NULL, E_SYNTAX },
	{ "trailing dot", "example.com.", NULL, E_SYNTAX },
	{ "double dot", "a..example.com", NULL, E_SYNTAX },
	{ "space inside", "exa mple.com", NULL, E_SYNTAX },
	{ "at sign", "a@example.com", NULL, E_SYNTAX },
	{ "nul byte", "exa\0mple.com", NULL, E_SYNTAX },
};

/* run_org - pubsuffix_org_domain over the table */
static void
run_org(const struct pubsuffix *ps)
{
	char got[PUBSUFFIX_NAME_MAX + 1];
	size_t i, n;
	int r;

	for (i = 0; i < sizeof(org_cases) / sizeof(org_cases[0]); i++) {
		const struct org_case *c = &org_cases[i];

		n = strcmp(c->name, "nul byte") == 0 ? 12 : strlen(c->in);
		r = pubsuffix_org_domain(ps, c->in, n, got, sizeof(got));
		if (c->want) {
			CHECK_INT(r, 0, c->name);
			CHECK_STR(r == 0 ? got : NULL, c->want, c->name);
		} else
			CHECK_INT(r, c->err, c->name);
	}
}

/* run_limits - a long name and a small output buffer */
static void
run_limits(const struct pubsuffix *ps)
{
	char big[300], small[8];
	size_t i;

	/* 63 labels of "ab." is 189 bytes: fine; 100 labels is too long. */
	for (i = 0; i < 100; i++)
		memcpy(big + 3 * i, "ab.", 3);
	memcpy(big + 297, "com", 3);
	CHECK_INT(pubsuffix_org_domain(ps, big, 300, small, sizeof(small)),
	    E_SYNTAX, "name over 253 bytes");
	CHECK_INT(pubsuffix_org_domain(ps, "a.example.com", 13, small,
	    sizeof(small)), E_LIMIT, "output too small");
	CHECK(pubsuffix_is_suffix(ps, "co.uk", 5), "co.uk is a suffix");
	CHECK(pubsuffix_is_suffix(ps, "example", 7),
	    "unlisted tld is a suffix");
	CHECK(!pubsuffix_is_suffix(ps, "example.com", 11),
	    "example.com is not a suffix");
}

int
main(void)
{
	struct pubsuffix *ps = NULL, *sys = NULL;
	char got[PUBSUFFIX_NAME_MAX + 1];

	CHECK_INT(pubsuffix_load_file(&ps, LIST), 0, "load pinned list");
	if (ps == NULL)
		return test_done();
	run_vectors(ps);
	run_js_vectors(ps);
	run_org(ps);
	run_limits(ps);
	pubsuffix_free(ps);

	CHECK_INT(pubsuffix_load_file(&ps, "tests/data/no-such-file"), E_IO,
	    "missing list file");
	CHECK_INT(pubsuffix_load_system(&sys), 0, "load system list");
	if (sys) {
		CHECK_INT(pubsuffix_org_domain(sys, "www.example.co.uk", 17,
		    got, sizeof(got)), 0, "system list org domain");
		CHECK_STR(got, "example.co.uk", "system list org domain");
	}
	pubsuffix_free(sys);
	pubsuffix_free(NULL);
	return test_done();
}
