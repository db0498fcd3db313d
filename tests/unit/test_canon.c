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
	/* A guard after the state: a write past the batch shows up even
	   without ASan. */
	struct {
		struct canon_body c;
		unsigned char guard[64];
	} g;
	size_t i;

	memset(g.guard, 0xa5, sizeof(g.guard));
	buf_reset(out);
	canon_body_init(&g.c, m, collect, out);
	if (step == 0)
		canon_body_feed(&g.c, in, n);
	else
		for (i = 0; i < n; i += step)
			canon_body_feed(&g.c, in + i, n - i < step ? n - i :
			    step);
	canon_body_finish(&g.c);
	for (i = 0; i < sizeof(g.guard); i++)
		if (g.guard[i] != 0xa5)
			break;
	CHECK(i == sizeof(g.guard), "nothing written past the body state");
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

/*
 * The differential tests: the canonicalisers against straightforward
 * byte-by-byte readings of RFC 6376 3.4.2 and 3.4.4 written here, on many
 * generated inputs.  Conventions shared with canon.c: only CRLF ends a
 * body line (a lone CR or LF is data), and in a header field a CRLF or a
 * bare LF is folding while a lone CR is data.
 */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

/* rnd - xorshift64*, deterministic so a failure repeats */
static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 0x2545f4914f6cdd1dULL) >> 33) % n;
}

/* gen_piece - append one random piece of body or header text */
static void
gen_piece(struct buf *b, bool header)
{
	static const char *const pieces[] = {
		"a", "b", "Z", "x", ":", ";", "\xc3\xa9", "\xff", "\x80",
		" ", "\t", "\r", "\n", "\r\n", "\r\n", "\r\n", "\r\n ",
		"\r\n\t", " \r\n", "\t\r\n", "\r\r\n", "\r\n\r\n", " \t ",
	};
	size_t i, k;

	switch (rnd(16)) {
	case 0:		/* a long WSP run */
		for (i = 0, k = 1 + rnd(40); i < k; i++)
			buf_append(b, rnd(4) ? " " : "\t", 1);
		break;
	case 1:		/* a long run of content */
		for (i = 0, k = 1 + rnd(120); i < k; i++)
			buf_append(b, &"abcdefgh"[rnd(8)], 1);
		break;
	case 2:		/* a NUL, or a word with single spaces */
		if (header || rnd(2))
			buf_append_str(b, "the quick brown fox ");
		else
			buf_append(b, "", 1);
		break;
	default:
		buf_append_str(b, pieces[rnd(sizeof(pieces) /
		    sizeof(pieces[0]))]);
		break;
	}
}

/* ref_body - the canonical body, read line by line */
static void
ref_body(struct buf *out, enum canon_mode m, const char *p, size_t n)
{
	struct buf line;
	size_t i = 0, e, j, keep = 0;
	bool wsp;

	buf_reset(out);
	buf_init(&line, 1 << 24);
	while (i < n) {
		/* The line runs to the next CRLF or the end of the body. */
		for (e = i; e < n && !(p[e] == '\r' && e + 1 < n &&
		    p[e + 1] == '\n'); e++)
			;
		buf_reset(&line);
		if (m == CANON_SIMPLE)
			buf_append(&line, p + i, e - i);
		else {
			wsp = false;
			for (j = i; j < e; j++) {
				if (p[j] == ' ' || p[j] == '\t') {
					wsp = true;
					continue;
				}
				if (wsp)
					buf_append(&line, " ", 1);
				wsp = false;
				buf_append(&line, p + j, 1);
			}
			/* WSP at the end of the line is dropped. */
		}
		buf_append(out, line.p, line.len);
		buf_append(out, "\r\n", 2);
		if (line.len > 0)
			keep = out->len;
		i = e + 2;
	}
	/* Empty lines at the end go. */
	out->len = keep;
	if (m == CANON_SIMPLE && keep == 0)
		buf_append(out, "\r\n", 2);
	buf_fini(&line);
}

/* ref_header - the canonical field, read byte by byte */
static int
ref_header(struct buf *out, enum canon_mode m, const char *f, size_t n,
    bool crlf)
{
	struct buf v;
	size_t i, c, nl;
	bool wsp = false, any = false;

	if (m == CANON_SIMPLE) {
		buf_append(out, f, n);
		if (crlf)
			buf_append(out, "\r\n", 2);
		return 0;
	}
	for (c = 0; c < n && f[c] != ':'; c++)
		;
	if (c == n)
		return E_SYNTAX;
	for (nl = c; nl > 0 && (f[nl - 1] == ' ' || f[nl - 1] == '\t'); nl--)
		;
	for (i = 0; i < nl; i++) {
		char ch = f[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		buf_append(out, &ch, 1);
	}
	buf_append(out, ":", 1);
	/* Unfold first: CRLF and bare LF go, a lone CR stays. */
	buf_init(&v, 1 << 24);
	for (i = c + 1; i < n; i++) {
		if (f[i] == '\r' && i + 1 < n && f[i + 1] == '\n') {
			i++;
			continue;
		}
		if (f[i] != '\n')
			buf_append(&v, f + i, 1);
	}
	/* Then WSP runs are one SP, none at either end of the value. */
	for (i = 0; i < v.len; i++) {
		if (v.p[i] == ' ' || v.p[i] == '\t') {
			wsp = true;
			continue;
		}
		if (wsp && any)
			buf_append(out, " ", 1);
		wsp = false;
		any = true;
		buf_append(out, v.p + i, 1);
	}
	buf_fini(&v);
	if (crlf)
		buf_append(out, "\r\n", 2);
	return 0;
}

/* Matching comparisons are counted, not reported one by one: the
   differential tests make millions of them. */
static unsigned long long same_count;

/* same_bytes - compare two buffers, report the first difference */
static void
same_bytes(const struct buf *got, const struct buf *want, const char *what,
    unsigned long long seed)
{
	char name[200];
	size_t i;

	if (got->len == want->len && (got->len == 0 ||
	    memcmp(got->p, want->p, got->len) == 0)) {
		same_count++;
		return;
	}
	for (i = 0; i < got->len && i < want->len && got->p[i] ==
	    want->p[i]; i++)
		;
	snprintf(name, sizeof(name), "%s (input seed %llx): lengths %zu/%zu, "
	    "first difference at %zu", what, seed, got->len, want->len, i);
	CHECK(0, name);
}

static void
test_body_differential(void)
{
	struct buf in, got, want;
	struct canon_body c;
	unsigned long long seed;
	size_t iter, k, pieces, cut, cut2;
	int m;

	buf_init(&in, 1 << 24);
	buf_init(&got, 1 << 24);
	buf_init(&want, 1 << 24);
	for (iter = 0; iter < 6000; iter++) {
		seed = rng_state;
		buf_reset(&in);
		pieces = iter % 50 == 0 ? 400 + rnd(800) : rnd(60);
		for (k = 0; k < pieces; k++)
			gen_piece(&in, false);
		/* Shapes at the end: trailing empty lines, WSP lines, no
		   final CRLF, a lone CR last. */
		switch (rnd(6)) {
		case 0:
			for (k = rnd(5); k > 0; k--)
				buf_append_str(&in, rnd(2) ? "\r\n" : " \r\n");
			break;
		case 1:
			buf_append_str(&in, "\r");
			break;
		case 2:
			buf_append_str(&in, "\r\n");
			break;
		}
		for (m = 0; m < 2; m++) {
			enum canon_mode mode = m ? CANON_RELAXED :
			    CANON_SIMPLE;

			ref_body(&want, mode, in.p, in.len);
			run_body(&got, mode, in.p, in.len, 0);
			same_bytes(&got, &want, "body, one feed", seed);
			run_body(&got, mode, in.p, in.len, 1 + rnd(9));
			same_bytes(&got, &want, "body, small feeds", seed);
			run_body(&got, mode, in.p, in.len, 1 + rnd(200));
			same_bytes(&got, &want, "body, random feeds", seed);
			if (in.len > 400)
				continue;
			/* Every split point, and every pair of them for
			   short inputs. */
			for (cut = 0; cut <= in.len; cut++) {
				buf_reset(&got);
				canon_body_init(&c, mode, collect, &got);
				canon_body_feed(&c, in.p, cut);
				canon_body_feed(&c, in.p + cut, in.len - cut);
				canon_body_finish(&c);
				same_bytes(&got, &want, "body, split once",
				    seed);
				if (in.len > 40)
					continue;
				for (cut2 = cut; cut2 <= in.len; cut2++) {
					buf_reset(&got);
					canon_body_init(&c, mode, collect,
					    &got);
					canon_body_feed(&c, in.p, cut);
					canon_body_feed(&c, in.p + cut,
					    cut2 - cut);
					canon_body_feed(&c, in.p + cut2,
					    in.len - cut2);
					canon_body_finish(&c);
					same_bytes(&got, &want,
					    "body, split twice", seed);
				}
			}
		}
	}
	buf_fini(&in);
	buf_fini(&got);
	buf_fini(&want);
}

static void
test_header_differential(void)
{
	static const char *const names[] = {
		"From", "SUBJECT", "dkim-signature", "X-Long-Name-Here",
		"To ", "Cc\t \t", "a",
	};
	struct buf in, got, want, tight;
	unsigned long long seed;
	size_t iter, k, pieces, cap;
	int m, crlf, r;

	buf_init(&in, 1 << 24);
	buf_init(&got, 1 << 24);
	buf_init(&want, 1 << 24);
	for (iter = 0; iter < 20000; iter++) {
		seed = rng_state;
		buf_reset(&in);
		buf_append_str(&in, names[rnd(sizeof(names) /
		    sizeof(names[0]))]);
		buf_append(&in, ":", 1);
		pieces = iter % 100 == 0 ? 200 + rnd(400) : rnd(30);
		for (k = 0; k < pieces; k++)
			gen_piece(&in, true);
		for (m = 0; m < 4; m++) {
			enum canon_mode mode = m & 1 ? CANON_RELAXED :
			    CANON_SIMPLE;

			crlf = m >> 1;
			/* Appended after what the buffer already holds. */
			buf_reset(&want);
			buf_reset(&got);
			buf_append_str(&want, "prefix\r\n");
			buf_append_str(&got, "prefix\r\n");
			CHECK_INT(ref_header(&want, mode, in.p, in.len, crlf),
			    0, "reference header");
			CHECK_INT(canon_header(&got, mode, in.p, in.len, crlf),
			    0, "header canonicalised");
			same_bytes(&got, &want, "header", seed);
			/* A cap of exactly the output is enough; one byte
			   less is E_LIMIT. */
			if (iter % 10 != 0)
				continue;
			cap = want.len - 8;
			buf_init(&tight, cap);
			r = canon_header(&tight, mode, in.p, in.len, crlf);
			CHECK_INT(r, 0, "header in a buffer capped at its "
			    "size");
			if (r == 0)
				CHECK(tight.len == cap && memcmp(tight.p,
				    want.p + 8, cap) == 0, "capped header");
			buf_fini(&tight);
			if (cap == 0)
				continue;
			buf_init(&tight, cap - 1);
			CHECK_INT(canon_header(&tight, mode, in.p, in.len,
			    crlf), E_LIMIT, "header one byte over the cap");
			buf_fini(&tight);
		}
	}
	buf_reset(&in);
	buf_append_str(&in, "No colon at all \r\n x");
	CHECK_INT(canon_header(&got, CANON_RELAXED, in.p, in.len, true),
	    E_SYNTAX, "relaxed: no colon");
	buf_fini(&in);
	buf_fini(&got);
	buf_fini(&want);
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
	test_body_differential();
	test_header_differential();
	{
		char name[80];

		snprintf(name, sizeof(name), "differential: %llu outputs "
		    "matched the references", same_count);
		CHECK(same_count > 1000000, name);
	}
	test_modes();
	return test_done();
}
