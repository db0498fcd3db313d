/*
 * daemon/qmgr_proc.c - the queue manager process.
 *
 * Sleeps on the wake-up pipe that workers write to after each commit (and
 * wakes every second anyway, for retries), then lets the queue manager's
 * core (queue/qmgr.h) deliver what is queued.  Under load it gathers: a
 * wake-up that comes soon after the previous run waits out a short window
 * first, so that one run delivers many messages and their directory
 * fsyncs (Maildir new/, spool queue/) and queue scan are shared.  A
 * message that arrives alone is delivered at once.  SIGTERM ends it after the
 * current run: a delivery is never cut in half by a clean stop, and one cut
 * by a crash is repeated without a duplicate (see deliver/maildir.h).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue/qmgr.h"
#include "util/log.h"

/* A wake-up within GATHER_AFTER_MS of the end of the previous run waits
   until GATHER_MS after that end.  At a thousand messages a second this
   makes runs of about ten messages instead of one or two and cuts the
   queue manager's CPU per message by about a third (bench/breakdown.sh);
   it adds at most GATHER_MS to delivery, never to the client's 250. */
#define GATHER_AFTER_MS 20
#define GATHER_MS 10

static volatile sig_atomic_t stopping;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* drain - empty the wake-up pipe (non-blocking) */
static void
drain(int fd)
{
	char buf[512];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* gather - wait out what is left of the window after a run that ended at
   last_end, then take the wake-ups that came meanwhile */
static void
gather(int wake_fd, int64_t last_end)
{
	int64_t left = last_end + GATHER_MS - mono_ms();
	struct timespec ts;

	if (left <= 0 || left > GATHER_MS)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)left * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stopping)
		;
	drain(wake_fd);
}

static void
on_term(int sig)
{
	stopping = 1;
}

int
qmgr_main(struct daemon_ctx *d, int wake_fd)
{
	struct sigaction sa;
	struct qmgr *q;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	q = qmgr_new(d->spool, d->cfg);
	while (!stopping) {
		struct pollfd pfd = { .fd = wake_fd, .events = POLLIN };
		unsigned delivered = 0, deferred = 0;
		int64_t end;

		qmgr_run_once(q, &delivered, &deferred);
		end = mono_ms();
		if (stopping)
			break;
		if (poll(&pfd, 1, 1000) > 0) {
			drain(wake_fd);
			if (mono_ms() - end < GATHER_AFTER_MS)
				gather(wake_fd, end);
		}
	}
	qmgr_free(q);
	return 0;
}
