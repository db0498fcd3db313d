/* test_passwd - Dovecot-style passwd-files checked with libxcrypt */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sasl/passwd.h"
#include "testlib.h"
#include "util/err.h"

static char dir[] = "/tmp/test_passwd.XXXXXX";

/* write_file - a passwd-file with this text; returns its path (static) */
static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

/* load_text - load text as a passwd-file; err (if any) is returned */
static int
load_text(struct passwd_db **db, const char *text, char **err)
{
	return passwd_db_load(db, write_file("passwd", text), err);
}

/* make_hash - hash pass with a fresh setting for prefix at cost count */
static char *
make_hash(const char *prefix, unsigned long count, const char *pass)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;

	memset(&cd, 0, sizeof(cd));
	if (crypt_gensalt_rn(prefix, count, NULL, 0, setting,
	    sizeof(setting)) == NULL)
		return NULL;
	h = crypt_rn(pass, setting, &cd, sizeof(cd));
	return h && h[0] != '*' ? strdup(h) : NULL;
}

static void
test_generated_hashes(void)
{
	static const struct {
		const char *name, *prefix;
		unsigned long count;
	} schemes[] = {
		{ "yescrypt generated", "$y$", 0 },
		{ "bcrypt $2b$ generated", "$2b$", 4 },
		{ "sha512-crypt generated", "$6$", 0 },
	};
	struct passwd_db *db;
	char text[1024], *h, *err;
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		h = make_hash(schemes[i].prefix, schemes[i].count, "s3cret pw");
		CHECK(h != NULL, schemes[i].name);
		if (h == NULL)
			continue;
		snprintf(text, sizeof(text), "alice@example.test:%s\n", h);
		db = NULL;
		err = NULL;
		CHECK_INT(load_text(&db, text, &err), 0, schemes[i].name);
		CHECK(passwd_db_verify(db, "alice@example.test", "s3cret pw"),
		    schemes[i].name);
		CHECK(!passwd_db_verify(db, "alice@example.test", "s3cret pX"),
		    schemes[i].name);
		CHECK(!passwd_db_verify(db, "alice@example.test", ""),
		    schemes[i].name);
		CHECK(!passwd_db_verify(db, "bob@example.test", "s3cret pw"),
		    schemes[i].name);
		passwd_db_free(db);
		free(err);
		free(h);
	}
}

static void
test_passwd_hash(void)
{
	struct passwd_db *db = NULL;
	char text[512], *h, *h2, *err = NULL;

	h = passwd_hash("demo password");
	CHECK(h != NULL && strncmp(h, "$y$", 3) == 0, "passwd_hash is yescrypt");
	h2 = passwd_hash("demo password");
	CHECK(h && h2 && strcmp(h, h2) != 0, "passwd_hash salts each hash");
	snprintf(text, sizeof(text), "# demo\n\ndemo:%s\n", h ? h : "x");
	CHECK_INT(load_text(&db, text, &err), 0, "load passwd_hash output");
	CHECK(passwd_db_verify(db, "demo", "demo password"),
	    "passwd_hash output verifies");
	CHECK(!passwd_db_verify(db, "demo", "demo passwore"),
	    "passwd_hash output refuses another password");
	passwd_db_free(db);
	free(h);
	free(h2);
	free(err);
}

/* Fixed hashes of "correct horse" (sha512 one: "tr0ub4dor&3"), made once
   with Python's crypt module, so a change in how we call libxcrypt
   cannot go unnoticed. */
#define Y_HASH "$y$j9T$Q0w8mXvT2hN6cRb1sKfE./$6fk/OrsCjVED0qz.TUu/r26tTy3dnx3r7o0Zna9QPRD"
#define B_HASH "$2b$05$JLzUOS0FomyDcXphiloS7ePLoPuTMi0i2NothIGMVdirWTpjE4b5i"
#define BY_HASH "$2y$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2"
#define S_HASH "$6$rounds=5000$QpmH5JE9Ip5qfOLh$uxmC3voYUvw5JuiX2im6AYBQncpcZIP7E3nT20Yw92ZMtX0Lto1mAjRdYeKOVHL5epwuLFYPuJwkATTq3pj/80"
#define MD5_HASH "$1$glTzTIXI$MLwRo6R4WX6eWS9Tfgc9T/"

static void
test_fixed_hashes(void)
{
	static const char text[] =
	    "# Dovecot passwd-file\r\n"
	    "y1:" Y_HASH "\n"
	    "y2:{CRYPT}" Y_HASH "\n"
	    "b1:" B_HASH "\n"
	    "b2:{BLF-CRYPT}" B_HASH "\n"
	    "b3:{blf-crypt}" BY_HASH "\n"
	    "s1:" S_HASH "\n"
	    "s2:{SHA512-CRYPT}" S_HASH "::::\n"
	    "full@example.test:{CRYPT}" Y_HASH ":1000:1000::/home/full::userdb_quota_rule=*:storage=1G\n"
	    "\n"
	    "  # indented comment\n"
	    "m1:" MD5_HASH "\n"
	    "m2:{CRYPT}" MD5_HASH "\n"
	    "x1:{SHA512-CRYPT}" Y_HASH "\n"
	    "x2:{BLF-CRYPT}" S_HASH "\n"
	    "a1:{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$c2FsdHNhbHQ$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n"
	    "p1:{PLAIN}correct horse\n"
	    "p2:correct horse\n"
	    "l1:!" Y_HASH "\n"
	    "l2:*\n";
	static const struct {
		const char *user, *pass;
		bool ok;
		const char *name;
	} cases[] = {
		{ "y1", "correct horse", true, "fixed yescrypt" },
		{ "y1", "correct hors", false, "fixed yescrypt, wrong password" },
		{ "y2", "correct horse", true, "{CRYPT} yescrypt" },
		{ "b1", "correct horse", true, "fixed bcrypt $2b$" },
		{ "b1", "Correct horse", false, "fixed bcrypt, wrong password" },
		{ "b2", "correct horse", true, "{BLF-CRYPT} $2b$" },
		{ "b3", "correct horse", true, "{blf-crypt} $2y$ (any case)" },
		{ "s1", "tr0ub4dor&3", true, "fixed sha512-crypt" },
		{ "s1", "tr0ub4dor&4", false, "fixed sha512, wrong password" },
		{ "s2", "tr0ub4dor&3", true, "{SHA512-CRYPT} with extra fields" },
		{ "full@example.test", "correct horse", true,
		    "full address as user, Dovecot extra fields" },
		{ "FULL@Example.Test", "correct horse", true,
		    "user names compare case-insensitively" },
		{ "m1", "correct horse", false, "md5-crypt never matches" },
		{ "m2", "correct horse", false, "{CRYPT} md5-crypt never matches" },
		{ "x1", "correct horse", false,
		    "{SHA512-CRYPT} holding yescrypt never matches" },
		{ "x2", "tr0ub4dor&3", false,
		    "{BLF-CRYPT} holding sha512 never matches" },
		{ "a1", "correct horse", false, "{ARGON2I} never matches" },
		{ "p1", "correct horse", false, "{PLAIN} never matches" },
		{ "p2", "correct horse", false, "cleartext never matches" },
		{ "l1", "correct horse", false, "locked (!hash) never matches" },
		{ "l2", "*", false, "'*' never matches" },
		{ "nobody", "correct horse", false, "unknown user" },
		{ "", "correct horse", false, "empty user" },
		{ "y1:", "correct horse", false, "user with a colon" },
	};
	struct passwd_db *db = NULL;
	char *err = NULL;
	size_t i;

	CHECK_INT(load_text(&db, text, &err), 0, "load the fixed file");
	CHECK(err == NULL, "no error text on success");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(passwd_db_verify(db, cases[i].user, cases[i].pass),
		    cases[i].ok, cases[i].name);
	CHECK(!passwd_db_verify(db, "y1", NULL), "NULL password");
	CHECK(!passwd_db_verify(NULL, "y1", "correct horse"), "NULL db");
	passwd_db_free(db);
	passwd_db_free(NULL);
}

static void
test_malformed(void)
{
	static const struct {
		const char *name, *text, *err;
	} cases[] = {
		{ "line without a colon", "# x\nok:" Y_HASH "\njustauser\n",
		    ":3: no ':' between user and password" },
		{ "empty user name", ":" Y_HASH "\n", ":1: empty user name" },
		{ "empty password", "\n\nbob:\n", ":3: empty password for bob" },
		{ "empty password before extra fields", "bob::1000:1000\n",
		    ":1: empty password for bob" },
		{ "user listed twice", "bob:" Y_HASH "\nBob:" B_HASH "\n",
		    ":2: user Bob listed twice" },
		{ "blank in user name", "b ob:" Y_HASH "\n",
		    ":1: blank or control character in the user name" },
	};
	char want[512], path[256];
	struct passwd_db *db;
	char *err;
	size_t i;

	snprintf(path, sizeof(path), "%s/passwd", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		db = NULL;
		err = NULL;
		CHECK_INT(load_text(&db, cases[i].text, &err), E_SYNTAX,
		    cases[i].name);
		CHECK(db == NULL, cases[i].name);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].err);
		CHECK_STR(err, want, cases[i].name);
		free(err);
	}
	db = NULL;
	err = NULL;
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_INT(passwd_db_load(&db, path, &err), E_IO, "missing file");
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK_STR(err, want, "missing file is named");
	free(err);
}

static void
test_reload(void)
{
	struct passwd_db *a = NULL, *b = NULL;
	char *err = NULL;

	CHECK_INT(load_text(&a, "u:" Y_HASH "\n", &err), 0, "first load");
	CHECK_INT(load_text(&b, "v:" B_HASH "\n", &err), 0, "reload");
	CHECK(a != b, "a reload makes a new db");
	CHECK(passwd_db_verify(a, "u", "correct horse"), "old db still works");
	CHECK(!passwd_db_verify(b, "u", "correct horse"),
	    "new db lost the removed user");
	CHECK(passwd_db_verify(b, "v", "correct horse"),
	    "new db has the added user");
	passwd_db_free(a);
	passwd_db_free(b);
	CHECK_INT(load_text(&a, "", &err), 0, "an empty file loads");
	CHECK(!passwd_db_verify(a, "u", "correct horse"), "empty db says no");
	passwd_db_free(a);
}

/* verify_ns - the fastest of three verifications, in nanoseconds */
static long long
verify_ns(const struct passwd_db *db, const char *user)
{
	struct timespec a, b;
	long long best = -1, ns;
	int i;

	for (i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		(void)passwd_db_verify(db, user, "not the password");
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1000000000LL +
		    (b.tv_nsec - a.tv_nsec);
		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

/*
 * An unknown user must cost a hash like a known one, or the time of the
 * answer tells which users exist.  Without the dummy hash an unknown user
 * answers in microseconds against milliseconds for yescrypt; the bound
 * (a quarter) leaves room for a busy machine.
 */
static void
test_unknown_user_timing(void)
{
	struct passwd_db *db = NULL;
	char *err = NULL;
	long long known, unknown;

	CHECK_INT(load_text(&db, "y1:" Y_HASH "\n", &err), 0,
	    "timing: load");
	known = verify_ns(db, "y1");
	unknown = verify_ns(db, "nobody");
	CHECK(unknown * 4 >= known,
	    "unknown user costs about as much as a known one");
	passwd_db_free(db);
}

int
main(void)
{
	char path[256];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_generated_hashes();
	test_passwd_hash();
	test_fixed_hashes();
	test_malformed();
	test_reload();
	test_unknown_user_timing();
	snprintf(path, sizeof(path), "%s/passwd", dir);
	unlink(path);
	rmdir(dir);
	return test_done();
}
