/*
 * msg/canon.c - DKIM simple and relaxed canonicalisation (RFC 6376 3.4).
 */
#include "msg/canon.h"

#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/err.h"

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

/* canon_header - append the canonical form of one header field */
int
canon_header(struct buf *out, enum canon_mode m, const char *field,
    size_t n, bool crlf)
{
	const char *colon;
	size_t nl, i, start;
	bool wsp = false, any = false;
	char c;
	int r;

	if (m == CANON_SIMPLE) {
		if ((r = buf_append(out, field, n)) < 0)
			return r;
		return crlf ? buf_append(out, "\r\n", 2) : 0;
	}
	/* RFC 6376 3.4.2: lower-case the name, unfold, squeeze WSP runs to
	   one SP, drop WSP at the end of the value and around the colon. */
	colon = memchr(field, ':', n);
	if (colon == NULL)
		return E_SYNTAX;
	nl = (size_t)(colon - field);
	while (nl > 0 && is_wsp(field[nl - 1]))
		nl--;
	for (i = 0; i < nl; i++) {
		c = field[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((r = buf_append(out, &c, 1)) < 0)
			return r;
	}
	if ((r = buf_append(out, ":", 1)) < 0)
		return r;
	i = (size_t)(colon - field) + 1;
	while (i < n) {
		start = i;
		while (i < n && !is_wsp(field[i]) && field[i] != '\r' &&
		    field[i] != '\n')
			i++;
		if (i > start) {
			if (wsp && any && (r = buf_append(out, " ", 1)) < 0)
				return r;
			if ((r = buf_append(out, field + start, i - start)) < 0)
				return r;
			any = true;
			wsp = false;
			continue;
		}
		/* Folding line breaks vanish; WSP becomes pending. */
		if (field[i] == '\r' && i + 1 < n && field[i + 1] == '\n') {
			i += 2;
			continue;
		}
		if (field[i] == '\n') {
			i++;
			continue;
		}
		if (field[i] == '\r') {
			/* A lone CR is data. */
			if (wsp && any && (r = buf_append(out, " ", 1)) < 0)
				return r;
			if ((r = buf_append(out, "\r", 1)) < 0)
				return r;
			any = true;
			wsp = false;
			i++;
			continue;
		}
		wsp = true;
		i++;
	}
	return crlf ? buf_append(out, "\r\n", 2) : 0;
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

/* Word-at-a-time byte tests: the top bit of each byte of the result is
   set where that byte of x equals the byte repeated in c. */
#define CANON_LO7 0x7f7f7f7f7f7f7f7fULL
#define CANON_HI1 0x8080808080808080ULL
#define CANON_SP 0x2020202020202020ULL
#define CANON_TAB 0x0909090909090909ULL

/* bytes_eq - top bit set in each byte of x equal to the byte in c */
static inline uint64_t
bytes_eq(uint64_t x, uint64_t c)
{
	uint64_t t = x ^ c;

	return ~(((t & CANON_LO7) + CANON_LO7) | t) & CANON_HI1;
}

/* plain8 - the 8 bytes at p are their own relaxed form: no tab and no
   space followed by WSP (p[8] is read as the byte after the last) */
static inline bool
plain8(const unsigned char *p)
{
	uint64_t x, y;

	memcpy(&x, p, 8);
	memcpy(&y, p + 1, 8);
	x = le64toh(x);
	y = le64toh(y);
	return (bytes_eq(x, CANON_TAB) | (bytes_eq(x, CANON_SP) &
	    (bytes_eq(y, CANON_SP) | bytes_eq(y, CANON_TAB)))) == 0;
}

/* relaxed_run - relaxed canonicalisation of bytes holding no CR: WSP
   runs become one SP, emitted only when more content follows on the line
   (RFC 6376 3.4.4).  Stretches of 8 bytes with no tab and no WSP after a
   space are copied whole (only when no space is pending and the byte after
   them is in the run, so a last space is still followed by content); the
   rest goes byte by byte.  Each input byte gives at most one output byte
   plus the one space pending from before, so room is checked once per
   stretch rather than per byte. */
static void
relaxed_run(struct canon_body *c, const unsigned char *p, size_t n)
{
	size_t i, m, room;
	bool wsp;
	char *o;

	while (n > 0) {
		if (!c->line_started) {
			/* Leading WSP is one SP if content follows. */
			while (n > 0 && (*p == ' ' || *p == '\t')) {
				c->wsp = true;
				p++;
				n--;
			}
			if (n == 0)
				return;
			wsp = c->wsp;
			c->wsp = false;
			content(c);
			c->wsp = wsp;
		}
		room = sizeof(c->out) - c->outlen;
		if (room < 2) {
			flush(c);
			room = sizeof(c->out);
		}
		m = n < room - 1 ? n : room - 1;
		o = c->out + c->outlen;
		wsp = c->wsp;
		for (i = 0; i < m; ) {
			unsigned char ch;

			if (!wsp && i + 9 <= m && plain8(p + i)) {
				memcpy(o, p + i, 8);
				o += 8;
				i += 8;
				continue;
			}
			ch = p[i++];
			if (ch == ' ' || ch == '\t') {
				wsp = true;
				continue;
			}
			if (wsp) {
				*o++ = ' ';
				wsp = false;
			}
			*o++ = (char)ch;
		}
		c->outlen = (size_t)(o - c->out);
		c->wsp = wsp;
		c->any = true;
		p += m;
		n -= m;
	}
}

/* canon_body_feed - the next n bytes of the body */
void
canon_body_feed(struct canon_body *c, const void *vp, size_t n)
{
	const unsigned char *p = vp, *cr;
	size_t i = 0, e;

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
			if (c->mode == CANON_RELAXED)
				relaxed_run(c, p + i, e - i);
			else {
				content(c);
				put(c, p + i, e - i);
			}
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
