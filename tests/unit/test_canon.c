/*
 * test_canon - DKIM simple and relaxed canonicalisation (RFC 6376 3.4),
 * including the RFC's own examples (3.4.5) and the body fed in pieces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/canon.h"
#include "testlib.h"
#include "util/buf.h"
#include "util/err.h"

static const struct header_case {
	const char *name;
	enum canon_mode mode;
	const char *field;
	bool crlf;
	const char *want;
} header_cases[] = {
	/* RFC 6376 3.4.5 */
	{ "RFC example A relaxed", CANON_RELAXED, "A: X", true, "a:X\r\n" },
	{ "RFC example B relaxed", CANON_RELAXED, "B : Y\t\r\n\tZ  ", true,
	    "b:Y Z\r\n" },
	{ "RFC example A simple", CANON_SIMPLE, "A: X", true, "A: X\r\n" },
	{ "RFC example B simple", CANON_SIMPLE, "B : Y\t\r\n\tZ  ", true,
	    "B : Y\t\r\n\tZ  \r\n" },
	{ "relaxed: no CRLF for the signature field", CANON_RELAXED,
	    "DKIM-Signature: a=1; b=", false, "dkim-signature:a=1; b=" },
	{ "relaxed: WSP runs inside the value", CANON_RELAXED,
	    "Subject:  a \t  b\t", true, "subject:a b\r\n" },
	{ "relaxed: empty value", CANON_RELAXED, "X-Empty:   ", true,
	    "x-empty:\r\n" },
	{ "relaxed: colon inside the value stays", CANON_RELAXED,
	    "To: a:b@c", true, "to:a:b@c\r\n" },
	{ "relaxed: fold without WSP after it joins", CANON_RELAXED,
	    "X: a\r\n b", true, "x:a b\r\n" },
	{ "relaxed: 8-bit bytes kept", CANON_RELAXED,
	    "Subject: \xc3\xa9t\xc3\xa9", true, "subject:\xc3\xa9t\xc3\xa9\r\n" },
	{ "simple: kept byte for byte", CANON_SIMPLE, "sUbJeCt :\tx ",
	    false, "sUbJeCt :\tx " },
};

static const struct body_case {
	const char *name;
	enum canon_mode mode;
	const char *in;
	const char *want;
} body_cases[] = {
	/* RFC 6376 3.4.5 */
	{ "RFC example relaxed", CANON_RELAXED,
	    " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	{ "RFC example simple", CANON_SIMPLE,
	    " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n" },
	{ "simple empty body is one CRLF", CANON_SIMPLE, "", "\r\n" },
	{ "relaxed empty body is empty", CANON_RELAXED, "", "" },
	{ "simple: only blank lines", CANON_SIMPLE, "\r\n\r\n\r\n", "\r\n" },
	{ "relaxed: only blank lines", CANON_RELAXED, "\r\n\r\n", "" },
	{ "relaxed: WSP-only lines at the end go", CANON_RELAXED,
	    "a\r\n  \r\n\t\r\n", "a\r\n" },
	{ "simple: WSP-only lines at the end stay", CANON_SIMPLE,
	    "a\r\n  \r\n", "a\r\n  \r\n" },
	{ "missing final CRLF is added (simple)", CANON_SIMPLE, "abc",
	    "abc\r\n" },
	{ "missing final CRLF is added (relaxed)", CANON_RELAXED, "abc  ",
	    "abc\r\n" },
	{ "inner blank lines stay", CANON_RELAXED, "a\r\n\r\n\r\nb\r\n",
	    "a\r\n\r\n\r\nb\r\n" },
	{ "relaxed: leading WSP becomes one SP", CANON_RELAXED,
	    "\t\t x\r\n", " x\r\n" },
	{ "lone CR is data", CANON_SIMPLE, "a\rb\r\n", "a\rb\r\n" },
	{ "lone CR at the end is data", CANON_RELAXED, "a\r", "a\r\r\n" },
	{ "relaxed: WSP before lone CR", CANON_RELAXED, "a \rb\r\n",
	    "a \rb\r\n" },
	{ "bare LF is data", CANON_SIMPLE, "a\nb\r\n", "a\nb\r\n" },
	{ "8-bit body", CANON_RELAXED, "\xff\xfe  \x80\r\n",
	    "\xff\xfe \x80\r\n" },
};

/* collect - canon_emit into a buf */
static void
collect(void *arg, const void *p, size_t n)
{
	buf_append(arg, p, n);
}

/* run_body - canonicalise in pieces of size step (0: all at once) */
static const char *
run_body(struct buf *out, enum canon_mode m, const char *in, size_t n,
    size_t step)
{
	struct canon_body c;
	size_t i;

	buf_reset(out);
	canon_body_init(&c, m, collect, out);
	if (step == 0)
		canon_body_feed(&c, in, n);
	else
		for (i = 0; i < n; i += step)
			canon_body_feed(&c, in + i, n - i < step ? n - i :
			    step);
	canon_body_finish(&c);
	return buf_cstr(out);
}

static void
test_headers(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const struct header_case *c = &header_cases[i];

		buf_reset(&b);
		CHECK_INT(canon_header(&b, c->mode, c->field, strlen(c->field),
		    c->crlf), 0, c->name);
		CHECK_STR(buf_cstr(&b), c->want, c->name);
	}
	buf_reset(&b);
	CHECK_INT(canon_header(&b, CANON_RELAXED, "no colon", 8, true),
	    E_SYNTAX, "relaxed: a field without a colon");
	buf_fini(&b);
}

static void
test_bodies(void)
{
	struct buf b;
	size_t i, step;
	char name[160];

	buf_init(&b, 1 << 20);
	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case *c = &body_cases[i];
		size_t n = strlen(c->in);

		CHECK_STR(run_body(&b, c->mode, c->in, n, 0), c->want,
		    c->name);
		/* Chunk boundaries anywhere (also between CR and LF) must
		   not change the output. */
		for (step = 1; step <= 3; step++) {
			snprintf(name, sizeof(name), "%s, fed %zu at a time",
			    c->name, step);
			CHECK_STR(run_body(&b, c->mode, c->in, n, step),
			    c->want, name);
		}
	}
	buf_fini(&b);
}

static void
test_long_body(void)
{
	struct buf in, out;
	size_t i;

	/* Longer than the batch buffer, lines of 3000 bytes, trailing
	   blank lines held back across many calls. */
	buf_init(&in, 1 << 20);
	buf_init(&out, 1 << 20);
	for (i = 0; i < 3000; i++)
		buf_append(&in, (i % 7) ? "x" : "  ", (i % 7) ? 1 : 2);
	buf_append_str(&in, "\r\n");
	for (i = 0; i < 500; i++)
		buf_append_str(&in, "\r\n");
	run_body(&out, CANON_SIMPLE, in.p, in.len, 0);
	CHECK_INT(out.len, in.len - 1000, "simple: 500 trailing CRLFs go");
	run_body(&out, CANON_RELAXED, in.p, in.len, 7);
	CHECK_INT(out.len, 3000 + 2, "relaxed: long line, WSP squeezed");
	buf_fini(&in);
	buf_fini(&out);
}

static void
test_modes(void)
{
	enum canon_mode m;

	CHECK_INT(canon_mode_parse(&m, "relaxed", 7), 0, "parse relaxed");
	CHECK_INT(m, CANON_RELAXED, "relaxed value");
	CHECK_INT(canon_mode_parse(&m, "Simple", 6), 0, "parse Simple");
	CHECK_INT(m, CANON_SIMPLE, "simple value");
	CHECK_INT(canon_mode_parse(&m, "relax", 5), E_SYNTAX, "parse relax");
	CHECK_STR(canon_mode_str(CANON_RELAXED), "relaxed", "name relaxed");
	CHECK_STR(canon_mode_str(CANON_SIMPLE), "simple", "name simple");
}

int
main(void)
{
	test_headers();
	test_bodies();
	test_long_body();
	test_modes();
	return test_done();
}
