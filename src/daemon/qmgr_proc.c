/*
 * daemon/qmgr_proc.c - the queue manager process.
 *
 * Sleeps on the wake-up pipe that workers write to after each commit (and
 * wakes every second anyway, for retries), then lets the queue manager's
 * core (queue/qmgr.h) deliver what is queued.  SIGTERM ends it after the
 * current run: a delivery is never cut in half by a clean stop, and one cut
 * by a crash is repeated without a duplicate (see deliver/maildir.h).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "queue/qmgr.h"
#include "util/log.h"

static volatile sig_atomic_t stopping;

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
		char drain[512];

		qmgr_run_once(q, &delivered, &deferred);
		if (stopping)
			break;
		if (poll(&pfd, 1, 1000) > 0) {
			while (read(wake_fd, drain, sizeof(drain)) > 0)
				;
		}
	}
	qmgr_free(q);
	return 0;
}
