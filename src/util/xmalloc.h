/*
 * util/xmalloc.h - allocation that aborts on failure.
 *
 * Running out of memory is not a condition a peer can cause (every buffer
 * a peer fills has a cap), so allocation failure ends the process.
 */
#ifndef UTIL_XMALLOC_H
#define UTIL_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - formatted string on the heap; the format is always ours */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
