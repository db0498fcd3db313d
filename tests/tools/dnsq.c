/*
 * dnsq - query through dns.h (the libunbound back end) and print what the
 * callback got, for tests/integration/test_dnsserver.py:
 *
 *	dnsq [--timeout MS] [--ta RR] ADDRESS[@PORT] NAME TYPE [NAME TYPE ...]
 *
 * All queries start at once; each answer prints one line, in query order:
 *	NAME TYPE STATUS [secure] [bogus] [rr ...]
 * --ta adds a DNSSEC trust anchor (a DS or DNSKEY record).
 * with rr as A/AAAA text, "PREF EXCHANGE" for MX, the target for
 * PTR/CNAME/NS, and TXT as its strings, each in double quotes.
 * Exit 0 when every callback ran once, 1 otherwise.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "util/buf.h"

#define DNSQ_MAX	32

static const struct {
	const char *name;
	enum dns_type type;
} types[] = {
	{ "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "MX", DNS_T_MX },
	{ "TXT", DNS_T_TXT }, { "PTR", DNS_T_PTR }, { "CNAME", DNS_T_CNAME },
	{ "NS", DNS_T_NS }, { "TLSA", DNS_T_TLSA }, { "SPF", DNS_T_SPF },
};

struct slot {
	struct buf line;
	int calls;
	const char *tname;
};

static void
answered(void *arg, const struct dns_answer *a)
{
	struct slot *s = arg;
	char txt[INET6_ADDRSTRLEN];
	size_t i, j, o;

	s->calls++;
	buf_printf(&s->line, "%s %s %s%s%s", a->qname, s->tname,
	    dns_status_str(a->status), a->secure ? " secure" : "",
	    a->bogus ? " bogus" : "");
	for (i = 0; i < a->nrrs; i++) {
		const struct dns_rr *rr = &a->rrs[i];

		switch (rr->type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6,
			    rr->addr, txt, sizeof(txt));
			buf_printf(&s->line, " %s", txt);
			break;
		case DNS_T_MX:
			buf_printf(&s->line, " %u %s", rr->pref, rr->name);
			break;
		case DNS_T_TXT:
		case DNS_T_SPF:
			for (j = 0, o = 0; j < rr->nparts; j++) {
				buf_printf(&s->line, " \"%.*s\"",
				    (int)rr->parts[j], rr->txt + o);
				o += rr->parts[j];
			}
			break;
		case DNS_T_TLSA:
			buf_printf(&s->line, " rdata:%zu", rr->rdata_len);
			break;
		default:
			buf_printf(&s->line, " %s", rr->name ? rr->name : "?");
		}
	}
}

int
main(int argc, char **argv)
{
	struct dns_resolver *r;
	struct slot slots[DNSQ_MAX];
	char *err = NULL;
	const char *timeout = NULL, *ta = NULL;
	int i = 1, n = 0, k, ok = 1;
	size_t t;

	while (i + 1 < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--timeout") == 0)
			timeout = argv[i + 1];
		else if (strcmp(argv[i], "--ta") == 0)
			ta = argv[i + 1];
		else
			break;
		i += 2;
	}
	if (argc - i < 3 || (argc - i - 1) % 2 != 0 ||
	    (argc - i - 1) / 2 > DNSQ_MAX) {
		fprintf(stderr, "usage: dnsq [--timeout MS] [--ta RR] SERVER "
		    "NAME TYPE ...\n");
		return 1;
	}
	if (dns_resolver_new(&r, argv[i], &err) != 0) {
		fprintf(stderr, "dnsq: %s\n", err ? err : "resolver");
		free(err);
		return 1;
	}
	if (timeout != NULL)
		dns_set_timeout(r, (int)strtol(timeout, NULL, 10));
	if (ta != NULL && dns_resolver_add_trust_anchor(r, ta, &err) != 0) {
		fprintf(stderr, "dnsq: %s\n", err);
		free(err);
		dns_resolver_free(r);
		return 1;
	}
	for (k = i + 1; k + 1 < argc; k += 2, n++) {
		enum dns_type type = 0;

		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			if (strcasecmp(types[t].name, argv[k + 1]) == 0)
				type = types[t].type;
		buf_init(&slots[n].line, 65536);
		slots[n].calls = 0;
		slots[n].tname = argv[k + 1];
		if (type == 0 || dns_query(r, argv[k], type, answered,
		    &slots[n]) != 0) {
			buf_printf(&slots[n].line, "%s %s refused", argv[k],
			    argv[k + 1]);
			slots[n].calls = 1;
		}
	}
	dns_resolver_wait(r);
	for (k = 0; k < n; k++) {
		printf("%s\n", buf_cstr(&slots[k].line));
		if (slots[k].calls != 1)
			ok = 0;
		buf_fini(&slots[k].line);
	}
	dns_resolver_free(r);
	return ok ? 0 : 1;
}
