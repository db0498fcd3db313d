/*
 * test_received_parse - msg/received_parse.h on the Received formats of
 * the common MTAs, the RFC 3848 keywords and the RFC 8314 tls clause,
 * RFC 5322 dates, and on malformed, truncated, folded-to-absurdity and
 * binary input.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg/header.h"
#include "msg/received_parse.h"
#include "util/buf.h"
#include "util/err.h"
#include "testlib.h"

struct rcase {
	const char *name;
	const char *value;
	int rc;
	const char *from, *from_ip, *by, *protocol;
	enum received_tls tls;
	const char *version, *cipher, *id, *for_addr;
	long long date;		/* -1: no parsable date */
	enum received_kind kind;
};

#define Y RECEIVED_TLS_YES
#define N RECEIVED_TLS_NO
#define U RECEIVED_TLS_UNKNOWN
#define K_SMTP RECEIVED_KIND_SMTP
#define K_LMTP RECEIVED_KIND_LMTP
#define K_HTTP RECEIVED_KIND_HTTP
#define K_LOCAL RECEIVED_KIND_LOCAL
#define K_UNK RECEIVED_KIND_UNKNOWN

/* 2024-01-15T10:00:00Z */
#define T0 1705312800LL

static const struct rcase cases[] = {
	{ "smtpsd TLS, folded with CRLF TAB",
	  " from client.example (localhost [127.0.0.1])\r\n"
	  "\tby mx.example.test (smtpsd) with ESMTPS id Q7H2K\r\n"
	  "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256)\r\n"
	  "\tfor <demo@example.test>; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "client.example", "127.0.0.1", "mx.example.test", "ESMTPS", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "Q7H2K", "demo@example.test",
	  T0, K_SMTP },
	{ "smtpsd plaintext IPv6 literal",
	  " from laptop (unknown [IPv6:2001:db8::1])\r\n\tby mx.example.test "
	  "(smtpsd) with ESMTP id Q1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "laptop", "2001:db8::1", "mx.example.test", "ESMTP", N, NULL,
	  NULL, "Q1", NULL, T0, K_SMTP },
	{ "postfix TLS 1.3 with nested comment",
	  " from a.example.org (a.example.org [192.0.2.1])\r\n"
	  "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
	  "\r\n\t key-exchange X25519 server-signature RSA-PSS (2048 bits) "
	  "server-digest SHA256)\r\n\t(No client certificate requested)\r\n"
	  "\tby mx.example.net (Postfix) with ESMTPS id 4TXyz\r\n"
	  "\tfor <b@example.net>; Mon, 15 Jan 2024 11:00:00 +0100 (CET)",
	  0, "a.example.org", "192.0.2.1", "mx.example.net", "ESMTPS", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "4TXyz", "b@example.net", T0,
	  K_SMTP },
	{ "old postfix: TLS comment with ESMTP keyword still counts",
	  " from a.example.org (a.example.org [192.0.2.1]) (using TLSv1.2 "
	  "with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)) by "
	  "mx.example.net (Postfix) with ESMTP id 1; Mon, 15 Jan 2024 "
	  "10:00:00 GMT",
	  0, "a.example.org", "192.0.2.1", "mx.example.net", "ESMTP", Y,
	  "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "1", NULL, T0, K_SMTP },
	{ "exim tls clause and version comment",
	  " from mail.example.net ([203.0.113.7] helo=relay.example.net)\r\n"
	  "\tby mx.example.com with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384"
	  "\r\n\t(Exim 4.96)\r\n\t(envelope-from <a@example.org>)\r\n"
	  "\tid 1rPqRs-000AbC-2x\r\n\tfor d@example.com; Mon, 15 Jan 2024 "
	  "10:00:00 +0000",
	  0, "mail.example.net", "203.0.113.7", "mx.example.com", "ESMTPS", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "1rPqRs-000AbC-2x",
	  "d@example.com", T0, K_SMTP },
	{ "old exim version:cipher:bits",
	  " from h.example.org ([198.51.100.3]:41234 helo=h) by r.example.net "
	  "with esmtps (TLS1.2:ECDHE_RSA_AES_128_GCM_SHA256:128) (Exim 4.94) "
	  "id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "h.example.org", "198.51.100.3", "r.example.net", "ESMTPS", Y,
	  "TLSv1.2", "ECDHE_RSA_AES_128_GCM_SHA256", "1", NULL, T0, K_SMTP },
	{ "exim local",
	  " from alice by host.example.org with local (Exim 4.96) id 1; "
	  "Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "alice", NULL, "host.example.org", "local", U, NULL, NULL, "1",
	  NULL, T0, K_LOCAL },
	{ "opensmtpd",
	  " from r.example.net (r.example.net [203.0.113.20])\r\n\tby "
	  "mx.example.com (OpenSMTPD) with ESMTPS id 8f3a2c1d "
	  "(TLSv1.3:TLS_AES_256_GCM_SHA384:256:NO)\r\n\tfor <e@example.com>; "
	  "Mon, 15 Jan 2024 10:00:00 +0000 (UTC)",
	  0, "r.example.net", "203.0.113.20", "mx.example.com", "ESMTPS", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "8f3a2c1d", "e@example.com", T0,
	  K_SMTP },
	{ "microsoft 365 with bare IPv6 in the comment",
	  " from AM6P.EURP.PROD.OUTLOOK.COM (2603:10a6:209:81::25)\r\n by "
	  "AM9P.eurprd07.prod.outlook.com (2603:10a6:20b:2c5::9) with\r\n "
	  "Microsoft SMTP Server (version=TLS1_2,\r\n "
	  "cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7202.24; "
	  "Mon, 15 Jan\r\n 2024 10:00:00 +0000",
	  0, "AM6P.EURP.PROD.OUTLOOK.COM", "2603:10a6:209:81::25",
	  "AM9P.eurprd07.prod.outlook.com", "Microsoft SMTP Server", Y,
	  "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "15.20.7202.24",
	  NULL, T0, K_SMTP },
	{ "microsoft without TLS comment says nothing",
	  " from legacy.example.org (198.51.100.99) by mail.example.org "
	  "(192.0.2.10) with Microsoft SMTP Server id 15.1.2507.35; Mon, 15 "
	  "Jan 2024 10:00:00 +0000",
	  0, "legacy.example.org", "198.51.100.99", "mail.example.org",
	  "Microsoft SMTP Server", U, NULL, NULL, "15.1.2507.35", NULL, T0,
	  K_SMTP },
	{ "microsoft internal HTTPS hop",
	  " from AM9P.outlook.com (2603:10a6:20b:2c5::9) by DB9P.outlook.com "
	  "with HTTPS; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "AM9P.outlook.com", "2603:10a6:20b:2c5::9", "DB9P.outlook.com",
	  "HTTPS", Y, NULL, NULL, NULL, NULL, T0, K_HTTP },
	{ "microsoft mapi",
	  " from DB8P.outlook.com ([fe80::1c2d]) by DB8P.outlook.com "
	  "([fe80::1c2d%6]) with mapi id 15.20.7202.024; Mon, 15 Jan 2024 "
	  "10:00:00 +0000",
	  0, "DB8P.outlook.com", "fe80::1c2d", "DB8P.outlook.com", "mapi", U,
	  NULL, NULL, "15.20.7202.024", NULL, T0, K_LOCAL },
	{ "gmail transport security",
	  " from mail-sor-f41.google.com (mail-sor-f41.google.com. "
	  "[209.85.220.41])\r\n        by mx.google.com with SMTPS id a1.2\r\n"
	  "        for <f@example.com>\r\n        (Google Transport Security);"
	  "\r\n        Mon, 15 Jan 2024 02:00:00 -0800 (PST)",
	  0, "mail-sor-f41.google.com", "209.85.220.41", "mx.google.com",
	  "SMTPS", Y, NULL, NULL, "a1.2", "f@example.com", T0, K_SMTP },
	{ "gmail submission with version comment",
	  " from c.example.org ([2001:db8:2::15]) by smtp.gmail.com with "
	  "ESMTPSA id x7 for <f@example.com> (version=TLS1_3 "
	  "cipher=TLS_AES_256_GCM_SHA384 bits=256/256); Mon, 15 Jan 2024 "
	  "02:00:00 PST",
	  0, "c.example.org", "2001:db8:2::15", "smtp.gmail.com", "ESMTPSA", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "x7", "f@example.com", T0,
	  K_SMTP },
	{ "gmail internal SMTP hop is plaintext by its keyword",
	  " by 2002:a05:7300:1a0b:b0:12f:a1b2:c3d4 with SMTP id m11csp;\r\n"
	  "        Mon, 15 Jan 2024 02:00:00 -0800 (PST)",
	  0, NULL, NULL, "2002:a05:7300:1a0b:b0:12f:a1b2:c3d4", "SMTP", N,
	  NULL, NULL, "m11csp", NULL, T0, K_SMTP },
	{ "sendmail TLS",
	  " from r.example.net (r.example.net [203.0.113.30])\r\n\tby "
	  "mx.example.com (8.17.1/8.17.1) with ESMTPS id 40LA\r\n\t(version="
	  "TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NO)\r\n\tfor "
	  "<g@example.com>; Mon, 15 Jan 2024 05:00:00 -0500",
	  0, "r.example.net", "203.0.113.30", "mx.example.com", "ESMTPS", Y,
	  "TLSv1.3", "TLS_AES_256_GCM_SHA384", "40LA", "g@example.com", T0,
	  K_SMTP },
	{ "sendmail local submission",
	  " (from alice@localhost)\r\n\tby host.example.org (8.17.1/Submit) "
	  "id 40LAa0Zz; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, NULL, NULL, "host.example.org", NULL, U, NULL, NULL, "40LAa0Zz",
	  NULL, T0, K_LOCAL },
	{ "postfix pickup",
	  " by old.example.org (Postfix, from userid 1000) id 9F1A; Mon, 15 "
	  "Jan 2024 10:00:00 +0000",
	  0, NULL, NULL, "old.example.org", NULL, U, NULL, NULL, "9F1A", NULL,
	  T0, K_LOCAL },
	{ "RFC 8314 tls clause on plain SMTP keyword",
	  " from a (a [192.0.2.1]) by b with SMTP tls "
	  "TLS_CHACHA20_POLY1305_SHA256 id t; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", "192.0.2.1", "b", "SMTP", Y, NULL,
	  "TLS_CHACHA20_POLY1305_SHA256", "t", NULL, T0, K_SMTP },
	{ "esmtpa is no TLS",
	  " from a by b with esmtpa id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "ESMTPA", N, NULL, NULL, "1", NULL, T0, K_SMTP },
	{ "lmtp is plaintext local delivery",
	  " from a by b with LMTP id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "LMTP", N, NULL, NULL, "1", NULL, T0, K_LMTP },
	{ "lmtpsa",
	  " from a by b with LMTPSA id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "LMTPSA", Y, NULL, NULL, "1", NULL, T0, K_LMTP },
	{ "utf8smtps (RFC 6531)",
	  " from a by b with UTF8SMTPS id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "UTF8SMTPS", Y, NULL, NULL, "1", NULL, T0,
	  K_SMTP },
	{ "utf8smtpa",
	  " from a by b with UTF8SMTPA id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "UTF8SMTPA", N, NULL, NULL, "1", NULL, T0,
	  K_SMTP },
	{ "http is plaintext",
	  " from a by b with HTTP; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "HTTP", N, NULL, NULL, NULL, NULL, T0, K_HTTP },
	{ "private keyword says nothing",
	  " from a by b with X-FOO id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "X-FOO", U, NULL, NULL, "1", NULL, T0, K_UNK },
	{ "ESMTPSX is not a keyword",
	  " from a by b with ESMTPSX id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "a", NULL, "b", "ESMTPSX", U, NULL, NULL, "1", NULL, T0, K_UNK },
	{ "no with clause says nothing",
	  " from a (a [192.0.2.1]) by b id 1; 15 Jan 2024 10:00 UT",
	  0, "a", "192.0.2.1", "b", NULL, U, NULL, NULL, "1", NULL, T0,
	  K_UNK },
	{ "HELO pretending TLS in the TCP-info is ignored",
	  " from x ([192.0.2.5] helo=version=TLSv1.3 cipher=FAKE) by b with "
	  "ESMTP id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "x", "192.0.2.5", "b", "ESMTP", N, NULL, NULL, "1", NULL, T0,
	  K_SMTP },
	{ "TLS words in an envelope-from comment are the client's",
	  " from x (x [192.0.2.5]) by b with esmtp (Exim 4.96) "
	  "(envelope-from <\"a version=TLSv1.3 cipher=X\"@e.example>) id 1; "
	  "Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "x", "192.0.2.5", "b", "ESMTP", N, NULL, NULL, "1", NULL, T0,
	  K_SMTP },
	{ "TLS words in a quoted string or <address> are not read",
	  " from x (x [192.0.2.5]) by b with ESMTP (sender <TLSv1.3:Y:1@e> "
	  "\"cipher=Z version=TLSv1.2\") id 1; Mon, 15 Jan 2024 10:00:00 +0000",
	  0, "x", "192.0.2.5", "b", "ESMTP", N, NULL, NULL, "1", NULL, T0,
	  K_SMTP },
	{ "exim bare address as from name",
	  " from [192.0.2.80] (helo=laptop) by r with esmtpa id 2; Mon, 15 "
	  "Jan 2024 10:00:00 +0000",
	  0, "[192.0.2.80]", "192.0.2.80", "r", "ESMTPA", N, NULL, NULL, "2",
	  NULL, T0, K_SMTP },
	{ "two-digit year and obsolete zone",
	  " from a by b with SMTP; 15 Jan 24 05:00:00 EST",
	  0, "a", NULL, "b", "SMTP", N, NULL, NULL, NULL, NULL, T0, K_SMTP },
	{ "semicolon inside a comment is not the date",
	  " from a (x; y [192.0.2.1]) by b with ESMTP; Mon, 15 Jan 2024 "
	  "10:00:00 +0000",
	  0, "a", "192.0.2.1", "b", "ESMTP", N, NULL, NULL, NULL, NULL, T0,
	  K_SMTP },
	/* malformed and truncated */
	{ "truncated in the TLS comment",
	  " from a (a [192.0.2.1]) by b with ESMTPS id 1 (version=TLSv1.3 "
	  "ciph",
	  0, "a", "192.0.2.1", "b", "ESMTPS", Y, "TLSv1.3", NULL, "1", NULL,
	  -1, K_SMTP },
	{ "truncated after from",
	  " from a (a [192.0.2.1",
	  0, "a", NULL, NULL, NULL, U, NULL, NULL, NULL, NULL, -1, K_UNK },
	{ "bad date",
	  " from a by b with ESMTP; Mon, 45 Foo 2024 99:00:00 +0000",
	  0, "a", NULL, "b", "ESMTP", N, NULL, NULL, NULL, NULL, -1, K_SMTP },
	{ "date without zone",
	  " from a by b with ESMTP; Mon, 15 Jan 2024 10:00:00",
	  0, "a", NULL, "b", "ESMTP", N, NULL, NULL, NULL, NULL, -1, K_SMTP },
	{ "bad address in brackets",
	  " from a (a [999.1.1.1]) by b with ESMTP; Mon, 15 Jan 2024 10:00:00 "
	  "+0000",
	  0, "a", NULL, "b", "ESMTP", N, NULL, NULL, NULL, NULL, T0, K_SMTP },
	{ "empty value", "", E_SYNTAX, NULL, NULL, NULL, NULL, U, NULL, NULL,
	  NULL, NULL, -1, K_UNK },
	{ "only words", " hello world", E_SYNTAX, NULL, NULL, NULL, NULL, U,
	  NULL, NULL, NULL, NULL, -1, K_UNK },
	{ "unbalanced parens", " ((((((((( from a by b with ESMTPS",
	  E_SYNTAX, NULL, NULL, NULL, NULL, U, NULL, NULL, NULL, NULL, -1,
	  K_UNK },
	{ "stray close parens", " ))) from a ))) by b ))) with ESMTPS ;",
	  0, "a", NULL, "b", "ESMTPS", Y, NULL, NULL, NULL, NULL, -1, K_SMTP },
	{ "keywords with no values", " from by with id for tls ;",
	  E_SYNTAX, NULL, NULL, NULL, NULL, U, NULL, NULL, NULL, NULL, -1, K_UNK },
};

/* check_case - one table row */
static void
check_case(const struct rcase *c)
{
	struct received r;
	int rc;

	rc = received_parse(&r, c->value, strlen(c->value));
	CHECK_INT(rc, c->rc, c->name);
	CHECK_STR(r.from, c->from, c->name);
	CHECK_STR(r.from_ip, c->from_ip, c->name);
	CHECK_STR(r.by, c->by, c->name);
	CHECK_STR(r.protocol, c->protocol, c->name);
	CHECK_STR(received_tls_str(r.tls), received_tls_str(c->tls), c->name);
	CHECK_STR(r.tls_version, c->version, c->name);
	CHECK_STR(r.cipher, c->cipher, c->name);
	CHECK_STR(r.id, c->id, c->name);
	CHECK_STR(r.for_addr, c->for_addr, c->name);
	CHECK_INT(r.has_date ? r.date : -1, c->date, c->name);
	CHECK_INT(r.kind, c->kind, c->name);
	received_fini(&r);
}

struct dcase {
	const char *name, *text;
	long long want;		/* -1: not a date */
};

static const struct dcase dates[] = {
	{ "full", "Mon, 15 Jan 2024 10:00:00 +0000", T0 },
	{ "no day name", "15 Jan 2024 10:00:00 +0000", T0 },
	{ "no seconds", "15 Jan 2024 10:00 +0000", T0 },
	{ "positive zone", "15 Jan 2024 15:30:00 +0530", T0 },
	{ "negative zone", "15 Jan 2024 01:00:00 -0900", T0 },
	{ "day rolls over", "14 Jan 2024 23:00:00 -1100", T0 },
	{ "comment after", "Mon, 15 Jan 2024 10:00:00 +0000 (UTC)", T0 },
	{ "leap day", "Thu, 29 Feb 2024 00:00:00 +0000", 1709164800LL },
	{ "epoch", "1 Jan 1970 00:00:00 +0000", 0 },
	{ "three-digit year", "15 Jan 124 10:00:00 +0000", T0 },
	{ "military zone", "15 Jan 2024 10:00:00 Z", T0 },
	{ "bad month", "15 Foo 2024 10:00:00 +0000", -1 },
	{ "bad hour", "15 Jan 2024 24:00:00 +0000", -1 },
	{ "bad zone", "15 Jan 2024 10:00:00 +00", -1 },
	{ "zone minutes past 59", "15 Jan 2024 10:00:00 +0099", -1 },
	{ "junk after", "15 Jan 2024 10:00:00 +0000 extra", -1 },
	{ "day name without comma", "Mon 15 Jan 2024 10:00:00 +0000", -1 },
	{ "empty", "", -1 },
	{ "digits only", "1234567890", -1 },
	{ "huge numbers", "99999999999 Jan 2024 10:00:00 +0000", -1 },
};

/* test_dates - received_parse_date on its own */
static void
test_dates(void)
{
	size_t i;
	long long t;

	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (!received_parse_date(dates[i].text, strlen(dates[i].text),
		    &t))
			t = -1;
		CHECK_INT(t, dates[i].want, dates[i].name);
	}
}

/* test_limits - caps, binary junk, absurd folding */
static void
test_limits(void)
{
	struct received r;
	char *big, junk[4096];
	size_t i, n;
	unsigned x = 12345;
	int rc;

	/* over the cap: refused, nothing kept */
	n = RECEIVED_MAX_VALUE + 1;
	big = malloc(n);
	memset(big, 'a', n);
	rc = received_parse(&r, big, n);
	CHECK_INT(rc, E_LIMIT, "over the cap is E_LIMIT");
	CHECK(r.from == NULL && r.tls == RECEIVED_TLS_UNKNOWN,
	    "over the cap keeps nothing");
	received_fini(&r);

	/* at the cap, folded on every byte: "from a" then CRLF SP pairs */
	n = RECEIVED_MAX_VALUE;
	memset(big, ' ', n);
	memcpy(big, " from a", 7);
	for (i = 7; i + 3 <= n; i += 3)
		memcpy(big + i, "\r\n ", 3);
	memcpy(big + n - 20, " by b with ESMTPS ;", 19);
	rc = received_parse(&r, big, n);
	CHECK_INT(rc, 0, "absurd folding parses");
	CHECK_STR(r.from, "a", "absurd folding: from");
	CHECK_STR(r.by, "b", "absurd folding: by");
	CHECK_STR(received_tls_str(r.tls), "yes", "absurd folding: tls");
	received_fini(&r);

	/* deep nesting at the cap never recurses */
	memset(big, '(', n);
	rc = received_parse(&r, big, n);
	CHECK_INT(rc, E_SYNTAX, "all open parens is E_SYNTAX");
	received_fini(&r);
	free(big);

	/* binary junk, NUL bytes included: never a crash, never TLS
	   claimed out of nothing */
	for (int round = 0; round < 200; round++) {
		for (i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245u + 12345u;
			junk[i] = (char)(x >> 16);
		}
		rc = received_parse(&r, junk, sizeof(junk));
		if (rc != 0 && rc != E_SYNTAX)
			CHECK_INT(rc, 0, "binary junk returns 0 or E_SYNTAX");
		if (r.from_ip != NULL && strchr(r.from_ip, '\0') == NULL)
			CHECK(0, "binary junk: strings terminated");
		received_fini(&r);
	}
	CHECK(1, "200 rounds of binary junk parsed without a crash");

	/* NUL inside a value is kept as '?', not a terminator */
	rc = received_parse(&r, " from a\0b by c; x", 17);
	CHECK_STR(r.from, "a?b", "NUL in a name becomes '?'");
	received_fini(&r);
}

/* test_many - 10,000 Received fields split and parsed in bounded time */
static void
test_many(void)
{
	static const char line[] = "Received: from a.example (a.example "
	    "[192.0.2.1])\r\n\tby b.example with ESMTPS id X\r\n\t(version="
	    "TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 bits=128); Mon, 15 Jan "
	    "2024 10:00:00 +0000\r\n";
	struct buf b;
	struct msg_header h;
	struct received r;
	struct timespec t0, t1;
	size_t i, nrec = 0, ntls = 0;
	double secs;

	buf_init(&b, 16u << 20);
	for (i = 0; i < 10000; i++)
		(void)buf_append(&b, line, sizeof(line) - 1);
	(void)buf_append_str(&b, "From: x@example.org\r\n\r\nbody\r\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(msg_header_parse(&h, buf_data(&b), buf_size(&b), 20000), 0,
	    "10,000 Received: header splits");
	for (i = 0; i < h.nfields; i++) {
		if (!msg_field_is(&h.fields[i], "Received", 8))
			continue;
		nrec++;
		if (received_parse(&r, h.fields[i].value,
		    h.fields[i].value_len) == 0 && r.tls == RECEIVED_TLS_YES &&
		    r.cipher && strcmp(r.cipher, "TLS_AES_128_GCM_SHA256") == 0)
			ntls++;
		received_fini(&r);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK_INT(nrec, 10000, "10,000 Received: all found");
	CHECK_INT(ntls, 10000, "10,000 Received: all read as TLS");
	CHECK(secs < 5.0, "10,000 Received: under 5 seconds");
	msg_header_fini(&h);
	buf_fini(&b);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
	test_dates();
	test_limits();
	test_many();
	return test_done();
}
