/*
 * util/fanout.h - run one call over many items on a small pool of threads.
 *
 *	fanout_run(fn, arg, n)	calls fn(arg, i) for i = 0 .. n-1, on the
 *				calling thread and up to FANOUT_THREADS - 1
 *				pooled threads, and returns when all are done
 *
 * For blocking work that gains from being in flight together (fdatasync of
 * a batch of files).  The pool is made on first use in each process.
 */
#ifndef UTIL_FANOUT_H
#define UTIL_FANOUT_H

#include <stddef.h>

#define FANOUT_THREADS 8

void fanout_run(void (*fn)(void *, size_t), void *arg, size_t n);

#endif
