/*
 * util/fanout.c - run one call over many items on a small pool of threads.
 *
 * The spool and the Maildir writer fdatasync a batch of files at once, so
 * that the disk sees them together.  Creating threads for each batch cost
 * a clone, a stack and a join per thread per batch, about one per message
 * at full load; the pool's threads are made once per process and then
 * sleep on a condition variable between batches.
 *
 * One batch runs on the pool at a time.  A caller that finds the pool
 * busy runs its whole batch itself: slower, never wrong.  A process made
 * by fork() does not inherit threads, so the pool remembers which process
 * made it and is made again in a child that uses it (an atfork handler
 * resets the lock a parent's thread may have held).  Pool threads block
 * every signal, so signals reach the threads that handle them.
 */
#include "util/fanout.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_STACK (128 * 1024)

struct pool {
	struct pool *parent;	/* a pool of the process we forked from,
				   kept reachable (it has no threads here) */
	pid_t pid;		/* the process whose threads these are */
	pthread_mutex_t lock;
	pthread_cond_t work;	/* helpers wait here for a batch */
	pthread_cond_t idle;	/* the caller waits here for the end */
	bool busy;		/* a batch is running */
	unsigned gen;		/* batches started, so a helper sees news */
	size_t threads;

	/* the running batch */
	void (*fn)(void *, size_t);
	void *arg;
	size_t n;
	size_t next;		/* atomically taken */
	size_t done;		/* items finished (under lock) */
	size_t helpers;		/* helpers still inside the batch */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool *pool;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* after_fork - in a child: the parent's threads are gone, and pool_lock
   may have been held by one of them at the fork */
static void
after_fork(void)
{
	pthread_mutex_init(&pool_lock, NULL);
}

static void
register_atfork(void)
{
	pthread_atfork(NULL, NULL, after_fork);
}

/* run_items - take items of the running batch until none is left; the
   number this thread finished */
static size_t
run_items(struct pool *p)
{
	size_t i, k = 0;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n) {
		p->fn(p->arg, i);
		k++;
	}
	return k;
}

/* helper - a pool thread: wait for a batch, help with it, repeat */
static void *
helper(void *arg)
{
	struct pool *p = arg;
	unsigned seen = 0;
	size_t k;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->busy || p->gen == seen)
			pthread_cond_wait(&p->work, &p->lock);
		seen = p->gen;
		p->helpers++;
		pthread_mutex_unlock(&p->lock);
		k = run_items(p);
		pthread_mutex_lock(&p->lock);
		p->done += k;
		p->helpers--;
		if (p->done == p->n && p->helpers == 0)
			pthread_cond_signal(&p->idle);
	}
	return NULL;
}

/* pool_get - this process's pool, made on first use; NULL if no thread
   could be started */
static struct pool *
pool_get(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	struct pool *p;
	size_t k;

	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&pool_lock);
	if (pool != NULL && pool->pid == getpid()) {
		p = pool;
		pthread_mutex_unlock(&pool_lock);
		return p;
	}
	/* A pool made before fork() has no threads here; it is left as it
	   was (its memory is the parent's copy). */
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		pthread_mutex_unlock(&pool_lock);
		return NULL;
	}
	p->parent = pool;
	p->pid = getpid();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, POOL_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals are for the process's own threads: the pool's block all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (k = 1; k < FANOUT_THREADS; k++)
		if (pthread_create(&t, &attr, helper, p) == 0)
			p->threads++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	pool = p;
	pthread_mutex_unlock(&pool_lock);
	return p;
}

/* fanout_run - fn(arg, i) for every i < n, on the calling thread and the
   pool's threads together; returns when every call has returned */
void
fanout_run(void (*fn)(void *, size_t), void *arg, size_t n)
{
	struct pool *p;
	size_t i, k, wake;

	p = n > 1 ? pool_get() : NULL;
	if (p != NULL) {
		pthread_mutex_lock(&p->lock);
		if (p->busy || p->threads == 0) {
			pthread_mutex_unlock(&p->lock);
			p = NULL;
		}
	}
	if (p == NULL) {
		for (i = 0; i < n; i++)
			fn(arg, i);
		return;
	}
	p->busy = true;
	p->gen++;
	p->fn = fn;
	p->arg = arg;
	p->n = n;
	p->next = 0;
	p->done = 0;
	p->helpers = 0;
	/* Wake only as many helpers as there are items beyond our own. */
	wake = n - 1 < p->threads ? n - 1 : p->threads;
	if (wake == p->threads)
		pthread_cond_broadcast(&p->work);
	else
		for (k = 0; k < wake; k++)
			pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	k = run_items(p);
	pthread_mutex_lock(&p->lock);
	p->done += k;
	while (p->done < p->n || p->helpers > 0)
		pthread_cond_wait(&p->idle, &p->lock);
	p->busy = false;
	pthread_mutex_unlock(&p->lock);
}
