#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xmalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_fini(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* reserve - make room for n more bytes (+1 for a NUL) within the cap */
static int
reserve(struct buf *b, size_t n)
{
	size_t want, ncap;

	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (n > b->max || b->len - b->off > b->max - n)
		return E_LIMIT;
	if (b->len + n + 1 <= b->cap)
		return 0;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + n + 1 <= b->cap)
			return 0;
	}
	want = b->len + n + 1;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	b->p = xrealloc(b->p, ncap);
	b->cap = ncap;
	return 0;
}

/* buf_reserve - room for n more bytes within the cap */
int
buf_reserve(struct buf *b, size_t n)
{
	return reserve(b, n);
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int r;

	if ((r = reserve(b, n)) < 0)
		return r;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return E_INVAL;
	if ((r = reserve(b, (size_t)n)) < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len - b->off) {
		b->off = b->len = 0;
		return;
	}
	b->off += n;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

const char *
buf_cstr(struct buf *b)
{
	if (b->len + 1 > b->cap) {
		size_t ncap = b->len + 1 < 16 ? 16 : b->len + 1;

		b->p = xrealloc(b->p, ncap);
		b->cap = ncap;
	}
	b->p[b->len] = '\0';
	return b->p + b->off;
}

void
buf_shrink(struct buf *b)
{
	if (b->len == b->off) {
		free(b->p);
		b->p = NULL;
		b->cap = b->len = b->off = 0;
	}
}
