/*
 * opendkim_bench - libopendkim sign and verify rates for a 4 KiB message
 * with the key already in memory (ISC licence, part of smtpsd's benches).
 *
 * usage: opendkim_bench rsa|ed25519 KEYFILE PUBKEY-TXT SECONDS
 * KEYFILE is what dkim_sign takes as the secret key, PUBKEY-TXT the
 * key record ("v=DKIM1; k=...; p=...") the lookup callback hands back.
 * Prints: <alg> sign_per_s N verify_per_s N
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <opendkim/dkim.h>

static char keyrec[4096];
static char body[8192];
static size_t bodylen;

static const char *hdrs[] = {
	"From: Alice <alice@example.com>",
	"To: Bob <bob@example.net>",
	"Subject: benchmark message",
	"Date: Sat, 28 Nov 2026 01:00:00 +0000",
	"Message-ID: <bench@example.com>",
	"MIME-Version: 1.0",
	"Content-Type: text/plain; charset=us-ascii",
	NULL
};

/* now_s - CPU seconds of this thread (as smtpsctl dkim bench and openssl
   speed count: time spent waiting for the CPU on a busy host is left
   out) */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* key_lookup - the key is already fetched: copy it from memory */
static DKIM_CBSTAT
key_lookup(DKIM *d, DKIM_SIGINFO *s, u_char *buf, size_t len)
{
	size_t n = strlen(keyrec);

	(void)d;
	(void)s;
	if (n + 1 > len)
		return DKIM_CBSTAT_ERROR;
	memcpy(buf, keyrec, n + 1);
	return DKIM_CBSTAT_CONTINUE;
}

/* feed - headers, end of headers, body, end of message */
static DKIM_STAT
feed(DKIM *d, const char *sighdr)
{
	DKIM_STAT st;
	int i;

	if (sighdr != NULL &&
	    dkim_header(d, (u_char *)sighdr, strlen(sighdr)) != DKIM_STAT_OK)
		return DKIM_STAT_INTERNAL;
	for (i = 0; hdrs[i] != NULL; i++)
		if (dkim_header(d, (u_char *)hdrs[i], strlen(hdrs[i])) !=
		    DKIM_STAT_OK)
			return DKIM_STAT_INTERNAL;
	if ((st = dkim_eoh(d)) != DKIM_STAT_OK)
		return st;
	if ((st = dkim_body(d, (u_char *)body, bodylen)) != DKIM_STAT_OK)
		return st;
	return dkim_eom(d, NULL);
}

int
main(int argc, char **argv)
{
	DKIM_LIB *lib;
	DKIM *d;
	DKIM_STAT st;
	FILE *f;
	static char key[8192];
	static char sig[4096];
	size_t n, hl;
	dkim_alg_t alg;
	double secs, t0, t1;
	long ns = 0, nv = 0;
	u_int flags = DKIM_LIBFLAGS_FIXCRLF;

	if (argc != 5) {
		fprintf(stderr, "usage: opendkim_bench rsa|ed25519 KEYFILE "
		    "PUBKEY-TXT SECONDS\n");
		return 2;
	}
	alg = strcmp(argv[1], "ed25519") == 0 ? DKIM_SIGN_ED25519SHA256 :
	    DKIM_SIGN_RSASHA256;
	secs = strtod(argv[4], NULL);
	if ((f = fopen(argv[2], "r")) == NULL)
		return 2;
	n = fread(key, 1, sizeof(key) - 1, f);
	fclose(f);
	key[n] = '\0';
	snprintf(keyrec, sizeof(keyrec), "%s", argv[3]);
	while (bodylen + 72 < 4096 - 260) {
		memcpy(body + bodylen, "The quick brown fox jumps over the "
		    "lazy dog, again and again and again.\r\n", 72);
		bodylen += 72;
	}
	lib = dkim_init(NULL, NULL);
	dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags));
	dkim_set_key_lookup(lib, key_lookup);

	t0 = now_s();
	do {
		d = dkim_sign(lib, (u_char *)"b", NULL, (dkim_sigkey_t)key,
		    (u_char *)"bench", (u_char *)"example.com",
		    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg, -1, &st);
		if (d == NULL || feed(d, NULL) != DKIM_STAT_OK) {
			fprintf(stderr, "sign failed: %s\n", d ?
			    dkim_geterror(d) : dkim_getresultstr(st));
			return 1;
		}
		if (ns == 0) {
			memcpy(sig, "DKIM-Signature: ", 16);
			hl = 16;
			if (dkim_getsighdr(d, (u_char *)sig + hl,
			    sizeof(sig) - hl, hl) != DKIM_STAT_OK)
				return 1;
		}
		dkim_free(d);
		ns++;
	} while ((t1 = now_s()) - t0 < secs);
	ns = (long)((double)ns / (t1 - t0));

	t0 = now_s();
	do {
		d = dkim_verify(lib, (u_char *)"v", NULL, &st);
		if (d == NULL || (st = feed(d, sig)) != DKIM_STAT_OK) {
			fprintf(stderr, "verify failed: %s\n", d ?
			    dkim_geterror(d) : dkim_getresultstr(st));
			return 1;
		}
		dkim_free(d);
		nv++;
	} while ((t1 = now_s()) - t0 < secs);
	nv = (long)((double)nv / (t1 - t0));
	printf("%s sign_per_s %ld verify_per_s %ld\n", argv[1], ns, nv);
	dkim_close(lib);
	return 0;
}
