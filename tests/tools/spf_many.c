/*
 * spf_many - many SPF evaluations at once on one resolver, as a worker
 * runs them: every one started with spf_run() before any answer arrives,
 * then one dns_resolver_wait().  For tests/integration/test_spf_cli.py.
 *
 *	spf_many COUNT RESOLVER IP MAIL_FROM
 *
 * Prints "started N", then "RESULT COUNT" per result seen, then
 * "callbacks N".  Exit 0 when every evaluation called back exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "mailauth/spf.h"

#define SPF_MANY_MAX	5000

static int counts[SPF_PERMERROR + 1];
static int callbacks;

static void
done(void *arg, struct spf *s)
{
	int *calls = arg;

	(*calls)++;
	callbacks++;
	counts[spf_result(s)]++;
}

int
main(int argc, char **argv)
{
	struct spf_params p = { 0 };
	struct dns_resolver *r;
	struct spf **s;
	int *calls, n, i, bad = 0;
	char *err = NULL;

	if (argc != 5 || (n = (int)strtol(argv[1], NULL, 10)) < 1 ||
	    n > SPF_MANY_MAX) {
		fprintf(stderr, "usage: spf_many COUNT RESOLVER IP MAIL_FROM\n");
		return 1;
	}
	if (dns_resolver_new(&r, argv[2], &err) != 0) {
		fprintf(stderr, "spf_many: %s\n", err ? err : "resolver");
		free(err);
		return 1;
	}
	dns_set_timeout(r, 5000);
	s = calloc((size_t)n, sizeof(*s));
	calls = calloc((size_t)n, sizeof(*calls));
	if (s == NULL || calls == NULL)
		return 1;
	p.ip = argv[3];
	p.mail_from = argv[4];
	p.helo = "client.example";
	p.receiver = "spf-many.example";
	for (i = 0; i < n; i++) {
		if (spf_new(&s[i], &p) != 0)
			return 1;
		spf_run(s[i], r, done, &calls[i]);
	}
	printf("started %d\n", n);
	dns_resolver_wait(r);
	for (i = 0; i <= SPF_PERMERROR; i++)
		if (counts[i])
			printf("%s %d\n", spf_result_str((enum spf_result)i),
			    counts[i]);
	printf("callbacks %d\n", callbacks);
	for (i = 0; i < n; i++) {
		if (calls[i] != 1)
			bad++;
		spf_free(s[i]);
	}
	free(s);
	free(calls);
	dns_resolver_free(r);
	return bad ? 1 : 0;
}
