/*
 * test_msg_header - splitting messages into header fields and body,
 * lookups, unfolding and LF-to-CRLF conversion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/header.h"
#include "testlib.h"
#include "util/buf.h"
#include "util/err.h"

static const struct parse_case {
	const char *name;
	const char *msg;
	int ret;
	size_t nfields;
	const char *names;	/* field names joined by '|' */
	const char *values;	/* raw values joined by '|' */
	const char *body;	/* NULL: no body */
} parse_cases[] = {
	{ "two fields and a body", "From: a@b\r\nTo: c@d\r\n\r\nhi\r\n", 0,
	    2, "From|To", " a@b| c@d", "hi\r\n" },
	{ "folded value keeps its folding",
	    "Subject: one\r\n two\r\n\tthree\r\nX: y\r\n\r\n", 0, 2,
	    "Subject|X", " one\r\n two\r\n\tthree| y", "" },
	{ "empty body after the blank line", "A: 1\r\n\r\n", 0, 1, "A",
	    " 1", "" },
	{ "no blank line: no body", "A: 1\r\nB: 2\r\n", 0, 2, "A|B",
	    " 1| 2", NULL },
	{ "no final CRLF", "A: 1", 0, 1, "A", " 1", NULL },
	{ "space before the colon is trimmed from the name",
	    "From : x@y\r\n\r\n", 0, 1, "From", " x@y", "" },
	{ "empty value", "A:\r\n\r\nb", 0, 1, "A", "", "b" },
	{ "body keeps blank lines", "A: 1\r\n\r\n\r\nx\r\n\r\n", 0, 1, "A",
	    " 1", "\r\nx\r\n\r\n" },
	{ "LF-only lines are split too", "A: 1\nB: 2\n\nbody\n", 0, 2,
	    "A|B", " 1| 2", "body\n" },
	{ "continuation before any field", " x\r\nA: 1\r\n\r\n", E_SYNTAX,
	    0, "", "", NULL },
	{ "line without colon", "A: 1\r\nnot a field\r\n\r\n", E_SYNTAX, 0,
	    "", "", NULL },
	{ "colon first (empty name)", ": x\r\n\r\n", E_SYNTAX, 0, "", "",
	    NULL },
	{ "only WSP before the colon", " : x\r\n\r\n", E_SYNTAX, 0, "", "",
	    NULL },
	{ "empty message", "", 0, 0, "", "", NULL },
	{ "blank line only", "\r\nbody", 0, 0, "", "", "body" },
};

/* joined - the names or values of h joined by '|' */
static const char *
joined(struct buf *b, const struct msg_header *h, bool values)
{
	size_t i;

	buf_reset(b);
	for (i = 0; i < h->nfields; i++) {
		if (i)
			buf_append(b, "|", 1);
		if (values)
			buf_append(b, h->fields[i].value,
			    h->fields[i].value_len);
		else
			buf_append(b, h->fields[i].name,
			    h->fields[i].name_len);
	}
	return buf_cstr(b);
}

static void
test_parse(void)
{
	struct buf b, body;
	size_t i;

	buf_init(&b, 4096);
	buf_init(&body, 4096);
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct msg_header h;
		int r = msg_header_parse(&h, c->msg, strlen(c->msg), 0);

		CHECK_INT(r, c->ret, c->name);
		CHECK_INT(h.nfields, c->nfields, c->name);
		CHECK_STR(joined(&b, &h, false), c->names, c->name);
		CHECK_STR(joined(&b, &h, true), c->values, c->name);
		if (c->body == NULL)
			CHECK(h.body == NULL, c->name);
		else {
			buf_reset(&body);
			if (h.body)
				buf_append(&body, h.body, h.body_len);
			CHECK(h.body != NULL, c->name);
			CHECK_STR(buf_cstr(&body), c->body, c->name);
		}
		msg_header_fini(&h);
	}
	buf_fini(&b);
	buf_fini(&body);
}

static void
test_fields(void)
{
	const char *m = "From : a@b\r\nto: x\r\nTO: y\r\n\r\n";
	struct msg_header h;
	const struct msg_field *f;

	CHECK_INT(msg_header_parse(&h, m, strlen(m), 0), 0, "parse");
	CHECK(h.fields[0].ws_before_colon, "ws before colon flagged");
	CHECK(!h.fields[1].ws_before_colon, "no ws before colon");
	CHECK_INT(h.fields[0].raw_len, 10, "raw length excludes CRLF");
	CHECK_INT(msg_header_count(&h, "To", 2), 2, "count ignores case");
	f = msg_header_find(&h, "to", 2, 0);
	CHECK(f && f->pos == 1, "find: the first");
	f = msg_header_find(&h, "to", 2, 2);
	CHECK(f && f->pos == 2, "find: from an index");
	f = msg_header_find_last(&h, "To", 2, h.nfields);
	CHECK(f && f->pos == 2, "find_last: the bottom one");
	f = msg_header_find_last(&h, "To", 2, 2);
	CHECK(f && f->pos == 1, "find_last: above an index");
	CHECK(msg_header_find_last(&h, "To", 2, 1) == NULL,
	    "find_last: none above");
	CHECK(msg_header_find(&h, "Subject", 7, 0) == NULL, "find: absent");
	CHECK(msg_header_find(&h, "T", 1, 0) == NULL, "find: no prefix match");
	msg_header_fini(&h);

	CHECK_INT(msg_header_parse(&h, "A: 1\nB: 2\r\n\r\n", 13, 0), 0,
	    "mixed line ends");
	CHECK(h.fields[0].bare_lf && !h.fields[1].bare_lf, "bare LF flagged");
	msg_header_fini(&h);
}

static void
test_limit(void)
{
	struct buf m;
	struct msg_header h;
	int i;

	buf_init(&m, 1 << 20);
	for (i = 0; i < 20; i++)
		buf_printf(&m, "X-%d: v\r\n", i);
	buf_append_str(&m, "\r\n");
	CHECK_INT(msg_header_parse(&h, m.p, m.len, 20), 0, "20 of 20");
	CHECK_INT(h.nfields, 20, "20 fields");
	msg_header_fini(&h);
	CHECK_INT(msg_header_parse(&h, m.p, m.len, 19), E_LIMIT,
	    "field limit");
	CHECK_INT(h.nfields, 0, "nothing kept after an error");
	msg_header_fini(&h);
	buf_fini(&m);
}

static const struct conv_case {
	const char *name, *in, *want;
} unfold_cases[] = {
	{ "CRLF WSP", "a\r\n b", "a b" },
	{ "several folds", " x\r\n\ty\r\n  z", " x\ty  z" },
	{ "bare LF", "a\n b", "a b" },
	{ "lone CR stays", "a\rb", "a\rb" },
	{ "nothing to do", "plain", "plain" },
	{ "empty", "", "" },
}, crlf_cases[] = {
	{ "LF to CRLF", "a\nb\n", "a\r\nb\r\n" },
	{ "CRLF stays", "a\r\nb\r\n", "a\r\nb\r\n" },
	{ "mixed", "a\r\nb\nc", "a\r\nb\r\nc" },
	{ "lone CR stays", "a\rb\n", "a\rb\r\n" },
	{ "blank lines", "\n\n", "\r\n\r\n" },
	{ "empty", "", "" },
};

static void
test_convert(void)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	for (i = 0; i < sizeof(unfold_cases) / sizeof(unfold_cases[0]); i++) {
		buf_reset(&b);
		CHECK_INT(msg_unfold(&b, unfold_cases[i].in,
		    strlen(unfold_cases[i].in)), 0, unfold_cases[i].name);
		CHECK_STR(buf_cstr(&b), unfold_cases[i].want,
		    unfold_cases[i].name);
	}
	for (i = 0; i < sizeof(crlf_cases) / sizeof(crlf_cases[0]); i++) {
		buf_reset(&b);
		CHECK_INT(msg_lf_to_crlf(&b, crlf_cases[i].in,
		    strlen(crlf_cases[i].in)), 0, crlf_cases[i].name);
		CHECK_STR(buf_cstr(&b), crlf_cases[i].want,
		    crlf_cases[i].name);
	}
	buf_fini(&b);
	buf_init(&b, 3);
	CHECK_INT(msg_lf_to_crlf(&b, "a\nb", 3), E_LIMIT,
	    "conversion respects the buffer cap");
	buf_fini(&b);
}

int
main(void)
{
	test_parse();
	test_fields();
	test_limit();
	test_convert();
	return test_done();
}
