/* test_smtp_received - the Received header format of docs/RECEIVED.md */
#include <string.h>

#include "testlib.h"
#include "smtp/received.h"
#include "smtp/server.h"
#include "util/buf.h"
#include "util/err.h"

/* Sat, 28 Nov 2026 01:02:03 +0000 */
#define WHEN	((time_t)1795827723)

struct received_case {
	const char *name;
	const char *helo;
	const char *protocol;
	bool tls;
	const char *auth;
	const char *rcpts[3];
	size_t nrcpts;
	const char *ip;
	const char *rdns;
	const char *want;
};

static const struct received_case cases[] = {
	{ "plain, one recipient", "client.example", "ESMTP", false, NULL,
	    { "demo@example.test" }, 1, "127.0.0.1", "localhost",
	    "Received: from client.example (localhost [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "TLS, one recipient, no reverse name", "client.example", "ESMTPS",
	    true, NULL, { "demo@example.test" }, 1, "127.0.0.1", NULL,
	    "Received: from client.example (unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTPS id Q7H2K\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256)\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "TLS and AUTH, several recipients", "laptop", "ESMTPSA", true,
	    "demo", { "a@example.test", "b@example.test" }, 2, "::1", NULL,
	    "Received: from laptop (unknown [IPv6:::1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTPSA id Q7H2K\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256)"
	    "; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "plain, several recipients", "client.example", "ESMTP", false,
	    NULL, { "a@example.test", "b@example.test", "c@localhost" }, 3,
	    "192.0.2.7", "mail.client.example",
	    "Received: from client.example (mail.client.example "
	    "[192.0.2.7])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K"
	    "; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "AUTH without TLS, HELO", "client.example", "SMTP", false, "demo",
	    { "demo@example.test" }, 1, "127.0.0.1", NULL,
	    "Received: from client.example (unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with SMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "hostile HELO cannot forge clauses",
	    "evil (by trusted.example [10.0.0.1]); with\\ESMTPS",
	    "ESMTP", false, NULL, { "demo@example.test" }, 1, "127.0.0.1",
	    NULL,
	    "Received: from evil__by_trusted.example__10.0.0.1____with_ESMTPS "
	    "(unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "non-ASCII HELO is reduced", "h\xc3\xa9llo\x01", "ESMTP", false,
	    NULL, { "demo@example.test" }, 1, "127.0.0.1", NULL,
	    "Received: from h__llo_ (unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "empty HELO", "", "ESMTP", false, NULL, { "demo@example.test" }, 1,
	    "127.0.0.1", NULL,
	    "Received: from unknown (unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "quoted recipient left out of the for clause", "client.example",
	    "ESMTP", false, NULL, { "\"a;b>\"@example.test" }, 1,
	    "127.0.0.1", NULL,
	    "Received: from client.example (unknown [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K"
	    "; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
	{ "hostile reverse name", "client.example", "ESMTP", false, NULL,
	    { "demo@example.test" }, 1, "127.0.0.1", "x) by y (z",
	    "Received: from client.example (x__by_y__z [127.0.0.1])\r\n"
	    "\tby mx.example.test (smtpsd) with ESMTP id Q7H2K\r\n"
	    "\tfor <demo@example.test>; Sat, 28 Nov 2026 01:02:03 +0000\r\n" },
};

/* test_cases - each case's header, byte for byte */
static void
test_cases(void)
{
	static const struct smtp_tls_info tls = { "TLSv1.3",
		"TLS_AES_256_GCM_SHA384", 256, "mx.example.test" };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct received_case *c = &cases[i];
		struct smtp_envelope env;
		struct buf b;

		memset(&env, 0, sizeof(env));
		env.helo = c->helo;
		env.protocol = c->protocol;
		env.tls = c->tls ? &tls : NULL;
		env.auth_user = c->auth;
		env.rcpts = c->rcpts;
		env.nrcpts = c->nrcpts;
		env.mail_from = "sender@client.example";
		buf_init(&b, 4096);
		CHECK_INT(smtp_received_header(&b, &env, c->ip, c->rdns,
		    "mx.example.test", "Q7H2K", WHEN), 0, c->name);
		CHECK_STR(buf_cstr(&b), c->want, c->name);
		buf_fini(&b);
	}
}

/* test_limit - a full buffer is E_LIMIT, not a cut header */
static void
test_limit(void)
{
	struct smtp_envelope env;
	const char *rcpts[] = { "demo@example.test" };
	struct buf b;

	memset(&env, 0, sizeof(env));
	env.helo = "client.example";
	env.protocol = "ESMTP";
	env.rcpts = rcpts;
	env.nrcpts = 1;
	buf_init(&b, 40);
	CHECK_INT(smtp_received_header(&b, &env, "127.0.0.1", NULL,
	    "mx.example.test", "Q7H2K", WHEN), E_LIMIT,
	    "header past the buffer cap is E_LIMIT");
	buf_fini(&b);
}

/* test_dates - RFC 5322 dates, independent of the locale */
static void
test_dates(void)
{
	static const struct {
		time_t when;
		const char *date;
	} d[] = {
		{ 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 1795827723, "Sat, 28 Nov 2026 01:02:03 +0000" },
	};
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		struct smtp_envelope env;
		struct buf b;
		const char *h, *semi;

		memset(&env, 0, sizeof(env));
		env.helo = "h";
		env.protocol = "ESMTP";
		buf_init(&b, 4096);
		smtp_received_header(&b, &env, "127.0.0.1", NULL, "mx", "Q",
		    d[i].when);
		h = buf_cstr(&b);
		semi = strrchr(h, ';');
		CHECK_STR(semi ? semi + 2 : NULL,
		    i == 0 ? "Thu, 1 Jan 1970 00:00:00 +0000\r\n" :
		    i == 1 ? "Tue, 29 Feb 2000 00:00:00 +0000\r\n" :
		    "Sat, 28 Nov 2026 01:02:03 +0000\r\n", d[i].date);
		buf_fini(&b);
	}
}

int
main(void)
{
	test_cases();
	test_limit();
	test_dates();
	return test_done();
}
