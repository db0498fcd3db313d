/*
 * daemon/master.c - the master process: bind, fork, supervise, reload.
 *
 * The master reads the configuration and every key before it binds
 * anything, so a bad file costs no port.  It forks one worker per core and
 * the queue manager, restarts a child that dies, and on SIGHUP reloads the
 * configuration, certificates and passwords: it starts a new generation of
 * workers with them and tells the old generation to finish its sessions
 * and exit (no session is dropped).  SIGTERM and SIGINT stop everything.
 * The master parses nothing that comes from the network.
 */
#include "daemon/daemon.h"
#include "daemon/master.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

enum child_kind { CHILD_NONE, CHILD_WORKER, CHILD_QMGR };

struct child {
	pid_t pid;
	enum child_kind kind;
	unsigned generation;
	time_t started;
};

static struct child children[DAEMON_MAX_WORKERS + 1];
#define QMGR_SLOT DAEMON_MAX_WORKERS

int
daemon_drop_privileges(const struct config *cfg)
{
	struct passwd *pw;

	if (getuid() != 0 || cfg->user == NULL)
		return 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_err(NULL, "user %s does not exist", cfg->user);
		return E_INVAL;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_err(NULL, "cannot become user %s: %m", cfg->user);
		return E_DENIED;
	}
	if (setuid(0) == 0) {
		log_err(NULL, "privileges could be regained; refusing to run");
		return E_DENIED;
	}
	prctl(PR_SET_DUMPABLE, 0);
	return 0;
}

/* parse_addr - "127.0.0.1", "::1", "0.0.0.0", "*" into a sockaddr */
static int
parse_addr(const char *host, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *a4 = (void *)ss;
	struct sockaddr_in6 *a6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "*") == 0)
		host = "0.0.0.0";
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return E_INVAL;
}

/* master_bind - open every listener; on failure *err names the address */
static int
master_bind(const struct config *cfg, struct listener **out, size_t *n,
    char **err)
{
	struct listener *ls = xcalloc(cfg->nlistens ? cfg->nlistens : 1,
	    sizeof(*ls));
	size_t i;

	for (i = 0; i < cfg->nlistens; i++) {
		const struct config_listen *cl = &cfg->listens[i];
		struct sockaddr_storage ss;
		socklen_t sl;
		int fd, one = 1;

		ls[i].fd = -1;
		snprintf(ls[i].name, sizeof(ls[i].name),
		    strchr(cl->address, ':') ? "[%s]:%d" : "%s:%d",
		    cl->address, cl->port);
		ls[i].role = cl->role;
		if (parse_addr(cl->address, cl->port, &ss, &sl) < 0) {
			*err = xasprintf("cannot listen on %s: bad address",
			    ls[i].name);
			goto fail;
		}
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			*err = xasprintf("cannot listen on %s: %m", ls[i].name);
			goto fail;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
		    listen(fd, 4096) < 0) {
			*err = xasprintf("cannot listen on %s: %m", ls[i].name);
			close(fd);
			goto fail;
		}
		ls[i].fd = fd;
	}
	*out = ls;
	*n = cfg->nlistens;
	return 0;
fail:
	while (i-- > 0)
		close(ls[i].fd);
	free(ls);
	return E_IO;
}

/* own_dir - hand a directory the master made to the unprivileged user */
static void
own_dir(const struct config *cfg, const char *dir)
{
	struct passwd *pw;

	if (getuid() != 0 || cfg->user == NULL ||
	    (pw = getpwnam(cfg->user)) == NULL)
		return;
	if (chown(dir, pw->pw_uid, pw->pw_gid) < 0)
		log_warn(NULL, "chown %s: %m", dir);
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path), *s;
	int r = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		r = -1;
	free(p);
	return r;
}

/* own_spool - the spool directory, its subdirectories and the DMARC
   database (queue/dmarcdb.h, written by the workers) belong to the
   unprivileged user; run again once spool_open() made what was missing,
   and for a database a run as root left behind */
static void
own_spool(const struct config *cfg)
{
	static const char *const names[] = { "tmp", "queue", "corrupt",
	    "dmarc.sqlite", "dmarc.sqlite-wal", "dmarc.sqlite-shm" };
	char *sub;
	size_t k;

	own_dir(cfg, cfg->spool_dir);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		sub = xasprintf("%s/%s", cfg->spool_dir, names[k]);
		if (access(sub, F_OK) == 0)
			own_dir(cfg, sub);
		free(sub);
	}
}

/* master_prepare - everything that can fail before a port is bound */
int
master_prepare(struct daemon_ctx *d, char **err)
{
	const struct config *cfg = d->cfg;
	int r;

	if ((r = tls_store_load(&d->tls, cfg, err)) < 0)
		return r;
	if (cfg->passwd_file != NULL &&
	    (r = passwd_db_load(&d->passwd, cfg->passwd_file, err)) < 0)
		return r;
	if (mkdir_p(cfg->spool_dir, 0700) < 0) {
		*err = xasprintf("%s: cannot create spool directory: %m",
		    cfg->spool_dir);
		return E_IO;
	}
	if (mkdir_p(cfg->mail_dir, 0700) < 0) {
		*err = xasprintf("%s: cannot create mail directory: %m",
		    cfg->mail_dir);
		return E_IO;
	}
	if (getuid() == 0 && cfg->user != NULL) {
		if (getpwnam(cfg->user) == NULL) {
			*err = xasprintf("user %s does not exist", cfg->user);
			return E_INVAL;
		}
		own_dir(cfg, cfg->mail_dir);
		own_spool(cfg);
	}
	return 0;
}

/* open_spool - after binding: take the spool's lock (one smtpsd per
   spool), then recover it.  Recovery empties tmp/, so it must never run
   beside another instance's workers. */
static int
open_spool(struct daemon_ctx *d, char **err)
{
	const struct config *cfg = d->cfg;
	char *path = xasprintf("%s/lock", cfg->spool_dir);
	int fd, r, q;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*err = xasprintf("%s: %m", path);
		free(path);
		return E_IO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		*err = xasprintf("%s: the spool is in use by another smtpsd",
		    cfg->spool_dir);
		free(path);
		close(fd);
		return E_AGAIN;
	}
	free(path);
	/* The lock stays held while the master or any child it forked
	   (they inherit the descriptor) is alive: a new master cannot
	   recover the spool beside children still draining. */
	if ((r = spool_open(&d->spool, cfg->spool_dir)) < 0) {
		*err = xasprintf("%s: cannot open spool: %s", cfg->spool_dir,
		    err_str(r));
		return r;
	}
	if ((q = spool_recover(d->spool)) > 0)
		log_warn(NULL, "spool: %d invalid file(s) moved to %s/corrupt",
		    q, cfg->spool_dir);
	if (getuid() == 0 && cfg->user != NULL)
		own_spool(cfg);
	return 0;
}

/*
 * set_scheduling - the CPU policy of a child (and of every thread it starts
 * later).  "scheduling batch", the default, runs workers and the queue
 * manager under SCHED_BATCH: same nice value and fair share of the CPU,
 * but a child woken by a packet or a finished fsync does not preempt the
 * task that is running; it runs when that task blocks or its slice ends
 * (noticed at a tick), and then finds more work ready.  With every core
 * busy, a reply can wait a few ms more; docs/PERFORMANCE.md ("CPU
 * scheduling") has the figures.  Called before the privilege drop, so a
 * master started under SCHED_IDLE can still leave it.  Failure is not
 * fatal: the child keeps the policy it inherited.
 */
static void
set_scheduling(const struct config *cfg)
{
	struct sched_param sp = { .sched_priority = 0 };
	int policy;

	if (cfg->sched == CONFIG_SCHED_INHERIT)
		return;
	policy = cfg->sched == CONFIG_SCHED_BATCH ? SCHED_BATCH : SCHED_OTHER;
	if (sched_getscheduler(0) == policy)
		return;
	if (sched_setscheduler(0, policy, &sp) < 0)
		log_warn(NULL, "cannot set scheduling %s: %m",
		    config_sched_name(cfg->sched));
}

static int qmgr_pipe[2] = { -1, -1 };
static unsigned generation;

/* spawn - fork a child of the given kind into children[slot] */
static void
spawn(struct daemon_ctx *d, int slot, enum child_kind kind)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0) {
		log_err(NULL, "fork: %m");
		return;
	}
	if (pid > 0) {
		children[slot].pid = pid;
		children[slot].kind = kind;
		children[slot].generation = generation;
		children[slot].started = time(NULL);
		return;
	}
	/* the child */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	set_scheduling(d->cfg);
	if (daemon_drop_privileges(d->cfg) < 0)
		_exit(1);
	/* after the drop: a change of credentials clears it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);
	if (kind == CHILD_QMGR) {
		size_t i;

		prctl(PR_SET_NAME, "smtpsd-qmgr");
		log_set_prefix("smtpsd/qmgr");
		for (i = 0; i < d->nlisteners; i++)
			close(d->listeners[i].fd);
		close(qmgr_pipe[1]);
		_exit(qmgr_main(d, qmgr_pipe[0]));
	}
	prctl(PR_SET_NAME, "smtpsd-worker");
	log_set_prefix("smtpsd/worker");
	close(qmgr_pipe[0]);
	d->worker_slot = slot;
	d->qmgr_wake_fd = qmgr_pipe[1];
	_exit(worker_main(d));
}

static int
free_worker_slot(void)
{
	int i;

	for (i = 0; i < DAEMON_MAX_WORKERS; i++)
		if (children[i].kind == CHILD_NONE)
			return i;
	return -1;
}

static void
start_workers(struct daemon_ctx *d, int n)
{
	int i, slot;

	for (i = 0; i < n; i++) {
		if ((slot = free_worker_slot()) < 0) {
			log_err(NULL, "no free worker slot");
			return;
		}
		iplimit_clear_slot(d->iplimit, slot);
		spawn(d, slot, CHILD_WORKER);
	}
}

static int
nworkers(const struct config *cfg)
{
	long n = cfg->workers > 0 ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	if (n > DAEMON_MAX_WORKERS / 2)
		n = DAEMON_MAX_WORKERS / 2;
	return (int)n;
}

/* reload - SIGHUP: new config, keys and passwords; a new generation of
   workers takes the listeners, the old one drains */
static void
reload(struct daemon_ctx *d)
{
	struct daemon_ctx nd = *d;
	struct config *ncfg = NULL;
	char *err = NULL;
	size_t i;
	int j;

	log_info(NULL, "reloading %s", d->cfg->file);
	if (config_load(&ncfg, d->cfg->file, &err) < 0) {
		log_err(NULL, "reload failed, keeping the running settings: %s",
		    err);
		free(err);
		return;
	}
	/* --resolver outranks the file, as it did at start. */
	if (d->resolver_flag != NULL) {
		free(ncfg->resolver);
		ncfg->resolver = xstrdup(d->resolver_flag);
	}
	/* Listeners stay as bound: changing them needs a restart. */
	if (ncfg->nlistens != d->cfg->nlistens)
		log_warn(NULL, "listen changes take effect at restart");
	for (i = 0; i < ncfg->nlistens && i < d->cfg->nlistens; i++)
		if (ncfg->listens[i].port != d->cfg->listens[i].port ||
		    strcmp(ncfg->listens[i].address,
		    d->cfg->listens[i].address) != 0 ||
		    ncfg->listens[i].role != d->cfg->listens[i].role)
			log_warn(NULL, "listen changes take effect at restart");
	nd.cfg = ncfg;
	nd.tls = NULL;
	nd.passwd = NULL;
	if (tls_store_load(&nd.tls, ncfg, &err) < 0 ||
	    (ncfg->passwd_file != NULL &&
	    passwd_db_load(&nd.passwd, ncfg->passwd_file, &err) < 0)) {
		log_err(NULL, "reload failed, keeping the running settings: %s",
		    err ? err : "?");
		free(err);
		tls_store_free(nd.tls);
		passwd_db_free(nd.passwd);
		config_free(ncfg);
		return;
	}
	/* The old generation has its own copies (fork); the master's can go. */
	tls_store_free(d->tls);
	passwd_db_free(d->passwd);
	/* the new config keeps the listener array the master bound */
	config_free(d->cfg);
	d->cfg = ncfg;
	d->tls = nd.tls;
	d->passwd = nd.passwd;

	generation++;
	for (j = 0; j < DAEMON_MAX_WORKERS; j++)
		if (children[j].kind == CHILD_WORKER &&
		    children[j].generation != generation)
			kill(children[j].pid, SIGUSR1);
	start_workers(d, nworkers(d->cfg));
	if (children[QMGR_SLOT].pid > 0)
		kill(children[QMGR_SLOT].pid, SIGTERM);
	log_info(NULL, "reloaded: generation %u", generation);
}

/* reap - collect dead children; restart those still wanted */
static void
reap(struct daemon_ctx *d, bool stopping)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i <= QMGR_SLOT; i++) {
			struct child *c = &children[i];
			bool crashed;

			if (c->pid != pid)
				continue;
			crashed = !(WIFEXITED(status) &&
			    WEXITSTATUS(status) == 0);
			if (crashed || c->generation == generation || stopping)
				log_msg(crashed && !stopping ? LOG_WARN :
				    LOG_INFO, NULL,
				    "%s pid=%d exited (%s %d)",
				    c->kind == CHILD_QMGR ? "queue manager" :
				    "worker", (int)pid,
				    WIFSIGNALED(status) ? "signal" : "status",
				    WIFSIGNALED(status) ? WTERMSIG(status) :
				    WEXITSTATUS(status));
			if (c->kind == CHILD_WORKER)
				iplimit_clear_slot(d->iplimit, i);
			if (!stopping && (c->kind == CHILD_QMGR ||
			    c->generation == generation)) {
				enum child_kind k = c->kind;

				/* do not spin on a child that dies at once */
				if (time(NULL) - c->started < 1)
					sleep(1);
				c->pid = 0;
				c->kind = CHILD_NONE;
				spawn(d, i, k);
			} else {
				c->pid = 0;
				c->kind = CHILD_NONE;
			}
		}
	}
}

static bool
any_child(void)
{
	int i;

	for (i = 0; i <= QMGR_SLOT; i++)
		if (children[i].kind != CHILD_NONE)
			return true;
	return false;
}

static void
stop_all(struct daemon_ctx *d)
{
	struct timespec deadline;
	int i;

	for (i = 0; i <= QMGR_SLOT; i++)
		if (children[i].kind != CHILD_NONE)
			kill(children[i].pid, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 15;
	while (any_child()) {
		struct timespec now;

		reap(d, true);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec) {
			for (i = 0; i <= QMGR_SLOT; i++)
				if (children[i].kind != CHILD_NONE)
					kill(children[i].pid, SIGKILL);
			deadline.tv_sec += 5;
		}
		usleep(20000);
	}
}

int
master_run(struct daemon_ctx *d, bool print_banner)
{
	sigset_t set;
	char *err = NULL;
	size_t i;
	int sig, r;

	struct rlimit rl;

	/* Thousands of sessions per worker need as many descriptors as the
	   hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (master_bind(d->cfg, &d->listeners, &d->nlisteners, &err) < 0) {
		fprintf(stderr, "smtpsd: %s\n", err);
		free(err);
		return 1;
	}
	if ((r = open_spool(d, &err)) < 0) {
		fprintf(stderr, "smtpsd: %s\n", err);
		free(err);
		return 1;
	}
	if ((d->iplimit = iplimit_new()) == NULL) {
		fprintf(stderr, "smtpsd: cannot map the connection table\n");
		return 1;
	}
	if (pipe2(qmgr_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "smtpsd: pipe: %m\n");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	spawn(d, QMGR_SLOT, CHILD_QMGR);
	start_workers(d, nworkers(d->cfg));
	if (print_banner) {
		for (i = 0; i < d->nlisteners; i++)
			printf("smtpsd: listening on %s (%s)\n",
			    d->listeners[i].name,
			    d->listeners[i].role == SMTP_ROLE_MX ? "mx" :
			    d->listeners[i].role == SMTP_ROLE_SUBMISSION ?
			    "submission, STARTTLS + AUTH" :
			    "submissions, implicit TLS + AUTH");
		fflush(stdout);
	}
	if (getuid() == 0 && d->cfg->user == NULL)
		log_warn(NULL, "running as root with no \"user\" line: the "
		    "workers and the queue manager keep root privileges; "
		    "name an unprivileged user (see etc/smtpsd.conf)");
	log_info(NULL, "started pid=%d workers=%d listeners=%zu",
	    (int)getpid(), nworkers(d->cfg), d->nlisteners);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			reap(d, false);
		} else if (sig == SIGHUP) {
			reload(d);
		} else {
			log_info(NULL, "stopping (signal %d)", sig);
			stop_all(d);
			break;
		}
	}
	for (i = 0; i < d->nlisteners; i++)
		close(d->listeners[i].fd);
	free(d->listeners);
	log_info(NULL, "stopped");
	return 0;
}
