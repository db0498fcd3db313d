/* test_dns - the table back end, the wire-format parser, resolver
   addresses, the libunbound back end's own deadline and its answer cache
   (against a counting DNS responder in a thread of this test) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "dns/dns.h"
#include "util/err.h"

/* ---- a callback that keeps a copy of what it saw ---- */

struct seen {
	int calls;
	enum dns_status status;
	size_t nrrs;
	char first[256];	/* the first record, as text */
	char qname[256];
};

static void
record(void *arg, const struct dns_answer *a)
{
	struct seen *s = arg;
	char ip[INET6_ADDRSTRLEN];

	s->calls++;
	s->status = a->status;
	s->nrrs = a->nrrs;
	snprintf(s->qname, sizeof(s->qname), "%s", a->qname ? a->qname : "");
	s->first[0] = '\0';
	if (a->nrrs == 0)
		return;
	switch (a->rrs[0].type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		inet_ntop(a->rrs[0].type == DNS_T_A ? AF_INET : AF_INET6,
		    a->rrs[0].addr, ip, sizeof(ip));
		snprintf(s->first, sizeof(s->first), "%s", ip);
		break;
	case DNS_T_MX:
		snprintf(s->first, sizeof(s->first), "%u %s", a->rrs[0].pref,
		    a->rrs[0].name);
		break;
	case DNS_T_TXT: {
		int n = snprintf(s->first, sizeof(s->first), "%zu:",
		    a->rrs[0].nparts);
		size_t l = a->rrs[0].txt_len;

		if (l > sizeof(s->first) - (size_t)n - 1)
			l = sizeof(s->first) - (size_t)n - 1;
		memcpy(s->first + n, a->rrs[0].txt, l);
		s->first[n + (int)l] = '\0';
		break;
	}
	default:
		snprintf(s->first, sizeof(s->first), "%s",
		    a->rrs[0].name ? a->rrs[0].name : "");
	}
}

/* ---- the table back end ---- */

static struct dns_resolver *
sample_table(void)
{
	static const char *const spf[] = { "v=spf1 ", "-all" };
	static const char *const other[] = { "hello" };
	struct dns_resolver *r = dns_resolver_new_table();
	uint8_t a4[4] = { 192, 0, 2, 1 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	dns_table_add_txt(r, "Example.COM.", spf, 2);
	dns_table_add_txt(r, "example.com", other, 1);
	dns_table_add_addr(r, "mail.example.com", AF_INET, a4);
	a6[15] = 1;
	dns_table_add_addr(r, "mail.example.com", AF_INET6, a6);
	dns_table_add_mx(r, "example.com", 10, "Mail.Example.com.");
	dns_table_add_name(r, "1.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "mail.example.com");
	dns_table_add_name(r, "www.example.com", DNS_T_CNAME,
	    "mail.example.com");
	dns_table_add_name(r, "loop1.example.com", DNS_T_CNAME,
	    "loop2.example.com");
	dns_table_add_name(r, "loop2.example.com", DNS_T_CNAME,
	    "loop1.example.com");
	dns_table_add_addr(r, "deep.below.example.net", AF_INET, a4);
	dns_table_set_timeout(r, "slow.example.com");
	dns_table_set_timeout_empty(r, "half.example.com");
	dns_table_add_txt(r, "half.example.com", other, 1);
	dns_table_set_exists(r, "empty.example.com");
	return r;
}

static void
test_table(void)
{
	static const struct {
		const char *name;
		enum dns_type type;
		enum dns_status status;
		size_t nrrs;
		const char *first;
		const char *what;
	} cases[] = {
		{ "example.com", DNS_T_TXT, DNS_OK, 2, "2:v=spf1 -all",
		    "TXT strings joined, parts kept, case and dot ignored" },
		{ "EXAMPLE.com.", DNS_T_MX, DNS_OK, 1, "10 mail.example.com",
		    "MX with the exchange lower-cased, no trailing dot" },
		{ "mail.example.com", DNS_T_A, DNS_OK, 1, "192.0.2.1", "A" },
		{ "mail.example.com", DNS_T_AAAA, DNS_OK, 1, "2001:db8::1",
		    "AAAA" },
		{ "1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_OK, 1,
		    "mail.example.com", "PTR" },
		{ "www.example.com", DNS_T_A, DNS_OK, 1, "192.0.2.1",
		    "CNAME followed for A" },
		{ "www.example.com", DNS_T_CNAME, DNS_OK, 1,
		    "mail.example.com", "CNAME asked for itself" },
		{ "loop1.example.com", DNS_T_A, DNS_SERVFAIL, 0, "",
		    "CNAME loop ends in SERVFAIL" },
		{ "mail.example.com", DNS_T_TXT, DNS_NODATA, 0, "",
		    "name with other types only is NODATA" },
		{ "nothere.example.com", DNS_T_A, DNS_NXDOMAIN, 0, "",
		    "unknown name is NXDOMAIN" },
		{ "below.example.net", DNS_T_A, DNS_NODATA, 0, "",
		    "empty non-terminal is NODATA" },
		{ "empty.example.com", DNS_T_TXT, DNS_NODATA, 0, "",
		    "name marked as existing is NODATA" },
		{ "slow.example.com", DNS_T_A, DNS_TIMEOUT, 0, "",
		    "timeout name, any type" },
		{ "half.example.com", DNS_T_A, DNS_TIMEOUT, 0, "",
		    "timeout-empty name, type without records" },
		{ "half.example.com", DNS_T_TXT, DNS_OK, 1, "1:hello",
		    "timeout-empty name, type with records" },
	};
	struct dns_resolver *r = sample_table();
	struct seen seen[sizeof(cases) / sizeof(cases[0])];
	size_t i;

	memset(seen, 0, sizeof(seen));
	CHECK_INT(dns_resolver_fd(r), -1, "table has no descriptor");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(dns_query(r, cases[i].name, cases[i].type, record,
		    &seen[i]), 0, cases[i].what);
	CHECK_INT(seen[0].calls, 0, "no callback inside dns_query");
	CHECK_INT(dns_resolver_pending(r), sizeof(cases) / sizeof(cases[0]),
	    "every query pending before processing");
	CHECK_INT(dns_resolver_wait(r), 0, "wait returns 0");
	CHECK_INT(dns_resolver_pending(r), 0, "nothing pending after wait");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(seen[i].calls, 1, cases[i].what);
		CHECK_STR(dns_status_str(seen[i].status),
		    dns_status_str(cases[i].status), cases[i].what);
		CHECK_INT(seen[i].nrrs, cases[i].nrrs, cases[i].what);
		CHECK_STR(seen[i].first, cases[i].first, cases[i].what);
		CHECK_STR(seen[i].qname, cases[i].name, cases[i].what);
	}
	CHECK_INT(dns_query(r, "a..b.example", DNS_T_A, record, &seen[0]),
	    E_INVAL, "empty label refused");
	CHECK_INT(dns_query(r, "a123456789012345678901234567890123456789012345"
	    "678901234567890123.example", DNS_T_A, record, &seen[0]),
	    E_INVAL, "64-octet label refused");
	CHECK_INT(dns_resolver_pending(r), 0, "refused queries not pending");
	dns_resolver_free(r);
}

/* chained - a callback that starts another query (as SPF does) */
struct chain {
	struct dns_resolver *r;
	struct seen second;
	int first_calls;
};

static void
chained(void *arg, const struct dns_answer *a)
{
	struct chain *c = arg;

	c->first_calls++;
	dns_query(c->r, a->rrs[0].name, DNS_T_A, record, &c->second);
}

static void
test_table_chained_queries(void)
{
	struct chain c = { 0 };

	c.r = sample_table();
	dns_query(c.r, "example.com", DNS_T_MX, chained, &c);
	CHECK_INT(dns_resolver_process(c.r), 1, "process answers one round");
	CHECK_INT(dns_resolver_pending(c.r), 1, "the chained query waits");
	dns_resolver_wait(c.r);
	CHECK_INT(c.first_calls, 1, "first callback once");
	CHECK_INT(c.second.calls, 1, "chained callback once");
	CHECK_STR(c.second.first, "192.0.2.1", "chained answer");
	dns_resolver_free(c.r);
}

static void
test_txt_with_nul(void)
{
	static const char s0[] = { 'a', '\0', 'b' };
	const char *strs[] = { s0 };
	size_t lens[] = { 3 };
	struct dns_resolver *r = dns_resolver_new_table();
	struct seen s = { 0 };

	dns_table_add_txt_len(r, "nul.example", strs, lens, 1);
	dns_query(r, "nul.example", DNS_T_TXT, record, &s);
	dns_resolver_wait(r);
	CHECK_INT(s.status, DNS_OK, "TXT holding a NUL answers");
	CHECK(memcmp(s.first, "1:a\0b", 5) == 0, "TXT keeps the NUL byte");
	dns_resolver_free(r);
}

/* ---- wire format ---- */

struct pkt {
	uint8_t b[1024];
	size_t n;
};

static void
put(struct pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
put16(struct pkt *p, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(p, b, 2);
}

static void
put_name(struct pkt *p, const char *name)
{
	const char *s = name;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		uint8_t lb = (uint8_t)l;

		put(p, &lb, 1);
		put(p, s, l);
		s += l;
		if (*s == '.')
			s++;
	}
	put(p, "", 1);
}

/* header - id 1, QR+RD+RA, rcode; one question; an answers */
static void
header(struct pkt *p, int rcode, unsigned an, const char *qname,
    unsigned qtype)
{
	p->n = 0;
	put16(p, 1);
	put16(p, 0x8180 | (unsigned)rcode);
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, qtype);
	put16(p, 1);
}

/* rr_head - owner as a pointer to the question name (offset 12) */
static void
rr_head(struct pkt *p, unsigned type, unsigned rdlen)
{
	put16(p, 0xc00c);
	put16(p, type);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, rdlen);
}

static void
test_wire(void)
{
	struct dns_answer a;
	struct pkt p;
	uint8_t addr[4] = { 192, 0, 2, 9 };
	uint8_t tlsa[5] = { 3, 1, 1, 0xab, 0xcd };
	size_t at;

	/* A */
	header(&p, 0, 1, "example.com", 1);
	rr_head(&p, 1, 4);
	put(&p, addr, 4);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_A, &a), 0, "A parses");
	CHECK_INT(a.status, DNS_OK, "A status");
	CHECK_INT(a.nrrs, 1, "A count");
	CHECK(a.nrrs == 1 && memcmp(a.rrs[0].addr, addr, 4) == 0, "A addr");
	CHECK_INT(a.nrrs ? a.rrs[0].ttl : 0, 300, "A ttl");
	dns_answer_fini(&a);

	/* MX whose exchange is "mail" + pointer to the question name */
	header(&p, 0, 1, "example.com", 15);
	rr_head(&p, 15, 2 + 5 + 2);
	put16(&p, 20);
	put(&p, "\4mail", 5);
	put(&p, "\300\014", 2);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_MX, &a), 0,
	    "MX with a compressed exchange parses");
	CHECK_INT(a.nrrs ? a.rrs[0].pref : 0, 20, "MX preference");
	CHECK_STR(a.nrrs ? a.rrs[0].name : NULL, "mail.example.com",
	    "MX exchange decompressed");
	dns_answer_fini(&a);

	/* TXT of two strings */
	header(&p, 0, 1, "example.com", 16);
	rr_head(&p, 16, 1 + 7 + 1 + 4);
	put(&p, "\7v=spf1 \4-all", 13);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_TXT, &a), 0, "TXT parses");
	CHECK_STR(a.nrrs ? a.rrs[0].txt : NULL, "v=spf1 -all",
	    "TXT strings concatenated");
	CHECK_INT(a.nrrs ? a.rrs[0].nparts : 0, 2, "TXT keeps two parts");
	CHECK_INT(a.nrrs && a.rrs[0].nparts == 2 ? a.rrs[0].parts[0] : 0, 7,
	    "TXT first part length");
	dns_answer_fini(&a);

	/* CNAME then A: for an A query only the A record is kept */
	header(&p, 0, 2, "www.example.com", 1);
	rr_head(&p, 5, 2);
	at = p.n;
	put(&p, "\300\020", 2);	/* -> "example.com" inside the question */
	put16(&p, 0xc000 | (unsigned)at);
	put16(&p, 1);
	put16(&p, 1);
	put16(&p, 0);
	put16(&p, 60);
	put16(&p, 4);
	put(&p, addr, 4);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_A, &a), 0,
	    "CNAME chain parses");
	CHECK_INT(a.nrrs, 1, "CNAME skipped for an A query");
	dns_answer_fini(&a);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_CNAME, &a), 0,
	    "CNAME query parses");
	CHECK_STR(a.nrrs ? a.rrs[0].name : NULL, "example.com",
	    "CNAME target decompressed");
	dns_answer_fini(&a);

	/* PTR */
	header(&p, 0, 1, "9.2.0.192.in-addr.arpa", 12);
	rr_head(&p, 12, 12);
	put_name(&p, "mx.example");
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_PTR, &a), 0, "PTR parses");
	CHECK_STR(a.nrrs ? a.rrs[0].name : NULL, "mx.example", "PTR name");
	dns_answer_fini(&a);

	/* TLSA: raw rdata */
	header(&p, 0, 1, "_25._tcp.mx.example", 52);
	rr_head(&p, 52, 5);
	put(&p, tlsa, 5);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_TLSA, &a), 0,
	    "TLSA parses");
	CHECK_INT(a.nrrs ? a.rrs[0].rdata_len : 0, 5, "TLSA rdata length");
	CHECK(a.nrrs && memcmp(a.rrs[0].rdata, tlsa, 5) == 0, "TLSA rdata");
	dns_answer_fini(&a);

	/* rcodes */
	header(&p, 3, 0, "nx.example", 1);
	dns_parse_packet(p.b, p.n, DNS_T_A, &a);
	CHECK_INT(a.status, DNS_NXDOMAIN, "RCODE 3 is NXDOMAIN");
	header(&p, 0, 0, "nodata.example", 1);
	dns_parse_packet(p.b, p.n, DNS_T_A, &a);
	CHECK_INT(a.status, DNS_NODATA, "NOERROR, no answer is NODATA");
	header(&p, 2, 0, "sf.example", 1);
	dns_parse_packet(p.b, p.n, DNS_T_A, &a);
	CHECK_INT(a.status, DNS_SERVFAIL, "RCODE 2 is SERVFAIL");
	header(&p, 5, 0, "ref.example", 1);
	dns_parse_packet(p.b, p.n, DNS_T_A, &a);
	CHECK_INT(a.status, DNS_SERVFAIL, "REFUSED counts as SERVFAIL");

	/* malformed messages */
	CHECK_INT(dns_parse_packet(p.b, 11, DNS_T_A, &a), E_SYNTAX,
	    "short header");
	header(&p, 0, 1, "example.com", 1);
	rr_head(&p, 1, 4);
	put(&p, addr, 3);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_A, &a), E_SYNTAX,
	    "rdata past the end");
	CHECK_INT(a.status, DNS_ERROR, "malformed is DNS_ERROR");
	header(&p, 0, 1, "example.com", 1);
	rr_head(&p, 1, 3);
	put(&p, addr, 3);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_A, &a), E_SYNTAX,
	    "A of 3 octets");
	header(&p, 0, 1, "example.com", 16);
	rr_head(&p, 16, 3);
	put(&p, "\5ab", 3);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_TXT, &a), E_SYNTAX,
	    "TXT string longer than its rdata");
	header(&p, 0, 1, "example.com", 15);
	at = p.n;
	rr_head(&p, 15, 4);
	put16(&p, 1);
	put16(&p, 0xc000 | (unsigned)(at + 14));	/* points at itself */
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_MX, &a), E_SYNTAX,
	    "compression loop");
	p.n = 0;
	put16(&p, 1);
	put16(&p, 0x8180);
	put16(&p, 1);
	put16(&p, 0);
	put16(&p, 0);
	put16(&p, 0);
	put(&p, "\300\014", 2);	/* the question name points at itself */
	put16(&p, 1);
	put16(&p, 1);
	CHECK_INT(dns_parse_packet(p.b, p.n, DNS_T_A, &a), E_SYNTAX,
	    "self-pointing question name");
}

/* ---- resolver addresses and the unbound deadline ---- */

static void
test_resolver_addresses(void)
{
	static const struct {
		const char *server;
		int want;
	} cases[] = {
		{ "127.0.0.1", 0 }, { "127.0.0.1@5353", 0 }, { "::1@53", 0 },
		{ "localhost", E_INVAL }, { "127.0.0.1@", E_INVAL },
		{ "127.0.0.1@0", E_INVAL }, { "127.0.0.1@65536", E_INVAL },
		{ "127.0.0.1@53x", E_INVAL }, { "@53", E_INVAL },
		{ "1.2.3.4.5", E_INVAL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_resolver *r = NULL;
		char *err = NULL;

		CHECK_INT(dns_resolver_new(&r, cases[i].server, &err),
		    cases[i].want, cases[i].server);
		CHECK(cases[i].want == 0 ? err == NULL && r != NULL :
		    err != NULL && r == NULL, cases[i].server);
		free(err);
		dns_resolver_free(r);
	}
}

static void
test_trust_anchors(void)
{
	struct dns_resolver *r = dns_resolver_new_table(), *u = NULL;
	char *err = NULL;

	CHECK_INT(dns_resolver_add_trust_anchor(r, "example. DS 1 13 2 00",
	    &err), E_INVAL, "table resolver refuses a trust anchor");
	CHECK(err != NULL, "table refusal says why");
	free(err);
	dns_resolver_free(r);
	if (dns_resolver_new(&u, "127.0.0.1@53", &err) != 0) {
		CHECK(0, "resolver for the trust anchor test");
		free(err);
		return;
	}
	CHECK_INT(dns_resolver_add_trust_anchor(u, "not a record", &err),
	    E_INVAL, "malformed trust anchor refused");
	free(err);
	CHECK_INT(dns_resolver_add_trust_anchor(u, "example. 300 IN DNSKEY "
	    "257 3 13 IadbV/cBC0JUPYYbZulA9WoiWqRhMZNhvJWVbfLyrIzd04b/Vt375Wc"
	    "va/V3lfaCqTOTTSsFBEWCP1d10FarJA==", &err), 0,
	    "DNSKEY trust anchor accepted");
	free(err);
	dns_resolver_free(u);
}

static void
test_unbound_deadline(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct dns_resolver *r;
	struct seen s = { 0 };
	struct timespec t0, t1;
	char server[64], *err = NULL;
	double took;
	int fd;

	/* A UDP socket on loopback that never answers. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		CHECK(0, "silent server socket");
		return;
	}
	snprintf(server, sizeof(server), "127.0.0.1@%u", ntohs(sin.sin_port));
	if (dns_resolver_new(&r, server, &err) != 0) {
		CHECK(0, err ? err : "resolver");
		free(err);
		close(fd);
		return;
	}
	dns_set_timeout(r, 300);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(dns_query(r, "silent.example", DNS_T_TXT, record, &s), 0,
	    "query to a silent server starts");
	CHECK(dns_resolver_fd(r) >= 0, "unbound back end has a descriptor");
	CHECK(dns_resolver_timeout_ms(r) >= 0 &&
	    dns_resolver_timeout_ms(r) <= 300, "deadline reported");
	dns_resolver_wait(r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK_INT(s.calls, 1, "silent server: callback once");
	CHECK_STR(dns_status_str(s.status), "timeout",
	    "silent server: DNS_TIMEOUT");
	CHECK(took >= 0.25 && took < 3.0, "deadline of 300 ms kept");
	CHECK_INT(dns_resolver_pending(r), 0, "nothing pending after timeout");
	/* (libunbound may still retransmit the cancelled query, so its
	   timers may still show in dns_resolver_timeout_ms) */
	CHECK_INT(dns_cache_entries(r), 0, "a timeout is not cached");
	dns_resolver_free(r);
	close(fd);
}

/* ---- the answer cache, against a responder that counts queries ---- */

/* how the responder answers a name over UDP (TCP: always RSP_PLAIN) */
enum rsp_mode {
	RSP_PLAIN,
	RSP_TC,		/* truncated, and a different address */
	RSP_DECOYS,	/* first a wrong id, then a wrong question */
	RSP_STRAY,	/* an unrelated A record first in the answer */
};

/* what the responder serves: owner, rcode, TTL of the A record (0: no
   answer), TTL and MINIMUM of the SOA in the authority section (0: none),
   how it answers over UDP */
static const struct rsp_name {
	const char *name;
	int rcode;
	uint32_t a_ttl, soa_ttl, soa_min;
	enum rsp_mode mode;
} rsp_names[] = {
	{ "pos.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "short.cache.example", 0, 1, 0, 0, RSP_PLAIN },
	/* NODATA, no SOA; NXDOMAIN and NODATA of negative TTL 1 */
	{ "zero.cache.example", 0, 0, 0, 0, RSP_PLAIN },
	{ "nx.cache.example", 3, 0, 300, 1, RSP_PLAIN },
	{ "nodata.cache.example", 0, 0, 1, 300, RSP_PLAIN },
	{ "nxlong.cache.example", 3, 0, 300, 300, RSP_PLAIN },
	{ "fail.cache.example", 2, 0, 0, 0, RSP_PLAIN },
	{ "e0.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "e1.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "e2.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "e3.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "e4.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "e5.cache.example", 0, 300, 0, 0, RSP_PLAIN },
	{ "tc.cache.example", 0, 300, 0, 0, RSP_TC },
	{ "decoy.cache.example", 0, 300, 0, 0, RSP_DECOYS },
	{ "stray.cache.example", 0, 300, 0, 0, RSP_STRAY },
};
#define RSP_N	(sizeof(rsp_names) / sizeof(rsp_names[0]))

struct rsp {
	int fd;
	int lfd;			/* TCP on the same port */
	atomic_int tcp;			/* queries seen over TCP */
	atomic_int stop;
	atomic_int count[RSP_N];	/* queries seen per name */
	pthread_t tid;
};

static size_t
wput(uint8_t *b, size_t o, const void *d, size_t n)
{
	memcpy(b + o, d, n);
	return o + n;
}

static size_t
wput16(uint8_t *b, size_t o, unsigned v)
{
	b[o] = (uint8_t)(v >> 8);
	b[o + 1] = (uint8_t)v;
	return o + 2;
}

static size_t
wput32(uint8_t *b, size_t o, uint32_t v)
{
	o = wput16(b, o, v >> 16);
	return wput16(b, o, v & 0xffff);
}

/* rsp_answer - the reply to the query in q (qlen bytes) into out; *mode
   is how the name is answered over UDP */
static size_t
rsp_answer(struct rsp *rs, const uint8_t *q, size_t qlen, uint8_t *out,
    bool tcp, enum rsp_mode *mode)
{
	char name[256];
	size_t p = 12, o = 0, qend, i;
	const struct rsp_name *n = NULL;
	uint8_t a[4] = { 192, 0, 2, 1 };
	unsigned flags = 0x8580;

	*mode = RSP_PLAIN;

	if (qlen < 12 + 5)
		return 0;
	while (p < qlen && q[p] != 0 && o + q[p] + 1 < sizeof(name)) {
		if (o > 0)
			name[o++] = '.';
		for (i = 0; i < q[p] && p + 1 + i < qlen; i++) {
			char c = (char)q[p + 1 + i];

			name[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		p += 1 + q[p];
	}
	name[o] = '\0';
	qend = p + 1 + 4;
	if (qend > qlen)
		return 0;
	for (i = 0; i < RSP_N; i++)
		if (strcmp(rsp_names[i].name, name) == 0) {
			n = &rsp_names[i];
			atomic_fetch_add(&rs->count[i], 1);
		}
	if (n != NULL && !tcp)
		*mode = n->mode;
	if (*mode == RSP_TC) {
		flags |= 0x0200;
		a[3] = 99;
	}
	o = wput(out, 0, q, 2);				/* id */
	o = wput16(out, o, flags | (unsigned)(n ? n->rcode : 3));
	o = wput16(out, o, 1);
	o = wput16(out, o, (n && n->a_ttl && (q[qend - 3] == 1) ? 1 : 0) +
	    (*mode == RSP_STRAY ? 1 : 0));
	o = wput16(out, o, n && n->soa_ttl ? 1 : 0);
	o = wput16(out, o, 0);
	o = wput(out, o, q + 12, qend - 12);		/* the question */
	if (*mode == RSP_STRAY) {
		/* other.example. A 192.0.2.66 */
		o = wput(out, o, "\5other\7example\0", 15);
		o = wput16(out, o, 1);
		o = wput16(out, o, 1);
		o = wput32(out, o, 300);
		o = wput16(out, o, 4);
		o = wput(out, o, "\300\0\2\102", 4);
	}
	if (n && n->a_ttl && q[qend - 3] == 1) {	/* an A query */
		o = wput16(out, o, 0xc00c);
		o = wput16(out, o, 1);
		o = wput16(out, o, 1);
		o = wput32(out, o, n->a_ttl);
		o = wput16(out, o, 4);
		o = wput(out, o, a, 4);
	}
	if (n && n->soa_ttl) {
		/* owned by the name asked (its own RRset: libunbound would
		   merge one shared SOA's TTLs across the names) */
		o = wput16(out, o, 0xc00c);
		o = wput16(out, o, 6);
		o = wput16(out, o, 1);
		o = wput32(out, o, n->soa_ttl);
		o = wput16(out, o, 2 + 20);
		o = wput(out, o, "\0\0", 2);		/* MNAME, RNAME: root */
		o = wput32(out, o, 1);
		o = wput32(out, o, 3600);
		o = wput32(out, o, 600);
		o = wput32(out, o, 86400);
		o = wput32(out, o, n->soa_min);
	}
	return o;
}

/* rsp_tcp - answer one query on a TCP connection (RFC 1035 4.2.2) */
static void
rsp_tcp(struct rsp *rs)
{
	uint8_t q[514], out[1026];
	struct pollfd pfd;
	enum rsp_mode mode;
	size_t got = 0, len;
	ssize_t n;
	int fd;

	if ((fd = accept(rs->lfd, NULL, NULL)) < 0)
		return;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (got < 2 || got < 2 + (size_t)(q[0] << 8 | q[1])) {
		if (poll(&pfd, 1, 1000) <= 0 ||
		    (n = read(fd, q + got, sizeof(q) - got)) <= 0)
			goto out;
		got += (size_t)n;
	}
	atomic_fetch_add(&rs->tcp, 1);
	if ((len = rsp_answer(rs, q + 2, got - 2, out + 2, true, &mode)) > 0) {
		out[0] = (uint8_t)(len >> 8);
		out[1] = (uint8_t)len;
		(void)write(fd, out, len + 2);
	}
out:
	close(fd);
}

/* rsp_main - answer queries until told to stop */
static void *
rsp_main(void *arg)
{
	struct rsp *rs = arg;
	uint8_t q[512], out[1024];

	while (!atomic_load(&rs->stop)) {
		struct pollfd pfd[2] = { { .fd = rs->fd, .events = POLLIN },
		    { .fd = rs->lfd, .events = POLLIN } };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		enum rsp_mode mode;
		ssize_t n;
		size_t len;

		if (poll(pfd, 2, 50) <= 0)
			continue;
		if (pfd[1].revents & POLLIN)
			rsp_tcp(rs);
		if (!(pfd[0].revents & POLLIN))
			continue;
		n = recvfrom(rs->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
		    &fl);
		if (n <= 0)
			continue;
		if ((len = rsp_answer(rs, q, (size_t)n, out, false,
		    &mode)) == 0)
			continue;
		if (mode == RSP_DECOYS) {
			uint8_t d[1024];

			/* another id, then our id with another question
			   (one letter of the name changed), both with another
			   address: a resolver must take neither */
			memcpy(d, out, len);
			d[1] ^= 1;
			d[len - 1] = 77;
			(void)sendto(rs->fd, d, len, 0,
			    (struct sockaddr *)&from, fl);
			d[1] ^= 1;
			d[13] = d[13] == 'x' ? 'y' : 'x';
			(void)sendto(rs->fd, d, len, 0,
			    (struct sockaddr *)&from, fl);
		}
		(void)sendto(rs->fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* rsp_count - queries the responder saw for name */
static int
rsp_count(struct rsp *rs, const char *name)
{
	size_t i;

	for (i = 0; i < RSP_N; i++)
		if (strcmp(rsp_names[i].name, name) == 0)
			return atomic_load(&rs->count[i]);
	return -1;
}

/* ask - one query, waited for; its status */
static enum dns_status
ask(struct dns_resolver *r, const char *name, enum dns_type type,
    struct seen *s)
{
	memset(s, 0, sizeof(*s));
	if (dns_query(r, name, type, record, s) != 0)
		return DNS_ERROR;
	dns_resolver_wait(r);
	return s->calls == 1 ? s->status : DNS_ERROR;
}

static void
test_cache(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct dns_resolver *r = NULL, *t;
	struct rsp rs;
	struct seen s;
	char server[64], *err = NULL, name[64];
	size_t before;
	int i;

	memset(&rs, 0, sizeof(rs));
	rs.fd = socket(AF_INET, SOCK_DGRAM, 0);
	rs.lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rs.fd < 0 || rs.lfd < 0 || bind(rs.fd, (struct sockaddr *)&sin,
	    sizeof(sin)) != 0 || getsockname(rs.fd, (struct sockaddr *)&sin,
	    &sl) != 0 || bind(rs.lfd, (struct sockaddr *)&sin,
	    sizeof(sin)) != 0 || listen(rs.lfd, 8) != 0 ||
	    pthread_create(&rs.tid, NULL, rsp_main, &rs) != 0) {
		CHECK(0, "responder");
		if (rs.fd >= 0)
			close(rs.fd);
		if (rs.lfd >= 0)
			close(rs.lfd);
		return;
	}
	snprintf(server, sizeof(server), "127.0.0.1@%u", ntohs(sin.sin_port));
	if (dns_resolver_new(&r, server, &err) != 0) {
		CHECK(0, err ? err : "resolver");
		free(err);
		goto out;
	}
	dns_set_timeout(r, 2000);

	/* a positive answer: asked once, then served from the cache, in
	   any case and with or without the trailing dot */
	CHECK_INT(ask(r, "pos.cache.example", DNS_T_A, &s), DNS_OK,
	    "positive answer");
	CHECK_STR(s.first, "192.0.2.1", "positive answer's address");
	CHECK_INT(rsp_count(&rs, "pos.cache.example"), 1, "asked once");
	CHECK_INT(dns_cache_entries(r), 1, "positive answer cached");
	memset(&s, 0, sizeof(s));
	CHECK_INT(dns_query(r, "POS.Cache.Example.", DNS_T_A, record, &s), 0,
	    "cached query starts");
	CHECK_INT(s.calls, 0, "no callback inside dns_query on a hit");
	CHECK_INT(dns_resolver_pending(r), 1, "the hit is pending");
	CHECK_INT(dns_resolver_timeout_ms(r), 0, "the hit wakes the loop");
	CHECK_INT(dns_resolver_process(r), 1, "process delivers the hit");
	CHECK_INT(s.calls, 1, "hit: callback once");
	CHECK_STR(s.first, "192.0.2.1", "hit: the same address");
	CHECK_STR(s.qname, "POS.Cache.Example.", "hit: the name as asked");
	CHECK_INT(rsp_count(&rs, "pos.cache.example"), 1,
	    "hit: no second query");
	CHECK_INT(ask(r, "pos.cache.example", DNS_T_TXT, &s), DNS_NODATA,
	    "another type is another entry");
	CHECK_INT(rsp_count(&rs, "pos.cache.example"), 2,
	    "another type is asked");

	/* TTL 1 and negative TTL 1: kept, then asked again */
	CHECK_INT(ask(r, "short.cache.example", DNS_T_A, &s), DNS_OK, "TTL 1");
	CHECK_INT(ask(r, "nx.cache.example", DNS_T_A, &s), DNS_NXDOMAIN,
	    "NXDOMAIN");
	CHECK_INT(ask(r, "nodata.cache.example", DNS_T_A, &s), DNS_NODATA,
	    "NODATA");
	CHECK_INT(ask(r, "nxlong.cache.example", DNS_T_A, &s), DNS_NXDOMAIN,
	    "NXDOMAIN, long negative TTL");
	CHECK_INT(ask(r, "short.cache.example", DNS_T_A, &s), DNS_OK,
	    "TTL 1 again");
	CHECK_INT(ask(r, "nx.cache.example", DNS_T_A, &s), DNS_NXDOMAIN,
	    "NXDOMAIN again");
	CHECK_INT(ask(r, "nodata.cache.example", DNS_T_A, &s), DNS_NODATA,
	    "NODATA again");
	CHECK_INT(rsp_count(&rs, "short.cache.example"), 1, "TTL 1 cached");
	CHECK_INT(rsp_count(&rs, "nx.cache.example"), 1, "NXDOMAIN cached");
	CHECK_INT(rsp_count(&rs, "nodata.cache.example"), 1, "NODATA cached");
	/* libunbound's own cache counts whole seconds and still serves a
	   record in the second it expires, so wait past that */
	usleep(2200 * 1000);
	CHECK_INT(ask(r, "short.cache.example", DNS_T_A, &s), DNS_OK,
	    "TTL 1 after 2.2 s");
	CHECK_INT(ask(r, "nx.cache.example", DNS_T_A, &s), DNS_NXDOMAIN,
	    "NXDOMAIN after 2.2 s");
	CHECK_INT(ask(r, "nodata.cache.example", DNS_T_A, &s), DNS_NODATA,
	    "NODATA after 2.2 s");
	CHECK_INT(ask(r, "nxlong.cache.example", DNS_T_A, &s), DNS_NXDOMAIN,
	    "long NXDOMAIN after 2.2 s");
	CHECK_INT(rsp_count(&rs, "short.cache.example"), 2,
	    "TTL 1 expired: asked again");
	CHECK_INT(rsp_count(&rs, "nx.cache.example"), 2,
	    "NXDOMAIN of SOA MINIMUM 1 expired: asked again");
	CHECK_INT(rsp_count(&rs, "nodata.cache.example"), 2,
	    "NODATA of SOA TTL 1 expired: asked again");
	CHECK_INT(rsp_count(&rs, "nxlong.cache.example"), 1,
	    "NXDOMAIN of negative TTL 300 still cached");

	/* SERVFAIL is never kept */
	before = dns_cache_entries(r);
	CHECK_INT(ask(r, "fail.cache.example", DNS_T_A, &s), DNS_SERVFAIL,
	    "SERVFAIL");
	CHECK_INT(dns_cache_entries(r), before, "SERVFAIL not cached");

	/* A loopback forwarder without a trust anchor is asked directly;
	   a truncated answer goes to libunbound, which asks again over
	   TCP, and answers with another id or question are not taken. */
	CHECK_INT(ask(r, "tc.cache.example", DNS_T_A, &s), DNS_OK,
	    "truncated over UDP");
	CHECK_STR(s.first, "192.0.2.1", "truncated: the TCP answer");
	CHECK(atomic_load(&rs.tcp) >= 1, "truncated: asked over TCP");
	CHECK_INT(ask(r, "decoy.cache.example", DNS_T_A, &s), DNS_OK,
	    "decoys first");
	CHECK_STR(s.first, "192.0.2.1", "decoys: the real answer taken");
	CHECK_INT(rsp_count(&rs, "decoy.cache.example"), 1,
	    "decoys: asked once");
	CHECK_INT(ask(r, "stray.cache.example", DNS_T_A, &s), DNS_OK,
	    "an unrelated record in the answer");
	CHECK_INT(s.nrrs, 1, "stray: only the record of the name asked");
	CHECK_STR(s.first, "192.0.2.1", "stray: the address of the name");

	/* the cap: the least recently used entry goes */
	dns_set_cache_size(r, 4);
	CHECK_INT(dns_cache_entries(r), 0, "resizing empties the cache");
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "e%d.cache.example", i);
		CHECK_INT(ask(r, name, DNS_T_A, &s), DNS_OK, name);
		CHECK(dns_cache_entries(r) <= 4, "never more than the cap");
	}
	CHECK_INT(dns_cache_entries(r), 4, "the cap is reached and kept");
	dns_set_cache_size(r, 0);
	CHECK_INT(ask(r, "pos.cache.example", DNS_T_A, &s), DNS_OK,
	    "no cache: still answers");
	CHECK_INT(dns_cache_entries(r), 0, "size 0: nothing cached");
	dns_resolver_free(r);

	/* the table back end is never cached */
	t = sample_table();
	dns_set_cache_size(t, 16);
	CHECK_INT(ask(t, "example.com", DNS_T_MX, &s), DNS_OK, "table");
	CHECK_INT(ask(t, "slow.example.com", DNS_T_A, &s), DNS_TIMEOUT,
	    "table timeout");
	CHECK_INT(dns_cache_entries(t), 0, "table answers not cached");
	dns_resolver_free(t);
out:
	atomic_store(&rs.stop, 1);
	pthread_join(rs.tid, NULL);
	close(rs.fd);
	close(rs.lfd);
}

int
main(void)
{
	test_table();
	test_table_chained_queries();
	test_txt_with_nul();
	test_wire();
	test_resolver_addresses();
	test_trust_anchors();
	test_unbound_deadline();
	test_cache();
	return test_done();
}
