/*
 * daemon/daemon.h - the smtpsd processes: master, workers, queue manager.
 *
 * The master (root in production) reads the configuration, loads keys and
 * certificates, binds the listeners, recovers the spool and forks:
 *  - workers, one per core: each one single-threaded libevent loop that
 *    accepts on the shared listeners and runs TLS, the session machine and
 *    the spool commit for thousands of sessions; blocking work (fdatasync
 *    of spool files, password hashing) runs on the worker's helper thread
 *    and comes back through an eventfd;
 *  - the queue manager, which delivers what the workers committed.
 * Children drop privileges before touching peer data.  The master parses
 * nothing from the network.  A worker wakes the queue manager by writing
 * a byte to a pipe; the spool directory is the contract between them.
 */
#ifndef DAEMON_DAEMON_H
#define DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "queue/spool.h"
#include "sasl/passwd.h"
#include "tls/tls.h"

#define DAEMON_MAX_WORKERS 64

struct listener {
	int fd;
	enum smtp_role role;
	char name[80];		/* "127.0.0.1:10025" */
};

/* What a worker inherits from the master. */
struct daemon_ctx {
	struct config *cfg;
	struct tls_store *tls;
	struct passwd_db *passwd;
	struct spool *spool;
	struct listener *listeners;
	size_t nlisteners;
	int qmgr_wake_fd;	/* write end of the queue manager's pipe */
	int worker_slot;	/* column in the per-IP connection table */
	struct iplimit *iplimit;
	char *resolver_flag;	/* --resolver, normalised: beats the file's,
				   also after a reload */
};

/* worker_main - run a worker until told to stop; returns exit status */
int worker_main(struct daemon_ctx *d);
/* qmgr_main - run the queue manager; wake_fd is the pipe's read end */
int qmgr_main(struct daemon_ctx *d, int wake_fd);

/*
 * The per-client-IP connection counts, shared by all workers through an
 * anonymous shared mapping made before the fork.  Each worker counts in
 * its own column, so the master can zero a dead worker's column and no
 * count leaks after a crash.
 */
struct iplimit;
struct iplimit *iplimit_new(void);
/* iplimit_acquire - count one more connection from addr (4 or 16 bytes);
   false if max or more are already open (nothing counted then) */
bool iplimit_acquire(struct iplimit *il, int slot, const void *addr,
    size_t len, int max);
void iplimit_release(struct iplimit *il, int slot, const void *addr,
    size_t len);
/* iplimit_clear_slot - forget every count of a worker that died */
void iplimit_clear_slot(struct iplimit *il, int slot);

/* daemon_drop_privileges - become cfg->user when running as root */
int daemon_drop_privileges(const struct config *cfg);

#endif
