/* test_inbound - SPF, DKIM and DMARC combined on one message over a table
   resolver: verdicts, the Authentication-Results field, budgets, freeing
   with queries out, and stripping forged fields */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/dns.h"
#include "mailauth/dkim.h"
#include "mailauth/inbound.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"
#include "testlib.h"

#define NOW 1764291600LL	/* 2025-11-28 */

static struct dkim_key *key;

/* add_txt - one TXT record of one string */
static void
add_txt(struct dns_resolver *r, const char *name, const char *txt)
{
	const char *s[1] = { txt };

	dns_table_add_txt(r, name, s, 1);
}

/* zone - the test data, as in tests/zones/inbound-test.zone */
static struct dns_resolver *
zone(void)
{
	struct dns_resolver *r = dns_resolver_new_table();
	struct buf rec;

	add_txt(r, "pass.example", "v=spf1 ip4:192.0.2.1 -all");
	add_txt(r, "_dmarc.pass.example", "v=DMARC1; p=reject");
	buf_init(&rec, 4096);
	(void)dkim_key_record(key, &rec);
	add_txt(r, "sel._domainkey.pass.example", buf_cstr(&rec));
	buf_fini(&rec);
	add_txt(r, "reject.example", "v=spf1 ip4:198.51.100.1 -all");
	add_txt(r, "_dmarc.reject.example", "v=DMARC1; p=reject");
	add_txt(r, "quar.example", "v=spf1 -all");
	add_txt(r, "_dmarc.quar.example", "v=DMARC1; p=quarantine");
	add_txt(r, "chain.example", "v=spf1 include:inc.chain.example -all");
	add_txt(r, "inc.chain.example", "v=spf1 ip4:192.0.2.1 -all");
	add_txt(r, "slow.example", "v=spf1 ip4:192.0.2.1 -all");
	dns_table_set_timeout(r, "_dmarc.slow.example");
	add_txt(r, "example", "v=spf1 -all");
	return r;
}

/* message - a message From: from, signed for pass.example when asked */
static char *
message(const char *from, bool signed_)
{
	struct buf b, sig;
	struct dkim_sign_opts o;
	char *m;

	buf_init(&b, 1 << 16);
	(void)buf_printf(&b, "From: %s\r\nTo: demo@example.test\r\n"
	    "Subject: test\r\nMessage-ID: <1@x>\r\n\r\nHello.\r\n", from);
	if (!signed_) {
		m = xstrdup(buf_cstr(&b));
		buf_fini(&b);
		return m;
	}
	dkim_sign_opts_init(&o);
	o.domain = "pass.example";
	o.selector = "sel";
	buf_init(&sig, 1 << 16);
	(void)dkim_sign(&sig, key, &o, buf_data(&b), buf_size(&b));
	(void)buf_append(&sig, buf_data(&b), buf_size(&b));
	m = xstrdup(buf_cstr(&sig));
	buf_fini(&sig);
	buf_fini(&b);
	return m;
}

struct done {
	int calls;
};

/* done_cb - count the callbacks */
static void
done_cb(void *arg, struct inbound *ib)
{
	((struct done *)arg)->calls++;
}

/* unfold - the field with CRLF + blanks made one space */
static char *
unfold(const char *s)
{
	char *o = xcalloc(1, strlen(s) + 1), *q = o;

	for (; *s; s++) {
		if (*s == '\r' || *s == '\n')
			continue;
		if ((*s == ' ' || *s == '\t') && q > o && q[-1] == ' ')
			continue;
		*q++ = *s == '\t' ? ' ' : *s;
	}
	return o;
}

static const struct {
	const char *name, *ip, *mail_from, *from;
	bool sign;
	const char *want;	/* the unfolded field */
} cases[] = {
	{ "signed, aligned: all pass", "192.0.2.1", "a@pass.example",
	    "a@pass.example", true,
	    "Authentication-Results: mx.test; spf=pass "
	    "smtp.mailfrom=pass.example; dkim=pass header.d=pass.example "
	    "header.s=sel header.a=ed25519-sha256 header.b=%B; dmarc=pass "
	    "(p=reject sp=reject dis=none) header.from=pass.example "
	    "policy.dmarc=reject" },
	{ "spoofed From of a p=reject domain", "192.0.2.99",
	    "a@reject.example", "ceo@reject.example", false,
	    "Authentication-Results: mx.test; spf=fail "
	    "smtp.mailfrom=reject.example; dkim=none (no signature); "
	    "dmarc=fail (p=reject sp=reject dis=reject) "
	    "header.from=reject.example policy.dmarc=reject" },
	{ "SPF through include aligns", "192.0.2.1", "a@chain.example",
	    "a@chain.example", false,
	    "Authentication-Results: mx.test; spf=pass "
	    "smtp.mailfrom=chain.example; dkim=none (no signature); "
	    "dmarc=none header.from=chain.example" },
	{ "quarantine domain", "192.0.2.1", "n@quar.example",
	    "n@quar.example", false,
	    "Authentication-Results: mx.test; spf=fail "
	    "smtp.mailfrom=quar.example; dkim=none (no signature); "
	    "dmarc=fail (p=quarantine sp=quarantine dis=quarantine) "
	    "header.from=quar.example policy.dmarc=quarantine" },
	{ "null sender: SPF of the HELO", "192.0.2.1", "", "a@pass.example",
	    false,
	    "Authentication-Results: mx.test; spf=none "
	    "smtp.helo=helo.test; dkim=none (no signature); dmarc=fail "
	    "(p=reject sp=reject dis=reject) header.from=pass.example "
	    "policy.dmarc=reject" },
	{ "DMARC record times out", "192.0.2.1", "a@slow.example",
	    "a@slow.example", false,
	    "Authentication-Results: mx.test; spf=pass "
	    "smtp.mailfrom=slow.example; dkim=none (no signature); "
	    "dmarc=temperror reason=\"DNS failure\" header.from=slow.example" },
};

/* run_case - one message through the combination */
static void
run_case(size_t i)
{
	struct dns_resolver *r = zone();
	struct inbound_params p;
	struct inbound *ib = NULL;
	struct done d = { 0 };
	struct buf out;
	char *msg = message(cases[i].from, cases[i].sign), *got, *want;
	const char *b;

	memset(&p, 0, sizeof(p));
	p.ip = cases[i].ip;
	p.helo = "helo.test";
	p.mail_from = cases[i].mail_from;
	p.authserv_id = "mx.test";
	p.now = NOW;
	p.sample = 0;
	CHECK_INT(inbound_new(&ib, &p), 0, cases[i].name);
	if (ib == NULL)
		goto out;
	inbound_start_spf(ib, r);
	inbound_message(ib, r, msg, strlen(msg), done_cb, &d);
	dns_resolver_wait(r);
	CHECK_INT(d.calls, 1, cases[i].name);
	CHECK(inbound_finished(ib), cases[i].name);
	buf_init(&out, 1 << 16);
	CHECK_INT(inbound_authres(ib, NULL, &out), 0, cases[i].name);
	got = unfold(buf_cstr(&out));
	/* %B stands for the signature's b= prefix */
	want = xstrdup(cases[i].want);
	if ((b = strstr(want, "%B")) != NULL) {
		const char *bp = strstr(msg, " b=");
		char *w2;

		bp = bp ? bp + 3 : "";
		/* A prefix holding '/' (an RFC 2045 tspecial) is not a
		   token, so authres writes it as a quoted-string. */
		w2 = xasprintf(memchr(bp, '/', strnlen(bp, 8)) != NULL ?
		    "%.*s\"%.8s\"%s" : "%.*s%.8s%s", (int)(b - want), want,
		    bp, b + 2);
		free(want);
		want = w2;
	}
	CHECK_STR(got, want, cases[i].name);
	free(got);
	free(want);
	buf_fini(&out);
out:
	inbound_free(ib);
	dns_resolver_free(r);
	free(msg);
}

/* test_override - policy.override= and dis=none when the admin lowers it */
static void
test_override(void)
{
	struct dns_resolver *r = zone();
	struct inbound_params p;
	struct inbound *ib = NULL;
	struct done d = { 0 };
	struct buf out, rspf;
	char *msg = message("ceo@reject.example", false), *got;

	memset(&p, 0, sizeof(p));
	p.ip = "192.0.2.99";
	p.helo = "helo.test";
	p.mail_from = "a@reject.example";
	p.authserv_id = "mx.test";
	p.now = NOW;
	(void)inbound_new(&ib, &p);
	inbound_message(ib, r, msg, strlen(msg), done_cb, &d);
	dns_resolver_wait(r);
	buf_init(&out, 1 << 16);
	buf_init(&rspf, 1 << 16);
	CHECK_INT(inbound_authres(ib, "trusted_forwarder", &out), 0,
	    "override: format");
	got = unfold(buf_cstr(&out));
	CHECK_STR(got, "Authentication-Results: mx.test; spf=fail "
	    "smtp.mailfrom=reject.example; dkim=none (no signature); "
	    "dmarc=fail (p=reject sp=reject dis=none) "
	    "header.from=reject.example policy.dmarc=reject "
	    "policy.override=trusted_forwarder", "override: the field");
	free(got);
	CHECK_INT(inbound_received_spf(ib, &rspf), 0, "Received-SPF");
	CHECK(strncmp(buf_cstr(&rspf), "Received-SPF: fail ", 19) == 0,
	    "Received-SPF: fail first");
	CHECK(buf_size(&rspf) > 2 && memcmp(buf_data(&rspf) +
	    buf_size(&rspf) - 2, "\r\n", 2) == 0, "Received-SPF ends in CRLF");
	buf_fini(&out);
	buf_fini(&rspf);
	inbound_free(ib);
	dns_resolver_free(r);
	free(msg);
}

/* test_helo_check - RFC 7208 2.3: the HELO identity checked on its own */
static void
test_helo_check(void)
{
	static const struct {
		const char *name, *mail_from, *helo, *want;
	} hc[] = {
		{ "HELO check next to MAIL FROM", "a@reject.example",
		    "pass.example",
		    "Authentication-Results: mx.test; spf=fail "
		    "smtp.mailfrom=reject.example; spf=pass "
		    "smtp.helo=pass.example; dkim=none (no signature); "
		    "dmarc=fail (p=reject sp=reject dis=reject) "
		    "header.from=reject.example policy.dmarc=reject" },
		{ "null sender: one check, of the HELO", "", "pass.example",
		    "Authentication-Results: mx.test; spf=pass "
		    "smtp.helo=pass.example; dkim=none (no signature); "
		    "dmarc=fail (p=reject sp=reject dis=reject) "
		    "header.from=reject.example policy.dmarc=reject" },
	};
	size_t i;

	for (i = 0; i < sizeof(hc) / sizeof(hc[0]); i++) {
		struct dns_resolver *r = zone();
		struct inbound_params p;
		struct inbound *ib = NULL;
		struct done d = { 0 };
		struct buf out;
		char *msg = message("ceo@reject.example", false), *got;

		memset(&p, 0, sizeof(p));
		p.ip = "192.0.2.1";
		p.helo = hc[i].helo;
		p.mail_from = hc[i].mail_from;
		p.authserv_id = "mx.test";
		p.now = NOW;
		p.check_helo = true;
		(void)inbound_new(&ib, &p);
		inbound_start_spf(ib, r);
		inbound_message(ib, r, msg, strlen(msg), done_cb, &d);
		dns_resolver_wait(r);
		CHECK_INT(d.calls, 1, hc[i].name);
		CHECK_INT(inbound_spf_helo(ib) != NULL, *hc[i].mail_from != 0,
		    hc[i].name);
		buf_init(&out, 1 << 16);
		(void)inbound_authres(ib, NULL, &out);
		got = unfold(buf_cstr(&out));
		CHECK_STR(got, hc[i].want, hc[i].name);
		free(got);
		buf_fini(&out);
		inbound_free(ib);
		dns_resolver_free(r);
		free(msg);
	}
}

/* test_orphan - freed with queries out: no callback, no leak, no use
   after free (the sanitizer build checks the last two) */
static void
test_orphan(void)
{
	struct dns_resolver *r = zone();
	struct inbound_params p;
	struct inbound *ib = NULL;
	struct done d = { 0 };
	char *msg = message("a@pass.example", true);

	memset(&p, 0, sizeof(p));
	p.ip = "192.0.2.1";
	p.helo = "helo.test";
	p.mail_from = "a@pass.example";
	p.authserv_id = "mx.test";
	p.now = NOW;
	(void)inbound_new(&ib, &p);
	inbound_start_spf(ib, r);
	inbound_message(ib, r, msg, strlen(msg), done_cb, &d);
	CHECK(dns_resolver_pending(r) > 0, "orphan: queries are out");
	inbound_free(ib);
	dns_resolver_wait(r);
	CHECK_INT(d.calls, 0, "orphan: no callback after free");
	/* freed before anything started */
	ib = NULL;
	(void)inbound_new(&ib, &p);
	inbound_free(ib);
	inbound_free(NULL);
	dns_resolver_free(r);
	free(msg);
}

/* test_budget - a spent SPF budget ends in temperror, not a hang */
static void
test_budget(void)
{
	struct dns_resolver *r = zone();
	struct inbound_params p;
	struct inbound *ib = NULL;
	struct done d = { 0 };
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char *msg = message("a@chain.example", false);

	memset(&p, 0, sizeof(p));
	p.ip = "192.0.2.1";
	p.helo = "helo.test";
	p.mail_from = "a@chain.example";
	p.authserv_id = "mx.test";
	p.now = NOW;
	p.spf_budget_ms = 5;
	(void)inbound_new(&ib, &p);
	inbound_start_spf(ib, r);
	nanosleep(&ts, NULL);	/* the budget runs out before the answer */
	inbound_message(ib, r, msg, strlen(msg), done_cb, &d);
	dns_resolver_wait(r);
	CHECK_INT(d.calls, 1, "budget: finished");
	CHECK_STR(spf_result_str(spf_result(inbound_spf(ib))), "temperror",
	    "budget: SPF needing a second lookup after its budget");
	inbound_free(ib);
	CHECK_INT(inbound_new(&ib, &(struct inbound_params){ .ip = "x" }),
	    E_INVAL, "not an IP address");
	dns_resolver_free(r);
	free(msg);
}

static const struct {
	const char *name, *in, *want;
	size_t stripped;
} strips[] = {
	{ "ours removed", "Authentication-Results: mx.test; dkim=pass\r\n"
	    "From: a@b.example\r\n\r\nbody\r\n",
	    "From: a@b.example\r\n\r\nbody\r\n", 1 },
	{ "ours without case, folded", "From: a@b.example\r\n"
	    "Authentication-Results: MX.Test;\r\n\tspf=pass\r\n"
	    " smtp.mailfrom=b.example\r\nTo: c@d.example\r\n\r\nx\r\n",
	    "From: a@b.example\r\nTo: c@d.example\r\n\r\nx\r\n", 1 },
	{ "another authserv-id kept", "Authentication-Results: other.test; "
	    "dkim=pass\r\nFrom: a@b.example\r\n\r\nbody\r\n",
	    "Authentication-Results: other.test; dkim=pass\r\nFrom: "
	    "a@b.example\r\n\r\nbody\r\n", 0 },
	{ "a look-alike id kept", "Authentication-Results: mx.test.evil; "
	    "none\r\n\r\nb\r\n", "Authentication-Results: mx.test.evil; "
	    "none\r\n\r\nb\r\n", 0 },
	{ "two of ours, one other between", "Authentication-Results: "
	    "mx.test; none\r\nAuthentication-Results: o.test; none\r\n"
	    "Authentication-Results: mx.test (comment); spf=fail\r\n\r\nb\r\n",
	    "Authentication-Results: o.test; none\r\n\r\nb\r\n", 2 },
	{ "the body is not a header", "From: a@b.example\r\n\r\n"
	    "Authentication-Results: mx.test; none\r\n",
	    "From: a@b.example\r\n\r\nAuthentication-Results: mx.test; "
	    "none\r\n", 0 },
	{ "a similar field name kept", "X-Authentication-Results: mx.test; "
	    "none\r\n\r\nb\r\n", "X-Authentication-Results: mx.test; "
	    "none\r\n\r\nb\r\n", 0 },
};

/* test_strip - RFC 8601 5 */
static void
test_strip(void)
{
	struct buf out;
	size_t i, n;

	for (i = 0; i < sizeof(strips) / sizeof(strips[0]); i++) {
		buf_init(&out, 1 << 16);
		CHECK_INT(inbound_strip_authres(strips[i].in,
		    strlen(strips[i].in), "mx.test", &out, &n), 0,
		    strips[i].name);
		CHECK_STR(buf_cstr(&out), strips[i].want, strips[i].name);
		CHECK_INT(n, strips[i].stripped, strips[i].name);
		buf_fini(&out);
	}
}

int
main(void)
{
	size_t i;

	if (dkim_key_generate(&key, DKIM_ALG_ED25519_SHA256, 0) != 0) {
		fprintf(stderr, "cannot make a key\n");
		return 1;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(i);
	test_override();
	test_helo_check();
	test_orphan();
	test_budget();
	test_strip();
	dkim_key_free(key);
	return test_done();
}
