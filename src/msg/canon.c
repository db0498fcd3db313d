/*
 * msg/canon.c - DKIM simple and relaxed canonicalisation (RFC 6376 3.4).
 */
#include "msg/canon.h"

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* is_wsp - RFC 5234 WSP */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* canon_mode_parse - "simple" or "relaxed" */
int
canon_mode_parse(enum canon_mode *out, const char *s, size_t n)
{
	if (n == 6 && strncasecmp(s, "simple", 6) == 0)
		*out = CANON_SIMPLE;
	else if (n == 7 && strncasecmp(s, "relaxed", 7) == 0)
		*out = CANON_RELAXED;
	else
		return E_SYNTAX;
	return 0;
}

/* canon_mode_str - the mode's name as c= writes it */
const char *
canon_mode_str(enum canon_mode m)
{
	return m == CANON_RELAXED ? "relaxed" : "simple";
}

/* Bytes that end a run of header value text: WSP, CR, LF. */
static const unsigned char hdr_special[256] = {
	['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1,
};

/*
 * relaxed_field - RFC 6376 3.4.2 into o, which has room for n bytes (the
 * output is never longer than the field): the name lower-cased without
 * WSP before the colon, the value unfolded (CRLF and bare LF vanish, a
 * lone CR is data), WSP runs squeezed to one SP, none at either end.
 * Returns the length written.
 */
static size_t
relaxed_field(char *o, const char *f, size_t n, size_t colon)
{
	char *start = o;
	size_t i, nl = colon, s;
	bool wsp = false, any = false;
	unsigned char ch;

	while (nl > 0 && is_wsp(f[nl - 1]))
		nl--;
	for (i = 0; i < nl; i++) {
		ch = (unsigned char)f[i];
		*o++ = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
	}
	*o++ = ':';
	i = colon + 1;
	while (i < n) {
		s = i;
		while (i < n && !hdr_special[(unsigned char)f[i]])
			i++;
		if (i > s) {
			if (wsp && any)
				*o++ = ' ';
			memcpy(o, f + s, i - s);
			o += i - s;
			any = true;
			wsp = false;
			if (i == n)
				break;
		}
		/* Folding line breaks vanish; WSP becomes pending. */
		if (f[i] == '\r' && i + 1 < n && f[i + 1] == '\n')
			i += 2;
		else if (f[i] == '\n')
			i++;
		else if (f[i] == '\r') {
			/* A lone CR is data. */
			if (wsp && any)
				*o++ = ' ';
			*o++ = '\r';
			any = true;
			wsp = false;
			i++;
		} else {
			wsp = true;
			i++;
		}
	}
	return (size_t)(o - start);
}

/* canon_header - append the canonical form of one header field; the
   buffer grows once, and the bytes are written straight into it */
int
canon_header(struct buf *out, enum canon_mode m, const char *field,
    size_t n, bool crlf)
{
	const char *colon;
	size_t len, add = crlf ? 2 : 0;
	char *tmp;
	int r;

	if (m == CANON_SIMPLE) {
		if ((r = buf_reserve(out, n + add)) < 0)
			return r;
		if (n > 0)
			memcpy(out->p + out->len, field, n);
		if (crlf)
			memcpy(out->p + out->len + n, "\r\n", 2);
		out->len += n + add;
		return 0;
	}
	colon = memchr(field, ':', n);
	if (colon == NULL)
		return E_SYNTAX;
	if ((r = buf_reserve(out, n + add)) == 0) {
		len = relaxed_field(out->p + out->len, field, n,
		    (size_t)(colon - field));
		if (crlf)
			memcpy(out->p + out->len + len, "\r\n", 2);
		out->len += len + add;
		return 0;
	}
	/* Near the cap the shorter canonical form may still fit: make it
	   aside and append exactly that. */
	tmp = xmalloc(n + 2);
	len = relaxed_field(tmp, field, n, (size_t)(colon - field));
	if (crlf) {
		memcpy(tmp + len, "\r\n", 2);
		len += 2;
	}
	r = buf_append(out, tmp, len);
	free(tmp);
	return r;
}

/* flush - hand the batched bytes to the callback */
static void
flush(struct canon_body *c)
{
	if (c->outlen) {
		c->emit(c->arg, c->out, c->outlen);
		c->outlen = 0;
	}
}

/* put - emit bytes through the batch */
static void
put(struct canon_body *c, const void *p, size_t n)
{
	if (n == 0)
		return;
	c->any = true;
	if (n > sizeof(c->out) - c->outlen) {
		flush(c);
		if (n > sizeof(c->out)) {
			c->emit(c->arg, p, n);
			return;
		}
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* content - a line's first content byte releases the held-back empty
   lines (they were not trailing after all) and any pending space */
static void
content(struct canon_body *c)
{
	if (!c->line_started) {
		while (c->empty_lines > 0) {
			put(c, "\r\n", 2);
			c->empty_lines--;
		}
		c->line_started = true;
	}
	/* Relaxed: a WSP run, also one leading the line, is one SP. */
	if (c->wsp) {
		put(c, " ", 1);
		c->wsp = false;
	}
}

/* end_line - a CRLF: emit it, or hold it back if the line was empty */
static void
end_line(struct canon_body *c)
{
	if (c->line_started)
		put(c, "\r\n", 2);
	else
		c->empty_lines++;
	c->line_started = false;
	c->wsp = false;
}

/* canon_body_init - start a body */
void
canon_body_init(struct canon_body *c, enum canon_mode m, canon_emit *emit,
    void *arg)
{
	memset(c, 0, sizeof(*c));
	c->mode = m;
	c->emit = emit;
	c->arg = arg;
}

/*
 * The relaxed body's fast path looks at 16 bytes at a time and finds the
 * first that is not its own canonical form: a tab, a CR, or a space
 * followed by a space, a tab or a CR (a single space before content stays
 * as it is; a run, a tab, WSP before a line end and the line end itself
 * go the slow way).  Bytes before it are copied whole.  SSE2 where the
 * compiler has it (every x86-64), two 64-bit words otherwise.
 */
#ifdef __SSE2__
/* plain16 - how many of the 16 bytes at p, from the first, are plain;
   p[16] is read as the byte after the last */
static inline unsigned
plain16(const unsigned char *p)
{
	const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
	const __m128i cr = _mm_set1_epi8('\r');
	__m128i x, y, hit, after;
	unsigned bits;

	x = _mm_loadu_si128((const __m128i *)(const void *)p);
	y = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
	hit = _mm_or_si128(_mm_cmpeq_epi8(x, tab), _mm_cmpeq_epi8(x, cr));
	after = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(y, sp),
	    _mm_cmpeq_epi8(y, tab)), _mm_cmpeq_epi8(y, cr));
	hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(x, sp), after));
	bits = (unsigned)_mm_movemask_epi8(hit);
	return bits ? (unsigned)__builtin_ctz(bits) : 16;
}
#else
#define CANON_LO7 0x7f7f7f7f7f7f7f7fULL
#define CANON_HI1 0x8080808080808080ULL
#define CANON_SP 0x2020202020202020ULL
#define CANON_TAB 0x0909090909090909ULL
#define CANON_CR 0x0d0d0d0d0d0d0d0dULL

/* bytes_eq - top bit set in each byte of x equal to the byte in c */
static inline uint64_t
bytes_eq(uint64_t x, uint64_t c)
{
	uint64_t t = x ^ c;

	return ~(((t & CANON_LO7) + CANON_LO7) | t) & CANON_HI1;
}

/* plain8 - how many of the 8 bytes at p are plain (p[8] is read) */
static inline unsigned
plain8(const unsigned char *p)
{
	uint64_t x, y, hit;

	memcpy(&x, p, 8);
	memcpy(&y, p + 1, 8);
	x = le64toh(x);
	y = le64toh(y);
	hit = bytes_eq(x, CANON_TAB) | bytes_eq(x, CANON_CR) |
	    (bytes_eq(x, CANON_SP) & (bytes_eq(y, CANON_SP) |
	    bytes_eq(y, CANON_TAB) | bytes_eq(y, CANON_CR)));
	return hit ? (unsigned)__builtin_ctzll(hit) / 8 : 8;
}

/* plain16 - how many of the 16 bytes at p are plain (p[16] is read) */
static inline unsigned
plain16(const unsigned char *p)
{
	unsigned k = plain8(p);

	return k < 8 ? k : 8 + plain8(p + 8);
}
#endif

/* Room the relaxed loop keeps in the batch: a 16-byte store, or a
   pending space and one byte, or a CRLF. */
#define CANON_SLACK 16

/* release - a line with content begins: the CRLFs held back were not
   trailing after all */
static void
release(struct canon_body *c)
{
	while (c->empty_lines > 0) {
		put(c, "\r\n", 2);
		c->empty_lines--;
	}
	c->line_started = true;
	c->any = true;
}

/*
 * relaxed_feed - RFC 6376 3.4.4 on the next n bytes: WSP runs become one
 * SP, WSP at the end of a line goes, empty lines at the end are held
 * back as a count.  Only CRLF ends a line (a lone CR or LF is data); a
 * CR at the end of the input is held until the next byte shows what it
 * is.  Output goes straight into the batch, which is handed on whenever
 * less than CANON_SLACK bytes of it are free.
 */
static void
relaxed_feed(struct canon_body *c, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n;
	char *o, *oend = c->out + sizeof(c->out) - CANON_SLACK;
	bool wsp = c->wsp;
	unsigned k;

	if (c->cr && n > 0) {
		c->cr = false;
		if (*p == '\n') {
			end_line(c);
			wsp = false;
			p++;
		} else {
			/* The held CR was data after all. */
			content(c);
			put(c, "\r", 1);
			wsp = false;
		}
	}
	while (p < end) {
		if (!c->line_started) {
			/* Leading WSP is one SP if content follows. */
			while (p < end && (*p == ' ' || *p == '\t')) {
				wsp = true;
				p++;
			}
			if (p == end)
				break;
			if (*p == '\r') {
				if (p + 1 == end) {
					c->cr = true;
					p++;
					break;
				}
				if (p[1] == '\n') {
					/* An empty line: held back. */
					c->empty_lines++;
					wsp = false;
					p += 2;
					continue;
				}
			}
			release(c);
		}
		if (c->outlen > sizeof(c->out) - CANON_SLACK)
			flush(c);
		o = c->out + c->outlen;
		for (;;) {
			if (o > oend) {
				c->outlen = (size_t)(o - c->out);
				flush(c);
				o = c->out;
			}
			if (!wsp && end - p > 16) {
				k = plain16(p);
				memcpy(o, p, 16);
				o += k;
				p += k;
				/* Past the slack the room check comes
				   first. */
				if (k == 16 || o > oend)
					continue;
			}
			if (p == end)
				break;
			if (*p == ' ' || *p == '\t') {
				wsp = true;
				p++;
				continue;
			}
			if (*p == '\r') {
				if (p + 1 == end) {
					/* Line end or data: the next byte
					   tells. */
					c->cr = true;
					p++;
					break;
				}
				if (p[1] == '\n') {
					/* WSP before the line end goes. */
					*o++ = '\r';
					*o++ = '\n';
					wsp = false;
					c->line_started = false;
					p += 2;
					break;
				}
			}
			if (wsp) {
				*o++ = ' ';
				wsp = false;
			}
			*o++ = (char)*p++;
		}
		c->outlen = (size_t)(o - c->out);
	}
	c->wsp = wsp;
}

/* canon_body_feed - the next n bytes of the body */
void
canon_body_feed(struct canon_body *c, const void *vp, size_t n)
{
	const unsigned char *p = vp, *cr;
	size_t i = 0, e;

	if (c->mode == CANON_RELAXED) {
		relaxed_feed(c, p, n);
		return;
	}
	while (i < n) {
		if (c->cr) {
			c->cr = false;
			if (p[i] == '\n') {
				end_line(c);
				i++;
				continue;
			}
			/* The held CR was data after all. */
			content(c);
			put(c, "\r", 1);
		}
		/* Everything up to the next CR is line content. */
		cr = memchr(p + i, '\r', n - i);
		e = cr ? (size_t)(cr - p) : n;
		if (e > i) {
			content(c);
			put(c, p + i, e - i);
		}
		i = e;
		if (cr) {
			c->cr = true;
			i++;
		}
	}
}

/* canon_body_finish - end of body */
void
canon_body_finish(struct canon_body *c)
{
	if (c->cr) {
		c->cr = false;
		content(c);
		put(c, "\r", 1);
	}
	/* RFC 6376 3.4.3/3.4.4: an unterminated last line gets its CRLF;
	   trailing empty lines are dropped. */
	if (c->line_started)
		end_line(c);
	c->empty_lines = 0;
	/* RFC 6376 3.4.3: the simple empty body is one CRLF; the relaxed
	   empty body is empty (erratum 1384). */
	if (c->mode == CANON_SIMPLE && !c->any)
		put(c, "\r\n", 2);
	flush(c);
}
