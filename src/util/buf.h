/*
 * util/buf.h - growable byte buffers with a cap set at creation.
 *
 * Every buffer that peer data can fill has a maximum size; reaching it is
 * an error the caller answers (E_LIMIT), never a crash or a silent cut.
 * Data is pointer plus length; buf_cstr() adds a terminating NUL that is
 * not counted in len.
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len;	/* bytes in use */
	size_t off;	/* bytes consumed from the front (see buf_consume) */
	size_t cap;	/* bytes allocated */
	size_t max;	/* most bytes it may ever hold */
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);
/* buf_append - add n bytes; E_LIMIT (nothing added) past the cap */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
/*
 * buf_reserve - room for n more bytes (and a NUL) within the cap, so that
 * up to n bytes may be written at b->p + b->len and then counted by
 * adding to b->len; E_LIMIT (nothing changed) past the cap
 */
int buf_reserve(struct buf *b, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* buf_data - the unconsumed bytes */
static inline const char *buf_data(const struct buf *b) { return b->p ? b->p + b->off : ""; }
static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
/* buf_consume - drop n bytes from the front */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* buf_cstr - the contents as a NUL-terminated string (NUL not counted) */
const char *buf_cstr(struct buf *b);
/* buf_release - free the storage of an empty buffer (idle sessions) */
void buf_shrink(struct buf *b);

#endif
