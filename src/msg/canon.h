/*
 * msg/canon.h - DKIM canonicalisation (RFC 6376 3.4): simple and relaxed,
 * for header fields and for the body.
 *
 * Pure and streaming: the body canonicaliser takes the body in chunks of
 * any size (a chunk may end between CR and LF) and hands the canonical
 * bytes to a callback, so the body hash never needs the whole body in one
 * piece, and trailing empty lines are held back only as a count.
 */
#ifndef MSG_CANON_H
#define MSG_CANON_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum canon_mode {
	CANON_SIMPLE,
	CANON_RELAXED,
};

/* canon_mode_parse - "simple" or "relaxed"; E_SYNTAX otherwise */
int canon_mode_parse(enum canon_mode *out, const char *s, size_t n);
const char *canon_mode_str(enum canon_mode m);

/*
 * canon_header - append the canonical form of one header field to out.
 * field is the raw field from its name to the end of its value, without
 * the final CRLF; a CRLF is appended when crlf is true (the DKIM-Signature
 * field being verified or made is hashed without one, RFC 6376 3.7).
 */
int canon_header(struct buf *out, enum canon_mode m, const char *field,
    size_t n, bool crlf);

/* canon_emit - receives canonical body bytes */
typedef void canon_emit(void *arg, const void *p, size_t n);

struct canon_body {
	enum canon_mode mode;
	canon_emit *emit;
	void *arg;
	size_t empty_lines;	/* CRLFs held back: maybe trailing */
	bool line_started;	/* current line has emitted content */
	bool wsp;		/* relaxed: whitespace seen, not yet emitted */
	bool cr;		/* last byte was a CR */
	bool any;		/* anything emitted at all */
	size_t outlen;
	char out[1024];		/* batches the callback's calls */
};

/* canon_body_init - start a body; emit gets every canonical byte */
void canon_body_init(struct canon_body *c, enum canon_mode m,
    canon_emit *emit, void *arg);
/* canon_body_feed - the next n bytes of the body (CRLF line ends) */
void canon_body_feed(struct canon_body *c, const void *p, size_t n);
/* canon_body_finish - end of body: complete the last line, drop trailing
   empty lines, emit the simple body's lone CRLF for an empty body */
void canon_body_finish(struct canon_body *c);

#endif
