/*
 * test_dmarc - DMARC records, the strict From rule, the RFC 9989 tree
 * walk (its worked examples transcribed from section 4.10), RFC 7489
 * discovery with the pinned Public Suffix List, alignment and policy.
 * DNS is a table in this file; the machine asks, the table answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "mailauth/dmarc.h"
#include "mailauth/psl.h"
#include "util/err.h"
#include "testlib.h"

/* ---- records ---- */

struct rec_case {
	const char *name;
	const char *txt;
	int rc;
	enum dmarc_record_error err;
	const char *err_tag;
	enum dmarc_policy p, sp, np;
	int pct;
	enum dmarc_align adkim, aspf;
	size_t nrua, nruf;
	enum dmarc_psd psd;
	bool testing;
	bool p_invalid, other_invalid;
};

#define N DMARC_POLICY_NONE
#define Q DMARC_POLICY_QUARANTINE
#define R DMARC_POLICY_REJECT
#define U DMARC_POLICY_UNSET
#define RX DMARC_ALIGN_RELAXED
#define SX DMARC_ALIGN_STRICT

static const struct rec_case rec_cases[] = {
	{ "minimal", "v=DMARC1; p=none", 0, DMARC_REC_OK, "", N, U, U, 100,
	    RX, RX, 0, 0, DMARC_PSD_U, false, false, false },
	{ "all 7489 tags", "v=DMARC1; p=reject; sp=quarantine; pct=50; "
	    "adkim=s; aspf=s; rua=mailto:a@example.com,mailto:b@example.net!"
	    "10m; ruf=mailto:f@example.com; fo=1:d; rf=afrf; ri=3600", 0,
	    DMARC_REC_OK, "", R, Q, U, 50, SX, SX, 2, 1, DMARC_PSD_U, false,
	    false, false },
	{ "9989 tags", "v=DMARC1;p=quarantine;np=reject;t=y;psd=n", 0,
	    DMARC_REC_OK, "", Q, U, R, 100, RX, RX, 0, 0, DMARC_PSD_N, true,
	    false, false },
	{ "psd=y", "v=DMARC1; p=reject; psd=y", 0, DMARC_REC_OK, "", R, U,
	    U, 100, RX, RX, 0, 0, DMARC_PSD_Y, false, false, false },
	{ "whitespace and trailing separator", "  v = DMARC1 ;\tp = Reject ;",
	    0, DMARC_REC_OK, "", R, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, false, false },
	{ "unknown tag ignored", "v=DMARC1; p=none; foo=bar", 0,
	    DMARC_REC_OK, "", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false,
	    false, false },
	{ "no p tag is valid syntax", "v=DMARC1; rua=mailto:x@example.com",
	    0, DMARC_REC_OK, "", U, U, U, 100, RX, RX, 1, 0, DMARC_PSD_U,
	    false, false, false },
	{ "not first v", "p=none; v=DMARC1", E_SYNTAX, DMARC_REC_NOT_DMARC,
	    "v", U, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false, false, true },
	{ "lower-case version", "v=dmarc1; p=none", E_SYNTAX,
	    DMARC_REC_NOT_DMARC, "v", U, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, false, true },
	{ "DMARC10 is not DMARC1", "v=DMARC10; p=none", E_SYNTAX,
	    DMARC_REC_NOT_DMARC, "v", U, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, false, true },
	{ "spf record", "v=spf1 -all", E_SYNTAX, DMARC_REC_NOT_DMARC, "v", U,
	    U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false, false, true },
	{ "bad policy", "v=DMARC1; p=block", E_SYNTAX, DMARC_REC_BAD_VALUE,
	    "p", U, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false, true, false },
	{ "bad sp", "v=DMARC1; p=none; sp=yes", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "sp", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, true, false },
	{ "pct over 100", "v=DMARC1; p=none; pct=101", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "pct", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "pct not a number", "v=DMARC1; p=none; pct=5o", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "pct", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "pct zero", "v=DMARC1; p=reject; pct=0", 0, DMARC_REC_OK, "", R, U,
	    U, 0, RX, RX, 0, 0, DMARC_PSD_U, false, false, false },
	{ "adkim x", "v=DMARC1; p=none; adkim=x", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "adkim", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "duplicate p", "v=DMARC1; p=none; p=reject", E_SYNTAX,
	    DMARC_REC_DUP_TAG, "p", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, true, false },
	{ "tag without value sign", "v=DMARC1; p=none; pct", E_SYNTAX,
	    DMARC_REC_SYNTAX, "pct", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, false, true },
	{ "uri without scheme", "v=DMARC1; p=none; rua=dmarc@example.com",
	    E_SYNTAX, DMARC_REC_BAD_VALUE, "rua", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "uri size bad unit", "v=DMARC1; p=none; rua=mailto:a@b.example!5x",
	    E_SYNTAX, DMARC_REC_BAD_VALUE, "rua", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "uri list with spaces", "v=DMARC1; p=none; rua=mailto:a@b.example ,"
	    " mailto:c@d.example!2k", 0, DMARC_REC_OK, "", N, U, U, 100, RX,
	    RX, 2, 0, DMARC_PSD_U, false, false, false },
	{ "one bad uri of two", "v=DMARC1; p=none; rua=mailto:a@b.example,"
	    "nope", E_SYNTAX, DMARC_REC_BAD_VALUE, "rua", N, U, U, 100, RX, RX,
	    1, 0, DMARC_PSD_U, false, false, true },
	{ "fo bad", "v=DMARC1; p=none; fo=2", E_SYNTAX, DMARC_REC_BAD_VALUE,
	    "fo", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false, false,
	    true },
	{ "ri overflow", "v=DMARC1; p=none; ri=99999999999", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "ri", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "t bad", "v=DMARC1; p=none; t=maybe", E_SYNTAX, DMARC_REC_BAD_VALUE,
	    "t", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U, false, false, true },
	{ "psd bad", "v=DMARC1; p=none; psd=x", E_SYNTAX,
	    DMARC_REC_BAD_VALUE, "psd", N, U, U, 100, RX, RX, 0, 0,
	    DMARC_PSD_U, false, false, true },
	{ "bad tag name", "v=DMARC1; p=none; 1x=2", E_SYNTAX,
	    DMARC_REC_SYNTAX, "1x", N, U, U, 100, RX, RX, 0, 0, DMARC_PSD_U,
	    false, false, true },
};

static void
test_records(void)
{
	struct dmarc_record r;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(rec_cases) / sizeof(rec_cases[0]); i++) {
		const struct rec_case *c = &rec_cases[i];

		rc = dmarc_record_parse(&r, c->txt, strlen(c->txt));
		CHECK_INT(rc, c->rc, c->name);
		CHECK_STR(dmarc_record_error_str(r.error),
		    dmarc_record_error_str(c->err), c->name);
		CHECK_STR(r.err_tag, c->err_tag, c->name);
		CHECK_STR(dmarc_policy_str(r.p), dmarc_policy_str(c->p),
		    c->name);
		CHECK_STR(dmarc_policy_str(r.sp), dmarc_policy_str(c->sp),
		    c->name);
		CHECK_STR(dmarc_policy_str(r.np), dmarc_policy_str(c->np),
		    c->name);
		CHECK_INT(r.pct, c->pct, c->name);
		CHECK_INT(r.adkim, c->adkim, c->name);
		CHECK_INT(r.aspf, c->aspf, c->name);
		CHECK_INT(r.nrua, c->nrua, c->name);
		CHECK_INT(r.nruf, c->nruf, c->name);
		CHECK_INT(r.psd, c->psd, c->name);
		CHECK_INT(r.testing, c->testing, c->name);
		CHECK_INT(r.p_invalid, c->p_invalid, c->name);
		CHECK_INT(r.other_invalid, c->other_invalid, c->name);
		dmarc_record_fini(&r);
	}
	/* Sizes and values of the full example. */
	rc = dmarc_record_parse(&r, rec_cases[1].txt, strlen(rec_cases[1].txt));
	CHECK_STR(r.nrua > 1 ? r.rua[1].uri : NULL, "mailto:b@example.net",
	    "rua uri without size");
	CHECK_INT(r.nrua > 1 ? r.rua[1].max_size : 0, 10ULL << 20,
	    "rua size 10m");
	CHECK_INT(r.fo, DMARC_FO_1 | DMARC_FO_D, "fo=1:d");
	CHECK_INT(r.ri, 3600, "ri");
	dmarc_record_fini(&r);
	CHECK(!dmarc_is_record("v=DMARC1x", 9), "is_record v=DMARC1x");
	CHECK(dmarc_is_record("v=DMARC1", 8), "is_record bare");
}

/* ---- From ---- */

struct from_case {
	const char *name;
	const char *hdr;
	enum dmarc_from_status st;
	const char *domain;
};

static const struct from_case from_cases[] = {
	{ "plain", "From: a@Example.COM\r\n\r\n", DMARC_FROM_OK,
	    "example.com" },
	{ "display name", "From: Alice <alice@example.com>\r\n",
	    DMARC_FROM_OK, "example.com" },
	{ "folded", "Subject: x\r\nFrom: Alice\r\n <alice@example.com>\r\n",
	    DMARC_FROM_OK, "example.com" },
	{ "lf line ends", "From: a@example.org\nTo: b@example.net\n\n",
	    DMARC_FROM_OK, "example.org" },
	{ "case of name", "FROM: a@example.com\r\n", DMARC_FROM_OK,
	    "example.com" },
	{ "quoted name with address", "From: \"b@good.example\" "
	    "<a@evil.example>\r\n", DMARC_FROM_OK, "evil.example" },
	{ "comment with address", "From: a@evil.example (b@good.example)\r\n",
	    DMARC_FROM_OK, "evil.example" },
	{ "comment before address", "From: (b@good.example) "
	    "<a@evil.example>\r\n", DMARC_FROM_OK, "evil.example" },
	{ "quoted local part with at", "From: \"a@good.example\"@evil.example"
	    "\r\n", DMARC_FROM_OK, "evil.example" },
	{ "encoded word display name", "From: =?utf-8?q?a=40good.example?= "
	    "<a@evil.example>\r\n", DMARC_FROM_OK, "evil.example" },
	/* RFC 2047 5(3) forbids a raw "@" in an encoded word in a phrase,
	   so this reads as an address whose local part is encoded. */
	{ "encoded word with raw at", "From: =?utf-8?q?a@good.example?= "
	    "<a@evil.example>\r\n", DMARC_FROM_ENCODED_WORD, "" },
	{ "group of one", "From: team: a@example.com;\r\n", DMARC_FROM_OK,
	    "example.com" },
	{ "no from", "To: a@example.com\r\nSubject: x\r\n\r\n",
	    DMARC_FROM_NONE, "" },
	{ "from in body only", "To: a@example.com\r\n\r\nFrom: b@example.com"
	    "\r\n", DMARC_FROM_NONE, "" },
	{ "two from fields", "From: a@good.example\r\nFrom: b@evil.example"
	    "\r\n", DMARC_FROM_MULTIPLE_FIELDS, "" },
	{ "two from fields same", "From: a@good.example\r\nfrom: "
	    "a@good.example\r\n", DMARC_FROM_MULTIPLE_FIELDS, "" },
	{ "two angle addresses", "From: <a@evil.example>,<b@good.example>"
	    "\r\n", DMARC_FROM_MULTIPLE_ADDRESSES, "" },
	{ "two plain addresses", "From: a@evil.example, b@good.example\r\n",
	    DMARC_FROM_MULTIPLE_ADDRESSES, "" },
	{ "group of two", "From: g: a@good.example, b@evil.example;\r\n",
	    DMARC_FROM_MULTIPLE_ADDRESSES, "" },
	{ "address then angle", "From: a@evil.example <b@good.example>\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "unquoted at in name", "From: b@good.example <a@evil.example>\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "space before colon", "From : a@good.example\r\n",
	    DMARC_FROM_BAD_NAME, "" },
	{ "space before colon plus real", "From : a@evil.example\r\nFrom: "
	    "b@good.example\r\n", DMARC_FROM_MULTIPLE_FIELDS, "" },
	{ "encoded word local part", "From: =?utf-8?b?YUBnb29kLmV4YW1wbGU=?="
	    "@evil.example\r\n", DMARC_FROM_ENCODED_WORD, "" },
	{ "encoded word in angle", "From: <=?utf-8?q?a=40good.example?=>\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "encoded word domain", "From: a@=?utf-8?q?good.example?=\r\n",
	    DMARC_FROM_ENCODED_WORD, "" },
	{ "empty domain", "From: a@\r\n", DMARC_FROM_BAD_DOMAIN, "" },
	{ "empty domain in angle", "From: A <a@>\r\n", DMARC_FROM_BAD_DOMAIN,
	    "" },
	{ "domain literal", "From: a@[192.0.2.1]\r\n", DMARC_FROM_BAD_DOMAIN,
	    "" },
	{ "trailing dot domain", "From: a@example.com.\r\n",
	    DMARC_FROM_BAD_DOMAIN, "" },
	/* RFC 8616 6: U-labels are fine when they have an A-label form,
	   and the domain comes back in that form */
	{ "idn u-label", "From: a@b\xc3\xbc" "cher.example\r\n",
	    DMARC_FROM_OK, "xn--bcher-kva.example" },
	{ "idn u-label in angle with a UTF-8 name", "From: J\xc3\xbcrgen "
	    "<j\xc3\xbcrgen@mail.B\xc3\xbc" "cher.Example>\r\n",
	    DMARC_FROM_OK, "mail.xn--bcher-kva.example" },
	{ "idn upper-case u-label", "From: a@\xc3\x9c.example\r\n",
	    DMARC_FROM_OK, "xn--tda.example" },
	{ "idn invalid UTF-8", "From: a@b\xfc" "cher.example\r\n",
	    DMARC_FROM_IDN_UTF8, "" },
	{ "idn disallowed U+2044", "From: a@a\xe2\x81\x84" "b.example\r\n",
	    DMARC_FROM_IDN_DISALLOWED, "" },
	{ "idn hyphen first", "From: a@-b\xc3\xbc" "cher.example\r\n",
	    DMARC_FROM_IDN_INVALID, "" },
	{ "idn empty label", "From: a@b\xc3\xbc" "cher..example\r\n",
	    DMARC_FROM_BAD_DOMAIN, "" },
	{ "idn a-label over 63", "From: a@\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    ".example\r\n", DMARC_FROM_IDN_LENGTH, "" },
	{ "idn a-label", "From: a@xn--bcher-kva.example\r\n", DMARC_FROM_OK,
	    "xn--bcher-kva.example" },
	{ "empty from", "From: \r\n", DMARC_FROM_NO_ADDRESS, "" },
	{ "empty group", "From: undisclosed:;\r\n", DMARC_FROM_NO_ADDRESS,
	    "" },
	{ "empty angle", "From: <>\r\n", DMARC_FROM_NO_ADDRESS, "" },
	{ "no at sign", "From: alice\r\n", DMARC_FROM_SYNTAX, "" },
	{ "unterminated comment", "From: a@example.com (x\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "unterminated quote", "From: \"a <a@example.com>\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "unterminated angle", "From: <a@example.com\r\n", DMARC_FROM_SYNTAX,
	    "" },
	{ "obsolete route", "From: <@relay.example:a@example.com>\r\n",
	    DMARC_FROM_SYNTAX, "" },
	{ "trailing garbage", "From: a@example.com x\r\n", DMARC_FROM_SYNTAX,
	    "" },
	{ "leading white space on the first line", " From: a@good.example"
	    "\r\nTo: b@example.net\r\n", DMARC_FROM_BAD_NAME, "" },
	{ "leading white space plus real", " From: a@evil.example\r\nFrom: "
	    "b@good.example\r\n", DMARC_FROM_MULTIPLE_FIELDS, "" },
	{ "tab before colon", "From\t: a@good.example\r\n",
	    DMARC_FROM_BAD_NAME, "" },
	{ "angle address inside quotes", "From: \"<b@good.example>\" "
	    "<a@evil.example>\r\n", DMARC_FROM_OK, "evil.example" },
	{ "nested comment with address", "From: a@evil.example (x "
	    "(b@good.example) y)\r\n", DMARC_FROM_OK, "evil.example" },
	{ "comment inside angle address", "From: <a@(b@good.example)"
	    "evil.example>\r\n", DMARC_FROM_OK, "evil.example" },
	{ "folded From: inside the value", "From: a@good.example\r\n"
	    " From: b@evil.example\r\n", DMARC_FROM_SYNTAX, "" },
	{ "white-space-only line is no end", "From: a@good.example\r\n"
	    " \r\nFrom: b@evil.example\r\n\r\n",
	    DMARC_FROM_MULTIPLE_FIELDS, "" },
	{ "resent-from is not from", "Resent-From: a@x.example\r\nFrom: "
	    "b@good.example\r\n", DMARC_FROM_OK, "good.example" },
	{ "label too long", "From: a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa.example\r\n", DMARC_FROM_BAD_DOMAIN, "" },
};

static void
test_from(void)
{
	char out[DMARC_DOMAIN_MAX + 1];
	enum dmarc_from_status st;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		const struct from_case *c = &from_cases[i];

		rc = dmarc_from_domain(c->hdr, strlen(c->hdr), out,
		    sizeof(out), &st);
		CHECK_STR(dmarc_from_status_str(st),
		    dmarc_from_status_str(c->st), c->name);
		CHECK_INT(rc, c->st == DMARC_FROM_OK ? 0 : E_SYNTAX, c->name);
		CHECK_STR(out, c->domain, c->name);
	}
}

/* ---- the machine, over a DNS table ---- */

struct zrec {
	const char *name;	/* the query name */
	enum dns_type type;
	enum dns_status st;
	const char *txt[3];
};

struct run {
	char queries[24][DMARC_DOMAIN_MAX + 8];
	size_t nq;
};

/* drive - answer the machine from the table (no entry: NXDOMAIN) */
static const struct dmarc_verdict *
drive(struct dmarc_eval *e, const struct zrec *zone, struct run *run)
{
	struct dmarc_query q;
	const struct zrec *z;
	const char *txt[3];
	size_t len[3], n;

	run->nq = 0;
	while (dmarc_eval_next(e, &q) == DMARC_NEED_DNS) {
		if (run->nq < 24)
			snprintf(run->queries[run->nq++],
			    sizeof(run->queries[0]), "%s%s",
			    q.type == DNS_T_TXT ? "" : "?", q.name);
		for (z = zone; z && z->name; z++)
			if (strcmp(z->name, q.name) == 0 && z->type == q.type)
				break;
		if (z == NULL || z->name == NULL) {
			dmarc_eval_answer(e, DNS_NXDOMAIN, NULL, NULL, 0);
			continue;
		}
		for (n = 0; n < 3 && z->txt[n]; n++) {
			txt[n] = z->txt[n];
			len[n] = strlen(z->txt[n]);
		}
		dmarc_eval_answer(e, z->st, txt, len, n);
		if (run->nq > 60)
			break;
	}
	return dmarc_eval_verdict(e);
}

#define TXT DNS_T_TXT
#define OK DNS_OK

/* The RFC 9989 4.10 example: 8 queries for a 13-label author domain. */
static void
test_treewalk_example(void)
{
	static const char *const want[] = {
		"_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
		"_dmarc.g.h.i.j.mail.example.com",
		"_dmarc.h.i.j.mail.example.com",
		"_dmarc.i.j.mail.example.com",
		"_dmarc.j.mail.example.com",
		"_dmarc.mail.example.com",
		"_dmarc.example.com",
		"_dmarc.com",
	};
	struct dmarc_params p = { 0 };
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;
	char next[DMARC_DOMAIN_MAX + 1];
	size_t i;

	p.from_domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com";
	e = dmarc_eval_new(&p);
	v = drive(e, NULL, &run);
	CHECK_INT(run.nq, 8, "rfc9989 4.10 example: query count");
	for (i = 0; i < 8 && i < run.nq; i++)
		CHECK_STR(run.queries[i], want[i], "rfc9989 4.10 example");
	CHECK_STR(dmarc_result_str(v->result), "none",
	    "rfc9989 4.10 example: no record anywhere");
	dmarc_eval_free(e);

	CHECK(dmarc_treewalk_next_name("a.b.c.d.e.f.g.h", next, sizeof(next)),
	    "next of 8 labels");
	CHECK_STR(next, "b.c.d.e.f.g.h", "8 labels shorten to 7");
	CHECK(dmarc_treewalk_next_name("mail.example.com", next, sizeof(next)),
	    "next of 3 labels");
	CHECK_STR(next, "example.com", "3 labels lose one");
	CHECK(!dmarc_treewalk_next_name("com", next, sizeof(next)),
	    "no next after one label");
}

/* The RFC 9989 4.10.2 examples, through dmarc_treewalk_org_domain and
   through the machine (relaxed alignment uses the org domain). */
static void
test_org_examples(void)
{
	const struct dmarc_walk_entry w1[] = {
		{ "a.mail.example.com", false, DMARC_PSD_U },
		{ "mail.example.com", true, DMARC_PSD_U },
		{ "example.com", true, DMARC_PSD_U },
		{ "com", false, DMARC_PSD_U },
	};
	const struct dmarc_walk_entry w2[] = {
		{ "a.mail.example.com", false, DMARC_PSD_U },
		{ "mail.example.com", true, DMARC_PSD_N },
	};
	const struct dmarc_walk_entry w3[] = {
		{ "a.mail.example.com", false, DMARC_PSD_U },
		{ "mail.example.com", false, DMARC_PSD_U },
		{ "example.com", false, DMARC_PSD_U },
		{ "com", true, DMARC_PSD_Y },
	};
	const struct dmarc_walk_entry w4[] = {
		{ "mail.example.com", false, DMARC_PSD_U },
		{ "example.com", true, DMARC_PSD_Y },
	};
	const struct dmarc_walk_entry w5[] = {
		{ "a.example.org", false, DMARC_PSD_U },
		{ "example.org", false, DMARC_PSD_U },
		{ "org", false, DMARC_PSD_U },
	};

	CHECK_STR(dmarc_treewalk_org_domain(w1, 4, "a.mail.example.com"),
	    "example.com", "4.10.2 example 1: fewest labels");
	CHECK_STR(dmarc_treewalk_org_domain(w2, 2, "a.mail.example.com"),
	    "mail.example.com", "4.10.2 example 2: psd=n");
	CHECK_STR(dmarc_treewalk_org_domain(w3, 4, "a.mail.example.com"),
	    "example.com", "4.10.2 example 3: psd=y one label below");
	CHECK_STR(dmarc_treewalk_org_domain(w4, 2, "mail.example.com"),
	    "mail.example.com", "4.10.2 rule 2 text: psd=y at example.com");
	CHECK_STR(dmarc_treewalk_org_domain(w5, 3, "a.example.org"),
	    "a.example.org", "no record: the start is the org domain");
}

struct eval_case {
	const char *name;
	const char *from;
	const char *spf_domain;
	bool spf_pass;
	const char *dkim_domain;
	bool dkim_pass, dkim_partial;
	unsigned sample;
	enum dmarc_discovery disc;
	struct zrec zone[8];
	enum dmarc_result result;
	const char *policy_domain;
	const char *org_domain;
	enum dmarc_policy policy;
	enum dmarc_policy disposition;
	const char *tag;
};

#define TREE DMARC_DISCOVERY_TREEWALK
#define PSLD DMARC_DISCOVERY_PSL

static const struct eval_case eval_cases[] = {
	{ "aligned spf strict-equal", "example.com", "example.com", true,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "example.com", "example.com", R, N, "p" },
	{ "relaxed spf subdomain aligns", "example.com", "bounce.example.com",
	    true, NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "example.com", "example.com", R, N, "p" },
	{ "strict spf subdomain fails", "example.com", "bounce.example.com",
	    true, NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; aspf=s" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "spf fail does not align", "example.com", "example.com", false,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=quarantine" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", Q, Q, "p" },
	{ "dkim pass aligned relaxed", "news.example.com", NULL, false,
	    "example.com", true, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "example.com", "example.com", R, N, "p" },
	{ "dkim l= partial body never counts", "example.com", NULL, false,
	    "example.com", true, true, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "dkim other org does not align", "example.com", NULL, false,
	    "example.net", true, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "dkim lookalike suffix does not align", "example.com", NULL, false,
	    "badexample.com", true, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "sp for subdomain", "a.example.com", NULL, false, NULL, false,
	    false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; sp=quarantine" } },
	    { "a.example.com", DNS_T_A, OK, { NULL } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", Q, Q, "sp" },
	{ "np for nonexistent subdomain", "nx.example.com", NULL, false, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=none; sp=quarantine; np=reject" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "np" },
	{ "np ignored for existing subdomain", "www.example.com", NULL, false,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=none; sp=quarantine; np=reject" } },
	    { "www.example.com", DNS_T_A, DNS_NODATA, { NULL } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", Q, Q, "sp" },
	{ "pct sampled in", "example.com", NULL, false, NULL, false, false, 49,
	    TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; pct=50" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "pct sampled out", "example.com", NULL, false, NULL, false, false, 50,
	    TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; pct=50" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, Q, "p" },
	{ "t=y lowers quarantine", "example.com", NULL, false, NULL, false,
	    false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=quarantine; t=y" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", Q, N, "p" },
	{ "two records are none", "example.com", "example.com", true, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject", "v=DMARC1; p=none" } } },
	    DMARC_RESULT_NONE, "", "example.com", U, U, "" },
	{ "other txt ignored", "example.com", NULL, false, NULL, false, false,
	    0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "hello world", "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", R, R, "p" },
	{ "servfail is temperror", "example.com", NULL, false, NULL, false,
	    false, 0, TREE,
	    { { "_dmarc.example.com", TXT, DNS_SERVFAIL, { NULL } } },
	    DMARC_RESULT_TEMPERROR, "", "", U, U, "" },
	{ "timeout on parent is temperror", "a.example.com", NULL, false, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, DNS_TIMEOUT, { NULL } } },
	    DMARC_RESULT_TEMPERROR, "", "", U, U, "" },
	{ "malformed record is permerror", "example.com", "example.com", true,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; pct=200" } } },
	    DMARC_RESULT_PERMERROR, "example.com", "example.com", U, U, "" },
	{ "bad p with rua acts as none", "example.com", NULL, false, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=bogus; rua=mailto:d@example.com" } } },
	    DMARC_RESULT_FAIL, "example.com", "example.com", N, N, "p" },
	{ "bad p without rua is permerror", "example.com", NULL, false, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=bogus" } } },
	    DMARC_RESULT_PERMERROR, "example.com", "example.com", U, U, "" },
	{ "psd record applies to org without one", "example.gov", NULL, false,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.gov", TXT, OK, { "v=DMARC1; p=reject; psd=y" } },
	    { "example.gov", DNS_T_A, OK, { NULL } } },
	    DMARC_RESULT_FAIL, "gov", "example.gov", R, R, "p" },
	{ "psd=y org is one below for alignment", "mail.example.gov", NULL,
	    false, "example.gov", true, false, 0, TREE,
	    { { "_dmarc.gov", TXT, OK, { "v=DMARC1; p=reject; psd=y" } } },
	    DMARC_RESULT_PASS, "gov", "example.gov", R, N, "p" },
	{ "psd=n stops walk: parent signature unaligned", "a.mail.example.com",
	    NULL, false, "example.com", true, false, 0, TREE,
	    { { "_dmarc.mail.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; psd=n" } },
	    { "a.mail.example.com", DNS_T_A, OK, { NULL } } },
	    DMARC_RESULT_FAIL, "mail.example.com", "mail.example.com", R, R,
	    "p" },
	{ "rfc 4.10.2 ex1: sibling aligns at example.com",
	    "a.mail.example.com", NULL, false, "b.example.com", true, false, 0,
	    TREE,
	    { { "_dmarc.mail.example.com", TXT, OK, { "v=DMARC1; p=reject" } },
	    { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=none" } } },
	    DMARC_RESULT_PASS, "example.com", "example.com", N, N, "p" },
	{ "7489 psl: subdomain uses org record", "a.b.example.co.uk", NULL,
	    false, NULL, false, false, 0, PSLD,
	    { { "_dmarc.example.co.uk", TXT, OK,
	    { "v=DMARC1; p=reject; sp=none" } } },
	    DMARC_RESULT_FAIL, "example.co.uk", "example.co.uk", N, N, "sp" },
	{ "7489 psl: relaxed dkim alignment", "a.example.co.uk", NULL, false,
	    "mail.example.co.uk", true, false, 0, PSLD,
	    { { "_dmarc.example.co.uk", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "example.co.uk", "example.co.uk", R, N, "p" },
	{ "7489 psl: suffix sibling does not align", "a.example.co.uk", NULL,
	    false, "other.co.uk", true, false, 0, PSLD,
	    { { "_dmarc.example.co.uk", TXT, OK, { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "example.co.uk", "example.co.uk", R, R, "p" },
	{ "7489 psl: no record", "example.net", "example.net", true, NULL,
	    false, false, 0, PSLD, { { NULL, 0, 0, { NULL } } },
	    DMARC_RESULT_NONE, "", "example.net", U, U, "" },
	/* RFC 8616 6: U-label identifiers are looked up and aligned by
	   their A-label forms; only A-label names are in the zone */
	{ "idn: u-label From, a-label spf, tree walk",
	    "b\xc3\xbc" "cher.example", "xn--bcher-kva.example", true, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject; aspf=s" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, N, "p" },
	{ "idn: u-label From, u-label spf subdomain, relaxed",
	    "b\xc3\xbc" "cher.example", "bounce.B\xc3\x9c" "CHER.example",
	    true, NULL, false, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, N, "p" },
	{ "idn: u-label From, a-label-signed dkim, strict",
	    "b\xc3\xbc" "cher.example", "other.example", true,
	    "XN--BCHER-KVA.example", true, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject; adkim=s" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, N, "p" },
	{ "idn: a-label From, u-label dkim d= (mixed forms)",
	    "xn--bcher-kva.example", NULL, false,
	    "b\xc3\xbc" "cher.example", true, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject; adkim=s" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, N, "p" },
	{ "idn: another u-label domain does not align",
	    "b\xc3\xbc" "cher.example", "m\xc3\xbcnchen.example", true,
	    "m\xc3\xbcnchen.example", true, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, R, "p" },
	{ "idn: invalid spf domain cannot align",
	    "b\xc3\xbc" "cher.example", "b\xfc" "cher.example", true, NULL,
	    false, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", R, R, "p" },
	{ "idn: subdomain walk finds the org record",
	    "www.b\xc3\xbc" "cher.example", "xn--bcher-kva.example", true,
	    NULL, false, false, 0, TREE,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=reject; sp=quarantine" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", Q, N, "sp" },
	{ "idn psl: u-label From under an IDN suffix (\xe5\x85\xac\xe5\x8f"
	    "\xb8.cn)", "www.b\xc3\xbc" "cher.\xe5\x85\xac\xe5\x8f\xb8.cn",
	    NULL, false, "xn--bcher-kva.xn--55qx5d.cn", true, false, 0, PSLD,
	    { { "_dmarc.xn--bcher-kva.xn--55qx5d.cn", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.xn--55qx5d.cn",
	    "xn--bcher-kva.xn--55qx5d.cn", R, N, "p" },
	{ "idn psl: u-label From, u-label spf",
	    "b\xc3\xbc" "cher.example", "mail.b\xc3\xbc" "cher.example", true,
	    NULL, false, false, 0, PSLD,
	    { { "_dmarc.xn--bcher-kva.example", TXT, OK,
	    { "v=DMARC1; p=none" } } },
	    DMARC_RESULT_PASS, "xn--bcher-kva.example",
	    "xn--bcher-kva.example", N, N, "p" },
};

static void
test_eval(const struct pubsuffix *psl)
{
	struct dmarc_params p;
	struct dmarc_auth dk;
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;
	size_t i;

	for (i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
		const struct eval_case *c = &eval_cases[i];

		memset(&p, 0, sizeof(p));
		p.from_domain = c->from;
		p.spf.domain = c->spf_domain;
		p.spf.pass = c->spf_pass;
		if (c->dkim_domain) {
			dk.domain = c->dkim_domain;
			dk.pass = c->dkim_pass;
			dk.body_partial = c->dkim_partial;
			p.dkim = &dk;
			p.ndkim = 1;
		}
		p.sample = c->sample;
		p.discovery = c->disc;
		p.psl = psl;
		e = dmarc_eval_new(&p);
		v = drive(e, c->zone, &run);
		CHECK_STR(dmarc_result_str(v->result),
		    dmarc_result_str(c->result), c->name);
		CHECK_STR(v->policy_domain, c->policy_domain, c->name);
		CHECK_STR(v->org_domain, c->org_domain, c->name);
		CHECK_STR(dmarc_policy_str(v->policy),
		    dmarc_policy_str(c->policy), c->name);
		CHECK_STR(dmarc_policy_str(v->disposition),
		    dmarc_policy_str(c->disposition), c->name);
		CHECK_STR(v->policy_tag, c->tag, c->name);
		CHECK(run.nq <= 20, c->name);
		dmarc_eval_free(e);
	}
}

/* The exact queries asked, so the cost per message is known. */
static void
test_query_sequences(const struct pubsuffix *psl)
{
	static const struct zrec zone[] = {
		{ "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } },
		{ "_dmarc.own.example", TXT, OK,
		    { "v=DMARC1; p=reject; psd=n" } },
		{ NULL, 0, 0, { NULL } },
	};
	struct dmarc_params p;
	struct dmarc_auth dk = { "news.example.com", true, false };
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;

	/* RFC 7489: the author domain, then its PSL org domain. */
	memset(&p, 0, sizeof(p));
	p.from_domain = "a.b.example.co.uk";
	p.discovery = DMARC_DISCOVERY_PSL;
	p.psl = psl;
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_INT(run.nq, 2, "7489 query count");
	CHECK_STR(run.nq > 0 ? run.queries[0] : NULL,
	    "_dmarc.a.b.example.co.uk", "7489 first query");
	CHECK_STR(run.nq > 1 ? run.queries[1] : NULL, "_dmarc.example.co.uk",
	    "7489 second query");
	CHECK_STR(dmarc_result_str(v->result), "none", "7489 no record");
	dmarc_eval_free(e);

	/* Tree walk with two relaxed identifiers: each name asked once. */
	memset(&p, 0, sizeof(p));
	p.from_domain = "mail.example.com";
	p.spf.domain = "bounce.example.com";
	p.spf.pass = true;
	p.dkim = &dk;
	p.ndkim = 1;
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_INT(run.nq, 5, "tree walk shared answers: query count");
	CHECK_STR(run.nq > 2 ? run.queries[2] : NULL, "_dmarc.com",
	    "tree walk climbs to the top");
	CHECK_STR(run.nq > 3 ? run.queries[3] : NULL,
	    "_dmarc.bounce.example.com", "spf identifier walk");
	CHECK_STR(run.nq > 4 ? run.queries[4] : NULL,
	    "_dmarc.news.example.com", "dkim identifier walk");
	CHECK(v->spf_aligned && v->dkim_aligned, "both aligned relaxed");
	CHECK_STR(dmarc_result_str(v->result), "pass", "tree walk pass");
	dmarc_eval_free(e);

	/* psd=n at the author domain ends the walk at once. */
	memset(&p, 0, sizeof(p));
	p.from_domain = "own.example";
	p.spf.domain = "own.example";
	p.spf.pass = true;
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_INT(run.nq, 1, "psd=n stops the walk");
	CHECK_STR(v->org_domain, "own.example", "psd=n org domain");
	dmarc_eval_free(e);
}

/*
 * RFC 9989 Appendix B, transcribed from draft-ietf-dmarc-dmarcbis-41 (the
 * RFC's text was not reachable from our reference search; the draft is
 * its last version).  B.2's records must parse; B.1, B.3.1 and B.4's
 * messages must give the verdicts, Organizational Domains and queries
 * the text describes.
 */
struct appb_case {
	const char *name;
	const char *from, *spf, *dkim;
	bool spf_pass, dkim_pass;
	struct zrec zone[5];
	enum dmarc_result result;
	bool spf_aligned, dkim_aligned;
	const char *org, *policy_domain;
	const char *queries[10];	/* NULL-terminated */
};

static const struct appb_case appb_cases[] = {
	{ "B.1.1 ex1 spf strict", "example.com", "example.com", NULL, true,
	    false, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; aspf=s" } } },
	    DMARC_RESULT_PASS, true, false, "example.com", "example.com",
	    { NULL } },
	{ "B.1.1 ex2 spf relaxed", "example.com", "child.example.com", NULL,
	    true, false, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, true, false, "example.com", "example.com",
	    { NULL } },
	{ "B.1.1 ex2 under strict", "example.com", "child.example.com", NULL,
	    true, false, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; aspf=s" } } },
	    DMARC_RESULT_FAIL, false, false, "example.com", "example.com",
	    { NULL } },
	{ "B.1.1 ex3 spf not aligned", "child.example.com", "example.net",
	    NULL, true, false, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, false, false, "example.com", "example.com",
	    { NULL } },
	{ "B.1.2 ex1 dkim strict", "example.com", NULL, "example.com", false,
	    true, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; adkim=s" } } },
	    DMARC_RESULT_PASS, false, true, "example.com", "example.com",
	    { NULL } },
	{ "B.1.2 ex2 dkim relaxed", "child.example.com", NULL, "example.com",
	    false, true, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_PASS, false, true, "example.com", "example.com",
	    { NULL } },
	{ "B.1.2 ex3 dkim not aligned", "child.example.com", NULL,
	    "example.net", false, true, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject" } } },
	    DMARC_RESULT_FAIL, false, false, "example.com", "example.com",
	    { NULL } },
	{ "B.3.1 smtp session", "example.com", "mail.example.com",
	    "example.com", true, true, { { "_dmarc.example.com", TXT, OK,
	    { "v=DMARC1; p=reject; aspf=r; "
	    "rua=mailto:dmarc-feedback@example.com" } } },
	    DMARC_RESULT_PASS, true, true, "example.com", "example.com",
	    { NULL } },
	{ "B.4.1 simple", "example.com", "example.com", "signing.example.com",
	    true, true, {
	    { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } },
	    { "_dmarc.signing.example.com", TXT, OK, { "v=DMARC1; p=none" } } },
	    DMARC_RESULT_PASS, true, true, "example.com", "example.com",
	    { "_dmarc.example.com", "_dmarc.com",
	    "_dmarc.signing.example.com", NULL } },
	{ "B.4.2 deep", "a.b.c.d.e.f.g.h.i.j.k.example.com", "example.com",
	    "signing.example.com", true, true, {
	    { "_dmarc.example.com", TXT, OK, { "v=DMARC1; p=reject" } },
	    { "_dmarc.signing.example.com", TXT, OK, { "v=DMARC1; p=none" } } },
	    DMARC_RESULT_PASS, true, true, "example.com", "example.com",
	    { "_dmarc.a.b.c.d.e.f.g.h.i.j.k.example.com",
	    "_dmarc.g.h.i.j.k.example.com", "_dmarc.h.i.j.k.example.com",
	    "_dmarc.i.j.k.example.com", "_dmarc.j.k.example.com",
	    "_dmarc.k.example.com", "_dmarc.example.com", "_dmarc.com",
	    "_dmarc.signing.example.com", NULL } },
	/* B.4.3 walks mail.mega.bank.example as well and finds its org
	   domain mega.bank.example, not aligned.  We reach the same verdict
	   without those queries: an org domain is the name or an ancestor,
	   and giant.bank.example is neither for mail.mega.bank.example. */
	{ "B.4.3 psd", "giant.bank.example", "mail.giant.bank.example",
	    "mail.mega.bank.example", true, true, {
	    { "_dmarc.giant.bank.example", TXT, OK, { "v=DMARC1; p=reject" } },
	    { "_dmarc.bank.example", TXT, OK,
	    { "v=DMARC1; p=none; psd=y" } } },
	    DMARC_RESULT_PASS, true, false, "giant.bank.example",
	    "giant.bank.example",
	    { "_dmarc.giant.bank.example", "_dmarc.bank.example",
	    "_dmarc.mail.giant.bank.example", NULL } },
	{ "B.4.3 psd, spf failing", "giant.bank.example",
	    "mail.giant.bank.example", "mail.mega.bank.example", false, true, {
	    { "_dmarc.giant.bank.example", TXT, OK, { "v=DMARC1; p=reject" } },
	    { "_dmarc.bank.example", TXT, OK,
	    { "v=DMARC1; p=none; psd=y" } } },
	    DMARC_RESULT_FAIL, false, false, "giant.bank.example",
	    "giant.bank.example",
	    { "_dmarc.giant.bank.example", "_dmarc.bank.example", NULL } },
};

static void
test_appendix_b(void)
{
	static const char *const records[] = {
		/* B.2.1 to B.2.5, the strings of each TXT record joined */
		"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
		"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
		    "ruf=mailto:auth-reports@example.com",
		"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
		    "ruf=mailto:auth-reports@thirdparty.example.net",
		"v=DMARC1;",
		"v=DMARC1; "
		    "rua=mailto:aggregate-reports@thirdparty.example.net; "
		    "ruf=mailto:failure-reports@thirdparty.example.net",
		"v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,"
		    "mailto:tld-test@thirdparty.example.net; t=y",
		"v=DMARC1; p=reject; rua=mailto:dmarc-feedback@example.com,"
		    "mailto:tld-test@thirdparty.example.net",
	};
	struct dmarc_record r;
	struct dmarc_params p;
	struct dmarc_auth dk;
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;
	size_t i, k;

	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		CHECK_INT(dmarc_record_parse(&r, records[i],
		    strlen(records[i])), 0, records[i]);
		dmarc_record_fini(&r);
	}
	(void)dmarc_record_parse(&r, records[5], strlen(records[5]));
	CHECK_INT(r.nrua, 2, "B.2.5 two rua URIs");
	CHECK(r.testing, "B.2.5 t=y");
	CHECK_STR(r.nrua > 1 ? r.rua[1].uri : NULL,
	    "mailto:tld-test@thirdparty.example.net", "B.2.5 second rua");
	dmarc_record_fini(&r);

	for (i = 0; i < sizeof(appb_cases) / sizeof(appb_cases[0]); i++) {
		const struct appb_case *c = &appb_cases[i];

		memset(&p, 0, sizeof(p));
		p.from_domain = c->from;
		p.spf.domain = c->spf;
		p.spf.pass = c->spf_pass;
		if (c->dkim) {
			dk.domain = c->dkim;
			dk.pass = c->dkim_pass;
			dk.body_partial = false;
			p.dkim = &dk;
			p.ndkim = 1;
		}
		e = dmarc_eval_new(&p);
		v = drive(e, c->zone, &run);
		CHECK_STR(dmarc_result_str(v->result),
		    dmarc_result_str(c->result), c->name);
		CHECK_INT(v->spf_aligned, c->spf_aligned, c->name);
		CHECK_INT(v->dkim_aligned, c->dkim_aligned, c->name);
		CHECK_STR(v->org_domain, c->org, c->name);
		CHECK_STR(v->policy_domain, c->policy_domain, c->name);
		if (c->queries[0] != NULL) {
			for (k = 0; c->queries[k] != NULL; k++)
				CHECK_STR(k < run.nq ? run.queries[k] : NULL,
				    c->queries[k], c->name);
			CHECK_INT(run.nq, k, c->name);
		}
		dmarc_eval_free(e);
	}
}

/* dmarc_run over the table back end of dns.h, as a worker would. */
struct run_done {
	int calls;
	enum dmarc_result result;
};

static void
on_done(void *arg, struct dmarc_eval *e)
{
	struct run_done *d = arg;

	d->calls++;
	d->result = dmarc_eval_verdict(e)->result;
}

static void
test_run_on_resolver(void)
{
	static const char *const rec[] = { "v=DMARC1; p=reject; ", "sp=none" };
	static const char *const other[] = { "v=spf1 -all" };
	struct dns_resolver *r = dns_resolver_new_table();
	struct dmarc_params p;
	struct dmarc_auth dk = { "mail.example.org", true, false };
	struct dmarc_eval *e, *e2;
	struct dmarc_runner *run;
	struct run_done d = { 0, DMARC_RESULT_NONE }, d2 = d;
	const struct dmarc_verdict *v;

	dns_table_add_txt(r, "_dmarc.example.org", rec, 2);
	dns_table_add_txt(r, "_dmarc.org", other, 1);
	dns_table_set_timeout(r, "_dmarc.slow.example");

	memset(&p, 0, sizeof(p));
	p.from_domain = "news.example.org";
	p.dkim = &dk;
	p.ndkim = 1;
	e = dmarc_eval_new(&p);
	run = dmarc_run(e, r, on_done, &d);
	CHECK(run != NULL, "run waits for answers");
	CHECK_INT(d.calls, 0, "no verdict before answers");
	dns_resolver_wait(r);
	CHECK_INT(d.calls, 1, "callback once");
	CHECK_STR(dmarc_result_str(d.result), "pass", "run over table");
	v = dmarc_eval_verdict(e);
	CHECK_STR(v->policy_domain, "example.org", "run: policy domain");
	CHECK_STR(v->policy_tag, "sp", "run: multi-string record joined");
	dmarc_eval_free(e);

	/* A timeout while finding the policy is a temperror. */
	p.from_domain = "slow.example";
	p.ndkim = 0;
	e = dmarc_eval_new(&p);
	run = dmarc_run(e, r, on_done, &d);
	dns_resolver_wait(r);
	CHECK_INT(d.calls, 2, "callback once more");
	CHECK_STR(dmarc_result_str(d.result), "temperror", "run: timeout");
	dmarc_eval_free(e);

	/* Cancelled while a query is out: no callback, and freeing the
	   machine at once is safe (ASan would see a late touch). */
	e2 = dmarc_eval_new(&p);
	run = dmarc_run(e2, r, on_done, &d2);
	CHECK(run != NULL, "second run waits");
	dmarc_run_cancel(run);
	dmarc_eval_free(e2);
	dns_resolver_wait(r);
	CHECK_INT(d2.calls, 0, "cancelled run never calls back");

	/* No From domain: finished at once, no runner. */
	memset(&p, 0, sizeof(p));
	p.from_status = DMARC_FROM_NONE;
	e = dmarc_eval_new(&p);
	run = dmarc_run(e, r, on_done, &d);
	CHECK(run == NULL, "finished at once");
	CHECK_STR(dmarc_result_str(d.result), "permerror", "no From");
	dmarc_eval_free(e);
	dns_resolver_free(r);
}

/* A missing or unusable From never passes, with no DNS spent. */
static void
test_no_from(void)
{
	struct dmarc_params p = { 0 };
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;

	p.from_status = DMARC_FROM_MULTIPLE_ADDRESSES;
	p.spf.domain = "example.com";
	p.spf.pass = true;
	e = dmarc_eval_new(&p);
	v = drive(e, NULL, &run);
	CHECK_STR(dmarc_result_str(v->result), "permerror", "no from domain");
	CHECK_STR(v->reason, "multiple addresses in From", "no from reason");
	CHECK_INT(run.nq, 0, "no from: no queries");
	CHECK_INT(dmarc_eval_answer(e, DNS_OK, NULL, NULL, 0), E_INVAL,
	    "answer with nothing asked");
	dmarc_eval_free(e);
	dmarc_eval_free(NULL);
}

/* The verdict's two forms of the From domain, the reason for one with
   no A-label form, and dmarc_aligned over A-labels. */
static void
test_idn(void)
{
	struct dmarc_params p;
	struct dmarc_eval *e;
	const struct dmarc_verdict *v;
	struct run run;
	static const struct zrec zone[] = {
		{ "_dmarc.xn--bcher-kva.example", TXT, OK,
		    { "v=DMARC1; p=reject" } },
		{ NULL, 0, 0, { NULL } },
	};

	memset(&p, 0, sizeof(p));
	p.from_domain = "b\xc3\xbc" "cher.example";
	p.spf.domain = "b\xc3\xbc" "cher.example";
	p.spf.pass = true;
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_STR(dmarc_result_str(v->result), "pass", "idn verdict");
	CHECK_STR(v->from_domain, "b\xc3\xbc" "cher.example",
	    "idn verdict: from_domain as written");
	CHECK_STR(v->from_domain_ascii, "xn--bcher-kva.example",
	    "idn verdict: from_domain_ascii");
	CHECK(v->spf_aligned, "idn verdict: spf aligned");
	CHECK_INT(run.nq, 2, "idn verdict: queries");
	CHECK_STR(run.queries[0], "_dmarc.xn--bcher-kva.example",
	    "idn verdict: the A-label name is asked");
	dmarc_eval_free(e);

	/* a From domain with no A-label form, handed in directly */
	p.from_domain = "a\xe2\x81\x84" "b.example";
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_STR(dmarc_result_str(v->result), "permerror",
	    "unconvertible From");
	CHECK_STR(v->reason, "invalid internationalised From domain: "
	    "disallowed code point", "unconvertible From: reason");
	CHECK_INT(run.nq, 0, "unconvertible From: no query");
	dmarc_eval_free(e);

	/* the From parser's refusal reaches the verdict as its reason */
	p.from_domain = NULL;
	p.from_status = DMARC_FROM_IDN_UTF8;
	e = dmarc_eval_new(&p);
	v = drive(e, zone, &run);
	CHECK_STR(v->reason, "From domain is not valid UTF-8",
	    "From status as reason");
	dmarc_eval_free(e);

	CHECK(dmarc_aligned("XN--BCHER-KVA.example", "xn--bcher-kva.example",
	    "xn--bcher-kva.EXAMPLE", "xn--bcher-kva.example",
	    DMARC_ALIGN_STRICT), "A-labels align case-insensitively");
}

int
main(void)
{
	struct pubsuffix *psl = NULL;

	test_records();
	test_from();
	test_treewalk_example();
	test_org_examples();
	CHECK_INT(pubsuffix_load_file(&psl,
	    "tests/data/publicsuffix/public_suffix_list.dat"), 0, "load psl");
	test_eval(psl);
	test_query_sequences(psl);
	test_appendix_b();
	test_run_on_resolver();
	test_no_from();
	test_idn();
	pubsuffix_free(psl);
	return test_done();
}
