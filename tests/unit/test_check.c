/* test_check - smtpsctl check's engine without the network: the MTA-STS
   policy parser and mx patterns, the report (order, exit status, JSON,
   peer text made one line), and check_run over an in-memory DNS table
   (SPF counted by evaluation, DMARC by tree walk, DKIM key sizes, DNS
   that times out, a domain that does not exist) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "check/check.h"
#include "dns/dns.h"
#include "util/buf.h"
#include "util/err.h"

/* ---- MTA-STS policy ---- */

static void
test_policy_parse(void)
{
	static const struct {
		const char *name, *body;
		int rc;
		const char *why;	/* substring, NULL when rc is 0 */
		enum mta_sts_mode mode;
		long max_age;
		size_t nmx;
	} cases[] = {
		{ "rfc 8461 example with CRLF", "version: STSv1\r\nmode: "
		    "enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
		    "mx: backupmx.example.com\r\nmax_age: 604800\r\n", 0, NULL,
		    MTA_STS_MODE_ENFORCE, 604800, 3 },
		{ "LF lines, no final newline", "version: STSv1\nmode: testing"
		    "\nmx: a.example\nmax_age: 86400", 0, NULL,
		    MTA_STS_MODE_TESTING, 86400, 1 },
		{ "blanks around values", "version:STSv1\nmode:\t enforce  \n"
		    "mx:   a.example \nmax_age: 1\n", 0, NULL,
		    MTA_STS_MODE_ENFORCE, 1, 1 },
		{ "mode none needs no mx", "version: STSv1\nmode: none\n"
		    "max_age: 0\n", 0, NULL, MTA_STS_MODE_NONE, 0, 0 },
		{ "unknown keys ignored", "version: STSv1\nmode: enforce\n"
		    "colour: blue\nmx: a.example\nmax_age: 5\n", 0, NULL,
		    MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "no version", "mode: enforce\nmx: a.example\nmax_age: 5\n",
		    E_SYNTAX, "version", MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "version not first", "mode: enforce\nversion: STSv1\n"
		    "mx: a.example\nmax_age: 5\n", E_SYNTAX, "first",
		    MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "wrong version", "version: STSv2\nmode: enforce\n"
		    "mx: a.example\nmax_age: 5\n", E_SYNTAX, "STSv1",
		    MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\n"
		    "max_age: 5\n", E_SYNTAX, "mode", MTA_STS_MODE_UNSET, 5,
		    1 },
		{ "mode twice", "version: STSv1\nmode: none\nmode: enforce\n"
		    "mx: a.example\nmax_age: 5\n", E_SYNTAX, "twice",
		    MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "max_age over a year", "version: STSv1\nmode: enforce\n"
		    "mx: a.example\nmax_age: 31557601\n", E_SYNTAX, "max_age",
		    MTA_STS_MODE_ENFORCE, -1, 1 },
		{ "max_age not digits", "version: STSv1\nmode: enforce\n"
		    "mx: a.example\nmax_age: -5\n", E_SYNTAX, "max_age",
		    MTA_STS_MODE_ENFORCE, -1, 1 },
		{ "max_age absent", "version: STSv1\nmode: enforce\n"
		    "mx: a.example\n", E_SYNTAX, "max_age",
		    MTA_STS_MODE_ENFORCE, -1, 1 },
		{ "enforce without mx", "version: STSv1\nmode: enforce\n"
		    "max_age: 5\n", E_SYNTAX, "mx", MTA_STS_MODE_ENFORCE, 5, 0 },
		{ "mx not a domain", "version: STSv1\nmode: enforce\n"
		    "mx: a..example\nmx: b.example\nmax_age: 5\n", E_SYNTAX,
		    "mx", MTA_STS_MODE_ENFORCE, 5, 1 },
		{ "mx wildcard in the middle", "version: STSv1\nmode: enforce"
		    "\nmx: a.*.example\nmax_age: 5\n", E_SYNTAX, "mx",
		    MTA_STS_MODE_ENFORCE, 5, 0 },
		{ "line without colon", "version: STSv1\nmode enforce\n"
		    "mx: a.example\nmax_age: 5\n", E_SYNTAX, "key: value",
		    MTA_STS_MODE_UNSET, 5, 1 },
		{ "empty body", "", E_SYNTAX, "version", MTA_STS_MODE_UNSET,
		    -1, 0 },
		{ "html instead of a policy", "<html><body>Not found</body>"
		    "</html>\n", E_SYNTAX, "key: value", MTA_STS_MODE_UNSET, -1,
		    0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mta_sts_policy p;
		const char *why = "unset";
		int rc = mta_sts_policy_parse(&p, cases[i].body,
		    strlen(cases[i].body), &why);

		CHECK_INT(rc, cases[i].rc, cases[i].name);
		if (cases[i].why == NULL)
			CHECK_STR(why, NULL, cases[i].name);
		else
			CHECK(why != NULL && strstr(why, cases[i].why) != NULL,
			    cases[i].name);
		CHECK_STR(mta_sts_mode_str(p.mode),
		    mta_sts_mode_str(cases[i].mode), cases[i].name);
		CHECK_INT(p.max_age, cases[i].max_age, cases[i].name);
		CHECK_INT(p.nmx, cases[i].nmx, cases[i].name);
		mta_sts_policy_fini(&p);
	}
}

static void
test_policy_nul_and_many_mx(void)
{
	static const char nul[] = "version: STSv1\nmode: enforce\n"
	    "mx: a.ex\0ample\nmx: b.example\nmax_age: 5\n";
	struct mta_sts_policy p;
	struct buf b;
	const char *why = NULL;
	int i;

	CHECK_INT(mta_sts_policy_parse(&p, nul, sizeof(nul) - 1, &why),
	    E_SYNTAX, "NUL inside a line is refused");
	CHECK(why && strstr(why, "NUL"), "NUL named");
	CHECK_INT(p.nmx, 1, "the line with NUL is not kept");
	mta_sts_policy_fini(&p);

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "version: STSv1\nmode: enforce\nmax_age: 9\n");
	for (i = 0; i < 100; i++)
		buf_printf(&b, "mx: m%d.example\n", i);
	CHECK_INT(mta_sts_policy_parse(&p, buf_data(&b), buf_size(&b), &why),
	    0, "100 mx lines parse");
	CHECK_INT(p.nmx, MTA_STS_MX_MAX, "mx lines kept up to the cap");
	CHECK(p.mx_truncated, "the cut is recorded");
	CHECK_STR(p.mx[0], "m0.example", "first mx kept in order");
	mta_sts_policy_fini(&p);
	buf_fini(&b);
}

static void
test_mx_match(void)
{
	static const struct {
		const char *pattern, *host;
		bool want;
	} cases[] = {
		{ "mail.example.com", "mail.example.com", true },
		{ "mail.example.com", "MAIL.Example.COM", true },
		{ "mail.example.com", "mail.example.com.", true },
		{ "mail.example.com", "mail2.example.com", false },
		{ "*.example.com", "mx1.example.com", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", "xexample.com", false },
		{ "*.example.com", ".example.com", false },
		{ "example.com", "mail.example.com", false },
	};
	size_t i;
	char name[160];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "%s against %s", cases[i].pattern,
		    cases[i].host);
		CHECK_INT(mta_sts_mx_match(cases[i].pattern, cases[i].host),
		    cases[i].want, name);
	}
}

/* ---- the report ---- */

static void
test_report(void)
{
	static const struct {
		const char *name;
		enum check_grade grades[4];
		size_t n;
		int exit_status;
	} cases[] = {
		{ "all pass", { CHECK_PASS, CHECK_PASS }, 2, 0 },
		{ "info is not a warning", { CHECK_PASS, CHECK_INFO }, 2, 0 },
		{ "a warning", { CHECK_PASS, CHECK_WARN, CHECK_INFO }, 3, 1 },
		{ "a failure beats warnings", { CHECK_WARN, CHECK_FAIL,
		    CHECK_WARN }, 3, 2 },
		{ "could not evaluate wins", { CHECK_FAIL, CHECK_UNKNOWN,
		    CHECK_PASS }, 3, 3 },
		{ "empty report", { CHECK_PASS }, 0, 0 },
	};
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct check_report r;

		check_report_init(&r, "example.org");
		for (j = 0; j < cases[i].n; j++)
			check_report_add(&r, "a", cases[i].grades[j], "fix",
			    "finding %zu", j);
		CHECK_INT(check_report_exit(&r), cases[i].exit_status,
		    cases[i].name);
		check_report_fini(&r);
	}
}

static void
test_report_order_and_output(void)
{
	struct check_report r;
	struct buf out;
	const char *s;

	check_report_init(&r, "example.org");
	check_report_add(&r, "mx", CHECK_PASS, NULL, "first pass");
	check_report_add(&r, "spf", CHECK_WARN, "w", "first warn");
	check_report_add(&r, "dmarc", CHECK_FAIL, "f", "the fail");
	check_report_add(&r, "dkim", CHECK_PASS, NULL, "second pass");
	check_report_add(&r, "tls", CHECK_WARN, "w", "second warn");
	check_report_add(&r, "dane", CHECK_INFO, "", "an info");
	check_report_add(&r, "x", CHECK_UNKNOWN, "", "unknown %s",
	    "peer\r\ntext\x01\xff\"q\"");
	check_report_sort(&r);
	CHECK_STR(r.f[0].reason, "the fail", "fail first");
	CHECK_STR(r.f[1].reason, "unknown peer??text??\"q\"",
	    "unknown next, peer text on one line");
	CHECK_STR(r.f[2].reason, "first warn", "warnings keep their order");
	CHECK_STR(r.f[3].reason, "second warn", "second warning after");
	CHECK_STR(r.f[4].reason, "an info", "info before pass");
	CHECK_STR(r.f[5].reason, "first pass", "passes keep their order");
	CHECK_STR(r.f[6].reason, "second pass", "last pass");

	buf_init(&out, 65536);
	CHECK_INT(check_report_json(&r, &out), 0, "json written");
	s = buf_cstr(&out);
	CHECK(strncmp(s, "{\"domain\":\"example.org\",\"status\":\"unknown\","
	    "\"exit\":3,", 50) == 0, "json head");
	CHECK(strstr(s, "\"reason\":\"unknown peer??text??\\\"q\\\"\"") !=
	    NULL, "json escapes quotes");
	CHECK(strstr(s, "\"summary\":\"1 fail, 1 unknown, 2 warn, 1 info, "
	    "2 pass\"") != NULL, "json summary");
	buf_reset(&out);
	CHECK_INT(check_report_table(&r, &out), 0, "table written");
	s = buf_cstr(&out);
	CHECK(strncmp(s, "smtpsctl check example.org: 1 fail, 1 unknown, 2 "
	    "warn, 1 info, 2 pass\n", 70) == 0, "table head");
	CHECK(strstr(s, "fail    dmarc the fail\n") != NULL, "table row");
	CHECK(strstr(s, "fix: f\n") != NULL, "fix under its row");
	buf_fini(&out);
	check_report_fini(&r);
}

/* ---- check_run over a table ---- */

struct run_case {
	const char *name;
	const char *area, *reason;	/* a finding that must be there */
	enum check_grade grade;
};

static void
add_txt(struct dns_resolver *r, const char *name, const char *txt)
{
	const char *s[1] = { txt };

	dns_table_add_txt(r, name, s, 1);
}

/* has - a finding in area (prefix) of grade whose reason holds text */
static bool
has(const struct check_report *rep, const char *area, enum check_grade g,
    const char *text)
{
	size_t i;

	for (i = 0; i < rep->n; i++)
		if (strncmp(rep->f[i].area, area, strlen(area)) == 0 &&
		    rep->f[i].grade == g && strstr(rep->f[i].reason, text))
			return true;
	return false;
}

static struct dns_resolver *
zone(void)
{
	struct dns_resolver *r = dns_resolver_new_table();
	char name[64], rec[1024];
	size_t off;
	int i;

	/* MX hosts without addresses: nothing is probed. */
	dns_table_add_mx(r, "ok.test", 10, "mx.ok.test");
	dns_table_set_exists(r, "mx.ok.test");
	add_txt(r, "ok.test", "v=spf1 include:a.ok.test -all");
	add_txt(r, "a.ok.test", "v=spf1 include:b.ok.test -all");
	add_txt(r, "b.ok.test", "v=spf1 ip4:192.0.2.1 -all");
	add_txt(r, "_dmarc.ok.test", "v=DMARC1; p=quarantine; sp=none; "
	    "pct=50; rua=mailto:d@ok.test");
	add_txt(r, "k1024._domainkey.ok.test", "v=DKIM1; p=MIGfMA0GCSqGSIb3"
	    "DQEBAQUAA4GNADCBiQKBgQDqXKjMwmhl/iSBctQ1asJtjpV5+ftLWxiqd1qmrV9E"
	    "Uakl/KDzG1SnFCasB5NcH8UCDcFzOBmYqlBabSibAi4NYYUpF2IwCbEdMcp8c50Z"
	    "eQfg+xQPgeJ1e1SDesbconjw3s1Wv0IYs1Rw77cE6eu+aMwlKcRf8K83FDJKukL5"
	    "ywIDAQAB");
	add_txt(r, "_smtp._tls.ok.test", "v=TLSRPTv1; rua=ftp://x.test");

	/* twelve.test: a chain of includes one past the limit, made of
	   records that each look harmless */
	dns_table_add_mx(r, "twelve.test", 10, "mx.ok.test");
	off = (size_t)snprintf(rec, sizeof(rec), "v=spf1");
	for (i = 0; i < 11; i++)
		off += (size_t)snprintf(rec + off, sizeof(rec) - off,
		    " include:i%d.twelve.test", i);
	snprintf(rec + off, sizeof(rec) - off, " -all");
	add_txt(r, "twelve.test", rec);
	for (i = 0; i < 11; i++) {
		snprintf(name, sizeof(name), "i%d.twelve.test", i);
		add_txt(r, name, "v=spf1 -all");
	}
	/* nine.test: 9 lookups, near the limit */
	dns_table_add_mx(r, "nine.test", 10, "mx.ok.test");
	add_txt(r, "nine.test", "v=spf1 include:i0.twelve.test "
	    "include:i1.twelve.test include:i2.twelve.test include:i3.twelve.test"
	    " include:i4.twelve.test include:i5.twelve.test include:i6.twelve.test"
	    " include:i7.twelve.test include:i8.twelve.test ~all");
	/* slow.test: the DNS server never answers */
	dns_table_set_timeout(r, "slow.test");
	/* slowdmarc.test: only the DMARC lookup times out */
	dns_table_add_mx(r, "slowdmarc.test", 10, "mx.ok.test");
	add_txt(r, "slowdmarc.test", "v=spf1 -all");
	dns_table_set_timeout(r, "_dmarc.slowdmarc.test");
	/* noaddr.test: no MX, no address */
	dns_table_set_exists(r, "noaddr.test");
	/* the all term and ptr */
	dns_table_add_mx(r, "qall.test", 10, "mx.ok.test");
	add_txt(r, "qall.test", "v=spf1 ip4:192.0.2.1 ?all");
	dns_table_add_mx(r, "noall.test", 10, "mx.ok.test");
	add_txt(r, "noall.test", "v=spf1 ip4:192.0.2.1");
	dns_table_add_mx(r, "softall.test", 10, "mx.ok.test");
	add_txt(r, "softall.test", "v=spf1 ip4:192.0.2.1 ~ALL");
	/* bad records */
	dns_table_add_mx(r, "bad.test", 10, "mx.ok.test");
	add_txt(r, "bad.test", "v=spf1 ip4:192.0.2.300 -all");
	add_txt(r, "_dmarc.bad.test", "v=DMARC1; p=sometimes");
	add_txt(r, "_mta-sts.bad.test", "v=STSv1");
	add_txt(r, "_mta-sts.bad.test", "v=STSv1; id=2");
	return r;
}

static void
test_run(void)
{
	static const char *const sels[] = { "k1024" };
	static const struct run_case cases[] = {
		{ "include chain counted", "spf", "2 of 10 DNS lookups",
		    CHECK_PASS },
		{ "sp=none warned", "dmarc", "sp=none", CHECK_WARN },
		{ "pct warned", "dmarc", "pct=50", CHECK_WARN },
		{ "quarantine passes", "dmarc", "policy p=quarantine",
		    CHECK_PASS },
		{ "1024-bit key warned", "dkim k1024", "RSA key of 1024 bits",
		    CHECK_WARN },
		{ "tls-rpt scheme", "tls-rpt", "ftp://x.test is not mailto:",
		    CHECK_FAIL },
		{ "mx without address", "tls mx.ok.test", "no address",
		    CHECK_FAIL },
		{ "no mta-sts", "mta-sts", "no MTA-STS record", CHECK_WARN },
	};
	struct dns_resolver *r = zone();
	struct check_opts o = { .domain = "ok.test", .smtp_port = 25,
	    .timeout_ms = 1000, .nselectors = 1 };
	struct check_report rep;
	size_t i;

	o.selectors[0] = sels[0];
	check_report_init(&rep, o.domain);
	check_run(&rep, r, &o);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(has(&rep, cases[i].area, cases[i].grade,
		    cases[i].reason), cases[i].name);
	/* mx.ok.test exists without an address: "does not resolve" fails,
	   and the DANE lookup times out nowhere */
	CHECK(has(&rep, "mx", CHECK_FAIL, "does not resolve"),
	    "MX without address fails");
	CHECK_INT(check_report_exit(&rep), 2, "ok.test exit status");
	check_report_fini(&rep);
	dns_resolver_free(r);
}

static void
test_run_domains(void)
{
	static const struct {
		const char *domain, *area, *reason;
		enum check_grade grade;
		int exit_status;
	} cases[] = {
		{ "twelve.test", "spf", "permerror after", CHECK_FAIL, 2 },
		{ "nine.test", "spf", "9 of 10 DNS lookups", CHECK_WARN, 2 },
		{ "slow.test", "domain", "DNS timeout", CHECK_UNKNOWN, 3 },
		{ "slowdmarc.test", "dmarc", "DMARC lookup failed",
		    CHECK_UNKNOWN, 3 },
		{ "nothere.test", "domain", "does not exist", CHECK_FAIL, 2 },
		{ "noaddr.test", "mx", "no MX record and no address",
		    CHECK_FAIL, 2 },
		{ "bad.test", "spf", "does not parse", CHECK_FAIL, 2 },
		{ "qall.test", "spf", "\"?all\" is neutral", CHECK_WARN, 2 },
		{ "noall.test", "spf", "no \"all\" and no redirect",
		    CHECK_WARN, 2 },
		{ "softall.test", "spf", "record ends with \"~all\"",
		    CHECK_PASS, 2 },
		{ "bad.test", "dmarc", "malformed", CHECK_FAIL, 2 },
		{ "bad.test", "mta-sts", "2 MTA-STS records", CHECK_FAIL, 2 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dns_resolver *r = zone();
		struct check_opts o = { .domain = cases[i].domain,
		    .smtp_port = 25, .timeout_ms = 1000 };
		struct check_report rep;
		char name[128];

		snprintf(name, sizeof(name), "%s: %s", cases[i].domain,
		    cases[i].reason);
		check_report_init(&rep, o.domain);
		check_run(&rep, r, &o);
		CHECK(has(&rep, cases[i].area, cases[i].grade,
		    cases[i].reason), name);
		CHECK_INT(check_report_exit(&rep), cases[i].exit_status, name);
		if (!has(&rep, cases[i].area, cases[i].grade,
		    cases[i].reason)) {
			size_t j;

			for (j = 0; j < rep.n; j++)
				printf("  have: %s %s %s\n", rep.f[j].area,
				    check_grade_str(rep.f[j].grade),
				    rep.f[j].reason);
		}
		check_report_fini(&rep);
		dns_resolver_free(r);
	}
}

int
main(void)
{
	test_policy_parse();
	test_policy_nul_and_many_mx();
	test_mx_match();
	test_report();
	test_report_order_and_output();
	test_run();
	test_run_domains();
	return test_done();
}
