/*
 * smtpsd_bench - SPF evaluations per second with smtpsd's SPF machine
 * over its libunbound resolver, pointed at one DNS server.
 *
 *	smtpsd_bench RESOLVER IP same|distinct COUNT CONCURRENCY
 *
 * Evaluates MAIL FROM bench@sN.spfbench.example for client IP, COUNT times:
 * "same" always uses s0 (after the first evaluation every answer comes
 * from libunbound's cache); "distinct" uses s0 .. sCOUNT-1, each once,
 * so every query is new to the cache.  CONCURRENCY evaluations are in
 * flight at once (1 = one after the other).  Prints one line, with the
 * process's CPU time (user + system) per evaluation:
 *	evals N pass P other O secs S rate R cpu_us C
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/dns.h"
#include "mailauth/spf.h"

#define BENCH_MAX_COUNT		1000000
#define BENCH_MAX_CONC		1000

static long npass, nother, ndone;

/* done - count one verdict */
static void
done(void *arg, struct spf *s)
{
	(void)arg;
	ndone++;
	if (spf_result(s) == SPF_PASS)
		npass++;
	else if (nother++ < 5)
		fprintf(stderr, "smtpsd_bench: %s: %s (%s)\n", spf_domain(s),
		    spf_result_str(spf_result(s)),
		    spf_problem(s) ? spf_problem(s) : "-");
}

/* now_s - monotonic seconds */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cpu_s - CPU seconds of this process (user and system) */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct spf_params p = { 0 };
	struct dns_resolver *r;
	struct spf **s;
	char (*from)[64];
	char *err = NULL;
	long count, conc, i, j, k;
	int distinct;
	double t0, t1, c0, c1;

	if (argc != 6 || (strcmp(argv[3], "same") != 0 &&
	    strcmp(argv[3], "distinct") != 0) ||
	    (count = strtol(argv[4], NULL, 10)) < 1 ||
	    count > BENCH_MAX_COUNT ||
	    (conc = strtol(argv[5], NULL, 10)) < 1 || conc > BENCH_MAX_CONC) {
		fprintf(stderr, "usage: smtpsd_bench RESOLVER IP "
		    "same|distinct COUNT CONCURRENCY\n");
		return 2;
	}
	distinct = strcmp(argv[3], "distinct") == 0;
	if (dns_resolver_new(&r, argv[1], &err) != 0) {
		fprintf(stderr, "smtpsd_bench: %s\n", err ? err : "resolver");
		free(err);
		return 1;
	}
	dns_set_timeout(r, 5000);
	s = calloc((size_t)conc, sizeof(*s));
	from = calloc((size_t)conc, sizeof(*from));
	if (s == NULL || from == NULL)
		return 1;
	p.ip = argv[2];
	p.helo = "client.example";
	p.receiver = "bench.example";
	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < count; i += conc) {
		k = count - i < conc ? count - i : conc;
		for (j = 0; j < k; j++) {
			snprintf(from[j], sizeof(from[j]),
			    "bench@s%ld.spfbench.example", distinct ? i + j : 0);
			p.mail_from = from[j];
			if (spf_new(&s[j], &p) != 0)
				return 1;
			spf_run(s[j], r, done, NULL);
		}
		dns_resolver_wait(r);
		for (j = 0; j < k; j++) {
			spf_free(s[j]);
			s[j] = NULL;
		}
	}
	t1 = now_s();
	c1 = cpu_s();
	printf("evals %ld pass %ld other %ld secs %.3f rate %.0f cpu_us %.1f\n",
	    ndone, npass, nother, t1 - t0, (double)ndone / (t1 - t0),
	    (c1 - c0) * 1e6 / (double)(ndone ? ndone : 1));
	free(s);
	free(from);
	dns_resolver_free(r);
	return ndone == count ? 0 : 1;
}
