/* test_maildir - Maildir layout, exactly once, path escapes, errors */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver/maildir.h"
#include "queue/spool.h"
#include "testlib.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

static char root[64];

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

/* count_dir - entries in path; the first name in first (if given) */
static int
count_dir(const char *path, char *first, size_t firstsz)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (first)
		first[0] = '\0';
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == 0 && first)
			snprintf(first, firstsz, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* sub - root/rel */
static const char *
sub(const char *rel)
{
	static char p[1024];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return p;
}

/* is_dir - path is a directory */
static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* file_text - a file's contents (NUL-terminated, caller frees) */
static char *
file_text(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = xmalloc(65536);

	*n = 0;
	if (f != NULL) {
		*n = fread(p, 1, 65535, f);
		fclose(f);
	}
	p[*n] = '\0';
	return p;
}

static const char msg[] = "Subject: hello\r\nFrom: <a@b>\r\n\r\nline one\r\n"
    "line two\r\n";

static void
test_inbox(void)
{
	char qid[32], name[512], want[128], path[1024];
	struct stat st;
	char *text;
	size_t n;
	int64_t t;

	spool_new_id(NULL, qid);
	t = spool_id_time(qid);
	CHECK_INT(maildir_deliver(root, "Demo@Example.TEST", NULL, qid, 0, msg,
	    strlen(msg)), 0, "deliver to inbox");
	CHECK(is_dir(sub("example.test/demo/cur")), "cur/ created");
	CHECK(is_dir(sub("example.test/demo/new")), "new/ created");
	CHECK(is_dir(sub("example.test/demo/tmp")), "tmp/ created");
	CHECK(stat(sub("example.test/demo"), &st) == 0 &&
	    (st.st_mode & 0777) == 0700, "maildir mode 0700");
	CHECK_INT(count_dir(sub("example.test/demo/new"), name, sizeof(name)),
	    1, "one file in new/");
	CHECK_INT(count_dir(sub("example.test/demo/tmp"), NULL, 0), 0,
	    "tmp/ empty after delivery");
	snprintf(want, sizeof(want), "%lld.%s_0.", (long long)t, qid);
	CHECK(strncmp(name, want, strlen(want)) == 0,
	    "name starts with <time>.<queueid>_<index>.");
	snprintf(path, sizeof(path), "%s/example.test/demo/new/%s", root,
	    name);
	text = file_text(path, &n);
	CHECK_STR(text, "Subject: hello\nFrom: <a@b>\n\nline one\nline two\n",
	    "stored with LF line ends");
	snprintf(want, sizeof(want), ",S=%zu,W=%zu", n, strlen(msg));
	CHECK(strlen(name) > strlen(want) &&
	    strcmp(name + strlen(name) - strlen(want), want) == 0,
	    "name ends with ,S=<size>,W=<crlf size>");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "message mode 0600");
	free(text);

	/* Exactly once: the same queue id and index again is a no-op. */
	CHECK_INT(maildir_deliver(root, "demo@example.test", NULL, qid, 0, msg,
	    strlen(msg)), 0, "redelivery succeeds");
	CHECK_INT(count_dir(sub("example.test/demo/new"), NULL, 0), 1,
	    "redelivery makes no duplicate");
	CHECK_INT(count_dir(sub("example.test/demo/tmp"), NULL, 0), 0,
	    "redelivery leaves tmp/ empty");
	/* A crash leftover in tmp/ under the same name is replaced. */
	{
		char host[300];
		FILE *f;

		snprintf(host, sizeof(host), "%s", strchr(name, '_') + 3);
		*strchr(host, ',') = '\0';
		snprintf(path, sizeof(path),
		    "%s/example.test/demo/tmp/%lld.%s_1.%s", root,
		    (long long)t, qid, host);
		f = fopen(path, "w");
		if (f) {
			fputs("torn", f);
			fclose(f);
		}
	}
	CHECK_INT(maildir_deliver(root, "demo@example.test", NULL, qid, 1, msg,
	    strlen(msg)), 0, "second recipient index delivers");
	CHECK_INT(count_dir(sub("example.test/demo/new"), NULL, 0), 2,
	    "another index is another file");
	CHECK_INT(count_dir(sub("example.test/demo/tmp"), NULL, 0), 0,
	    "crash leftover in tmp/ replaced and removed");
}

static void
test_folder(void)
{
	char qid[32];

	spool_new_id(NULL, qid);
	CHECK_INT(maildir_deliver(root, "user@other.test", "Junk", qid, 3, msg,
	    strlen(msg)), 0, "deliver to Junk");
	CHECK_INT(count_dir(sub("other.test/user/.Junk/new"), NULL, 0), 1,
	    "Junk is the Maildir++ folder .Junk");
	CHECK(is_dir(sub("other.test/user/new")), "inbox made with folder");
	CHECK(access(sub("other.test/user/.Junk/maildirfolder"), F_OK) == 0,
	    "maildirfolder marker");
	CHECK_INT(count_dir(sub("other.test/user/new"), NULL, 0), 0,
	    "nothing in the inbox");
}

static void
test_escapes(void)
{
	static const struct {
		const char *name, *addr, *folder, *qid;
	} cases[] = {
		{ "dotdot local part", "../x@example.test", NULL, "Q1" },
		{ "slash in local", "a/b@example.test", NULL, "Q1" },
		{ "leading dot local", ".hidden@example.test", NULL, "Q1" },
		{ "dotdot inside local", "a..b@example.test", NULL, "Q1" },
		{ "dotdot domain", "a@..", NULL, "Q1" },
		{ "parent domain", "a@../etc", NULL, "Q1" },
		{ "slash in domain", "a@ex/ample", NULL, "Q1" },
		{ "leading dot domain", "a@.example", NULL, "Q1" },
		{ "empty local", "@example.test", NULL, "Q1" },
		{ "empty domain", "a@", NULL, "Q1" },
		{ "no at sign", "postmaster", NULL, "Q1" },
		{ "control char", "a\x01@example.test", NULL, "Q1" },
		{ "DEL char", "a\x7f@example.test", NULL, "Q1" },
		{ "tab in domain", "a@exa\tmple", NULL, "Q1" },
		{ "folder dotdot", "a@example.test", "..", "Q1" },
		{ "folder parent", "a@example.test", "../../x", "Q1" },
		{ "folder slash", "a@example.test", "a/b", "Q1" },
		{ "folder leading dot", "a@example.test", ".x", "Q1" },
		{ "folder empty", "a@example.test", "", "Q1" },
		{ "queue id with slash", "a@example.test", NULL, "../Q" },
		{ "queue id empty", "a@example.test", NULL, "" },
		{ "queue id with dot", "a@example.test", NULL, "Q.1" },
	};
	size_t i;
	int before = count_dir(root, NULL, 0);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(maildir_deliver(root, cases[i].addr, cases[i].folder,
		    cases[i].qid, 0, msg, strlen(msg)), E_INVAL, cases[i].name);
	CHECK_INT(count_dir(root, NULL, 0), before,
	    "refused addresses created nothing");
	{
		char p[256];

		CHECK_INT(maildir_path("/m", "Jo.Doe@MX.Example", NULL, p,
		    sizeof(p)), 0, "path for mixed case");
		CHECK_STR(p, "/m/mx.example/jo.doe", "path lower-cased");
		CHECK_INT(maildir_path("/m", "\"a@b\"@x.test", "Junk", p,
		    sizeof(p)), 0, "last @ splits the domain");
		CHECK_STR(p, "/m/x.test/\"a@b\"/.Junk", "quoted local part");
	}
}

static void
test_errors(void)
{
	char qid[32], file_root[1024], name[256];
	struct rlimit old, lim;
	char *big;
	int r;

	spool_new_id(NULL, qid);
	/* A root that is a file: ENOTDIR, a temporary (E_IO) failure. */
	snprintf(file_root, sizeof(file_root), "%s/plainfile", root);
	fclose(fopen(file_root, "w"));
	CHECK_INT(maildir_deliver(file_root, "a@example.test", NULL, qid, 0,
	    msg, strlen(msg)), E_IO, "root not a directory is E_IO");

	/* Disk full, simulated with RLIMIT_FSIZE (EFBIG). */
	big = xmalloc(100000);
	memset(big, 'y', 100000);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 8192;
	setrlimit(RLIMIT_FSIZE, &lim);
	r = maildir_deliver(root, "full@example.test", NULL, qid, 0, big,
	    100000);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_INT(r, E_NOSPACE, "file too big is E_NOSPACE");
	CHECK_INT(count_dir(sub("example.test/full/new"), NULL, 0), 0,
	    "nothing in new/ after a failed write");
	CHECK_INT(count_dir(sub("example.test/full/tmp"), NULL, 0), 0,
	    "nothing left in tmp/ after a failed write");
	/* The same delivery once there is room again. */
	CHECK_INT(maildir_deliver(root, "full@example.test", NULL, qid, 0, big,
	    100000), 0, "retry succeeds");
	CHECK_INT(count_dir(sub("example.test/full/new"), name, sizeof(name)),
	    1, "retry delivered once");
	CHECK(strstr(name, ",S=100000,W=100000") != NULL,
	    "message without CRLF stored as is");
	free(big);
}

static void
test_tickets(void)
{
	struct maildir_batch *b;
	char qids[20][32], block[1024];
	size_t t[20], tbad, tblocked, tagain, i;
	int ok = 1, r;

	/* A plain file where a Maildir should be: a temporary failure. */
	mkdir(sub("tickets.test"), 0700);
	snprintf(block, sizeof(block), "%s/tickets.test/blocked", root);
	fclose(fopen(block, "w"));
	b = maildir_batch_new(root);
	for (i = 0; i < 20; i++) {
		spool_new_id(NULL, qids[i]);
		ok &= maildir_batch_add(b, i % 2 ? "odd@tickets.test" :
		    "even@tickets.test", NULL, qids[i], 0, msg, strlen(msg),
		    &t[i]) == 0;
	}
	CHECK(ok, "tickets: twenty queued");
	CHECK_INT(count_dir(sub("tickets.test/odd/new"), NULL, 0), 0,
	    "tickets: nothing in new/ before the commit");
	CHECK_INT(maildir_batch_add(b, "../x@tickets.test", NULL, qids[0], 1,
	    msg, strlen(msg), &tbad), E_INVAL, "tickets: bad address now");
	CHECK_INT(maildir_batch_add(b, "blocked@tickets.test", NULL, qids[0],
	    2, msg, strlen(msg), &tblocked), E_IO, "tickets: blocked now");
	/* the same delivery twice in one batch is still one copy */
	CHECK_INT(maildir_batch_add(b, "odd@tickets.test", NULL, qids[1], 0,
	    msg, strlen(msg), &tagain), 0, "tickets: repeat queued");
	r = maildir_batch_commit(b);
	CHECK_INT(r, E_INVAL, "tickets: commit reports the first failure");
	ok = 1;
	for (i = 0; i < 20; i++)
		ok &= maildir_batch_result(b, t[i]) == 0;
	CHECK(ok, "tickets: twenty durable");
	CHECK_INT(maildir_batch_result(b, tbad), E_INVAL,
	    "tickets: bad address result");
	CHECK_INT(maildir_batch_result(b, tblocked), E_IO,
	    "tickets: blocked result");
	CHECK_INT(maildir_batch_result(b, tagain), 0, "tickets: repeat ok");
	CHECK_INT(maildir_batch_result(b, 999), E_INVAL, "tickets: unknown");
	CHECK_INT(count_dir(sub("tickets.test/odd/new"), NULL, 0), 10,
	    "tickets: odd has ten (no duplicate)");
	CHECK_INT(count_dir(sub("tickets.test/even/new"), NULL, 0), 10,
	    "tickets: even has ten");
	CHECK_INT(count_dir(sub("tickets.test/odd/tmp"), NULL, 0), 0,
	    "tickets: tmp/ empty after commit");
	/* An uncommitted batch leaves nothing behind when freed. */
	CHECK_INT(maildir_batch_add(b, "late@tickets.test", NULL, qids[2], 0,
	    msg, strlen(msg), &t[0]), 0, "tickets: late add");
	maildir_batch_free(b);
	CHECK_INT(count_dir(sub("tickets.test/late/tmp"), NULL, 0), 0,
	    "tickets: free removes the unsynced file");
	CHECK_INT(count_dir(sub("tickets.test/late/new"), NULL, 0), 0,
	    "tickets: and links nothing");
}

static void
test_recheck_cur(void)
{
	struct maildir_batch *b;
	char qid[32], name[512], from[1024], to[1100];

	spool_new_id(NULL, qid);
	CHECK_INT(maildir_deliver(root, "reader@example.test", NULL, qid, 0,
	    msg, strlen(msg)), 0, "cur: first delivery");
	/* The mail reader saw it: new/NAME becomes cur/NAME:2,S */
	count_dir(sub("example.test/reader/new"), name, sizeof(name));
	snprintf(from, sizeof(from), "%s/example.test/reader/new/%s", root,
	    name);
	snprintf(to, sizeof(to), "%s/example.test/reader/cur/%s:2,S", root,
	    name);
	CHECK_INT(rename(from, to), 0, "cur: reader moves it");
	b = maildir_batch_new(root);
	maildir_batch_recheck(b, true);
	CHECK_INT(maildir_batch_deliver(b, "reader@example.test", NULL, qid, 0,
	    msg, strlen(msg)), 0, "cur: repeated delivery with recheck");
	CHECK_INT(maildir_batch_commit(b), 0, "cur: commit");
	CHECK_INT(count_dir(sub("example.test/reader/new"), NULL, 0), 0,
	    "cur: no second copy in new/");
	CHECK_INT(count_dir(sub("example.test/reader/cur"), NULL, 0), 1,
	    "cur: still one copy in cur/");
	/* Another index is another delivery, even with recheck on. */
	CHECK_INT(maildir_batch_deliver(b, "reader@example.test", NULL, qid, 1,
	    msg, strlen(msg)), 0, "cur: other index");
	maildir_batch_commit(b);
	CHECK_INT(count_dir(sub("example.test/reader/new"), NULL, 0), 1,
	    "cur: other index delivered");
	maildir_batch_free(b);
}

static void
test_batch(void)
{
	struct maildir_batch *b;
	char q1[32], q2[32];
	int ok = 1;

	spool_new_id(NULL, q1);
	spool_new_id(NULL, q2);
	b = maildir_batch_new(root);
	ok &= maildir_batch_deliver(b, "x@batch.test", NULL, q1, 0, msg,
	    strlen(msg)) == 0;
	ok &= maildir_batch_deliver(b, "y@batch.test", NULL, q1, 1, msg,
	    strlen(msg)) == 0;
	ok &= maildir_batch_deliver(b, "x@batch.test", NULL, q2, 0, msg,
	    strlen(msg)) == 0;
	CHECK(ok, "batch deliveries");
	CHECK_INT(maildir_batch_commit(b), 0, "batch commit");
	CHECK_INT(maildir_batch_commit(b), 0, "empty commit");
	CHECK_INT(maildir_batch_deliver(b, "x@batch.test", "Junk/..", q2, 0,
	    msg, strlen(msg)), E_INVAL, "batch refuses bad folder");
	maildir_batch_free(b);
	maildir_batch_free(NULL);
	CHECK_INT(count_dir(sub("batch.test/x/new"), NULL, 0), 2, "x got 2");
	CHECK_INT(count_dir(sub("batch.test/y/new"), NULL, 0), 1, "y got 1");
}

int
main(void)
{
	log_set_level(LOG_ERR);
	snprintf(root, sizeof(root), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_inbox();
	test_folder();
	test_escapes();
	test_errors();
	test_batch();
	test_recheck_cur();
	test_tickets();
	rm_rf(root);
	return test_done();
}
