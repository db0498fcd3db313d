/* test_smtp_address - the RFC 5321 / RFC 6531 address grammar */
#include <string.h>

#include "testlib.h"
#include "smtp/address.h"
#include "util/err.h"

struct path_case {
	const char *name;
	const char *in;
	unsigned flags;
	int want;		/* 0 or E_SYNTAX */
	const char *mailbox;	/* the mailbox found, when want == 0 */
	size_t len;		/* octets consumed, when want == 0 */
	bool utf8;
};

static const struct path_case path_cases[] = {
	{ "plain", "<a@example.test>", 0, 0, "a@example.test", 16, false },
	{ "params left over", "<a@example.test> SIZE=1", 0, 0,
	    "a@example.test", 16, false },
	{ "null path allowed", "<>", SMTP_PATH_NULL_OK, 0, "", 2, false },
	{ "null path refused", "<>", 0, E_SYNTAX, NULL, 0, false },
	{ "postmaster", "<Postmaster>", SMTP_PATH_POSTMASTER_OK, 0,
	    "Postmaster", 12, false },
	{ "postmaster only for RCPT", "<postmaster>", SMTP_PATH_NULL_OK,
	    E_SYNTAX, NULL, 0, false },
	{ "source route ignored", "<@a.example,@b.example:u@c.example>", 0,
	    0, "u@c.example", 35, false },
	{ "bad source route", "<@a.example;u@c.example>", 0, E_SYNTAX,
	    NULL, 0, false },
	{ "quoted local part with >", "<\"a>b\"@example.test>", 0, 0,
	    "\"a>b\"@example.test", 20, false },
	{ "quoted pair", "<\"a\\\"b\"@example.test>", 0, 0,
	    "\"a\\\"b\"@example.test", 21, false },
	{ "ipv4 literal", "<a@[192.0.2.1]>", 0, 0, "a@[192.0.2.1]", 15,
	    false },
	{ "ipv6 literal", "<a@[IPv6:2001:db8::1]>", 0, 0,
	    "a@[IPv6:2001:db8::1]", 22, false },
	{ "ipv6 v4-mapped", "<a@[IPv6:::ffff:192.0.2.1]>", 0, 0,
	    "a@[IPv6:::ffff:192.0.2.1]", 27, false },
	{ "general literal", "<a@[x-tag:stuff]>", 0, 0, "a@[x-tag:stuff]",
	    17, false },
	{ "utf8 local", "<j\xc3\xb6rg@example.test>", 0, 0,
	    "j\xc3\xb6rg@example.test", 20, true },
	{ "utf8 domain", "<a@b\xc3\xbc" "cher.example>", 0, 0,
	    "a@b\xc3\xbc" "cher.example", 19, true },
	{ "no brackets", "a@example.test", 0, E_SYNTAX, NULL, 0, false },
	{ "no closing bracket", "<a@example.test", 0, E_SYNTAX, NULL, 0,
	    false },
	{ "space in local part", "<a b@example.test>", 0, E_SYNTAX, NULL,
	    0, false },
	{ "CR", "<a\r@example.test>", 0, E_SYNTAX, NULL, 0, false },
	{ "LF", "<a@example.test\n>", 0, E_SYNTAX, NULL, 0, false },
	{ "NUL in quoted", "<\"a\0b\"@example.test>", 0, E_SYNTAX, NULL, 0,
	    false },
	{ "tab in quoted", "<\"a\tb\"@example.test>", 0, E_SYNTAX, NULL, 0,
	    false },
	{ "DEL", "<a\x7f@example.test>", 0, E_SYNTAX, NULL, 0, false },
	{ "ESC in quoted", "<\"\x1b[31m\"@example.test>", 0, E_SYNTAX, NULL,
	    0, false },
	{ "C1 control as UTF-8", "<a\xc2\x9b@example.test>", 0, E_SYNTAX,
	    NULL, 0, false },
	{ "overlong UTF-8", "<a\xc0\xaf@example.test>", 0, E_SYNTAX, NULL,
	    0, false },
	{ "surrogate UTF-8", "<a\xed\xa0\x80@example.test>", 0, E_SYNTAX,
	    NULL, 0, false },
	{ "truncated UTF-8", "<a\xe2\x82@example.test>", 0, E_SYNTAX, NULL,
	    0, false },
	{ "latin-1 octet", "<j\xf6rg@example.test>", 0, E_SYNTAX, NULL, 0,
	    false },
	{ "path over 256", "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	    "example>", 0, E_SYNTAX, NULL, 0, false },
};

struct mailbox_case {
	const char *name;
	const char *in;
	int want;
};

static const struct mailbox_case mailbox_cases[] = {
	{ "simple", "user@example.test", 0 },
	{ "all atext", "!#$%&'*+-/=?^_`{|}~@example.test", 0 },
	{ "exim expansion is atext", "${run{id}}@x", 0 },
	{ "dots", "first.last@sub.example.test", 0 },
	{ "64-octet local part",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.test",
	    0 },
	{ "65-octet local part",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.test",
	    E_SYNTAX },
	{ "63-octet label",
	    "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
	    0 },
	{ "64-octet label",
	    "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
	    E_SYNTAX },
	{ "numeric domain label", "a@123.example", 0 },
	{ "hyphen inside label", "a@my-host.example", 0 },
	{ "leading hyphen", "a@-host.example", E_SYNTAX },
	{ "trailing hyphen", "a@host-.example", E_SYNTAX },
	{ "underscore in domain", "a@my_host.example", E_SYNTAX },
	{ "trailing dot", "a@example.test.", E_SYNTAX },
	{ "empty label", "a@example..test", E_SYNTAX },
	{ "leading dot local", ".a@example.test", E_SYNTAX },
	{ "double dot local", "a..b@example.test", E_SYNTAX },
	{ "no at", "example.test", E_SYNTAX },
	{ "two ats", "a@b@example.test", E_SYNTAX },
	{ "empty local", "@example.test", E_SYNTAX },
	{ "empty domain", "a@", E_SYNTAX },
	{ "parenthesis", "a(comment)@example.test", E_SYNTAX },
	{ "semicolon domain", "a@example.test;rm", E_SYNTAX },
	{ "comma", "a,b@example.test", E_SYNTAX },
	{ "quoted empty", "\"\"@example.test", 0 },
	{ "quoted space", "\"a b\"@example.test", 0 },
	{ "quoted backslash pair", "\"a\\\\b\"@example.test", 0 },
	{ "quoted bad pair", "\"a\\\tb\"@example.test", E_SYNTAX },
	{ "quoted unterminated", "\"ab@example.test", E_SYNTAX },
	{ "ipv4 bad octet", "a@[256.1.1.1]", E_SYNTAX },
	{ "ipv4 short", "a@[1.2.3]", E_SYNTAX },
	{ "ipv4 leading zeros 3 digits", "a@[001.002.003.004]", 0 },
	{ "ipv4 four digits", "a@[0001.2.3.4]", E_SYNTAX },
	{ "ipv6 bad", "a@[IPv6:12345::]", E_SYNTAX },
	{ "ipv6 without tag", "a@[::1]", E_SYNTAX },
	{ "literal with bracket", "a@[x:a[b]", E_SYNTAX },
	{ "literal empty", "a@[]", E_SYNTAX },
	{ "general literal empty content", "a@[tag:]", E_SYNTAX },
};

/* test_paths - smtp_address_path over the table */
static void
test_paths(void)
{
	size_t i;

	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct smtp_path p;
		size_t n = strlen(c->in);
		char mbox[512];
		int r;

		/* the NUL case: the input runs to the closing bracket */
		if (strcmp(c->name, "NUL in quoted") == 0)
			n = 20;
		r = smtp_address_path(c->in, n, c->flags, &p);
		CHECK_INT(r, c->want, c->name);
		if (r != 0 || c->want != 0)
			continue;
		snprintf(mbox, sizeof(mbox), "%.*s", (int)p.mailbox_len,
		    p.mailbox);
		CHECK_STR(mbox, c->mailbox, c->name);
		CHECK_INT(p.len, c->len, c->name);
		CHECK_INT(p.utf8, c->utf8, c->name);
	}
}

/* test_mailboxes - smtp_address_mailbox over the table */
static void
test_mailboxes(void)
{
	size_t i;

	for (i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]);
	    i++) {
		const struct mailbox_case *c = &mailbox_cases[i];

		CHECK_INT(smtp_address_mailbox(c->in, strlen(c->in), NULL),
		    c->want, c->name);
	}
}

/* test_every_control - no control octet is accepted anywhere */
static void
test_every_control(void)
{
	static const char *const shapes[] = { "<aXb@example.test>",
		"<a@exXample.test>", "<\"aXb\"@example.test>",
		"<a@[x:aXb]>" };
	char in[64], name[64];
	size_t i;
	int c, bad = 0;

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		for (c = 0; c < 0x20; c++) {
			struct smtp_path p;
			char *x;

			snprintf(in, sizeof(in), "%s", shapes[i]);
			x = strchr(in, 'X');
			*x = (char)c;
			if (smtp_address_path(in, strlen(shapes[i]), 0, &p) == 0) {
				snprintf(name, sizeof(name), "control 0x%02x "
				    "in shape %zu accepted", c, i);
				CHECK(0, name);
				bad++;
			}
		}
	}
	CHECK_INT(bad, 0, "no control octet passes the grammar");
}

/* test_domains - EHLO-style Domain checks */
static void
test_domains(void)
{
	bool utf8 = false;

	CHECK_INT(smtp_address_domain("example.test", 12, &utf8), 0,
	    "domain ok");
	CHECK_INT(utf8, 0, "ascii domain is not utf8");
	CHECK_INT(smtp_address_domain("b\xc3\xbc" "cher.example", 14, &utf8),
	    0, "U-label domain ok");
	CHECK_INT(utf8, 1, "U-label domain is utf8");
	CHECK_INT(smtp_address_domain("a..b", 4, NULL), E_SYNTAX,
	    "empty label refused");
	CHECK_INT(smtp_address_domain("", 0, NULL), E_SYNTAX,
	    "empty domain refused");
	CHECK_INT(smtp_address_literal("[127.0.0.1]", 11), 0, "literal ok");
	CHECK_INT(smtp_address_literal("127.0.0.1", 9), E_SYNTAX,
	    "literal needs brackets");
}

int
main(void)
{
	test_paths();
	test_mailboxes();
	test_every_control();
	test_domains();
	return test_done();
}
