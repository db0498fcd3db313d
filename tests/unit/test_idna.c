/* test_idna - util/idna.h: U-labels to A-labels (IDNA2008, UTS #46
   non-transitional), ASCII passed through, and the errors */
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "util/idna.h"

static void
test_to_ascii(void)
{
	static const struct {
		const char *name, *in, *want;
		int err;
	} cases[] = {
		{ "u-label", "b\xc3\xbc" "cher.example",
		    "xn--bcher-kva.example", 0 },
		{ "upper case mapped (UTS #46)", "B\xc3\x9c" "CHER.example",
		    "xn--bcher-kva.example", 0 },
		{ "mixed labels", "mail.b\xc3\xbc" "cher.example",
		    "mail.xn--bcher-kva.example", 0 },
		{ "two u-labels", "m\xc3\xbcnchen.b\xc3\xbc" "cher.example",
		    "xn--mnchen-3ya.xn--bcher-kva.example", 0 },
		{ "CJK", "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
		    "\xe3\x83\x88", "xn--r8jz45g.xn--zckzah", 0 },
		{ "sharp s kept (non-transitional)", "fa\xc3\x9f.de",
		    "xn--fa-hia.de", 0 },
		{ "NFC: u + combining diaeresis", "bu\xcc\x88" "cher.example",
		    "xn--bcher-kva.example", 0 },
		{ "ideographic full stop", "b\xc3\xbc" "cher\xe3\x80\x82"
		    "example", "xn--bcher-kva.example", 0 },
		{ "trailing dot kept", "b\xc3\xbc" "cher.example.",
		    "xn--bcher-kva.example.", 0 },
		{ "ascii passed through", "mail.example.com",
		    "mail.example.com", 0 },
		{ "ascii case kept", "Mail.EXAMPLE.com", "Mail.EXAMPLE.com",
		    0 },
		{ "underscore label", "_dmarc.example", "_dmarc.example", 0 },
		{ "a-label passed through", "xn--bcher-kva.example",
		    "xn--bcher-kva.example", 0 },
		{ "a-label case kept", "XN--BCHER-KVA.example",
		    "XN--BCHER-KVA.example", 0 },
		{ "empty", "", "", IDNA_E_EMPTY },
		{ "only a dot", ".", "", IDNA_E_EMPTY },
		{ "empty label", "b\xc3\xbc" "cher..example", "", IDNA_E_EMPTY },
		{ "empty ascii label", "a..example", "", IDNA_E_EMPTY },
		{ "leading dot", ".b\xc3\xbc" "cher.example", "",
		    IDNA_E_EMPTY },
		{ "invalid UTF-8 (latin-1 u-umlaut)", "b\xfc" "cher.example",
		    "", IDNA_E_UTF8 },
		{ "truncated sequence", "b\xc3", "", IDNA_E_UTF8 },
		{ "overlong slash", "a\xc0\xaf" "b.example", "", IDNA_E_UTF8 },
		{ "surrogate", "a\xed\xa0\x80.example", "", IDNA_E_UTF8 },
		{ "U+2044 fraction slash", "a\xe2\x81\x84" "b.example", "",
		    IDNA_E_DISALLOWED },
		{ "U+2665 heart (symbol)", "i\xe2\x99\xa5.example", "",
		    IDNA_E_DISALLOWED },
		{ "space beside a u-label", "b\xc3\xbc" "ch er.example", "",
		    IDNA_E_DISALLOWED },
		{ "control beside a u-label", "b\xc3\xbc\x01" "cher.example",
		    "", IDNA_E_DISALLOWED },
		{ "control in ascii", "a\x01" "b.example", "",
		    IDNA_E_DISALLOWED },
		{ "hyphen at label start", "-b\xc3\xbc" "cher.example", "",
		    IDNA_E_INVALID },
		{ "bad punycode mixed with u-label", "xn--zz\xc3\xbc.example",
		    "", IDNA_E_INVALID },
		{ "64-octet ascii label",
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaa.example", "", IDNA_E_LABEL_LEN },
		{ "u-label whose a-label is over 63",
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc.example", "",
		    IDNA_E_LABEL_LEN },
	};
	char out[300], name[128];
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = idna_to_ascii(cases[i].in, out, sizeof(out));
		snprintf(name, sizeof(name), "%s: error", cases[i].name);
		CHECK_STR(idna_strerror(r), idna_strerror(cases[i].err), name);
		snprintf(name, sizeof(name), "%s: output", cases[i].name);
		CHECK_STR(out, cases[i].want, name);
		snprintf(name, sizeof(name), "%s: idna_valid", cases[i].name);
		CHECK(idna_valid(cases[i].in) == (cases[i].err == 0), name);
	}
}

static void
test_limits(void)
{
	char in[600], out[300];
	size_t i, n = 0;

	/* four 62-octet labels: 4 * 63 - 1 = 251 octets, fits */
	for (i = 0; i < 4; i++) {
		memset(in + n, 'a', 62);
		n += 62;
		in[n++] = '.';
	}
	in[n - 1] = '\0';
	CHECK_INT(idna_to_ascii(in, out, sizeof(out)), 0, "251 octets");
	/* two more octets: 253, the limit */
	memcpy(in + n - 1, ".b", 3);
	CHECK_INT(idna_to_ascii(in, out, sizeof(out)), 0, "253 octets");
	memcpy(in + n + 1, "c", 2);
	CHECK_INT(idna_to_ascii(in, out, sizeof(out)), IDNA_E_DOMAIN_LEN,
	    "254 octets");
	/* a U-label domain whose A-label form is over 253 octets */
	n = 0;
	for (i = 0; i < 12; i++) {
		size_t k;

		for (k = 0; k < 20; k++) {
			memcpy(in + n, "\xc3\xbc", 2);
			n += 2;
		}
		in[n++] = '.';
	}
	memcpy(in + n, "example", 8);
	CHECK_INT(idna_to_ascii(in, out, sizeof(out)), IDNA_E_DOMAIN_LEN,
	    "long u-label name");
	/* the output buffer */
	CHECK_INT(idna_to_ascii("b\xc3\xbc" "cher.example", out, 21),
	    IDNA_E_SPACE, "buffer one short");
	CHECK_STR(out, "", "buffer one short: empty output");
	CHECK_INT(idna_to_ascii("b\xc3\xbc" "cher.example", out, 22), 0,
	    "buffer exact");
	CHECK_INT(idna_to_ascii(NULL, out, sizeof(out)), IDNA_E_EMPTY,
	    "NULL");
}

static void
test_to_unicode(void)
{
	char out[300];

	CHECK_INT(idna_to_unicode("xn--bcher-kva.example", out, sizeof(out)),
	    0, "a-label to unicode");
	CHECK_STR(out, "b\xc3\xbc" "cher.example", "a-label to unicode: out");
	CHECK_INT(idna_to_unicode("XN--BCHER-KVA.Example", out, sizeof(out)),
	    0, "upper-case a-label");
	CHECK_STR(out, "b\xc3\xbc" "cher.example", "upper-case a-label: out");
	CHECK_INT(idna_to_unicode("B\xc3\x9c" "cher.example", out,
	    sizeof(out)), 0, "u-label normalised");
	CHECK_STR(out, "b\xc3\xbc" "cher.example", "u-label normalised: out");
	CHECK_INT(idna_to_unicode("mail.example", out, sizeof(out)), 0,
	    "ascii");
	CHECK_STR(out, "mail.example", "ascii: out");
	CHECK_INT(idna_to_unicode("xn--zz.example", out, sizeof(out)),
	    IDNA_E_INVALID, "bad a-label");
	CHECK_INT(idna_to_unicode("b\xfc" "cher.example", out, sizeof(out)),
	    IDNA_E_UTF8, "bad utf-8");
}

static void
test_utf8(void)
{
	CHECK(idna_utf8_valid("b\xc3\xbc" "cher", 7), "valid 2-byte");
	CHECK(idna_utf8_valid("\xf0\x9f\x98\x80", 4), "valid 4-byte");
	CHECK(!idna_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
	CHECK(!idna_utf8_valid("\xe0\x80\xaf", 3), "overlong 3-byte");
	CHECK(!idna_utf8_valid("\x80", 1), "lone continuation");
	CHECK(!idna_utf8_valid("\xc3", 1), "truncated");
	CHECK_INT(idna_utf8_len("\xc3\xbc", 2), 2, "len 2");
	CHECK_INT(idna_utf8_len("a", 1), 1, "len ascii");
	CHECK_INT(idna_utf8_len("\xff", 1), 0, "len invalid");
	CHECK(idna_is_ascii("example.com"), "is_ascii");
	CHECK(!idna_is_ascii("b\xc3\xbc"), "is_ascii, u-label");
}

int
main(void)
{
	test_to_ascii();
	test_to_unicode();
	test_limits();
	test_utf8();
	return test_done();
}
