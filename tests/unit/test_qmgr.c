/* test_qmgr - queue manager: local delivery, remote kept, retries, listing */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deliver/maildir.h"
#include "queue/qmgr.h"
#include "queue/spool.h"
#include "testlib.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

static char root[64];
static int64_t clock_now = 1764291600;

/* rm_rf - remove a test tree */
static void
rm_rf(const char *path)
{
	DIR *d;
	struct dirent *de;
	char sub[1024];

	if ((d = opendir(path)) == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

/* count - entries in root/rel (-1 if missing) */
static int
count(const char *rel)
{
	char path[1024];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* is_local - the test's local domains */
static bool
is_local(void *arg, const char *domain)
{
	return strcasecmp(domain, "example.test") == 0 ||
	    strcasecmp(domain, "localhost") == 0;
}

/* folder_hook - spam* recipients go to Junk (the later filter's hook) */
static const char *
folder_hook(void *arg, const struct spool_message *m, size_t i)
{
	return strncmp(m->env.rcpts[i], "spam", 4) == 0 ? "Junk" : NULL;
}

/* test_clock - the clock the tests move */
static int64_t
test_clock(void *arg)
{
	return clock_now;
}

/* setup - a fresh spool and manager under root/name */
static struct qmgr *
setup(const char *name, struct spool **sp, char *maildir, size_t mdsz)
{
	struct qmgr_params p;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s-spool", root, name);
	snprintf(maildir, mdsz, "%s/%s-mail", root, name);
	if (spool_open(sp, dir) < 0)
		return NULL;
	memset(&p, 0, sizeof(p));
	p.mail_dir = maildir;
	p.is_local = is_local;
	p.folder = folder_hook;
	p.now = test_clock;
	p.retry_min = 10;
	p.retry_max = 40;
	p.batch = 4;
	return qmgr_new_params(*sp, &p);
}

/* queue_msg - commit one message for these recipients */
static int
queue_msg(struct spool *sp, const char *from, char **rcpts, size_t n,
    const char *text, char id[32])
{
	struct spool_envelope env;
	struct spool_entry e, *ep = &e;
	const void *parts[1] = { text };
	size_t lens[1] = { strlen(text) };
	int r;

	memset(&env, 0, sizeof(env));
	env.mail_from = (char *)from;
	env.rcpts = rcpts;
	env.nrcpts = n;
	env.helo = "client.test";
	env.client_ip = "127.0.0.1";
	env.protocol = "ESMTPS";
	env.arrival = clock_now;
	if ((r = spool_write(sp, &env, parts, lens, 1, &e)) < 0)
		return r;
	if ((r = spool_sync(&e)) < 0)
		return r;
	r = spool_publish(sp, &ep, 1);
	if (id)
		memcpy(id, e.id, 32);
	return r;
}

/* queued - files in the spool's queue/ */
static int
queued(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "%s-spool/queue", name);
	return count(rel);
}

static void
test_local(void)
{
	struct spool *sp;
	struct qmgr *q;
	char md[512], text[64];
	char *r1[] = { "demo@example.test" };
	unsigned dl = 99, df = 99;
	int i, ok = 1;

	q = setup("local", &sp, md, sizeof(md));
	CHECK(q != NULL, "local: setup");
	if (q == NULL)
		return;
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "Subject: %d\r\n\r\nbody %d\r\n",
		    i, i);
		ok &= queue_msg(sp, "s@remote.example", r1, 1, text, NULL) == 0;
	}
	CHECK(ok, "local: ten messages queued");
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "local: run");
	CHECK_INT(dl, 10, "local: ten delivered (over three batches)");
	CHECK_INT(df, 0, "local: none deferred");
	CHECK_INT(queued("local"), 0, "local: spool empty after delivery");
	CHECK_INT(count("local-mail/example.test/demo/new"), 10,
	    "local: ten files in the Maildir");
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "local: second run");
	CHECK_INT(dl + df, 0, "local: second run has nothing to do");
	qmgr_free(q);
	spool_close(sp);
}

static void
test_remote_and_partial(void)
{
	struct spool *sp;
	struct qmgr *q;
	struct spool_message m;
	char md[512], id1[32], id2[32], id3[32];
	char *remote[] = { "bob@remote.example" };
	char *mixed[] = { "demo@example.test", "bob@remote.example",
	    "Carol@EXAMPLE.test", "spam-trap@localhost" };
	char *bad[] = { "../evil@example.test", "eve@remote.example" };
	unsigned dl, df;

	q = setup("mixed", &sp, md, sizeof(md));
	CHECK(q != NULL, "mixed: setup");
	if (q == NULL)
		return;
	CHECK_INT(queue_msg(sp, "demo@example.test", remote, 1, "r\r\n", id1),
	    0, "queue remote-only");
	CHECK_INT(queue_msg(sp, "demo@example.test", mixed, 4, "m\r\n", id2),
	    0, "queue mixed");
	CHECK_INT(queue_msg(sp, "demo@example.test", bad, 2, "b\r\n", id3),
	    0, "queue bad local");
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "mixed: run");
	CHECK_INT(dl, 3, "mixed: three messages done locally");
	CHECK_INT(df, 0, "mixed: none deferred");
	CHECK_INT(queued("mixed"), 3, "mixed: all three stay queued");

	CHECK_INT(spool_load(sp, id1, &m), 0, "remote-only loads");
	CHECK_INT(m.env.nrcpts, 1, "remote-only keeps its rcpt");
	CHECK_INT(m.flags, SPOOL_F_LOCAL_DONE, "remote-only marked local done");
	CHECK(m.msg_len == 3 && memcmp(m.msg, "r\r\n", 3) == 0,
	    "remote-only message intact");
	spool_message_fini(&m);

	CHECK_INT(spool_load(sp, id2, &m), 0, "partial loads");
	CHECK_INT(m.env.nrcpts, 1, "partial: only the remote rcpt kept");
	CHECK_STR(m.env.nrcpts ? m.env.rcpts[0] : NULL, "bob@remote.example",
	    "partial: kept the right rcpt");
	CHECK(m.rcpt_status == NULL, "partial: remote rcpt pending");
	spool_message_fini(&m);
	CHECK_INT(count("mixed-mail/example.test/demo/new"), 1,
	    "partial: demo got it");
	CHECK_INT(count("mixed-mail/example.test/carol/new"), 1,
	    "partial: Carol got it (path lower-cased)");
	CHECK_INT(count("mixed-mail/localhost/spam-trap/.Junk/new"), 1,
	    "partial: folder hook filed into .Junk");
	CHECK_INT(count("mixed-mail/remote.example"), -1,
	    "no Maildir for the remote domain");

	CHECK_INT(spool_load(sp, id3, &m), 0, "bad local loads");
	CHECK_INT(m.env.nrcpts, 2, "bad local: both rcpts kept");
	CHECK(m.rcpt_status && m.rcpt_status[0] == SPOOL_RCPT_FAILED &&
	    m.rcpt_status[1] == SPOOL_RCPT_PENDING,
	    "bad local: failed one marked, remote pending");
	spool_message_fini(&m);
	CHECK_INT(count("mixed-mail/evil"), -1, "no escape from the root");

	/* Parked messages are not delivered locally again. */
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "mixed: second run");
	CHECK_INT(dl + df, 0, "mixed: nothing redone");
	CHECK_INT(count("mixed-mail/example.test/demo/new"), 1,
	    "mixed: still one copy for demo");
	qmgr_free(q);
	spool_close(sp);

	/* A new manager (a restart) loads them once and leaves them. */
	q = setup("mixed", &sp, md, sizeof(md));
	CHECK(q != NULL, "restart: setup");
	if (q != NULL) {
		CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "restart: run");
		CHECK_INT(dl + df, 0, "restart: outbound mail left alone");
		CHECK_INT(count("mixed-mail/example.test/demo/new"), 1,
		    "restart: no duplicate");
		qmgr_free(q);
	}
	spool_close(sp);
}

static void
test_listing(void)
{
	struct spool *sp;
	struct qmgr *q;
	char md[512], id1[32], id2[32], path[1024];
	char *remote[] = { "bob@remote.example", "x\x01y@remote.example" };
	char *bad[] = { "a/b@example.test" };
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	FILE *f;
	int lines = 0;
	unsigned dl, df;

	q = setup("list", &sp, md, sizeof(md));
	CHECK(q != NULL, "list: setup");
	if (q == NULL)
		return;
	queue_msg(sp, "sender@example.test", remote, 2, "12345\r\n", id1);
	queue_msg(sp, "", bad, 1, "abc\r\n", id2);
	qmgr_run_once(q, &dl, &df);
	snprintf(path, sizeof(path), "%s/list-spool/queue/zz-broken", root);
	fclose(fopen(path, "w"));

	f = open_memstream(&buf, &len);
	CHECK_INT(qmgr_list(sp, f), 0, "list: returns 0");
	fclose(f);
	for (line = buf; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		lines++;
		if (strncmp(line, id1, 16) == 0)
			CHECK_STR(line + 17, "2025-11-28T01:00:00Z 7 outbound "
			    "<sender@example.test> <bob@remote.example> "
			    "<x\\x01y@remote.example>", "list: remote line");
		else if (strncmp(line, id2, 16) == 0)
			CHECK_STR(line + 17, "2025-11-28T01:00:00Z 5 outbound "
			    "<> <a/b@example.test>(failed)",
			    "list: failed rcpt line");
		else if (strncmp(line, "zz-broken", 9) == 0)
			CHECK_STR(line, "zz-broken - - corrupt",
			    "list: corrupt file line");
		else
			CHECK_STR(line, "-- 3 messages, 12 bytes",
			    "list: total line");
	}
	CHECK_INT(lines, 4, "list: one line per message and a total");
	free(buf);

	/* The manager quarantines the broken file. */
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "corrupt: run");
	CHECK_INT(count("list-spool/corrupt"), 1, "corrupt: moved to corrupt/");
	CHECK_INT(queued("list"), 2, "corrupt: the others stay");
	qmgr_free(q);
	spool_close(sp);

	/* An empty queue lists only the total. */
	q = setup("empty", &sp, md, sizeof(md));
	buf = NULL;
	f = open_memstream(&buf, &len);
	qmgr_list(sp, f);
	fclose(f);
	CHECK_STR(buf, "-- 0 messages, 0 bytes\n", "list: empty queue");
	free(buf);
	qmgr_free(q);
	spool_close(sp);
}

static void
test_retry(void)
{
	struct spool *sp;
	struct qmgr *q;
	char md[512], id[32], block[1024];
	char *rc[] = { "ok@example.test", "blocked@example.test" };
	unsigned dl, df;
	int64_t due = 0;

	q = setup("retry", &sp, md, sizeof(md));
	CHECK(q != NULL, "retry: setup");
	if (q == NULL)
		return;
	/* blocked's Maildir path is a plain file: ENOTDIR, a temporary
	   failure the admin can fix. */
	snprintf(block, sizeof(block), "%s/example.test", md);
	mkdir(md, 0700);
	mkdir(block, 0700);
	snprintf(block, sizeof(block), "%s/example.test/blocked", md);
	fclose(fopen(block, "w"));
	queue_msg(sp, "s@remote.example", rc, 2, "retry me\r\n", id);

	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "retry: run 1");
	CHECK_INT(df, 1, "retry: deferred");
	CHECK_INT(dl, 0, "retry: not delivered");
	CHECK_INT(queued("retry"), 1, "retry: still queued");
	CHECK(qmgr_next_due(q, &due), "retry: a retry is due later");
	CHECK_INT(due, clock_now + 10, "retry: first backoff retry_min");
	CHECK_INT(count("retry-mail/example.test/ok/new"), 1,
	    "retry: ok got its copy already");

	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "retry: run before due");
	CHECK_INT(dl + df, 0, "retry: not tried before it is due");

	clock_now += 10;
	qmgr_run_once(q, &dl, &df);
	CHECK_INT(df, 1, "retry: deferred again");
	qmgr_next_due(q, &due);
	CHECK_INT(due, clock_now + 20, "retry: backoff doubled");
	clock_now += 20;
	qmgr_run_once(q, &dl, &df);
	qmgr_next_due(q, &due);
	CHECK_INT(due, clock_now + 40, "retry: backoff doubled again");
	clock_now += 40;
	qmgr_run_once(q, &dl, &df);
	qmgr_next_due(q, &due);
	CHECK_INT(due, clock_now + 40, "retry: backoff capped at retry_max");

	unlink(block);
	clock_now += 40;
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "retry: run after fix");
	CHECK_INT(dl, 1, "retry: delivered after the fix");
	CHECK_INT(queued("retry"), 0, "retry: spool empty");
	CHECK_INT(count("retry-mail/example.test/blocked/new"), 1,
	    "retry: blocked got one copy");
	CHECK_INT(count("retry-mail/example.test/ok/new"), 1,
	    "retry: ok still has exactly one copy");
	CHECK(!qmgr_next_due(q, &due), "retry: nothing left to retry");
	qmgr_free(q);
	spool_close(sp);
}

static void
test_crash_redelivery(void)
{
	struct spool *sp;
	struct qmgr *q;
	struct spool_message m;
	char md[512], id[32];
	char *rc[] = { "demo@example.test" };
	unsigned dl, df;

	q = setup("crash", &sp, md, sizeof(md));
	CHECK(q != NULL, "crash: setup");
	if (q == NULL)
		return;
	queue_msg(sp, "s@remote.example", rc, 1, "once\r\n", id);
	/* As if a previous manager delivered, then died before it could
	   remove the spool file. */
	spool_load(sp, id, &m);
	CHECK_INT(maildir_deliver(md, "demo@example.test", NULL, id, 0, m.msg,
	    m.msg_len), 0, "crash: earlier delivery");
	spool_message_fini(&m);
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "crash: run");
	CHECK_INT(dl, 1, "crash: counted delivered");
	CHECK_INT(count("crash-mail/example.test/demo/new"), 1,
	    "crash: exactly one copy");
	CHECK_INT(queued("crash"), 0, "crash: spool empty");
	qmgr_free(q);

	/* Again, but the reader moved the first copy to cur/ before the
	   restarted manager ran. */
	queue_msg(sp, "s@remote.example", rc, 1, "twice?\r\n", id);
	spool_load(sp, id, &m);
	maildir_deliver(md, "demo@example.test", NULL, id, 0, m.msg,
	    m.msg_len);
	spool_message_fini(&m);
	{
		char newd[1024], curd[1024], name[512], a[2048], b[2100];
		DIR *d;
		struct dirent *de;

		snprintf(newd, sizeof(newd), "%s/example.test/demo/new", md);
		snprintf(curd, sizeof(curd), "%s/example.test/demo/cur", md);
		name[0] = '\0';
		if ((d = opendir(newd)) != NULL) {
			while ((de = readdir(d)) != NULL)
				if (strstr(de->d_name, id) != NULL)
					snprintf(name, sizeof(name), "%s",
					    de->d_name);
			closedir(d);
		}
		snprintf(a, sizeof(a), "%s/%s", newd, name);
		snprintf(b, sizeof(b), "%s/%s:2,S", curd, name);
		CHECK(name[0] && rename(a, b) == 0, "crash: reader moved it");
	}
	{
		struct qmgr_params p;

		memset(&p, 0, sizeof(p));
		p.mail_dir = md;
		p.is_local = is_local;
		p.now = test_clock;
		q = qmgr_new_params(sp, &p);	/* started after the queueing */
	}
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "crash: run after restart");
	CHECK_INT(dl, 1, "crash: counted delivered again");
	CHECK_INT(count("crash-mail/example.test/demo/new"), 1,
	    "crash: no copy added to new/");
	CHECK_INT(count("crash-mail/example.test/demo/cur"), 1,
	    "crash: the copy in cur/ is the only one");
	CHECK_INT(queued("crash"), 0, "crash: spool empty again");
	qmgr_free(q);
	spool_close(sp);
}

static void
test_disk_full(void)
{
	struct spool *sp;
	struct qmgr *q;
	char md[512], *big;
	char *rc[] = { "demo@example.test" };
	struct rlimit old, lim;
	unsigned dl = 0, df = 0;

	q = setup("full", &sp, md, sizeof(md));
	CHECK(q != NULL, "full: setup");
	if (q == NULL)
		return;
	big = xmalloc(50001);
	memset(big, 'z', 50000);
	big[50000] = '\0';
	queue_msg(sp, "s@remote.example", rc, 1, big, NULL);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	setrlimit(RLIMIT_FSIZE, &lim);
	qmgr_run_once(q, &dl, &df);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(df, 1, "full: deferred while the disk is full");
	CHECK_INT(queued("full"), 1, "full: message kept");
	CHECK_INT(count("full-mail/example.test/demo/new"), 0,
	    "full: nothing in new/");
	clock_now += 10;
	qmgr_run_once(q, &dl, &df);
	CHECK_INT(dl, 1, "full: delivered once there is room");
	CHECK_INT(queued("full"), 0, "full: spool empty");
	free(big);
	qmgr_free(q);
	spool_close(sp);
}

static void
test_config(void)
{
	struct config *cfg = NULL;
	struct spool *sp;
	struct qmgr *q;
	char *err = NULL, *text, dir[512], id[32];
	char *rc[] = { "Demo@LocalHost", "x@elsewhere.example" };
	unsigned dl = 0, df = 0;

	/* qmgr_new() takes the local domains and mail-dir from the config */
	snprintf(dir, sizeof(dir), "%s/cfg-spool", root);
	text = xasprintf("hostname mx.example.test\nspool-dir %s\n"
	    "mail-dir %s/cfg-mail\nlisten 127.0.0.1:10025 mx\n"
	    "local-domain example.test localhost\n", dir, root);
	CHECK_INT(config_load_text(&cfg, "test", text, &err), 0,
	    "config: loads");
	free(text);
	free(err);
	if (cfg == NULL || spool_open(&sp, dir) < 0)
		return;
	q = qmgr_new(sp, cfg);
	queue_msg(sp, "s@remote.example", rc, 2, "cfg\r\n", id);
	CHECK_INT(qmgr_run_once(q, &dl, &df), 0, "config: run");
	CHECK_INT(dl, 1, "config: local part done");
	CHECK_INT(count("cfg-mail/localhost/demo/new"), 1,
	    "config: delivered under mail-dir, domain from local-domain");
	CHECK_INT(queued("cfg"), 1, "config: remote rcpt stays queued");
	qmgr_free(q);
	spool_close(sp);
	config_free(cfg);
}

/* committer - child: commit messages, report each acknowledged id */
static void
committer(struct spool *sp, int fd)
{
	char *rc[] = { "u@example.test", "v@localhost", "far@remote.example" };
	char id[32];
	int i;

	for (i = 0; i < 100000; i++) {
		if (queue_msg(sp, "s@remote.example", rc, 3,
		    "Subject: crash\r\n\r\nx\r\n", id) != 0)
			continue;
		/* the 250 would go out now */
		if (write(fd, id, 16) != 16)
			break;
	}
	_exit(0);
}

/* deliverer - child: the queue manager, running until killed */
static void
deliverer(struct spool *sp, const char *md)
{
	struct qmgr_params p;
	struct qmgr *q;
	unsigned dl, df;
	int i;

	memset(&p, 0, sizeof(p));
	p.mail_dir = md;
	p.is_local = is_local;
	p.batch = 4;
	q = qmgr_new_params(sp, &p);
	for (i = 0; i < 100000; i++) {
		qmgr_run_once(q, &dl, &df);
		if (dl == 0)
			usleep(1000);
	}
	_exit(0);
}

/* copies - files for queue id in a Maildir's new/ and cur/ */
static int
copies(const char *md, const char *box, const char *id)
{
	char path[1024];
	const char *subs[] = { "new", "cur" };
	struct dirent *de;
	DIR *d;
	int n = 0, k;

	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s/%s", md, box, subs[k]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (strstr(de->d_name, id) != NULL)
				n++;
		closedir(d);
	}
	return n;
}

static void
test_kill9(void)
{
	struct spool *sp;
	struct qmgr *q;
	struct spool_message m;
	char md[512], dir[512], *acked;
	size_t nacked = 0, cap = 1 << 16, i;
	int round, fds[2], bad_u = 0, bad_v = 0, kept = 0, quarantined = 0;
	unsigned dl, df;
	pid_t c, d;
	ssize_t r;
	time_t start;

	snprintf(dir, sizeof(dir), "%s/kill-spool", root);
	snprintf(md, sizeof(md), "%s/kill-mail", root);
	acked = xmalloc(cap * 16);
	srand((unsigned)time(NULL));
	start = time(NULL);
	/* at most 8 rounds, and none started after 4 s (a loaded host) */
	for (round = 0; round < 8 && time(NULL) - start < 4; round++) {
		if (spool_open(&sp, dir) < 0)
			break;
		quarantined += spool_recover(sp);
		if (pipe(fds) < 0)
			break;
		if ((c = fork()) == 0) {
			close(fds[0]);
			committer(sp, fds[1]);
		}
		close(fds[1]);
		if ((d = fork()) == 0)
			deliverer(sp, md);
		/* let both run 50-300 ms, then pull the plug on both */
		usleep(50000 + (useconds_t)(rand() % 250000));
		kill(c, SIGKILL);
		kill(d, SIGKILL);
		waitpid(c, NULL, 0);
		waitpid(d, NULL, 0);
		while (nacked < cap &&
		    (r = read(fds[0], acked + nacked * 16, 16)) == 16)
			nacked++;
		close(fds[0]);
		spool_close(sp);
	}
	/* Restart once more and let delivery finish. */
	spool_open(&sp, dir);
	quarantined += spool_recover(sp);
	{
		struct qmgr_params p;

		memset(&p, 0, sizeof(p));
		p.mail_dir = md;
		p.is_local = is_local;
		q = qmgr_new_params(sp, &p);
		qmgr_run_once(q, &dl, &df);
		qmgr_free(q);
	}
	for (i = 0; i < nacked; i++) {
		char id[17];

		memcpy(id, acked + i * 16, 16);
		id[16] = '\0';
		if (copies(md, "example.test/u", id) != 1 ||
		    copies(md, "localhost/v", id) != 1)
			printf("kill -9: %s has %d and %d copies\n", id,
			    copies(md, "example.test/u", id),
			    copies(md, "localhost/v", id));
		bad_u += copies(md, "example.test/u", id) != 1;
		bad_v += copies(md, "localhost/v", id) != 1;
		if (spool_load(sp, id, &m) == 0) {
			kept += m.env.nrcpts == 1 &&
			    strcmp(m.env.rcpts[0], "far@remote.example") == 0 &&
			    (m.flags & SPOOL_F_LOCAL_DONE);
			spool_message_fini(&m);
		}
	}
	printf("kill -9: %d rounds, %zu messages acknowledged, %d quarantined, "
	    "%d kept for outbound, %u finished after the last restart\n",
	    round, nacked, quarantined, kept, dl);
	CHECK(nacked > 0, "kill -9: some messages were acknowledged");
	CHECK_INT(quarantined, 0, "kill -9: no committed file is corrupt");
	CHECK_INT(bad_u, 0, "kill -9: each acked message once in u's Maildir");
	CHECK_INT(bad_v, 0, "kill -9: each acked message once in v's Maildir");
	CHECK_INT(kept, (int)nacked,
	    "kill -9: each acked message kept for its remote rcpt");
	free(acked);
	spool_close(sp);
}

int
main(void)
{
	log_set_level(LOG_ERR);
	snprintf(root, sizeof(root), "/tmp/test_qmgr.XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_local();
	test_remote_and_partial();
	test_listing();
	test_retry();
	test_crash_redelivery();
	test_disk_full();
	test_config();
	test_kill9();
	qmgr_free(NULL);
	rm_rf(root);
	return test_done();
}
