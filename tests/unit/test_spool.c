/* test_spool - spool records, corruption, recovery, group publish, disk full */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue/crc32c.h"
#include "queue/spool.h"
#include "testlib.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

static char root[64];

/* rm_rf - remove a test tree (only under /tmp, made by mkdtemp) */
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

/* count_dir - entries (not . or ..) in root/sub */
static int
count_dir(const char *dir, const char *sub)
{
	char path[1024];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* read_whole - a file's bytes */
static unsigned char *
read_whole(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p;
	long sz;

	*n = 0;
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = xmalloc((size_t)sz + 1);
	*n = fread(p, 1, (size_t)sz, f);
	fclose(f);
	return p;
}

/* write_whole - create a file with these bytes */
static void
write_whole(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return;
	fwrite(p, 1, n, f);
	fclose(f);
}

/* The queue id of the last sample_image(): a version 2 checksum
   covers it. */
static char sample_id[32];

/* put_end_crc - store c as the END checksum of an n-byte image */
static void
put_end_crc(unsigned char *p, size_t n, uint32_t c)
{
	p[n - 4] = (unsigned char)(c >> 24);
	p[n - 3] = (unsigned char)(c >> 16);
	p[n - 2] = (unsigned char)(c >> 8);
	p[n - 1] = (unsigned char)c;
}

/* reseal - recompute the END checksum of an edited image */
static void
reseal(unsigned char *p, size_t n)
{
	put_end_crc(p, n, crc32c(crc32c(0, sample_id, strlen(sample_id)), p,
	    n - 9));
}

/* refused_resealed - reseal an edited image: spool_parse must refuse it,
   for the given reason unless that is NULL */
static void
refused_resealed(unsigned char *p, size_t n, const char *reason,
    const char *name)
{
	const char *why = NULL;

	reseal(p, n);
	CHECK_INT(spool_parse(p, n, sample_id, NULL, &why), E_CORRUPT, name);
	if (reason != NULL)
		CHECK_STR(why, reason, name);
}

/* make_v1 - turn an image into a version 1 one (no name in its
   checksum) */
static void
make_v1(unsigned char *p, size_t n)
{
	p[8] = 1;
	put_end_crc(p, n, crc32c(0, p, n - 9));
}

static char *rcpts2[] = { "alice@example.test", "bob@remote.example" };

/* sample_env - an envelope with every field set */
static struct spool_envelope
sample_env(void)
{
	struct spool_envelope env;

	memset(&env, 0, sizeof(env));
	env.mail_from = "sender@origin.example";
	env.rcpts = rcpts2;
	env.nrcpts = 2;
	env.helo = "client.origin.example";
	env.client_ip = "127.0.0.1";
	env.auth_user = "demo";
	env.protocol = "ESMTPSA";
	env.smtputf8 = true;
	env.body_8bit = false;
	env.arrival = 1764291600;
	return env;
}

/* commit_one - write, sync and publish one message; its id in id */
static int
commit_one(struct spool *sp, const struct spool_envelope *env,
    const char *text, char id[32])
{
	struct spool_entry e, *ep = &e;
	const void *parts[1] = { text };
	size_t lens[1] = { strlen(text) };
	int r;

	if ((r = spool_write(sp, env, parts, lens, 1, &e)) < 0)
		return r;
	if ((r = spool_sync(&e)) < 0) {
		spool_abort(sp, &e);
		return r;
	}
	r = spool_publish(sp, &ep, 1);
	memcpy(id, e.id, 32);
	return r;
}

static void
test_crc32c(void)
{
	static const struct {
		const char *name, *in;
		uint32_t want;
	} cases[] = {
		/* RFC 3720 B.4 and the common check value */
		{ "check value 123456789", "123456789", 0xE3069283u },
		{ "empty input", "", 0 },
		{ "one byte a", "a", 0xC1D04330u },
	};
	size_t i;
	uint32_t c;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(crc32c(0, cases[i].in, strlen(cases[i].in)),
		    cases[i].want, cases[i].name);
	/* 32 zero bytes: RFC 3720 B.4 gives 0x8A9136AA */
	{
		unsigned char z[32] = { 0 };
		CHECK_INT(crc32c(0, z, 32), 0x8A9136AAu, "32 zero bytes");
	}
	c = crc32c(0, "12345", 5);
	c = crc32c(c, "6789", 4);
	CHECK_INT(c, 0xE3069283u, "crc extends across calls");
}

static void
test_ids(struct spool *sp)
{
	char prev[32], id[32];
	int i, ok_valid = 1, ok_sorted = 1;
	int64_t t;
	pid_t pid;
	int fds[2], st;
	char child[32] = "";

	spool_new_id(sp, prev);
	CHECK_INT(strlen(prev), 16, "id is 16 characters");
	for (i = 0; i < 2000; i++) {
		spool_new_id(sp, id);
		if (!spool_id_is_valid(id))
			ok_valid = 0;
		if (strcmp(id, prev) <= 0)
			ok_sorted = 0;
		memcpy(prev, id, 32);
	}
	CHECK(ok_valid, "every id is valid base32hex");
	CHECK(ok_sorted, "ids strictly increase (unique, sortable by time)");
	t = spool_id_time(id);
	CHECK(t >= time(NULL) - 5 && t <= time(NULL) + 5,
	    "id encodes the current time");
	CHECK_INT(spool_id_time("not-an-id"), -1, "invalid id has no time");
	CHECK(!spool_id_is_valid("0123456789abcdef"), "lower case is invalid");
	CHECK(!spool_id_is_valid("0123456789ABCDEF0"), "17 chars invalid");
	CHECK(!spool_id_is_valid("../../etc/passwd"), "path is invalid");

	/* A forked child makes different ids even at the same instant. */
	if (pipe(fds) == 0) {
		pid = fork();
		if (pid == 0) {
			spool_new_id(sp, id);
			if (write(fds[1], id, 32) != 32)
				_exit(1);
			_exit(0);
		}
		spool_new_id(sp, id);
		if (read(fds[0], child, 32) != 32)
			child[0] = '\0';
		waitpid(pid, &st, 0);
		close(fds[0]);
		close(fds[1]);
		CHECK(spool_id_is_valid(child), "child made a valid id");
		CHECK(strcmp(child + 11, id + 11) != 0,
		    "child's id differs in the pid part");
	}
}

static void
test_round_trip(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	struct spool_entry e, *ep = &e;
	struct spool_message m;
	const char *p1 = "Received: by test\r\n", *p2 = "Subject: hi\r\n\r\n",
	    *p3 = "body line\r\n";
	const void *parts[3] = { p1, p2, p3 };
	size_t lens[3] = { strlen(p1), strlen(p2), strlen(p3) };
	char **ids;
	size_t n;
	struct stat st;

	CHECK_INT(spool_write(sp, &env, parts, lens, 3, &e), 0, "write");
	CHECK_INT(count_dir(root, "tmp"), 1, "written file is in tmp/");
	CHECK(stat(e.tmp_path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "tmp file has mode 0600 at tmp_path");
	CHECK_INT(spool_sync(&e), 0, "sync");
	CHECK_INT(spool_publish(sp, &ep, 1), 0, "publish");
	CHECK_INT(e.error, 0, "entry has no error");
	CHECK_INT(count_dir(root, "tmp"), 0, "tmp/ empty after publish");
	CHECK_INT(spool_scan(sp, &ids, &n), 0, "scan");
	CHECK_INT(n, 1, "one queued file");
	CHECK_STR(n ? ids[0] : NULL, e.id, "queued under its id");
	spool_ids_free(ids, n);

	CHECK_INT(spool_load(sp, e.id, &m), 0, "load");
	CHECK_STR(m.id, e.id, "loaded id");
	CHECK_STR(m.env.mail_from, env.mail_from, "from");
	CHECK_INT(m.env.nrcpts, 2, "rcpt count");
	CHECK_STR(m.env.nrcpts > 1 ? m.env.rcpts[1] : NULL, rcpts2[1],
	    "rcpt 2");
	CHECK_STR(m.env.helo, env.helo, "helo");
	CHECK_STR(m.env.client_ip, env.client_ip, "client");
	CHECK_STR(m.env.auth_user, env.auth_user, "auth");
	CHECK_STR(m.env.protocol, env.protocol, "proto");
	CHECK(m.env.smtputf8 && !m.env.body_8bit, "flags");
	CHECK_INT(m.env.arrival, env.arrival, "arrival");
	CHECK_INT(m.msg_len, lens[0] + lens[1] + lens[2], "message length");
	CHECK(m.msg_len == lens[0] + lens[1] + lens[2] &&
	    memcmp(m.msg, "Received: by test\r\nSubject: hi\r\n\r\n"
	    "body line\r\n", m.msg_len) == 0,
	    "message bytes are the parts in order");
	CHECK_INT(m.flags, 0, "fresh message has no state flags");
	CHECK(m.rcpt_status == NULL, "fresh message has no rcpt status");
	spool_message_fini(&m);

	/* Rewrite keeps the message, fewer recipients, state persisted. */
	CHECK_INT(spool_load(sp, e.id, &m), 0, "load for rewrite");
	free(m.env.rcpts[0]);
	m.env.rcpts[0] = m.env.rcpts[1];
	m.env.nrcpts = 1;
	m.flags = SPOOL_F_LOCAL_DONE;
	m.rcpt_status = xcalloc(1, 1);
	m.rcpt_status[0] = SPOOL_RCPT_FAILED;
	CHECK_INT(spool_rewrite(sp, &m), 0, "rewrite");
	spool_message_fini(&m);
	CHECK_INT(spool_load(sp, e.id, &m), 0, "load after rewrite");
	CHECK_INT(m.env.nrcpts, 1, "rewrite kept one rcpt");
	CHECK_STR(m.env.nrcpts ? m.env.rcpts[0] : NULL, rcpts2[1],
	    "rewrite kept the right rcpt");
	CHECK_INT(m.flags, SPOOL_F_LOCAL_DONE, "state flag persisted");
	CHECK(m.rcpt_status && m.rcpt_status[0] == SPOOL_RCPT_FAILED,
	    "rcpt status persisted");
	CHECK(m.msg_len == lens[0] + lens[1] + lens[2] &&
	    memcmp(m.msg, "Received", 8) == 0, "message kept by rewrite");
	spool_message_fini(&m);
	CHECK_INT(count_dir(root, "tmp"), 0, "rewrite leaves nothing in tmp/");

	CHECK_INT(spool_remove(sp, e.id), 0, "remove");
	CHECK_INT(count_dir(root, "queue"), 0, "queue/ empty after remove");
	CHECK_INT(spool_load(sp, e.id, &m), E_NOTFOUND, "removed is gone");

	/* Optional fields absent: read back as "" (auth as NULL). */
	env.helo = env.client_ip = env.protocol = env.auth_user = NULL;
	env.mail_from = "";
	{
		char id[32];

		CHECK_INT(commit_one(sp, &env, "x\r\n", id), 0,
		    "commit minimal envelope");
		CHECK_INT(spool_load(sp, id, &m), 0, "load minimal");
		CHECK_STR(m.env.mail_from, "", "null sender round trip");
		CHECK_STR(m.env.helo, "", "absent helo reads as empty");
		CHECK(m.env.auth_user == NULL, "absent auth reads as NULL");
		spool_message_fini(&m);
		spool_remove(sp, id);
	}
}

/* sample_image - the bytes of a small valid spool file */
static unsigned char *
sample_image(struct spool *sp, size_t *n)
{
	struct spool_envelope env = sample_env();
	char id[32], path[256];
	unsigned char *img;

	if (commit_one(sp, &env, "Subject: t\r\n\r\nhello\r\n", id) < 0)
		return NULL;
	memcpy(sample_id, id, sizeof(sample_id));
	snprintf(path, sizeof(path), "%s/queue/%s", root, id);
	img = read_whole(path, n);
	spool_remove(sp, id);
	return img;
}

/* find_rec - offset of the first record of a type, walking the image */
static size_t
find_rec(const unsigned char *p, size_t n, int type)
{
	size_t off = 0, len;

	while (off + 5 <= n) {
		if (p[off] == type)
			return off;
		len = (size_t)p[off + 1] << 24 | (size_t)p[off + 2] << 16 |
		    (size_t)p[off + 3] << 8 | p[off + 4];
		off += 5 + len;
	}
	return (size_t)-1;
}

static void
test_corruption(struct spool *sp)
{
	unsigned char *img, *c;
	size_t n, i, off;
	int all;
	const char *why;
	struct spool_message m;

	img = sample_image(sp, &n);
	CHECK(img != NULL && n > 50, "sample image");
	if (img == NULL)
		return;
	CHECK_INT(spool_parse(img, n, sample_id, NULL, NULL),
	    0, "sample image is valid");
	c = xmalloc(n);

	all = 1;
	for (i = 0; i < n; i++)
		if (spool_parse(img, i, sample_id, NULL, NULL) != E_CORRUPT) {
			printf("truncated at %zu accepted\n", i);
			all = 0;
		}
	CHECK(all, "truncated at every byte offset: rejected");

	all = 1;
	for (i = 0; i < n; i++) {
		memcpy(c, img, n);
		c[i] ^= 0x20;
		if (spool_parse(c, n, sample_id, NULL, NULL) != E_CORRUPT) {
			printf("flip at %zu accepted\n", i);
			all = 0;
		}
	}
	CHECK(all, "a flipped byte at every offset: rejected");

	/* Edits with a valid checksum: framing and semantics must reject. */
	memcpy(c, img, n);
	c[8] = 3;	/* VERSION payload, big-endian u32 at offset 5 */
	refused_resealed(c, n, "unknown version", "version 3");

	/* Version 2 binds the checksum to the file's name: the same bytes
	   under another queue id are not a message (a recycled file whose
	   new bytes were lost must not pass for the new message). */
	why = NULL;
	CHECK_INT(spool_parse(img, n, "1LGNI0FMAEE00FJH", NULL, &why),
	    E_CORRUPT, "a file under another name");
	CHECK_STR(why, "checksum mismatch", "another name reason");
	why = NULL;
	CHECK_INT(spool_parse(img, n, NULL, NULL, &why), E_CORRUPT,
	    "version 2 without a name");
	CHECK_STR(why, "no queue id to check", "no name reason");
	/* Version 1 (no name in the checksum) is still read. */
	memcpy(c, img, n);
	make_v1(c, n);
	CHECK_INT(spool_parse(c, n, NULL, NULL, NULL), 0,
	    "a version 1 file is read");
	CHECK_INT(spool_parse(c, n, "1LGNI0FMAEE00FJH", NULL, NULL), 0,
	    "a version 1 file under any name");

	memcpy(c, img, n);
	off = find_rec(c, n, 2);	/* FROM */
	c[off + 1] = 0xff;
	c[off + 2] = 0xff;
	c[off + 3] = 0xff;
	c[off + 4] = 0xf0;
	refused_resealed(c, n, "record length past the end", "huge length");

	memcpy(c, img, n);
	off = find_rec(c, n, 2);
	c[off + 5] = '\n';	/* an LF inside MAIL FROM */
	refused_resealed(c, n, NULL, "LF in from");
	c[off + 5] = '\0';
	refused_resealed(c, n, NULL, "NUL in from");
	c[off + 5] = '\r';
	refused_resealed(c, n, NULL, "CR in from");

	memcpy(c, img, n);
	off = find_rec(c, n, 4);	/* HELO */
	c[off] = 99;
	refused_resealed(c, n, NULL, "unknown record type");

	memcpy(c, img, n);
	off = find_rec(c, n, 4);
	c[off] = 2;	/* a second FROM after the RCPTs */
	refused_resealed(c, n, NULL, "record out of order");

	memcpy(c, img, n);
	c[n - 9] = 254;	/* END's type */
	refused_resealed(c, n, NULL, "no END record");

	/* A valid file followed by garbage is not a message either. */
	{
		unsigned char *g = xmalloc(n + 3);

		memcpy(g, img, n);
		memcpy(g + n, "xyz", 3);
		CHECK_INT(spool_parse(g, n + 3, sample_id, NULL, NULL),
		    E_CORRUPT,
		    "trailing bytes after END");
		free(g);
	}
	/* The padding: a whole number of blocks, only after the message. */
	CHECK(n % 4096 == 0, "a small file ends on a whole block");
	off = find_rec(img, n, 13);	/* PAD */
	CHECK(off != (size_t)-1 && off + 5 + (size_t)(img[off + 1] << 24 |
	    img[off + 2] << 16 | img[off + 3] << 8 | img[off + 4]) == n - 9,
	    "the padding runs up to END");
	if (off != (size_t)-1 && n - 9 - off - 5 >= 2) {
		size_t plen = n - 9 - off - 5;

		memcpy(c, img, n);
		c[off] = 12;	/* a second MESSAGE instead */
		refused_resealed(c, n, "message is not the last record",
		    "a record after the message that is not padding");
		memcpy(c, img, n);
		c[off + 1] = (unsigned char)((plen - 1) >> 24);
		c[off + 2] = (unsigned char)((plen - 1) >> 16);
		c[off + 3] = (unsigned char)((plen - 1) >> 8);
		/* one byte short of END */
		c[off + 4] = (unsigned char)(plen - 1);
		refused_resealed(c, n, "padding is not the last record",
		    "padding that stops before END");
		memcpy(c, img, n);
		c[off + 5 + plen / 2] = 1;
		refused_resealed(c, n, "padding is not zero",
		    "padding that is not zero");
	}
	CHECK_INT(spool_parse(img, n, sample_id, &m, NULL),
	    0, "parse into message");
	CHECK_INT(m.env.nrcpts, 2, "parsed rcpts");
	spool_message_fini(&m);
	free(c);
	free(img);
}

static void
test_envelope_refused(struct spool *sp)
{
	static const struct {
		const char *name;
		int field;	/* 0 from, 1 rcpt, 2 helo, 3 client, 4 proto */
		const char *value;
	} cases[] = {
		{ "CRLF in MAIL FROM", 0, "a@b\r\nRCPT TO:<x@y>" },
		{ "LF in RCPT", 1, "a@b\nx" },
		{ "CR in HELO", 2, "host\rname" },
		{ "LF in client", 3, "127.0.0.1\n" },
		{ "CR in protocol", 4, "ESMTP\r" },
		{ "empty RCPT", 1, "" },
	};
	struct spool_envelope env;
	struct spool_entry e;
	const void *parts[1] = { "x\r\n" };
	size_t lens[1] = { 3 }, i;
	char *rc[1];
	char longf[SPOOL_FIELD_MAX + 2];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env = sample_env();
		rc[0] = "ok@example.test";
		env.rcpts = rc;
		env.nrcpts = 1;
		switch (cases[i].field) {
		case 0: env.mail_from = (char *)cases[i].value; break;
		case 1: rc[0] = (char *)cases[i].value; break;
		case 2: env.helo = (char *)cases[i].value; break;
		case 3: env.client_ip = (char *)cases[i].value; break;
		default: env.protocol = (char *)cases[i].value; break;
		}
		CHECK_INT(spool_write(sp, &env, parts, lens, 1, &e), E_INVAL,
		    cases[i].name);
		CHECK_INT(count_dir(root, "tmp"), 0, cases[i].name);
	}
	env = sample_env();
	env.nrcpts = 0;
	CHECK_INT(spool_write(sp, &env, parts, lens, 1, &e), E_INVAL,
	    "no recipients refused");
	env = sample_env();
	memset(longf, 'a', sizeof(longf) - 1);
	longf[sizeof(longf) - 1] = '\0';
	env.helo = longf;
	CHECK_INT(spool_write(sp, &env, parts, lens, 1, &e), E_INVAL,
	    "field longer than SPOOL_FIELD_MAX refused");
	CHECK_INT(count_dir(root, "queue"), 0, "nothing queued by refusals");
}

static void
test_recover(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	char id_ok[32], id_bad[32], path[512], path2[512];
	unsigned char *img;
	size_t n;
	int r;

	CHECK_INT(commit_one(sp, &env, "one\r\n", id_ok), 0, "commit ok");
	CHECK_INT(commit_one(sp, &env, "two\r\n", id_bad), 0, "commit 2");
	/* Truncate the second (a torn write), add junk to tmp/ and queue/. */
	snprintf(path, sizeof(path), "%s/queue/%s", root, id_bad);
	img = read_whole(path, &n);
	write_whole(path, img, n - 3);
	free(img);
	snprintf(path2, sizeof(path2), "%s/tmp/leftover", root);
	write_whole(path2, "partial", 7);
	snprintf(path2, sizeof(path2), "%s/tmp/0000000000000000", root);
	write_whole(path2, "", 0);
	snprintf(path2, sizeof(path2), "%s/queue/not-a-message", root);
	write_whole(path2, "garbage garbage garbage", 23);
	snprintf(path2, sizeof(path2), "%s/queue/empty", root);
	write_whole(path2, "", 0);

	r = spool_recover(sp);
	CHECK_INT(r, 3, "recover quarantines the three bad files");
	CHECK_INT(count_dir(root, "tmp"), 0, "recover empties tmp/");
	CHECK_INT(count_dir(root, "queue"), 1, "valid file stays queued");
	CHECK_INT(count_dir(root, "corrupt"), 3, "bad files in corrupt/");
	snprintf(path2, sizeof(path2), "%s/corrupt/%s", root, id_bad);
	CHECK(access(path2, F_OK) == 0, "torn file kept under its name");
	CHECK_INT(spool_recover(sp), 0, "second recover finds nothing");

	/* A name already in corrupt/ is not overwritten. */
	write_whole(path, "again", 5);
	CHECK_INT(spool_quarantine(sp, id_bad), 0, "quarantine same name");
	CHECK_INT(count_dir(root, "corrupt"), 4, "both copies kept");
	CHECK_INT(spool_quarantine(sp, "../x"), E_INVAL, "quarantine path");
	spool_remove(sp, id_ok);
}

static void
test_group_publish(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	struct spool_entry ents[5], *ep[5];
	const void *parts[1] = { "msg\r\n" };
	size_t lens[1] = { 5 }, i;
	struct spool_message m;
	uint64_t ren0, sync0, ren1, sync1;
	int ok = 1;

	for (i = 0; i < 5; i++) {
		ep[i] = &ents[i];
		CHECK_INT(spool_write(sp, &env, parts, lens, 1, &ents[i]), 0,
		    "batch write");
	}
	ents[2].error = E_IO;	/* as if its write had failed */
	CHECK_INT(spool_sync_batch(sp, ep, 5), E_IO,
	    "sync batch returns the entry's error");
	ok = 1;
	for (i = 0; i < 5; i++)
		if (i != 2 && ents[i].error != 0)
			ok = 0;
	CHECK(ok, "sync batch: the other four synced");
	CHECK_INT(ents[2].error, E_IO, "sync batch leaves a failed entry");
	spool_counters(sp, &ren0, &sync0);
	CHECK_INT(spool_publish(sp, ep, 5), E_IO, "batch returns the error");
	spool_counters(sp, &ren1, &sync1);
	CHECK_INT(ren1 - ren0, 4, "batch: four renames");
	CHECK_INT(sync1 - sync0, 1, "batch: one directory fsync for all");
	for (i = 0; i < 5; i++) {
		if (i == 2)
			continue;
		if (ents[i].error != 0 || spool_load(sp, ents[i].id, &m) != 0)
			ok = 0;
		else
			spool_message_fini(&m);
	}
	CHECK(ok, "the four good entries are published");
	CHECK_INT(ents[2].error, E_IO, "failed entry keeps its error");
	CHECK_INT(spool_load(sp, ents[2].id, &m), E_NOTFOUND,
	    "failed entry not in queue/");
	CHECK_INT(count_dir(root, "tmp"), 0, "failed entry removed from tmp/");
	{
		char *ids[5];
		size_t k = 0;

		for (i = 0; i < 5; i++)
			if (i != 2)
				ids[k++] = ents[i].id;
		CHECK_INT(spool_remove_batch(sp, ids, k), 0, "remove batch");
	}
	CHECK_INT(count_dir(root, "queue"), 0, "batch removed");

	/* spool_abort removes an unpublished file. */
	CHECK_INT(spool_write(sp, &env, parts, lens, 1, &ents[0]), 0, "w");
	spool_abort(sp, &ents[0]);
	CHECK_INT(count_dir(root, "tmp"), 0, "abort removes tmp file");
}

struct pub_arg {
	struct spool *sp;
	int fails;
};

/* publisher - a worker thread committing 25 messages one by one */
static void *
publisher(void *arg)
{
	struct pub_arg *a = arg;
	struct spool_envelope env = sample_env();
	char id[32];
	int i;

	for (i = 0; i < 25; i++)
		if (commit_one(a->sp, &env, "threaded\r\n", id) != 0)
			a->fails++;
	return NULL;
}

static void
test_concurrent_publish(struct spool *sp)
{
	pthread_t t[4];
	struct pub_arg a[4];
	char **ids;
	size_t n, i;
	int fails = 0, bad = 0;
	struct spool_message m;
	uint64_t ren0, sync0, ren1, sync1;

	spool_counters(sp, &ren0, &sync0);
	for (i = 0; i < 4; i++) {
		a[i].sp = sp;
		a[i].fails = 0;
		pthread_create(&t[i], NULL, publisher, &a[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		fails += a[i].fails;
	}
	CHECK_INT(fails, 0, "concurrent commits all succeed");
	spool_counters(sp, &ren1, &sync1);
	CHECK_INT(ren1 - ren0, 100, "threads: 100 renames");
	CHECK(sync1 - sync0 >= 1 && sync1 - sync0 <= 100,
	    "threads: at most one directory fsync per publish");
	printf("group commit: 100 publishes from 4 threads, %llu dir fsyncs\n",
	    (unsigned long long)(sync1 - sync0));
	CHECK_INT(spool_scan(sp, &ids, &n), 0, "scan after threads");
	CHECK_INT(n, 100, "100 distinct files from 4 threads");
	for (i = 0; i < n; i++) {
		if (spool_load(sp, ids[i], &m) != 0)
			bad++;
		else
			spool_message_fini(&m);
	}
	CHECK_INT(bad, 0, "every concurrent file is valid");
	spool_remove_batch(sp, ids, n);
	spool_ids_free(ids, n);
}

static void
test_write_named(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	struct spool_entry a, b, *ep = &a;
	struct spool_message m;
	const void *parts[1] = { "named\r\n" };
	size_t lens[1] = { 7 };
	char id[32];

	spool_new_id(sp, id);
	CHECK_INT(spool_write_named(sp, id, &env, parts, lens, 1, &a), 0,
	    "named write");
	CHECK_STR(a.id, id, "named entry keeps the id");
	CHECK_INT(spool_write_named(sp, id, &env, parts, lens, 1, &b), E_IO,
	    "the same id twice is E_IO");
	spool_abort(sp, &b);	/* must not remove the first writer's file */
	CHECK_INT(count_dir(root, "tmp"), 1, "first file untouched");
	CHECK_INT(spool_sync(&a), 0, "named sync");
	CHECK_INT(spool_publish(sp, &ep, 1), 0, "named publish");
	CHECK_INT(spool_load(sp, id, &m), 0, "named load");
	CHECK(m.msg_len == 7 && memcmp(m.msg, "named\r\n", 7) == 0,
	    "named content");
	spool_message_fini(&m);
	CHECK_INT(spool_write_named(sp, "../../etc/x", &env, parts, lens, 1,
	    &b), E_INVAL, "named write refuses a path");
	CHECK_INT(b.error, E_INVAL, "entry error set for a bad id");
	spool_remove(sp, id);
	CHECK_INT(count_dir(root, "tmp") + count_dir(root, "queue"), 0,
	    "nothing left");
}

static void
test_disk_full(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	struct spool_entry e;
	struct rlimit old, lim;
	char *big;
	const void *parts[1];
	size_t lens[1];
	int r;

	/* RLIMIT_FSIZE makes the write fail with EFBIG the way a full disk
	   fails with ENOSPC: both are "no space" to the spool. */
	big = xmalloc(65536);
	memset(big, 'x', 65536);
	parts[0] = big;
	lens[0] = 65536;
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0, "lower RLIMIT_FSIZE");
	r = spool_write(sp, &env, parts, lens, 1, &e);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK_INT(r, E_NOSPACE, "write past the limit is E_NOSPACE");
	CHECK_INT(e.error, E_NOSPACE, "entry error set");
	CHECK_INT(count_dir(root, "tmp"), 0, "nothing half-written in tmp/");
	CHECK_INT(count_dir(root, "queue"), 0, "nothing in queue/");
	signal(SIGXFSZ, SIG_DFL);
	free(big);
}

/* inode_of - the inode number of root/sub/name, 0 if absent */
static ino_t
inode_of(const char *sub, const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", root, sub, name);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* test_recycle - a delivered file goes to free/, the next commit writes
   over it (shorter content cut to length, never the old bytes), a big one
   is unlinked, and recovery empties free/ */
static void
test_recycle(struct spool *sp)
{
	struct spool_envelope env = sample_env();
	struct spool_message m;
	char id1[32], id2[32], id3[32], big_id[32], *big;
	char *ids[1];
	ino_t ino;
	size_t i, blen = 300 * 1024;
	char longtext[4096];

	CHECK(spool_recover(sp) >= 0, "recycle: recover first");
	CHECK_INT(count_dir(root, "free"), 0, "recycle: free/ starts empty");
	/* A long message, delivered: its file waits in free/. */
	for (i = 0; i + 1 < sizeof(longtext); i++)
		longtext[i] = (char)('a' + i % 26);
	longtext[sizeof(longtext) - 1] = '\0';
	CHECK_INT(commit_one(sp, &env, longtext, id1), 0, "recycle: commit");
	ino = inode_of("queue", id1);
	ids[0] = id1;
	CHECK_INT(spool_remove_batch(sp, ids, 1), 0, "recycle: remove");
	CHECK_INT(inode_of("queue", id1), 0, "recycle: gone from queue/");
	CHECK(ino != 0 && inode_of("free", id1) == ino,
	    "recycle: the same file is in free/");

	/* The next commit takes it back and writes over it. */
	CHECK_INT(commit_one(sp, &env, "short\r\n", id2), 0,
	    "recycle: commit again");
	CHECK(inode_of("queue", id2) == ino, "recycle: the file was reused");
	CHECK_INT(count_dir(root, "free"), 0, "recycle: free/ empty again");
	CHECK_INT(spool_load(sp, id2, &m), 0, "recycle: reused file loads");
	CHECK(m.msg_len == 7 && memcmp(m.msg, "short\r\n", 7) == 0,
	    "recycle: only the new message, cut to length");
	spool_message_fini(&m);

	/* What is not a plain file in free/ (a symlink, a FIFO that would
	   block an open for writing, a directory) is left alone. */
	{
		char path[1024], target[64];
		ssize_t tl;

		snprintf(path, sizeof(path), "%s/free/zzlink", root);
		CHECK_INT(symlink("/etc/passwd", path), 0, "recycle: symlink");
		snprintf(path, sizeof(path), "%s/free/zzfifo", root);
		CHECK_INT(mkfifo(path, 0600), 0, "recycle: fifo");
		snprintf(path, sizeof(path), "%s/free/zzdir", root);
		CHECK_INT(mkdir(path, 0700), 0, "recycle: dir");
		snprintf(path, sizeof(path), "%s/free/zzdir/x", root);
		write_whole(path, "x", 1);
		CHECK_INT(commit_one(sp, &env, "after link\r\n", id3), 0,
		    "recycle: commit past a symlink, a FIFO and a directory");
		CHECK(inode_of("queue", id3) != 0, "recycle: committed");
		CHECK_INT(count_dir(root, "free"), 3,
		    "recycle: the three are still in free/");
		snprintf(path, sizeof(path), "%s/free/zzlink", root);
		tl = readlink(path, target, sizeof(target) - 1);
		CHECK(tl == 11 && memcmp(target, "/etc/passwd", 11) == 0,
		    "recycle: the symlink is untouched");
		unlink(path);
		snprintf(path, sizeof(path), "%s/free/zzfifo", root);
		unlink(path);
		snprintf(path, sizeof(path), "%s/free/zzdir/x", root);
		unlink(path);
		snprintf(path, sizeof(path), "%s/free/zzdir", root);
		rmdir(path);
	}

	/* A file over the size cap is unlinked, not kept. */
	big = xmalloc(blen + 1);
	memset(big, 'x', blen);
	big[blen] = '\0';
	CHECK_INT(commit_one(sp, &env, big, big_id), 0, "recycle: big commit");
	free(big);
	ids[0] = big_id;
	CHECK_INT(spool_remove_batch(sp, ids, 1), 0, "recycle: big remove");
	CHECK_INT(inode_of("free", big_id), 0, "recycle: big file unlinked");

	/* Recovery empties free/. */
	ids[0] = id2;
	CHECK_INT(spool_remove_batch(sp, ids, 1), 0, "recycle: remove 2");
	ids[0] = id3;
	CHECK_INT(spool_remove_batch(sp, ids, 1), 0, "recycle: remove 3");
	CHECK_INT(count_dir(root, "free"), 2, "recycle: two in free/");
	CHECK(spool_recover(sp) >= 0, "recycle: recover");
	CHECK_INT(count_dir(root, "free"), 0, "recycle: recover empties free/");

	/* Disk full with recycled files waiting: they are given back, the
	   commit still fails cleanly (E_NOSPACE, 452 4.3.1 for the client),
	   and nothing half-written stays anywhere. */
	{
		struct spool_entry e;
		struct rlimit old, lim;
		const void *parts[1];
		size_t lens[1];
		int qn, r;

		CHECK_INT(commit_one(sp, &env, longtext, id1), 0,
		    "recycle: commit for full disk");
		ids[0] = id1;
		CHECK_INT(spool_remove_batch(sp, ids, 1), 0,
		    "recycle: remove for full disk");
		CHECK_INT(count_dir(root, "free"), 1, "recycle: one in free/");
		qn = count_dir(root, "queue");
		big = xmalloc(65536);
		memset(big, 'y', 65536);
		parts[0] = big;
		lens[0] = 65536;
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		lim = old;
		lim.rlim_cur = 8192;
		CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0, "lower FSIZE");
		r = spool_write(sp, &env, parts, lens, 1, &e);
		setrlimit(RLIMIT_FSIZE, &old);
		signal(SIGXFSZ, SIG_DFL);
		free(big);
		CHECK_INT(r, E_NOSPACE, "recycle: full disk is E_NOSPACE");
		CHECK_INT(count_dir(root, "tmp"), 0,
		    "recycle: nothing half-written in tmp/");
		CHECK_INT(count_dir(root, "queue"), qn,
		    "recycle: nothing new in queue/");
		CHECK_INT(count_dir(root, "free"), 0,
		    "recycle: free/ given back to the disk");
	}
}

/* fsync_path - make a file the test wrote durable (a written-over
   file's size must be, as smtpsd's own files' are) */
static void
fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* write_entry_text - spool_write one message (not yet synced) */
static int
write_entry_text(struct spool *sp, const char *text, struct spool_entry *e)
{
	struct spool_envelope env = sample_env();
	const void *parts[1] = { text };
	size_t lens[1] = { strlen(text) };

	return spool_write(sp, &env, parts, lens, 1, e);
}

/* commit_not_over - commit a message into the one file free/ holds,
   which must not be written over in place (what names that file), and
   load it back */
static void
commit_not_over(struct spool *sp, const char *text, const char *what)
{
	struct spool_entry e, *ep = &e;
	struct spool_message m;
	char name[160];

	snprintf(name, sizeof(name), "overwrite: write over %s", what);
	CHECK_INT(write_entry_text(sp, text, &e), 0, name);
	snprintf(name, sizeof(name), "overwrite: %s taken", what);
	CHECK_INT(count_dir(root, "free"), 0, name);
	snprintf(name, sizeof(name), "overwrite: %s is not written over",
	    what);
	CHECK(!e.overwrite, name);
	snprintf(name, sizeof(name), "overwrite: %s synced", what);
	CHECK_INT(spool_sync_batch(sp, &ep, 1), 0, name);
	snprintf(name, sizeof(name), "overwrite: %s published", what);
	CHECK_INT(spool_publish(sp, &ep, 1), 0, name);
	snprintf(name, sizeof(name), "overwrite: %s loads", what);
	CHECK_INT(spool_load(sp, e.id, &m), 0, name);
	spool_message_fini(&m);
}

/* retire_new - commit a message and deliver it at once: its file waits
   in free/; its size */
static off_t
retire_new(struct spool *sp, const char *text)
{
	struct spool_envelope env = sample_env();
	char id[32], path[1024], *ids[1];
	struct stat st;

	if (commit_one(sp, &env, text, id) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/queue/%s", root, id);
	if (stat(path, &st) < 0)
		return -1;
	ids[0] = id;
	if (spool_remove_batch(sp, ids, 1) < 0)
		return -1;
	return st.st_size;
}

static void
test_overwrite(struct spool *sp)
{
	struct spool_entry e[3], *ep[3] = { &e[0], &e[1], &e[2] };
	struct spool_message m;
	struct statfs fs;
	char path[1024], longtext[6000];
	bool in_place;
	size_t i;
	int fd;

	in_place = spool_writes_in_place(sp);
	/* Only ext2/3/4 and tmpfs may say yes. */
	CHECK(statfs(root, &fs) == 0 && (!in_place || fs.f_type == 0xEF53 ||
	    fs.f_type == 0x01021994), "overwrite: only where blocks stay put");
	CHECK(spool_recover(sp) >= 0, "overwrite: recover first");
	{
		struct spool_envelope env = sample_env();
		char a[32], b[32], *ids[2] = { a, b };
		struct stat st;

		CHECK_INT(commit_one(sp, &env, "Subject: a\r\n\r\nfirst\r\n",
		    a), 0, "overwrite: commit 1");
		CHECK_INT(commit_one(sp, &env, "Subject: b\r\n\r\nsecond\r\n",
		    b), 0, "overwrite: commit 2");
		snprintf(path, sizeof(path), "%s/queue/%s", root, a);
		CHECK(stat(path, &st) == 0 && st.st_size == 4096,
		    "overwrite: a small file is one block");
		CHECK_INT(spool_remove_batch(sp, ids, 2), 0,
		    "overwrite: deliver both");
	}
	CHECK_INT(count_dir(root, "free"), 2, "overwrite: two in free/");

	/* Two messages of the same size class take the two files back and
	   write over them at their size: no metadata changes, so the batch
	   needs their data written back, and the directory fsync of the
	   publish to flush it. */
	CHECK_INT(write_entry_text(sp, "Subject: c\r\n\r\nthird\r\n", &e[0]),
	    0, "overwrite: write 1");
	CHECK_INT(write_entry_text(sp, "Subject: d\r\n\r\nfourth\r\n", &e[1]),
	    0, "overwrite: write 2");
	CHECK(e[0].overwrite == in_place && e[1].overwrite == in_place,
	    in_place ? "overwrite: same-size recycled files are written over"
	    : "overwrite: not on this file system");
	/* A new file (free/ is empty now) gets its own fdatasync. */
	CHECK_INT(write_entry_text(sp, "Subject: e\r\n\r\nfifth\r\n", &e[2]),
	    0, "overwrite: write 3");
	CHECK(!e[2].overwrite, "overwrite: a new file is not an overwrite");
	CHECK_INT(spool_sync_batch(sp, ep, 3), 0, "overwrite: mixed batch synced");
	CHECK_INT(spool_publish(sp, ep, 3), 0,
	    "overwrite: mixed batch published");
	for (i = 0; i < 3; i++) {
		static const char *want[] = { "third", "fourth", "fifth" };

		CHECK_INT(spool_load(sp, e[i].id, &m), 0, "overwrite: loads");
		CHECK(m.msg_len > strlen(want[i]) + 2 && memcmp(m.msg +
		    m.msg_len - strlen(want[i]) - 2, want[i],
		    strlen(want[i])) == 0, "overwrite: the new text");
		spool_message_fini(&m);
	}
	/* A batch of overwrites alone. */
	{
		char *ids[2] = { e[0].id, e[1].id };

		CHECK_INT(spool_remove_batch(sp, ids, 2), 0,
		    "overwrite: deliver two");
	}
	CHECK_INT(write_entry_text(sp, "Subject: f\r\n\r\nsixth\r\n", &e[0]),
	    0, "overwrite: write 4");
	CHECK_INT(write_entry_text(sp, "Subject: g\r\n\r\nseventh\r\n", &e[1]),
	    0, "overwrite: write 5");
	CHECK(e[0].overwrite == in_place && e[1].overwrite == in_place,
	    "overwrite: both written over");
	CHECK_INT(spool_sync_batch(sp, ep, 2), 0, "overwrite: batch synced");
	CHECK_INT(spool_publish(sp, ep, 2), 0, "overwrite: batch published");
	CHECK_INT(spool_load(sp, e[1].id, &m), 0, "overwrite: loads again");
	spool_message_fini(&m);

	/* A recycled file of another size is cut or grown: fdatasync. */
	for (i = 0; i + 1 < sizeof(longtext); i++)
		longtext[i] = (char)('a' + i % 26);
	longtext[sizeof(longtext) - 1] = '\0';
	CHECK_INT(retire_new(sp, longtext), 8192, "overwrite: two blocks");
	CHECK_INT(write_entry_text(sp, "Subject: h\r\n\r\nshort\r\n", &e[0]),
	    0, "overwrite: write over a larger file");
	CHECK(!e[0].overwrite, "overwrite: a size change is not an overwrite");
	CHECK_INT(spool_sync_batch(sp, ep, 1), 0, "overwrite: synced");
	CHECK_INT(spool_publish(sp, ep, 1), 0, "overwrite: published");
	snprintf(path, sizeof(path), "%s/queue/%s", root, e[0].id);
	{
		struct stat st;

		CHECK(stat(path, &st) == 0 && st.st_size == 4096,
		    "overwrite: cut to one block");
	}

	/* A file in free/ with a hole (a block a write would have to
	   allocate) is never treated as an overwrite. */
	CHECK(spool_recover(sp) >= 0, "overwrite: recover empties free/");
	snprintf(path, sizeof(path), "%s/free/sparse", root);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "overwrite: sparse file");
	if (fd >= 0)
		close(fd);
	commit_not_over(sp, "Subject: i\r\n\r\nsparse\r\n",
	    "a file with a hole");

	/* An older message's image under a new name (what a crash could
	   leave if a name reached the disk before the bytes written over
	   the file): its checksum names the old id, so recovery
	   quarantines it rather than delivering the old message again. */
	{
		struct spool_envelope env = sample_env();
		char oldid[32], newid[32], from[1024], to[1024];
		unsigned char *img;
		size_t n;
		int q;

		CHECK_INT(commit_one(sp, &env, "Subject: old\r\n\r\nold\r\n",
		    oldid), 0, "overwrite: an older message");
		spool_new_id(sp, newid);
		snprintf(from, sizeof(from), "%s/queue/%s", root, oldid);
		snprintf(to, sizeof(to), "%s/queue/%s", root, newid);
		img = read_whole(from, &n);
		CHECK(img != NULL, "overwrite: read the older image");
		if (img != NULL)
			write_whole(to, img, n);
		CHECK_INT(spool_load(sp, newid, &m), E_CORRUPT,
		    "overwrite: an old image under a new name is not a message");
		q = count_dir(root, "corrupt");
		CHECK(spool_recover(sp) >= 1, "overwrite: recovery quarantines");
		CHECK_INT(count_dir(root, "corrupt"), q + 1,
		    "overwrite: the renamed image is in corrupt/");
		CHECK_INT(spool_load(sp, oldid, &m), 0,
		    "overwrite: the original still loads");
		spool_message_fini(&m);

		/* A version 1 image in free/ is never written over in place:
		   its checksum does not name its file. */
		if (img != NULL) {
			make_v1(img, n);
			snprintf(to, sizeof(to), "%s/free/v1file", root);
			write_whole(to, img, n);
			fsync_path(to);
			free(img);
		}
		commit_not_over(sp, "Subject: j\r\n\r\nafter v1\r\n",
		    "a version 1 file");
	}

	/* Leave queue/ and free/ as they were. */
	{
		char **ids;
		size_t n;

		if (spool_scan(sp, &ids, &n) == 0) {
			CHECK_INT(spool_remove_batch(sp, ids, n), 0,
			    "overwrite: clean up");
			spool_ids_free(ids, n);
		}
		CHECK(spool_recover(sp) >= 0, "overwrite: recover at the end");
	}
}

int
main(void)
{
	struct spool *sp;

	log_set_level(LOG_ERR);
	snprintf(root, sizeof(root), "/tmp/test_spool.XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	CHECK_INT(spool_open(&sp, root), 0, "open spool");
	test_crc32c();
	if (sp != NULL) {
		test_ids(sp);
		test_round_trip(sp);
		test_corruption(sp);
		test_envelope_refused(sp);
		test_recover(sp);
		test_group_publish(sp);
		test_concurrent_publish(sp);
		test_write_named(sp);
		test_recycle(sp);
		test_overwrite(sp);
		test_disk_full(sp);
		spool_close(sp);
	}
	rm_rf(root);
	return test_done();
}
