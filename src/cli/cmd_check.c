/*
 * cli/cmd_check.c - smtpsctl check: how well is a domain's mail protected?
 *
 *	smtpsctl check [--json] [--selector S]... [--port N]
 *	    [--submission HOST] [--submission-ports IMPLICIT,STARTTLS]
 *	    [--mta-sts-port N] [--resolver ADDRESS[@PORT]] [--ca-file FILE]
 *	    [--timeout SECS] [--trust-anchor RR] DOMAIN
 *
 * Prints the findings of check/check.h worst first, as a table or as
 * JSON.  The resolver is --resolver, else $SMTPSD_RESOLVER, else the
 * system's.  --trust-anchor (a DS or DNSKEY record as zone-file text)
 * makes the resolver validate DNSSEC under that zone, for DANE.  Exit status: 0 every finding passes, 1 a warning, 2 a
 * failure, 3 something could not be evaluated (and for usage errors, so
 * that a script never mistakes a typo for a verdict).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cli/commands.h"
#include "util/buf.h"
#include "util/err.h"

/* The table and JSON are small; a cap all the same. */
#define CHECK_CLI_MAX_OUT	(1024 * 1024)
#define CHECK_USAGE_EXIT	3

struct check_cli {
	struct check_opts o;
	const char *resolver;
	const char *trust_anchor;
	bool json;
};

/* usage - the synopsis, after a problem if there is one */
static int
usage(const char *problem)
{
	if (problem != NULL)
		fprintf(stderr, "smtpsctl check: %s\n", problem);
	fprintf(stderr, "usage: smtpsctl check [--json] [--selector S]... "
	    "[--port N] [--submission HOST]\n"
	    "       [--submission-ports IMPLICIT,STARTTLS] [--mta-sts-port N]"
	    "\n       [--resolver ADDRESS[@PORT]] [--ca-file FILE] "
	    "[--timeout SECS] [--trust-anchor RR] DOMAIN\n");
	return CHECK_USAGE_EXIT;
}

/* number - a decimal in [lo, hi] from the whole of s; -1 if not */
static long
number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

/* domain_ok - a host name we are willing to query: LDH labels (and _),
   1 to 63 bytes each, 253 in all; lower-cased, trailing dot dropped */
static bool
domain_ok(char *d)
{
	size_t n = strlen(d), i, label = 0;

	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	if (n == 0 || n > 253 || d[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = d[i];

		if (c >= 'A' && c <= 'Z')
			d[i] = (char)(c - 'A' + 'a');
		else if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* parse_args - options and the domain into c */
static int
parse_args(struct check_cli *c, int argc, char **argv)
{
	static const char *const with_value[] = { "--selector", "--port",
	    "--submission", "--submission-ports", "--mta-sts-port",
	    "--resolver", "--ca-file", "--timeout", "--trust-anchor" };
	char *domain = NULL;
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = NULL;
		long n;

		if (strcmp(o, "--json") == 0) {
			c->json = true;
			continue;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
			return usage(NULL);
		if (o[0] != '-') {
			if (domain != NULL)
				return usage("one DOMAIN only");
			domain = argv[i];
			continue;
		}
		for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			if (strcmp(o, with_value[k]) == 0)
				break;
		if (k == sizeof(with_value) / sizeof(with_value[0])) {
			fprintf(stderr, "smtpsctl check: unknown option %s\n",
			    o);
			return usage(NULL);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "smtpsctl check: %s needs a value\n",
			    o);
			return usage(NULL);
		}
		v = argv[++i];
		if (strcmp(o, "--selector") == 0) {
			if (c->o.nselectors == CHECK_MAX_SELECTORS)
				return usage("at most 16 --selector");
			if (*v == '\0' || strlen(v) > 63 || strchr(v, ' '))
				return usage("--selector is one DNS label or "
				    "a few");
			c->o.selectors[c->o.nselectors++] = v;
		} else if (strcmp(o, "--port") == 0) {
			if ((n = number(v, 1, 65535)) < 0)
				return usage("--port is 1 to 65535");
			c->o.smtp_port = (int)n;
		} else if (strcmp(o, "--mta-sts-port") == 0) {
			if ((n = number(v, 1, 65535)) < 0)
				return usage("--mta-sts-port is 1 to 65535");
			c->o.mta_sts_port = (int)n;
		} else if (strcmp(o, "--submission") == 0) {
			c->o.submission = v;
		} else if (strcmp(o, "--submission-ports") == 0) {
			char a[8], b[8];
			const char *comma = strchr(v, ',');
			long pa, pb;

			if (comma == NULL || comma - v >= (long)sizeof(a) ||
			    strlen(comma + 1) >= sizeof(b))
				return usage("--submission-ports is "
				    "IMPLICIT,STARTTLS (e.g. 465,587)");
			snprintf(a, sizeof(a), "%.*s", (int)(comma - v), v);
			snprintf(b, sizeof(b), "%s", comma + 1);
			if ((pa = number(a, 1, 65535)) < 0 ||
			    (pb = number(b, 1, 65535)) < 0)
				return usage("--submission-ports are 1 to "
				    "65535");
			c->o.submissions_port = (int)pa;
			c->o.submission_port = (int)pb;
		} else if (strcmp(o, "--resolver") == 0) {
			c->resolver = v;
		} else if (strcmp(o, "--trust-anchor") == 0) {
			c->trust_anchor = v;
		} else if (strcmp(o, "--ca-file") == 0) {
			c->o.ca_file = v;
		} else if (strcmp(o, "--timeout") == 0) {
			if ((n = number(v, 1, 600)) < 0)
				return usage("--timeout is 1 to 600 seconds");
			c->o.timeout_ms = (int)n * 1000;
		}
	}
	if (domain == NULL)
		return usage("DOMAIN is required");
	if (!domain_ok(domain))
		return usage("DOMAIN is not a domain name");
	if (c->o.submission != NULL && !domain_ok((char *)c->o.submission))
		return usage("--submission HOST is not a host name");
	c->o.domain = domain;
	return 0;
}

/* cmd_check - smtpsctl check */
int
cmd_check(int argc, char **argv)
{
	struct check_cli c;
	struct check_report rep;
	struct dns_resolver *r = NULL;
	struct buf out;
	char *err = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.o.smtp_port = 25;
	c.o.submissions_port = 465;
	c.o.submission_port = 587;
	c.o.mta_sts_port = 443;
	c.o.timeout_ms = 10000;
	if ((rc = parse_args(&c, argc, argv)) != 0)
		return rc;
	/* A probed server that closes during a TLS write must end that
	   probe with an error, not the process with SIGPIPE (OpenSSL's
	   socket BIO writes without MSG_NOSIGNAL). */
	signal(SIGPIPE, SIG_IGN);
	if (c.resolver == NULL) {
		const char *env = getenv("SMTPSD_RESOLVER");

		if (env != NULL && *env != '\0')
			c.resolver = env;
	}
	if (dns_resolver_new(&r, c.resolver, &err) != 0) {
		fprintf(stderr, "smtpsctl check: %s\n", err ? err :
		    "cannot start the resolver");
		free(err);
		return CHECK_USAGE_EXIT;
	}
	if (c.trust_anchor != NULL &&
	    dns_resolver_add_trust_anchor(r, c.trust_anchor, &err) != 0) {
		fprintf(stderr, "smtpsctl check: --trust-anchor: %s\n",
		    err ? err : "refused");
		free(err);
		dns_resolver_free(r);
		return CHECK_USAGE_EXIT;
	}
	dns_set_timeout(r, c.o.timeout_ms);
	check_report_init(&rep, c.o.domain);
	check_run(&rep, r, &c.o);
	check_report_sort(&rep);
	buf_init(&out, CHECK_CLI_MAX_OUT);
	if (c.json)
		check_report_json(&rep, &out);
	else
		check_report_table(&rep, &out);
	fwrite(buf_data(&out), 1, buf_size(&out), stdout);
	fflush(stdout);
	rc = check_report_exit(&rep);
	buf_fini(&out);
	check_report_fini(&rep);
	dns_resolver_free(r);
	return rc;
}
