/* test_msg_from - the single From: address, and the spoofing shapes refused */
#include <stdlib.h>
#include <string.h>

#include "msg/from.h"
#include "testlib.h"
#include "util/err.h"

struct from_case {
	const char *name;
	const char *hdr;	/* a header section (and maybe a body) */
	int rc;
	const char *addr;	/* wanted address when rc is 0 */
};

static const struct from_case cases[] = {
	/* shapes that must parse */
	{ "plain addr-spec", "From: a@example.com\r\n\r\nbody\r\n", 0,
	    "a@example.com" },
	{ "angle address", "From: <a@example.com>\r\n", 0, "a@example.com" },
	{ "display name", "From: Alice Smith <alice@example.com>\r\n", 0,
	    "alice@example.com" },
	{ "quoted display name",
	    "From: \"Smith, Alice\" <alice@example.com>\r\n", 0,
	    "alice@example.com" },
	{ "obs-phrase dot in name", "From: J. Smith <j@example.com>\r\n", 0,
	    "j@example.com" },
	{ "trailing comment (legacy form)",
	    "From: a@example.com (Alice Smith)\r\n", 0, "a@example.com" },
	{ "nested comment", "From: (x (y) z) <a@example.com>\r\n", 0,
	    "a@example.com" },
	{ "folded between name and address",
	    "From: Alice Smith\r\n <alice@example.com>\r\n", 0,
	    "alice@example.com" },
	{ "folded with tab", "From:\r\n\t<alice@example.com>\r\nTo: b@x\r\n", 0,
	    "alice@example.com" },
	{ "case-insensitive field name", "FROM: a@example.com\r\n", 0,
	    "a@example.com" },
	{ "domain lower-cased, local kept", "From: Ab.C@Example.COM\r\n", 0,
	    "Ab.C@example.com" },
	{ "no blank after colon", "From:<a@example.com>\r\n", 0,
	    "a@example.com" },
	{ "blanks inside the angle brackets", "From: < a@example.com >\r\n", 0,
	    "a@example.com" },
	{ "quoted local part", "From: \"a b\"@example.com\r\n", 0,
	    "\"a b\"@example.com" },
	{ "LF-only line ends", "Subject: x\nFrom: N <a@example.com>\n\n", 0,
	    "a@example.com" },
	{ "From among other fields",
	    "Received: from x\r\n by y\r\nSubject: hi\r\nFrom: a@example.com\r\n"
	    "To: b@example.org\r\n\r\nFrom: c@evil.test\r\n", 0,
	    "a@example.com" },
	{ "no body, no blank line", "From: a@example.com", 0, "a@example.com" },
	{ "UTF-8 display name", "From: J\xc3\xb6rg <j@example.com>\r\n", 0,
	    "j@example.com" },
	{ "UTF-8 local part (RFC 6532)", "From: j\xc3\xb6rg@example.com\r\n", 0,
	    "j\xc3\xb6rg@example.com" },
	{ "benign encoded word, Q",
	    "From: =?utf-8?q?J=C3=B6rg_Smith?= <j@example.com>\r\n", 0,
	    "j@example.com" },
	{ "benign encoded word, B",
	    "From: =?UTF-8?B?SsO2cmc=?= <j@example.com>\r\n", 0,
	    "j@example.com" },
	{ "ISO-2022-JP name with a 0x40 kanji byte",
	    "From: =?iso-2022-jp?B?GyRCJEAbKEI=?= <j@example.jp>\r\n", 0,
	    "j@example.jp" },

	/* the spoofing shapes: never a single clean answer */
	{ "missing From", "Subject: x\r\nTo: a@example.com\r\n\r\n",
	    E_NOTFOUND, NULL },
	{ "From only in the body", "Subject: x\r\n\r\nFrom: a@example.com\r\n",
	    E_NOTFOUND, NULL },
	{ "two From fields",
	    "From: a@evil.test\r\nFrom: b@good.test\r\n\r\n", E_INVAL, NULL },
	{ "two From fields, different case",
	    "From: a@evil.test\r\nfrom: b@good.test\r\n", E_INVAL, NULL },
	{ "two angle addresses", "From: <a@evil.test>,<b@good.test>\r\n",
	    E_INVAL, NULL },
	{ "two plain addresses", "From: a@evil.test, b@good.test\r\n", E_INVAL,
	    NULL },
	{ "second address after a name-addr",
	    "From: A <a@evil.test>, B <b@good.test>\r\n", E_INVAL, NULL },
	{ "space before the colon", "From : a@evil.test\r\n", E_SYNTAX, NULL },
	{ "space before the colon beside a real From",
	    "From : a@evil.test\r\nFrom: b@good.test\r\n", E_SYNTAX, NULL },
	{ "tab before the colon", "From\t: a@evil.test\r\n", E_SYNTAX, NULL },
	{ "comment holding a second address",
	    "From: <a@evil.test>(b@good.test)\r\n", E_SYNTAX, NULL },
	{ "comment holding an angle address",
	    "From: a@evil.test (<b@good.test>)\r\n", E_SYNTAX, NULL },
	{ "quoted string holding an address",
	    "From: \"b@good.test\" <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "quoted string holding an angle address",
	    "From: \"<b@good.test>\" <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "quoted local part holding an @",
	    "From: \"b@good.test\"@evil.test\r\n", E_SYNTAX, NULL },
	{ "display name holding an address",
	    "From: b@good.test <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "display name with fullwidth at",
	    "From: b\xef\xbc\xa0good.test <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "encoded word hiding an address, B",
	    "From: =?utf-8?b?YkBnb29kLnRlc3Q=?= <a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "encoded word hiding an address, Q",
	    "From: =?utf-8?q?b=40good.test?= <a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "encoded word in a comment",
	    "From: a@evil.test (=?utf-8?q?=3Cb=40good.test=3E?=)\r\n",
	    E_SYNTAX, NULL },
	{ "encoded word in a quoted string",
	    "From: \"=?utf-8?q?b=40good.test?=\" <a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "fullwidth at in the local part",
	    "From: b\xef\xbc\xa0good.test@evil.test\r\n", E_SYNTAX, NULL },
	{ "Q word with a short escape",
	    "From: =?utf-8?q?ab=4?= <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "encoded word as the local part",
	    "From: =?utf-8?q?b=40good.test?=@evil.test\r\n", E_SYNTAX, NULL },
	{ "UTF-7 encoded word",
	    "From: =?utf-7?q?b+AEA-good.test?= <a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "malformed encoded word",
	    "From: =?utf-8?x?abc?= <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "bad base64 in encoded word",
	    "From: =?utf-8?b?!!!?= <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "group syntax", "From: friends: a@evil.test;\r\n", E_SYNTAX, NULL },
	{ "empty group", "From: undisclosed-recipients:;\r\n", E_SYNTAX, NULL },
	{ "source route", "From: <@relay.test:a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "empty From", "From:\r\n\r\n", E_SYNTAX, NULL },
	{ "empty angle address", "From: <>\r\n", E_SYNTAX, NULL },
	{ "name only", "From: Alice\r\n", E_SYNTAX, NULL },
	{ "blanks around the at", "From: a @ evil.test\r\n", E_SYNTAX, NULL },
	{ "comment inside the address", "From: a(x)@evil.test\r\n", E_SYNTAX,
	    NULL },
	{ "domain literal", "From: a@[127.0.0.1]\r\n", E_SYNTAX, NULL },
	{ "bad domain label", "From: a@-evil.test\r\n", E_SYNTAX, NULL },
	{ "empty domain label", "From: a@evil..test\r\n", E_SYNTAX, NULL },
	{ "underscore in domain", "From: a@ev_il.test\r\n", E_SYNTAX, NULL },
	{ "U-label domain", "From: a@\xc3\xa9vil.test\r\n", E_SYNTAX, NULL },
	{ "leading dot in local part", "From: .a@evil.test\r\n", E_SYNTAX,
	    NULL },
	{ "double dot in local part", "From: a..b@evil.test\r\n", E_SYNTAX,
	    NULL },
	{ "local part over 64 octets",
	    "From: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@evil.test\r\n", E_SYNTAX, NULL },
	{ "missing closing bracket", "From: <a@evil.test\r\n", E_SYNTAX, NULL },
	{ "text after the address", "From: <a@evil.test> b@good.test\r\n",
	    E_SYNTAX, NULL },
	{ "unterminated comment", "From: a@evil.test (x\r\n", E_SYNTAX, NULL },
	{ "unterminated quoted string", "From: \"x <a@evil.test>\r\n",
	    E_SYNTAX, NULL },
	{ "bare CR hides a From",
	    "Subject: x\rFrom: a@evil.test\r\nFrom: b@good.test\r\n", E_SYNTAX,
	    NULL },
	{ "bare CR inside the From", "From: a@evil.test\r(b)\r\n", E_SYNTAX,
	    NULL },
	{ "mixed CRLF and LF",
	    "Subject: x\nFrom: a@evil.test\r\n\r\n", E_SYNTAX, NULL },
	{ "control character", "From: A\x01 <a@evil.test>\r\n", E_SYNTAX,
	    NULL },
	{ "invalid UTF-8", "From: \xc0\xaf <a@evil.test>\r\n", E_SYNTAX, NULL },
	{ "header line without a colon",
	    "Subject x\r\nFrom: a@evil.test\r\n", E_SYNTAX, NULL },
	{ "mbox From_ line", "From a@evil.test Mon Jan 1\r\nFrom: b@good.test\r\n",
	    E_SYNTAX, NULL },
	{ "leading continuation line",
	    " x\r\nFrom: a@evil.test\r\n", E_SYNTAX, NULL },
};

static void
test_extract(void)
{
	size_t i;
	char *addr;
	const char *why;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		addr = NULL;
		why = NULL;
		rc = msg_from_extract(cases[i].hdr, strlen(cases[i].hdr), &addr,
		    &why);
		CHECK_INT(rc, cases[i].rc, cases[i].name);
		if (cases[i].rc == 0)
			CHECK_STR(addr, cases[i].addr, cases[i].name);
		else {
			CHECK(addr == NULL, cases[i].name);
			CHECK(why != NULL && why[0] != '\0', cases[i].name);
		}
		free(addr);
	}
}

static void
test_embedded_nul(void)
{
	static const char hdr[] = "From: a@good.test\0\r\nFrom: b@evil.test\r\n";
	char *addr = NULL;

	CHECK_INT(msg_from_extract(hdr, sizeof(hdr) - 1, &addr, NULL),
	    E_SYNTAX, "NUL in the header is refused");
	CHECK(addr == NULL, "no address with a NUL");
}

static void
test_parse_value(void)
{
	static const char v[] = " Alice\r\n <a@example.com>";
	char *addr = NULL;
	const char *why = NULL;

	CHECK_INT(msg_from_parse(v, strlen(v), &addr, &why), 0,
	    "parse a folded value");
	CHECK_STR(addr, "a@example.com", "parse a folded value");
	free(addr);
	addr = NULL;
	CHECK_INT(msg_from_parse(" a@x\r\nb@y", 9, &addr, &why), E_SYNTAX,
	    "unfolded line end inside a value");
	CHECK_STR(why, "line end inside the field", "reason for a line end");
}

int
main(void)
{
	test_extract();
	test_embedded_nul();
	test_parse_value();
	return test_done();
}
