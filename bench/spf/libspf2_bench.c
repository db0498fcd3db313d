/*
 * libspf2_bench - SPF evaluations per second with Debian's libspf2,
 * one after the other, its DNS sent to 127.0.0.1:PORT.
 *
 *	libspf2_bench PORT IP same|distinct COUNT resolv|cache
 *
 * libspf2's resolv back end asks the libc stub resolver through its own
 * per-thread res_state, made by res_ninit(), so setting _res has no
 * effect on it.  The script links libspf2.a statically with
 * -Wl,--wrap=__res_ninit: our wrapper below runs the real res_ninit and
 * then points that state at 127.0.0.1:PORT only.  "resolv"
 * caches nothing (every evaluation sends all its queries); "cache" puts
 * libspf2's own SPF_DNS_CACHE layer in front.  Sender and output as in
 * smtpsd_bench.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spf2/spf.h>

#define BENCH_MAX_COUNT		1000000

int __real___res_ninit(res_state st);
int __wrap___res_ninit(res_state st);

static unsigned short bench_port;

/* __wrap___res_ninit - libspf2's res_ninit, aimed at the loopback server */
int
__wrap___res_ninit(res_state st)
{
	int rc;

	rc = __real___res_ninit(st);
	st->nsaddr_list[0].sin_family = AF_INET;
	st->nsaddr_list[0].sin_port = htons(bench_port);
	st->nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	st->nscount = 1;
	st->retry = 1;
	st->retrans = 5;
	return rc;
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
	SPF_server_t *srv;
	SPF_request_t *req;
	SPF_response_t *res;
	char from[64];
	long count, i, port, npass = 0, nother = 0;
	int distinct, cache;
	double t0, t1, c0, c1;

	if (argc != 6 || (port = strtol(argv[1], NULL, 10)) < 1 ||
	    port > 65535 || (strcmp(argv[3], "same") != 0 &&
	    strcmp(argv[3], "distinct") != 0) ||
	    (count = strtol(argv[4], NULL, 10)) < 1 ||
	    count > BENCH_MAX_COUNT || (strcmp(argv[5], "resolv") != 0 &&
	    strcmp(argv[5], "cache") != 0)) {
		fprintf(stderr, "usage: libspf2_bench PORT IP same|distinct "
		    "COUNT resolv|cache\n");
		return 2;
	}
	distinct = strcmp(argv[3], "distinct") == 0;
	cache = strcmp(argv[5], "cache") == 0;
	bench_port = (unsigned short)port;
	srv = SPF_server_new(cache ? SPF_DNS_CACHE : SPF_DNS_RESOLV, 0);
	if (srv == NULL)
		return 1;
	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < count; i++) {
		snprintf(from, sizeof(from), "bench@s%ld.spfbench.example",
		    distinct ? i : 0);
		req = SPF_request_new(srv);
		res = NULL;
		SPF_request_set_ipv4_str(req, argv[2]);
		SPF_request_set_helo_dom(req, "client.example");
		SPF_request_set_env_from(req, from);
		SPF_request_query_mailfrom(req, &res);
		if (res != NULL && SPF_response_result(res) == SPF_RESULT_PASS)
			npass++;
		else
			nother++;
		if (res != NULL)
			SPF_response_free(res);
		SPF_request_free(req);
	}
	t1 = now_s();
	c1 = cpu_s();
	printf("evals %ld pass %ld other %ld secs %.3f rate %.0f cpu_us %.1f\n",
	    count, npass, nother, t1 - t0, (double)count / (t1 - t0),
	    (c1 - c0) * 1e6 / (double)count);
	SPF_server_free(srv);
	return 0;
}
