/* test_spf - SPF macro expansion (RFC 7208 7.4's examples), record
   syntax, the 4.6.4 limits, the machine's query sequence, HELO identity,
   Received-SPF and resinfo */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "testlib.h"
#include "dns/dns.h"
#include "mailauth/spf.h"
#include "util/err.h"

/* ---- macros ---- */

static void
test_macros(void)
{
	static const struct {
		const char *ip, *spec, *want;
		bool is_exp;
	} cases[] = {
		/* RFC 7208 7.4, sender strong-bad@email.example.com */
		{ "192.0.2.3", "%{s}", "strong-bad@email.example.com", false },
		{ "192.0.2.3", "%{o}", "email.example.com", false },
		{ "192.0.2.3", "%{d}", "email.example.com", false },
		{ "192.0.2.3", "%{d4}", "email.example.com", false },
		{ "192.0.2.3", "%{d3}", "email.example.com", false },
		{ "192.0.2.3", "%{d2}", "example.com", false },
		{ "192.0.2.3", "%{d1}", "com", false },
		{ "192.0.2.3", "%{dr}", "com.example.email", false },
		{ "192.0.2.3", "%{d2r}", "example.email", false },
		{ "192.0.2.3", "%{l}", "strong-bad", false },
		{ "192.0.2.3", "%{l-}", "strong.bad", false },
		{ "192.0.2.3", "%{lr}", "strong-bad", false },
		{ "192.0.2.3", "%{lr-}", "bad.strong", false },
		{ "192.0.2.3", "%{l1r-}", "strong", false },
		{ "192.0.2.3", "%{ir}.%{v}._spf.%{d2}",
		    "3.2.0.192.in-addr._spf.example.com", false },
		{ "192.0.2.3", "%{lr-}.lp._spf.%{d2}",
		    "bad.strong.lp._spf.example.com", false },
		{ "192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", false },
		{ "192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		    "3.2.0.192.in-addr.strong.lp._spf.example.com", false },
		{ "192.0.2.3", "%{d2}.trusted-domains.example.net",
		    "example.com.trusted-domains.example.net", false },
		{ "2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}",
		    "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0."
		    "0.2.ip6._spf.example.com", false },
		/* literals and escapes (7.1) */
		{ "192.0.2.3", "a%%b%_c%-d", "a%b c%20d", false },
		{ "192.0.2.3", "%{h}", "helo.example.org", false },
		{ "192.0.2.3", "%{H}", "helo.example.org", false },
		{ "192.0.2.3", "%{L}", "strong-bad", false },
		{ "192.0.2.3", "%{S}", "strong-bad%40email.example.com", false },
		{ "192.0.2.3", "%{d9}", "email.example.com", false },
		{ "192.0.2.3", "%{d99999}", "email.example.com", false },
		{ "192.0.2.3", "%{l+-}", "strong.bad", false },
		{ "192.0.2.3", "%{p}", "unknown", false },
		/* c, r and t only in explanations */
		{ "192.0.2.3", "%{c} %{r} %{t}", "192.0.2.3 mx.receiver.example "
		    "1400000000", true },
		{ "2001:db8::cb01", "%{c}", "2001:db8::cb01", true },
		{ "::ffff:192.0.2.3", "%{i} %{v}", "192.0.2.3 in-addr", true },
		/* syntax errors: NULL */
		{ "192.0.2.3", "%{c}", NULL, false },
		{ "192.0.2.3", "%{r}", NULL, false },
		{ "192.0.2.3", "%{t}", NULL, false },
		{ "192.0.2.3", "%{x}", NULL, true },
		{ "192.0.2.3", "%{d0}", NULL, false },
		{ "192.0.2.3", "%{d", NULL, false },
		{ "192.0.2.3", "%{d2x}", NULL, false },
		{ "192.0.2.3", "%(d)", NULL, false },
		{ "192.0.2.3", "abc%", NULL, false },
		{ "192.0.2.3", "%a", NULL, false },
		{ "192.0.2.3", "sp ace", NULL, false },
		{ "192.0.2.3", "sp ace", "sp ace", true },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spf_params p = {
			.ip = cases[i].ip, .helo = "helo.example.org",
			.mail_from = "strong-bad@email.example.com",
			.receiver = "mx.receiver.example", .now = 1400000000,
		};
		struct buf b;
		int r;

		buf_init(&b, 4096);
		r = spf_expand(&p, "email.example.com", cases[i].spec,
		    strlen(cases[i].spec), cases[i].is_exp, &b);
		if (cases[i].want == NULL)
			CHECK_INT(r, E_SYNTAX, cases[i].spec);
		else {
			CHECK_INT(r, 0, cases[i].spec);
			CHECK_STR(buf_cstr(&b), cases[i].want, cases[i].spec);
		}
		buf_fini(&b);
	}
}

/* ---- record syntax ---- */

static void
test_records(void)
{
	static const struct {
		const char *rec;
		bool ok;
	} cases[] = {
		{ "v=spf1", true },
		{ "v=spf1 -all", true },
		{ "V=SPF1 ~ALL", true },
		{ "v=spf1   ip4:192.0.2.0/24   -all  ", true },
		{ "v=spf1 a mx ptr a:x.example mx:x.example/24//64", true },
		{ "v=spf1 a/0 a//0 a:x.example/32//128", true },
		{ "v=spf1 ip6:2001:db8::/32 ip6:::1", true },
		{ "v=spf1 include:_spf.example.com exists:%{i}.x.example", true },
		{ "v=spf1 redirect=_spf.example.com", true },
		{ "v=spf1 exp=explain.%{d} -all", true },
		{ "v=spf1 foo=bar moo.cow-far_out=man:dog/cat", true },
		{ "v=spf1 a:%{H}.bar", true },
		{ "v=spf1 a:foo:bar/baz.example.com", true },
		{ "v=spf1 a:foo.example.xn--zckzah", true },
		{ "v=spf10", false },
		{ "v=spf1 -all moo", false },
		{ "v=spf1 all.", false },
		{ "v=spf1 -all:foo", false },
		{ "v=spf1 -all/8", false },
		{ "v=spf1 a/33", false },
		{ "v=spf1 a//129", false },
		{ "v=spf1 a/24/64", false },
		{ "v=spf1 ip4:192.0.2.1/032", false },
		{ "v=spf1 ip4:192.0.2", false },
		{ "v=spf1 ip4:192.0.2.1:25", false },
		{ "v=spf1 ip4", false },
		{ "v=spf1 ip6", false },
		{ "v=spf1 ip6::CAFE::BABE", false },
		{ "v=spf1 a:museum", false },
		{ "v=spf1 a:museum.", false },
		{ "v=spf1 a:111.222.33.44", false },
		{ "v=spf1 a:example.-com", false },
		{ "v=spf1 a:example.com:8080", false },
		{ "v=spf1 a:", false },
		{ "v=spf1 include", false },
		{ "v=spf1 include:", false },
		{ "v=spf1 exists", false },
		{ "v=spf1 ptr/0", false },
		{ "v=spf1 include:x.example/24", false },
		{ "v=spf1 redirect:x.example", false },
		{ "v=spf1 redirect=a.example redirect=b.example", false },
		{ "v=spf1 exp=a.example exp=b.example", false },
		{ "v=spf1 exp=", false },
		{ "v=spf1 redirect=", false },
		{ "v=spf1 1up=foo", false },
		{ "v=spf1 =all", false },
		{ "v=spf1 foo=%abc", false },
		{ "v=spf1 exists:%(ir).sbl.example.com", false },
		{ "v=spf1 a:x.example\x01", false },
		{ "v=spf1 a:\xef\xbb\xbfx.example", false },
		{ "v=spf1 +-all", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(spf_record_check(cases[i].rec, strlen(cases[i].rec)),
		    cases[i].ok ? 0 : E_SYNTAX, cases[i].rec);
}

/* ---- evaluations over a table ---- */

static void
txt(struct dns_resolver *r, const char *name, const char *rec)
{
	dns_table_add_txt(r, name, &rec, 1);
}

static void
addr(struct dns_resolver *r, const char *name, const char *ip)
{
	uint8_t a[16];

	if (inet_pton(AF_INET, ip, a) == 1)
		dns_table_add_addr(r, name, AF_INET, a);
	else if (inet_pton(AF_INET6, ip, a) == 1)
		dns_table_add_addr(r, name, AF_INET6, a);
}

struct outcome {
	char result[32];
	char exp[256];
	char header[1024];
	char resinfo[256];
	int terms;
};

static void
on_done(void *arg, struct spf *s)
{
	struct outcome *o = arg;
	struct buf b;

	snprintf(o->result, sizeof(o->result), "%s",
	    spf_result_str(spf_result(s)));
	snprintf(o->exp, sizeof(o->exp), "%s",
	    spf_explanation(s) ? spf_explanation(s) : "");
	buf_init(&b, 1024);
	spf_received_header(s, &b);
	snprintf(o->header, sizeof(o->header), "%s", buf_cstr(&b));
	buf_reset(&b);
	spf_resinfo(s, &b);
	snprintf(o->resinfo, sizeof(o->resinfo), "%s", buf_cstr(&b));
	buf_fini(&b);
	o->terms = spf_dns_terms(s);
}

/* evaluate - run one check over r; the outcome */
static struct outcome
evaluate(struct dns_resolver *r, const char *ip, const char *from,
    const char *helo, enum spf_identity id)
{
	struct spf_params p = { .ip = ip, .mail_from = from, .helo = helo,
	    .receiver = "mx.receiver.example", .now = 1, .identity = id };
	struct outcome o;
	struct spf *s;

	memset(&o, 0, sizeof(o));
	snprintf(o.result, sizeof(o.result), "(never finished)");
	if (spf_new(&s, &p) != 0) {
		snprintf(o.result, sizeof(o.result), "(bad ip)");
		return o;
	}
	spf_run(s, r, on_done, &o);
	dns_resolver_wait(r);
	spf_free(s);
	return o;
}

static struct dns_resolver *
limits_zone(void)
{
	struct dns_resolver *r = dns_resolver_new_table();
	char name[64];
	int i;

	/* RFC 7208 4.6.4: 10 DNS-querying terms */
	txt(r, "l.example", "v=spf1 -all");
	txt(r, "ten.example", "v=spf1 include:l.example include:l.example "
	    "include:l.example include:l.example include:l.example "
	    "include:l.example include:l.example include:l.example "
	    "include:l.example ip4:192.0.2.1 a:h.example -all");
	txt(r, "eleven.example", "v=spf1 include:l.example include:l.example "
	    "include:l.example include:l.example include:l.example "
	    "include:l.example include:l.example include:l.example "
	    "include:l.example include:l.example a:h.example -all");
	addr(r, "h.example", "192.0.2.50");
	txt(r, "loop.example", "v=spf1 redirect=loop.example");
	/* void lookups: two allowed */
	txt(r, "void2.example", "v=spf1 a:nx1.example exists:nx2.example "
	    "ip4:192.0.2.1 -all");
	txt(r, "void3.example", "v=spf1 a:nx1.example exists:nx2.example "
	    "mx:nx3.example ip4:192.0.2.1 -all");
	/* MX: 10 names allowed, 11 are a permerror */
	txt(r, "mx10.example", "v=spf1 mx -all");
	txt(r, "mx11.example", "v=spf1 mx -all");
	for (i = 0; i < 11; i++) {
		snprintf(name, sizeof(name), "m%d.example", i);
		addr(r, name, "192.0.2.60");
		if (i < 10)
			dns_table_add_mx(r, "mx10.example", (uint16_t)i, name);
		dns_table_add_mx(r, "mx11.example", (uint16_t)i, name);
	}
	/* PTR: only the first 10 names are looked at */
	txt(r, "ptr.example", "v=spf1 ptr:good.example -all");
	for (i = 0; i < 11; i++) {
		snprintf(name, sizeof(name), "%s%d.example",
		    i == 10 ? "x.good" : "bad", i);
		dns_table_add_name(r, "70.2.0.192.in-addr.arpa", DNS_T_PTR,
		    name);
		addr(r, name, "192.0.2.70");
	}
	dns_table_add_name(r, "71.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "x.good.example");
	addr(r, "x.good.example", "192.0.2.71");
	/* exp= and HELO */
	txt(r, "exp.example", "v=spf1 -all exp=why.exp.example");
	txt(r, "why.exp.example", "%{i} may not send for %{d} (%{c})");
	txt(r, "helo.example", "v=spf1 a -all");
	addr(r, "helo.example", "192.0.2.80");
	txt(r, "slowinc.example", "v=spf1 include:slow.example -all");
	dns_table_set_timeout(r, "slow.example");
	return r;
}

static void
test_evaluations(void)
{
	static const struct {
		const char *what, *ip, *from, *helo;
		enum spf_identity id;
		const char *result;
	} cases[] = {
		{ "10 DNS terms pass", "192.0.2.50", "a@ten.example", "h",
		    SPF_ID_MAILFROM, "pass" },
		{ "11th DNS term is permerror", "192.0.2.50",
		    "a@eleven.example", "h", SPF_ID_MAILFROM, "permerror" },
		{ "redirect loop ends in permerror", "192.0.2.1",
		    "a@loop.example", "h", SPF_ID_MAILFROM, "permerror" },
		{ "2 void lookups allowed", "192.0.2.1", "a@void2.example",
		    "h", SPF_ID_MAILFROM, "pass" },
		{ "3rd void lookup is permerror", "192.0.2.1",
		    "a@void3.example", "h", SPF_ID_MAILFROM, "permerror" },
		{ "10 MX names allowed", "192.0.2.60", "a@mx10.example", "h",
		    SPF_ID_MAILFROM, "pass" },
		{ "11 MX names are permerror", "192.0.2.60", "a@mx11.example",
		    "h", SPF_ID_MAILFROM, "permerror" },
		{ "PTR names past 10 are ignored", "192.0.2.70",
		    "a@ptr.example", "h", SPF_ID_MAILFROM, "fail" },
		{ "PTR validated name matches", "192.0.2.71",
		    "a@ptr.example", "h", SPF_ID_MAILFROM, "pass" },
		{ "HELO identity pass", "192.0.2.80", "a@ten.example",
		    "helo.example", SPF_ID_HELO, "pass" },
		{ "HELO identity fail", "192.0.2.81", "a@ten.example",
		    "helo.example", SPF_ID_HELO, "fail" },
		{ "HELO identity with a one-label HELO is none", "192.0.2.80",
		    "", "localhost", SPF_ID_HELO, "none" },
		{ "HELO domain literal is none", "192.0.2.80", "",
		    "[192.0.2.80]", SPF_ID_HELO, "none" },
		{ "HELO address is none", "192.0.2.80", "", "192.0.2.80",
		    SPF_ID_HELO, "none" },
		{ "null sender is checked as postmaster@HELO", "192.0.2.80",
		    "", "helo.example", SPF_ID_MAILFROM, "pass" },
		{ "timeout in include is temperror", "192.0.2.1",
		    "a@slowinc.example", "h", SPF_ID_MAILFROM, "temperror" },
		{ "no record is none", "192.0.2.1", "a@h.example", "h",
		    SPF_ID_MAILFROM, "none" },
		{ "NXDOMAIN is none", "192.0.2.1", "a@nowhere.example", "h",
		    SPF_ID_MAILFROM, "none" },
	};
	struct dns_resolver *r = limits_zone();
	struct outcome o;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o = evaluate(r, cases[i].ip, cases[i].from, cases[i].helo,
		    cases[i].id);
		CHECK_STR(o.result, cases[i].result, cases[i].what);
	}
	o = evaluate(r, "192.0.2.50", "a@ten.example", "h", SPF_ID_MAILFROM);
	CHECK_INT(o.terms, 10, "DNS term counter at the limit");

	o = evaluate(r, "192.0.2.9", "a@exp.example", "h", SPF_ID_MAILFROM);
	CHECK_STR(o.exp, "192.0.2.9 may not send for exp.example (192.0.2.9)",
	    "exp= text expanded");
	CHECK_STR(o.resinfo, "spf=fail smtp.mailfrom=exp.example",
	    "resinfo for mailfrom");
	CHECK_STR(o.header, "Received-SPF: fail (mx.receiver.example: domain "
	    "of a@exp.example does not\r\n designate 192.0.2.9 as permitted "
	    "sender) client-ip=192.0.2.9;\r\n envelope-from=\"a@exp.example\"; "
	    "helo=h; identity=mailfrom;\r\n receiver=mx.receiver.example;",
	    "Received-SPF for a fail, folded before 78 columns");
	o = evaluate(r, "192.0.2.80", "", "helo.example", SPF_ID_HELO);
	CHECK_STR(o.resinfo, "spf=pass smtp.helo=helo.example",
	    "resinfo for helo");
	o = evaluate(r, "192.0.2.50", "a@eleven.example", "h\r\nX: y",
	    SPF_ID_MAILFROM);
	CHECK(strstr(o.header, "problem=\"more than 10 DNS-querying terms\"")
	    != NULL, "Received-SPF names the problem");
	CHECK(strstr(o.header, "helo=\"hX:") != NULL,
	    "Received-SPF drops CR LF from the HELO");
	{
		const char *l = o.header, *nl;
		bool ok = true;

		while ((nl = strstr(l, "\r\n")) != NULL) {
			ok = ok && nl - l <= 78 && nl[2] == ' ';
			l = nl + 2;
		}
		CHECK(ok && strlen(l) <= 78,
		    "every line within 78, continuations start with a space");
	}
	dns_resolver_free(r);
}

/* ---- the machine, step by step ---- */

static void
test_machine_steps(void)
{
	struct spf_params p = { .ip = "192.0.2.25", .mail_from = "x@d.example",
	    .helo = "h.example" };
	struct spf_query q;
	struct dns_answer a;
	struct dns_rr rr;
	struct spf *s;
	char rec[] = "v=spf1 mx -all";

	CHECK_INT(spf_new(&s, &(struct spf_params){ .ip = "not-an-ip" }),
	    E_SYNTAX, "bad client address refused");
	CHECK(s == NULL, "no machine for a bad address");
	CHECK_INT(spf_new(&s, &p), 0, "machine starts");
	CHECK_INT(spf_next(s, &q), SPF_STEP_QUERY, "first step is a query");
	CHECK_STR(q.name, "d.example", "first query name");
	CHECK_INT(q.type, DNS_T_TXT, "first query type TXT");

	memset(&a, 0, sizeof(a));
	memset(&rr, 0, sizeof(rr));
	rr.type = DNS_T_TXT;
	rr.txt = rec;
	rr.txt_len = strlen(rec);
	a.status = DNS_OK;
	a.rrs = &rr;
	a.nrrs = 1;
	spf_answer(s, &a);
	CHECK_INT(spf_next(s, &q), SPF_STEP_QUERY, "second step is a query");
	CHECK_STR(q.name, "d.example", "MX query name");
	CHECK_INT(q.type, DNS_T_MX, "second query type MX");

	memset(&rr, 0, sizeof(rr));
	rr.type = DNS_T_MX;
	rr.pref = 10;
	rr.name = (char *)"mx.d.example.";	/* a trailing dot */
	spf_answer(s, &a);
	CHECK_INT(spf_next(s, &q), SPF_STEP_QUERY, "third step is a query");
	CHECK_STR(q.name, "mx.d.example", "A query for the exchange");
	CHECK_INT(q.type, DNS_T_A, "third query type A");

	memset(&rr, 0, sizeof(rr));
	rr.type = DNS_T_A;
	inet_pton(AF_INET, "192.0.2.25", rr.addr);
	spf_answer(s, &a);
	CHECK_INT(spf_next(s, &q), SPF_STEP_DONE, "then done");
	CHECK_STR(spf_result_str(spf_result(s)), "pass", "mx matched");
	CHECK_INT(spf_next(s, &q), SPF_STEP_DONE, "done stays done");
	spf_free(s);
	spf_free(NULL);

	/* RFC 7208 4.3: nothing to look up for a domain literal */
	p.mail_from = "x@[192.0.2.1]";
	CHECK_INT(spf_new(&s, &p), 0, "machine for a domain literal");
	CHECK_INT(spf_next(s, &q), SPF_STEP_DONE, "domain literal: no query");
	CHECK_STR(spf_result_str(spf_result(s)), "none",
	    "domain literal is none");
	spf_free(s);
}

/*
 * test_record_memo - parsed records are kept per thread (8 slots): an
 * evaluation that has more records open at once than there are slots,
 * the same records again, the same text at two names, records that
 * differ in one byte, a bad record between good ones.
 */
static void
test_record_memo(void)
{
	struct dns_resolver *r = dns_resolver_new_table();
	struct outcome o;
	char name[64], rec[128];
	int i, round;

	/* ten records open at once at the deepest include */
	txt(r, "top.memo.example", "v=spf1 include:n1.memo.example "
	    "ip4:192.0.2.1 -all");
	for (i = 1; i < 9; i++) {
		snprintf(name, sizeof(name), "n%d.memo.example", i);
		snprintf(rec, sizeof(rec), "v=spf1 include:n%d.memo.example "
		    "-all", i + 1);
		txt(r, name, rec);
	}
	txt(r, "n9.memo.example", "v=spf1 ip4:192.0.2.9 -all");
	/* one byte apart; the same text at two names */
	txt(r, "d1.memo.example", "v=spf1 ip4:192.0.2.1 -all");
	txt(r, "d2.memo.example", "v=spf1 ip4:192.0.2.2 -all");
	txt(r, "d3.memo.example", "v=spf1 ip4:192.0.2.2 -all");
	txt(r, "bad.memo.example", "v=spf1 ip4:192.0.2.300 -all");
	for (round = 0; round < 3; round++) {
		o = evaluate(r, "192.0.2.1", "a@top.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "pass", "ten records open: pass");
		CHECK_INT(o.terms, 9, "ten records open: nine includes");
		o = evaluate(r, "192.0.2.9", "a@top.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "pass", "deepest include matches");
		o = evaluate(r, "192.0.2.3", "a@top.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "fail", "ten records open: fail");
		o = evaluate(r, "192.0.2.1", "a@d1.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "pass", "d1 passes .1");
		o = evaluate(r, "192.0.2.1", "a@d2.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "fail", "d2, one byte apart, fails .1");
		o = evaluate(r, "192.0.2.1", "a@bad.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "permerror", "a bad record each time");
		CHECK(strstr(o.header, "problem=") != NULL,
		    "a bad record gives its reason each time");
		o = evaluate(r, "192.0.2.2", "a@d3.memo.example", "h",
		    SPF_ID_MAILFROM);
		CHECK_STR(o.result, "pass", "d3, the text of d2, passes .2");
	}
	dns_resolver_free(r);
}

/* ---- internationalised domains (RFC 8616 4) ---- */

/* idn_eval - one evaluation over r, and the spf kept for inspection */
static void
idn_eval(struct dns_resolver *r, const char *ip, const char *from,
    const char *helo, enum spf_identity id, const char *what,
    const char *want_result, const char *want_resinfo,
    const char *want_ascii, const char *want_problem)
{
	struct spf_params p = { .ip = ip, .mail_from = from, .helo = helo,
	    .receiver = "mx.receiver.example", .now = 1, .identity = id };
	struct outcome o;
	struct spf *s;
	char name[160];

	memset(&o, 0, sizeof(o));
	if (spf_new(&s, &p) != 0) {
		CHECK(0, what);
		return;
	}
	spf_run(s, r, on_done, &o);
	dns_resolver_wait(r);
	snprintf(name, sizeof(name), "%s: result", what);
	CHECK_STR(o.result, want_result, name);
	snprintf(name, sizeof(name), "%s: resinfo", what);
	CHECK_STR(o.resinfo, want_resinfo, name);
	snprintf(name, sizeof(name), "%s: A-label domain", what);
	CHECK_STR(spf_domain_ascii(s), want_ascii, name);
	snprintf(name, sizeof(name), "%s: problem", what);
	if (want_problem == NULL)
		CHECK_STR(spf_problem(s), NULL, name);
	else
		CHECK(spf_problem(s) != NULL &&
		    strstr(spf_problem(s), want_problem) != NULL, name);
	spf_free(s);
}

static void
test_idn(void)
{
	struct dns_resolver *r = dns_resolver_new_table();
	struct spf_params p = { .ip = "192.0.2.3",
	    .helo = "mx.b\xc3\xbc" "cher.example",
	    .mail_from = "user@B\xc3\xbc" "cher.example",
	    .receiver = "mx.receiver.example", .now = 1 };
	struct outcome o;
	struct buf b;

	/* Only the A-label names exist: a lookup of the UTF-8 name would
	   find nothing. */
	txt(r, "xn--bcher-kva.example", "v=spf1 ip4:192.0.2.1 "
	    "a:mx.%{d} exists:%{l}.ok.%{o} -all");
	addr(r, "mx.xn--bcher-kva.example", "192.0.2.2");
	addr(r, "user.ok.xn--bcher-kva.example", "192.0.2.99");
	txt(r, "mx.xn--bcher-kva.example", "v=spf1 a -all");
	/* a U-label-free record that names a U-label HELO via %{h} */
	txt(r, "helo-macro.example", "v=spf1 a:%{h} -all");

	idn_eval(r, "192.0.2.1", "user@b\xc3\xbc" "cher.example", "h",
	    SPF_ID_MAILFROM, "u-label sender, ip4",
	    "pass", "spf=pass smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.2", "user@b\xc3\xbc" "cher.example", "h",
	    SPF_ID_MAILFROM, "u-label sender, a:mx.%{d}",
	    "pass", "spf=pass smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.9", "other@b\xc3\xbc" "cher.example", "h",
	    SPF_ID_MAILFROM, "u-label sender, fail",
	    "fail", "spf=fail smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.9", "user@b\xc3\xbc" "cher.example", "h",
	    SPF_ID_MAILFROM, "exists:%{l}.ok.%{o} with an ASCII local part",
	    "pass", "spf=pass smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	/* RFC 8616 4: %{l} with a non-ASCII local part matches nothing */
	idn_eval(r, "192.0.2.9", "\xc3\xbcser@b\xc3\xbc" "cher.example",
	    "h", SPF_ID_MAILFROM, "exists:%{l} with a UTF-8 local part",
	    "fail", "spf=fail smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.1", "user@B\xc3\x9c" "CHER.Example", "h",
	    SPF_ID_MAILFROM, "upper-case u-label",
	    "pass", "spf=pass smtp.mailfrom=B\xc3\x9c" "CHER.Example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.1", "user@xn--bcher-kva.example", "h",
	    SPF_ID_MAILFROM, "a-label sender",
	    "pass", "spf=pass smtp.mailfrom=xn--bcher-kva.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.1", "", "b\xc3\xbc" "cher.example",
	    SPF_ID_MAILFROM, "null sender, u-label HELO",
	    "pass", "spf=pass smtp.mailfrom=b\xc3\xbc" "cher.example",
	    "xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.2", "", "mx.b\xc3\xbc" "cher.example",
	    SPF_ID_HELO, "HELO identity, u-label",
	    "pass", "spf=pass smtp.helo=mx.b\xc3\xbc" "cher.example",
	    "mx.xn--bcher-kva.example", NULL);
	idn_eval(r, "192.0.2.2", "a@helo-macro.example",
	    "mx.b\xc3\xbc" "cher.example", SPF_ID_MAILFROM,
	    "%{h} expands to the A-label form",
	    "pass", "spf=pass smtp.mailfrom=helo-macro.example",
	    "helo-macro.example", NULL);
	/* RFC 7208 4.3: a domain with no A-label form is malformed: none */
	idn_eval(r, "192.0.2.1", "user@b\xfc" "cher.example", "h",
	    SPF_ID_MAILFROM, "invalid UTF-8 domain",
	    "none", "spf=none smtp.mailfrom=\"b?cher.example\"", NULL,
	    "invalid UTF-8");
	idn_eval(r, "192.0.2.1", "user@a\xe2\x81\x84" "b.example", "h",
	    SPF_ID_MAILFROM, "U+2044 in the domain",
	    "none", "spf=none smtp.mailfrom=a\xe2\x81\x84" "b.example", NULL,
	    "disallowed code point");
	idn_eval(r, "192.0.2.1", "user@-b\xc3\xbc" "cher.example", "h",
	    SPF_ID_MAILFROM, "hyphen-first u-label",
	    "none", "spf=none smtp.mailfrom=-b\xc3\xbc" "cher.example", NULL,
	    "not a valid internationalised domain name");

	/* Received-SPF shows the address as received, UTF-8 kept */
	o = evaluate(r, "192.0.2.1", "user@b\xc3\xbc" "cher.example",
	    "mx.b\xc3\xbc" "cher.example", SPF_ID_MAILFROM);
	CHECK(strstr(o.header, "envelope-from=\"user@b\xc3\xbc" "cher.example\";")
	    != NULL, "Received-SPF envelope-from in UTF-8");
	CHECK(strstr(o.header, "helo=mx.b\xc3\xbc" "cher.example;") != NULL,
	    "Received-SPF helo in UTF-8");
	CHECK(strstr(o.header, "domain of user@b\xc3\xbc" "cher.example")
	    != NULL, "Received-SPF comment in UTF-8");
	/* bytes that are not UTF-8 become '?', controls still go */
	o = evaluate(r, "192.0.2.1", "us\x01" "er@b\xfc" "cher.example",
	    "h", SPF_ID_MAILFROM);
	CHECK(strstr(o.header, "envelope-from=\"user@b?cher.example\";") !=
	    NULL, "Received-SPF: invalid UTF-8 and a control");
	CHECK(strstr(o.header, "\x01") == NULL && strstr(o.header, "\xfc") ==
	    NULL, "Received-SPF: no raw control or invalid byte");

	/* the macros see the A-label form (RFC 8616 4) */
	buf_init(&b, 1024);
	CHECK_INT(spf_expand(&p, "xn--bcher-kva.example",
	    "%{s} %{o} %{d} %{h} %{d2r}", 26, true, &b), 0, "idn macros");
	CHECK_STR(buf_cstr(&b), "user@xn--bcher-kva.example "
	    "xn--bcher-kva.example xn--bcher-kva.example "
	    "mx.xn--bcher-kva.example example.xn--bcher-kva",
	    "idn macros: A-label forms");
	buf_fini(&b);
	dns_resolver_free(r);
}

int
main(void)
{
	test_macros();
	test_records();
	test_evaluations();
	test_machine_steps();
	test_record_memo();
	test_idn();
	return test_done();
}
