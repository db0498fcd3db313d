/*
 * cli/cmd_dkim.c - smtpsctl dkim: verify, sign, keygen.
 *
 *	smtpsctl dkim verify [--resolver ADDRESS[@PORT]] [--json] [--now T]
 *	    [--timeout MS] [--key-record NAME=TXT ...] [FILE]
 *	smtpsctl dkim sign --domain D --selector S --key FILE [--algorithm A]
 *	    [--canonicalization H/B] [--identity I] [--expire SECONDS]
 *	    [--no-timestamp] [--now T] [--json] [FILE]
 *	smtpsctl dkim keygen --domain D --selector S [--algorithm A]
 *	    [--bits N] [--out FILE] [--json]
 *	smtpsctl dkim bench [--seconds S] [--json]
 *
 * Messages are read from FILE or stdin; LF-only text is turned into CRLF
 * before parsing (text holding any CRLF is taken as it is).  sign --json
 * prints {"fields": [...]}, the fields to put on top, instead of the
 * signed message.  Every subcommand accepts --resolver (only verify uses
 * DNS).  --key and --selector may be given several times to sign with
 * several keys (e.g. RSA and Ed25519) in one run.  Exit status:
 * 0 when the command could do its job (whatever the verdicts), 1 on a
 * usage or input error, with a message naming the problem.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "cli/commands.h"
#include "dns/dns.h"
#include "mailauth/dkim.h"
#include "msg/canon.h"
#include "msg/header.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Messages and key files larger than this are refused. */
#define CMD_DKIM_MAX_INPUT (64u << 20)
#define CMD_DKIM_MAX_KEY_FILE (64u << 10)
#define CMD_DKIM_MAX_KEYS 8
#define CMD_DKIM_MAX_KEY_RECORDS 16
/* RFC 1035 3.3.14: a TXT character-string holds at most 255 octets. */
#define TXT_STRING_MAX 255

/* usage_error - print the problem and return the usage-error status */
static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtpsctl dkim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

/* read_all - read a file (or stdin for NULL or "-") into b */
static int
read_all(struct buf *b, const char *path, char **err)
{
	char chunk[65536];
	ssize_t n;
	int fd = 0, r = 0;

	if (path && strcmp(path, "-") != 0) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			*err = xasprintf("%s: %s", path, strerror(errno));
			return E_IO;
		}
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = xasprintf("%s: %s", path ? path : "stdin",
			    strerror(errno));
			r = E_IO;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) < 0) {
			*err = xasprintf("%s: too large", path ? path :
			    "stdin");
			r = E_LIMIT;
			break;
		}
	}
	if (fd != 0)
		close(fd);
	return r;
}

/*
 * to_crlf - the message as the parser wants it: LF-only text (a file
 * written on Unix) gets CRLF line ends; text that already holds a CRLF is
 * taken byte for byte, so a signature covers exactly what was given.
 */
static int
to_crlf(struct buf *out, const struct buf *in)
{
	if (in->len == 0)
		return 0;
	if (memmem(in->p, in->len, "\r\n", 2) != NULL)
		return buf_append(out, in->p, in->len);
	return msg_lf_to_crlf(out, in->p, in->len);
}

/* parse_ll - a non-negative decimal; false if it is not one */
static bool
parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < 0)
		return false;
	*out = v;
	return true;
}

/* json_str - write s as a JSON string (or null) */
static void
json_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ---- verify ---- */

struct key_record {
	const char *name;
	const char *txt;
};

struct lookup {
	struct dkim_verify *v;
	size_t qi;
};

/* key_cb - a DNS answer for one key query */
static void
key_cb(void *arg, const struct dns_answer *ans)
{
	struct lookup *l = arg;

	dkim_verify_dns_answer(l->v, l->qi, ans);
}

/* resolve_keys - answer every key query from --key-record or DNS */
static int
resolve_keys(struct dkim_verify *v, const char *resolver, int timeout_ms,
    const struct key_record *recs, size_t nrecs)
{
	struct dns_resolver *r = NULL;
	struct lookup *ls;
	size_t i, j, nq = dkim_verify_nqueries(v);
	char *err = NULL;
	int rc = 0;

	ls = xcalloc(nq ? nq : 1, sizeof(*ls));
	for (i = 0; i < nq; i++) {
		const char *q = dkim_verify_query(v, i);
		const char *txts[CMD_DKIM_MAX_KEY_RECORDS];
		size_t lens[CMD_DKIM_MAX_KEY_RECORDS], n = 0;

		if (nrecs == 0)
			continue;
		for (j = 0; j < nrecs; j++)
			if (strcasecmp(recs[j].name, q) == 0) {
				txts[n] = recs[j].txt;
				lens[n++] = strlen(recs[j].txt);
			}
		dkim_verify_key_answer(v, i, n ? DKIM_KEY_FOUND :
		    DKIM_KEY_NOTFOUND, txts, lens, n);
	}
	if (dkim_verify_done(v))
		goto out;
	if (dns_resolver_new(&r, resolver, &err) < 0) {
		fprintf(stderr, "smtpsctl dkim: resolver: %s\n",
		    err ? err : "cannot start");
		rc = 1;
		goto out;
	}
	if (timeout_ms > 0)
		dns_set_timeout(r, timeout_ms);
	for (i = 0; i < nq; i++) {
		ls[i].v = v;
		ls[i].qi = i;
		if (dns_query(r, dkim_verify_query(v, i), DNS_T_TXT, key_cb,
		    &ls[i]) < 0)
			dkim_verify_key_answer(v, i, DKIM_KEY_TEMPFAIL, NULL,
			    NULL, 0);
	}
	dns_resolver_wait(r);
out:
	dns_resolver_free(r);
	free(err);
	free(ls);
	return rc;
}

/* print_results - one line (or one JSON object) for the verdicts */
static void
print_results(const struct dkim_verify *v, bool json)
{
	size_t i, n = dkim_verify_nsigs(v);
	struct buf b;

	if (json) {
		printf("{\"signatures\":[");
		for (i = 0; i < n; i++) {
			const struct dkim_sig_result *s = dkim_verify_sig(v, i);

			printf("%s{\"result\":\"%s\",\"reason\":", i ? "," : "",
			    dkim_result_str(s->result));
			json_str(stdout, s->reason == DKIM_R_OK ? NULL :
			    dkim_reason_str(s->reason));
			printf(",\"domain\":");
			json_str(stdout, s->domain);
			printf(",\"selector\":");
			json_str(stdout, s->selector);
			printf(",\"identity\":");
			json_str(stdout, s->identity);
			printf(",\"algorithm\":");
			json_str(stdout, s->alg == DKIM_ALG_UNKNOWN ? NULL :
			    dkim_alg_str(s->alg));
			printf(",\"b\":");
			json_str(stdout, s->b_prefix);
			printf(",\"length\":");
			if (s->length >= 0)
				printf("%lld", s->length);
			else
				printf("null");
			printf(",\"body_partial\":%s,\"dmarc_usable\":%s,"
			    "\"testing\":%s,\"key_bits\":%u}",
			    s->body_partial ? "true" : "false",
			    s->dmarc_usable ? "true" : "false",
			    s->testing ? "true" : "false", s->key_bits);
		}
		printf("],\"result\":\"%s\"}\n", n ? "signed" : "none");
		return;
	}
	if (n == 0) {
		printf("dkim=none\n");
		return;
	}
	buf_init(&b, 1u << 20);
	for (i = 0; i < n; i++) {
		buf_reset(&b);
		dkim_verify_format(&b, dkim_verify_sig(v, i));
		printf("%s\n", buf_cstr(&b));
	}
	buf_fini(&b);
}

/* cmd_verify - smtpsctl dkim verify */
static int
cmd_verify(int argc, char **argv)
{
	struct dkim_verify_opts o = { 0 };
	struct key_record recs[CMD_DKIM_MAX_KEY_RECORDS];
	struct dkim_verify *v = NULL;
	const char *resolver = getenv("SMTPSD_RESOLVER"), *file = NULL;
	struct buf in, msg;
	size_t nrecs = 0;
	bool json = false;
	char *err = NULL;
	long long timeout_ms = 0;
	int i, rc = 1;

	if (resolver && *resolver == '\0')
		resolver = NULL;
	o.now = (long long)time(NULL);
	buf_init(&in, CMD_DKIM_MAX_INPUT);
	buf_init(&msg, CMD_DKIM_MAX_INPUT * 2);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--resolver") == 0 && i + 1 < argc)
			resolver = argv[++i];
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
			if (!parse_ll(argv[++i], &timeout_ms) ||
			    timeout_ms < 1 || timeout_ms > 600000) {
				rc = usage_error("--timeout wants milliseconds "
				    "(1 to 600000): %s", argv[i]);
				goto out;
			}
		} else if (strcmp(a, "--now") == 0 && i + 1 < argc) {
			if (!parse_ll(argv[++i], &o.now)) {
				rc = usage_error("--now: not a time: %s",
				    argv[i]);
				goto out;
			}
		} else if (strcmp(a, "--key-record") == 0 && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');

			if (eq == NULL || nrecs == CMD_DKIM_MAX_KEY_RECORDS) {
				rc = usage_error("--key-record wants "
				    "NAME=TXT: %s", argv[i]);
				goto out;
			}
			*eq = '\0';
			recs[nrecs].name = argv[i];
			recs[nrecs++].txt = eq + 1;
		} else if (a[0] == '-' && a[1] != '\0') {
			rc = usage_error("verify: unknown option or missing "
			    "value: %s", a);
			goto out;
		} else if (file == NULL)
			file = a;
		else {
			rc = usage_error("verify: one message at a time: %s",
			    a);
			goto out;
		}
	}
	if (read_all(&in, file, &err) < 0 ||
	    to_crlf(&msg, &in) < 0) {
		rc = usage_error("%s", err ? err : "message too large");
		goto out;
	}
	v = dkim_verify_new(&o);
	if (dkim_verify_message(v, msg.p ? msg.p : "", msg.len) < 0) {
		rc = usage_error("%s", "the message's header section cannot "
		    "be parsed");
		goto out;
	}
	if (resolve_keys(v, resolver, (int)timeout_ms, recs, nrecs) != 0)
		goto out;
	print_results(v, json);
	rc = 0;
out:
	dkim_verify_free(v);
	buf_fini(&in);
	buf_fini(&msg);
	free(err);
	return rc;
}

/* ---- sign ---- */

/* cmd_sign - smtpsctl dkim sign */
static int
cmd_sign(int argc, char **argv)
{
	struct dkim_sign_opts o;
	struct dkim_key *keys[CMD_DKIM_MAX_KEYS] = { 0 };
	const char *keyfiles[CMD_DKIM_MAX_KEYS], *sels[CMD_DKIM_MAX_KEYS];
	const char *file = NULL, *algname = NULL;
	size_t nkeys = 0, nsels = 0, k;
	struct buf in, msg, sigs, kb;
	long long now = (long long)time(NULL), expire = -1;
	bool stamp = true, lf_only, json = false;
	char *err = NULL;
	int i, rc = 1;

	dkim_sign_opts_init(&o);
	buf_init(&in, CMD_DKIM_MAX_INPUT);
	buf_init(&msg, CMD_DKIM_MAX_INPUT * 2);
	buf_init(&sigs, 1u << 20);
	buf_init(&kb, CMD_DKIM_MAX_KEY_FILE);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if (strcmp(a, "--domain") == 0 && has)
			o.domain = argv[++i];
		else if (strcmp(a, "--selector") == 0 && has) {
			if (nsels == CMD_DKIM_MAX_KEYS) {
				rc = usage_error("%s", "too many selectors");
				goto out;
			}
			sels[nsels++] = argv[++i];
		} else if (strcmp(a, "--key") == 0 && has) {
			if (nkeys == CMD_DKIM_MAX_KEYS) {
				rc = usage_error("%s", "too many keys");
				goto out;
			}
			keyfiles[nkeys++] = argv[++i];
		} else if (strcmp(a, "--algorithm") == 0 && has)
			algname = argv[++i];
		else if (strcmp(a, "--identity") == 0 && has)
			o.identity = argv[++i];
		else if ((strcmp(a, "--canonicalization") == 0 ||
		    strcmp(a, "-c") == 0) && has) {
			const char *c = argv[++i], *slash = strchr(c, '/');

			if (canon_mode_parse(&o.hcanon, c, slash ?
			    (size_t)(slash - c) : strlen(c)) < 0 ||
			    canon_mode_parse(&o.bcanon, slash ? slash + 1 :
			    "simple", slash ? strlen(slash + 1) : 6) < 0) {
				rc = usage_error("--canonicalization wants "
				    "simple|relaxed[/simple|relaxed]: %s", c);
				goto out;
			}
		} else if (strcmp(a, "--expire") == 0 && has) {
			if (!parse_ll(argv[++i], &expire) || expire == 0) {
				rc = usage_error("--expire wants seconds: %s",
				    argv[i]);
				goto out;
			}
		} else if (strcmp(a, "--now") == 0 && has) {
			if (!parse_ll(argv[++i], &now)) {
				rc = usage_error("--now: not a time: %s",
				    argv[i]);
				goto out;
			}
		} else if (strcmp(a, "--no-timestamp") == 0)
			stamp = false;
		else if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--resolver") == 0 && has)
			i++;	/* signing needs no DNS */
		else if (a[0] == '-' && a[1] != '\0') {
			rc = usage_error("sign: unknown option or missing "
			    "value: %s", a);
			goto out;
		} else if (file == NULL)
			file = a;
		else {
			rc = usage_error("sign: one message at a time: %s", a);
			goto out;
		}
	}
	if (o.domain == NULL || nsels == 0 || nkeys == 0) {
		rc = usage_error("%s", "sign needs --domain, --selector and "
		    "--key");
		goto out;
	}
	if (nsels != 1 && nsels != nkeys) {
		rc = usage_error("%s", "give one --selector, or one per --key");
		goto out;
	}
	for (k = 0; k < nkeys; k++) {
		buf_reset(&kb);
		if (read_all(&kb, keyfiles[k], &err) < 0) {
			rc = usage_error("%s", err);
			goto out;
		}
		if (dkim_key_load(&keys[k], kb.p ? kb.p : "", kb.len, &err) <
		    0) {
			fprintf(stderr, "smtpsctl dkim: %s: %s\n", keyfiles[k],
			    err ? err : "unusable key");
			goto out;
		}
		if (algname && dkim_alg_parse(algname, strlen(algname)) !=
		    dkim_key_alg(keys[k])) {
			fprintf(stderr, "smtpsctl dkim: %s: key is for %s, "
			    "not --algorithm %s\n", keyfiles[k],
			    dkim_alg_str(dkim_key_alg(keys[k])), algname);
			goto out;
		}
	}
	if (algname) {
		enum dkim_alg a = dkim_alg_parse(algname, strlen(algname));

		if (a != DKIM_ALG_RSA_SHA256 && a != DKIM_ALG_ED25519_SHA256) {
			rc = usage_error("--algorithm wants rsa-sha256 or "
			    "ed25519-sha256: %s", algname);
			goto out;
		}
	}
	if (read_all(&in, file, &err) < 0 ||
	    to_crlf(&msg, &in) < 0) {
		rc = usage_error("%s", err ? err : "message too large");
		goto out;
	}
	o.timestamp = stamp ? now : -1;
	o.expiration = expire > 0 ? now + expire : -1;
	for (k = 0; k < nkeys; k++) {
		int r;

		o.selector = sels[nsels == 1 ? 0 : k];
		if ((r = dkim_sign(&sigs, keys[k], &o, msg.p ? msg.p : "",
		    msg.len)) < 0) {
			fprintf(stderr, "smtpsctl dkim: cannot sign: %s\n",
			    r == E_SYNTAX ? "the message has no From field or "
			    "its header section cannot be parsed" :
			    "bad domain, selector or identity");
			goto out;
		}
	}
	if (json) {
		/* The fields to put on top, one JSON string each. */
		size_t j = 0, e;
		bool first = true;

		printf("{\"fields\":[");
		while (j < sigs.len) {
			const char *nx = memmem(sigs.p + j, sigs.len - j,
			    "\r\nDKIM-Signature:", 17);

			e = nx ? (size_t)(nx - sigs.p) : sigs.len - 2;
			sigs.p[e] = '\0';
			printf("%s", first ? "" : ",");
			json_str(stdout, sigs.p + j);
			first = false;
			j = e + 2;
		}
		printf("]}\n");
		rc = fflush(stdout) == 0 ? 0 : 1;
		goto out;
	}
	/* Write the fields in the input's own line-end style. */
	lf_only = in.len > 0 && memmem(in.p, in.len, "\r\n", 2) == NULL;
	if (lf_only) {
		size_t j;

		for (j = 0; j < sigs.len; j++)
			if (sigs.p[j] != '\r')
				putchar(sigs.p[j]);
	} else
		fwrite(sigs.p, 1, sigs.len, stdout);
	if (in.len)
		fwrite(in.p, 1, in.len, stdout);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	for (k = 0; k < CMD_DKIM_MAX_KEYS; k++)
		dkim_key_free(keys[k]);
	buf_fini(&in);
	buf_fini(&msg);
	buf_fini(&sigs);
	buf_fini(&kb);
	free(err);
	return rc;
}

/* ---- keygen ---- */

/* print_txt_strings - the record value as quoted <=255-octet strings */
static void
print_txt_strings(const char *rec)
{
	size_t n = strlen(rec), i;

	for (i = 0; i < n; i += TXT_STRING_MAX)
		printf("%s\"%.*s\"", i ? " " : "", (int)(n - i <
		    TXT_STRING_MAX ? n - i : TXT_STRING_MAX), rec + i);
}

/* cmd_keygen - smtpsctl dkim keygen */
static int
cmd_keygen(int argc, char **argv)
{
	const char *domain = NULL, *sel = NULL, *out = NULL;
	enum dkim_alg alg = DKIM_ALG_RSA_SHA256;
	struct dkim_key *key = NULL;
	struct buf pem, rec;
	long long bits = 2048;
	char *path = NULL;
	bool json = false;
	int i, fd = -1, rc = 1;

	buf_init(&pem, 1u << 20);
	buf_init(&rec, 1u << 20);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if (strcmp(a, "--domain") == 0 && has)
			domain = argv[++i];
		else if (strcmp(a, "--selector") == 0 && has)
			sel = argv[++i];
		else if (strcmp(a, "--out") == 0 && has)
			out = argv[++i];
		else if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--resolver") == 0 && has)
			i++;	/* keygen needs no DNS */
		else if (strcmp(a, "--algorithm") == 0 && has) {
			alg = dkim_alg_parse(argv[i + 1], strlen(argv[i + 1]));
			i++;
			if (alg != DKIM_ALG_RSA_SHA256 &&
			    alg != DKIM_ALG_ED25519_SHA256) {
				rc = usage_error("--algorithm wants rsa-sha256 "
				    "or ed25519-sha256: %s", argv[i]);
				goto done;
			}
		} else if (strcmp(a, "--bits") == 0 && has) {
			if (!parse_ll(argv[++i], &bits) || bits < 1024 ||
			    bits > 4096) {
				rc = usage_error("--bits wants 1024 to 4096 "
				    "(RFC 8301): %s", argv[i]);
				goto done;
			}
		} else {
			rc = usage_error("keygen: unknown option or missing "
			    "value: %s", a);
			goto done;
		}
	}
	if (domain == NULL || sel == NULL || strpbrk(domain, " \t\r\n;/") ||
	    strpbrk(sel, " \t\r\n;/") || *domain == '\0' || *sel == '\0') {
		rc = usage_error("%s", "keygen needs --domain and --selector "
		    "(no spaces, ';' or '/')");
		goto done;
	}
	path = out ? xstrdup(out) : xasprintf("%s.%s.key", sel, domain);
	if (dkim_key_generate(&key, alg, (unsigned)bits) < 0 ||
	    dkim_key_pem(key, &pem) < 0 || dkim_key_record(key, &rec) < 0) {
		fprintf(stderr, "smtpsctl dkim: key generation failed\n");
		goto done;
	}
	/* The private key is created 0600 and never replaces a file. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "smtpsctl dkim: %s: %s\n", path,
		    strerror(errno));
		goto done;
	}
	if (fchmod(fd, 0600) < 0 || write(fd, pem.p, pem.len) !=
	    (ssize_t)pem.len || fsync(fd) < 0) {
		fprintf(stderr, "smtpsctl dkim: %s: %s\n", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		goto done;
	}
	close(fd);
	if (json) {
		printf("{\"key_file\":");
		json_str(stdout, path);
		printf(",\"algorithm\":\"%s\",\"bits\":%u,\"name\":\"%s."
		    "_domainkey.%s\",\"value\":", dkim_alg_str(alg),
		    dkim_key_bits(key), sel, domain);
		json_str(stdout, buf_cstr(&rec));
		printf("}\n");
	} else {
		printf("; private key written to %s (mode 0600)\n", path);
		printf("%s._domainkey.%s. IN TXT ( ", sel, domain);
		print_txt_strings(buf_cstr(&rec));
		printf(" )\n");
	}
	rc = 0;
done:
	dkim_key_free(key);
	buf_fini(&pem);
	buf_fini(&rec);
	free(path);
	return rc;
}

/* ---- bench ---- */

/*
 * The bench measures four operations per key: smtpsd's DKIM sign and
 * verify of a 4 KiB message, and the raw OpenSSL sign and verify of a
 * 32-byte digest on a context set up once (what `openssl speed` times).
 * They take turns in slices of BENCH_SLICE seconds for the whole run, so
 * a change in the host's speed or load falls on all four alike, and
 * each is timed in CPU time of this thread (openssl speed divides by CPU
 * time too), so waiting for the CPU is not counted.  Signatures are made
 * over BENCH_MESSAGES different messages and digests, taken in turn:
 * Ed25519 verification time depends on the signature a little (about
 * +-2%), and one fixed signature on each side would bias the ratio.
 */
#define BENCH_SLICE 0.05
#define BENCH_MESSAGES 16
/* The clock is read after a batch of operations that takes about this
   long (reading CLOCK_THREAD_CPUTIME_ID is a system call). */
#define BENCH_BATCH 0.001

struct bench {
	struct dkim_key *k;
	struct dkim_sign_opts o;
	struct buf msg[BENCH_MESSAGES];		/* unsigned */
	struct buf signed_msg[BENCH_MESSAGES];
	struct buf sig, rec;
	const char *txt;			/* the key record */
	size_t tl;
	EVP_PKEY *priv, *pub;
	EVP_MD_CTX *ed_sign, *ed_verify;	/* Ed25519, set up once */
	EVP_PKEY_CTX *rsa_sign, *rsa_verify;	/* RSA, set up once */
	unsigned char digest[BENCH_MESSAGES][32];
	unsigned char rawsig[BENCH_MESSAGES][512];
	size_t rawsig_len[BENCH_MESSAGES];
	unsigned char out[512];
	size_t next;				/* message or digest to use */
	size_t failed;				/* verifications not passed */
};

/* thread_cpu - CPU seconds this thread has used */
static double
thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* bench_message - message i, 4 KiB in the usual shape */
static void
bench_message(struct buf *m, size_t i)
{
	buf_printf(m, "From: Alice <alice@example.com>\r\n"
	    "To: Bob <bob@example.net>\r\nSubject: benchmark message\r\n"
	    "Date: Sat, 28 Nov 2026 01:00:00 +0000\r\n"
	    "Message-ID: <bench-%02zu@example.com>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n", i);
	while (m->len < 4096)
		buf_append_str(m, "The quick brown fox jumps over the lazy "
		    "dog;  and again\r\n");
}

/* op_dkim_sign - one DKIM-Signature field for the next message */
static int
op_dkim_sign(struct bench *b)
{
	struct buf *m = &b->msg[b->next++ % BENCH_MESSAGES];

	buf_reset(&b->sig);
	return dkim_sign(&b->sig, b->k, &b->o, m->p, m->len);
}

/* op_dkim_verify - verify the next signed message, key record at hand */
static int
op_dkim_verify(struct bench *b)
{
	struct buf *m = &b->signed_msg[b->next++ % BENCH_MESSAGES];
	struct dkim_verify_opts vo = { .now = b->o.timestamp };
	struct dkim_verify *v = dkim_verify_new(&vo);

	dkim_verify_message(v, m->p, m->len);
	if (dkim_verify_nqueries(v) == 1)
		dkim_verify_key_answer(v, 0, DKIM_KEY_FOUND, &b->txt, &b->tl,
		    1);
	if (dkim_verify_nsigs(v) != 1 ||
	    dkim_verify_sig(v, 0)->result != DKIM_RESULT_PASS)
		b->failed++;
	dkim_verify_free(v);
	return 0;
}

/* op_raw_sign - OpenSSL signs the next digest */
static int
op_raw_sign(struct bench *b)
{
	const unsigned char *d = b->digest[b->next++ % BENCH_MESSAGES];
	size_t len = sizeof(b->out);

	if (b->ed_sign)
		return EVP_DigestSign(b->ed_sign, b->out, &len, d, 32) == 1 ?
		    0 : E_INVAL;
	return EVP_PKEY_sign(b->rsa_sign, b->out, &len, d, 32) == 1 ? 0 :
	    E_INVAL;
}

/* op_raw_verify - OpenSSL verifies the next digest's signature */
static int
op_raw_verify(struct bench *b)
{
	size_t i = b->next++ % BENCH_MESSAGES;
	int r;

	if (b->ed_verify)
		r = EVP_DigestVerify(b->ed_verify, b->rawsig[i],
		    b->rawsig_len[i], b->digest[i], 32);
	else
		r = EVP_PKEY_verify(b->rsa_verify, b->rawsig[i],
		    b->rawsig_len[i], b->digest[i], 32);
	if (r != 1)
		b->failed++;
	return 0;
}

static const struct {
	const char *name;
	int (*run)(struct bench *);
} bench_ops[] = {
	{ "sign", op_dkim_sign },
	{ "verify", op_dkim_verify },
	{ "raw_sign", op_raw_sign },
	{ "raw_verify", op_raw_verify },
};
#define BENCH_NOPS (sizeof(bench_ops) / sizeof(bench_ops[0]))

/* bench_raw_keys - the same key as OpenSSL objects, contexts set up once
   (private key for signing, public key alone for verifying) */
static int
bench_raw_keys(struct bench *b, enum dkim_alg alg)
{
	struct buf pem;
	unsigned char *der = NULL;
	const unsigned char *q;
	BIO *bio;
	int n, rc = E_INVAL;

	buf_init(&pem, 1u << 16);
	if (dkim_key_pem(b->k, &pem) < 0 ||
	    (bio = BIO_new_mem_buf(pem.p, (int)pem.len)) == NULL)
		goto out;
	b->priv = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (b->priv == NULL || (n = i2d_PUBKEY(b->priv, &der)) <= 0)
		goto out;
	q = der;
	if ((b->pub = d2i_PUBKEY(NULL, &q, n)) == NULL)
		goto out;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		if ((b->ed_sign = EVP_MD_CTX_new()) == NULL ||
		    (b->ed_verify = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestSignInit(b->ed_sign, NULL, NULL, NULL,
		    b->priv) != 1 ||
		    EVP_DigestVerifyInit(b->ed_verify, NULL, NULL, NULL,
		    b->pub) != 1)
			goto out;
	} else {
		if ((b->rsa_sign = EVP_PKEY_CTX_new(b->priv, NULL)) == NULL ||
		    (b->rsa_verify = EVP_PKEY_CTX_new(b->pub, NULL)) == NULL ||
		    EVP_PKEY_sign_init(b->rsa_sign) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(b->rsa_sign,
		    RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(b->rsa_sign,
		    EVP_sha256()) != 1 ||
		    EVP_PKEY_verify_init(b->rsa_verify) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(b->rsa_verify,
		    RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(b->rsa_verify,
		    EVP_sha256()) != 1)
			goto out;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	buf_fini(&pem);
	return rc;
}

/* bench_setup - key, messages, their signatures, the raw digests */
static int
bench_setup(struct bench *b, enum dkim_alg alg)
{
	size_t i;

	buf_init(&b->sig, 1u << 20);
	buf_init(&b->rec, 1u << 16);
	for (i = 0; i < BENCH_MESSAGES; i++) {
		buf_init(&b->msg[i], 1u << 20);
		buf_init(&b->signed_msg[i], 1u << 20);
	}
	if (dkim_key_generate(&b->k, alg, 2048) < 0 ||
	    dkim_key_record(b->k, &b->rec) < 0 || bench_raw_keys(b, alg) < 0)
		return E_INVAL;
	b->txt = buf_cstr(&b->rec);
	b->tl = b->rec.len;
	dkim_sign_opts_init(&b->o);
	b->o.domain = "example.com";
	b->o.selector = "bench";
	b->o.timestamp = (long long)time(NULL);
	for (i = 0; i < BENCH_MESSAGES; i++) {
		bench_message(&b->msg[i], i);
		b->next = i;
		if (op_dkim_sign(b) < 0)
			return E_INVAL;
		buf_append(&b->signed_msg[i], b->sig.p, b->sig.len);
		buf_append(&b->signed_msg[i], b->msg[i].p, b->msg[i].len);
		b->next = i;
		if (RAND_bytes(b->digest[i], 32) != 1 || op_raw_sign(b) < 0)
			return E_INVAL;
		b->rawsig_len[i] = alg == DKIM_ALG_ED25519_SHA256 ? 64 :
		    (size_t)EVP_PKEY_get_size(b->priv);
		memcpy(b->rawsig[i], b->out, b->rawsig_len[i]);
	}
	b->next = 0;
	return 0;
}

/* bench_fini - release what bench_setup made */
static void
bench_fini(struct bench *b)
{
	size_t i;

	dkim_key_free(b->k);
	EVP_PKEY_free(b->priv);
	EVP_PKEY_free(b->pub);
	EVP_MD_CTX_free(b->ed_sign);
	EVP_MD_CTX_free(b->ed_verify);
	EVP_PKEY_CTX_free(b->rsa_sign);
	EVP_PKEY_CTX_free(b->rsa_verify);
	for (i = 0; i < BENCH_MESSAGES; i++) {
		buf_fini(&b->msg[i]);
		buf_fini(&b->signed_msg[i]);
	}
	buf_fini(&b->sig);
	buf_fini(&b->rec);
}

/* bench_slice - run one operation for about secs of CPU time, reading
   the clock once per batch; its CPU time and count are added */
static int
bench_slice(struct bench *b, size_t op, size_t batch, double secs,
    double *cpu, double *count)
{
	double t0 = thread_cpu(), t;
	size_t i, n = 0;

	do {
		for (i = 0; i < batch; i++)
			if (bench_ops[op].run(b) < 0)
				return E_INVAL;
		n += batch;
	} while ((t = thread_cpu()) - t0 < secs);
	*cpu += t - t0;
	*count += (double)n;
	return 0;
}

/* bench_one - the four rates for one key, interleaved over secs each */
static int
bench_one(enum dkim_alg alg, double secs, bool json, bool first)
{
	struct bench b;
	double cpu[BENCH_NOPS], count[BENCH_NOPS], rate[BENCH_NOPS], c, t;
	size_t batch[BENCH_NOPS], op, done;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	memset(cpu, 0, sizeof(cpu));
	memset(count, 0, sizeof(count));
	if (bench_setup(&b, alg) < 0) {
		fprintf(stderr, "smtpsctl dkim: bench: setting up %s failed\n",
		    dkim_alg_str(alg));
		goto out;
	}
	/* A batch per operation that takes about BENCH_BATCH; this also
	   warms the caches (not counted). */
	for (op = 0; op < BENCH_NOPS; op++) {
		batch[op] = 1;
		for (;;) {
			c = 0;
			t = 0;
			if (bench_slice(&b, op, batch[op], 0, &t, &c) < 0)
				goto fail;
			if (t >= BENCH_BATCH || batch[op] >= 1u << 20)
				break;
			batch[op] *= 2;
		}
	}
	do {
		for (op = 0; op < BENCH_NOPS; op++)
			if (bench_slice(&b, op, batch[op], BENCH_SLICE, &cpu[op],
			    &count[op]) < 0)
				goto fail;
		for (op = 0, done = 0; op < BENCH_NOPS; op++)
			done += cpu[op] >= secs;
	} while (done < BENCH_NOPS);
	if (b.failed) {
		fprintf(stderr, "smtpsctl dkim: bench: %zu verifications "
		    "failed\n", b.failed);
		goto out;
	}
	for (op = 0; op < BENCH_NOPS; op++)
		rate[op] = count[op] / cpu[op];
	if (json)
		printf("%s{\"algorithm\":\"%s\",\"bits\":%u,"
		    "\"message_bytes\":%zu,\"messages\":%d,"
		    "\"clock\":\"thread_cpu\",\"sign_per_s\":%.0f,"
		    "\"verify_per_s\":%.0f,\"raw_sign_per_s\":%.0f,"
		    "\"raw_verify_per_s\":%.0f,\"sign_vs_raw\":%.4f,"
		    "\"verify_vs_raw\":%.4f}", first ? "" : ",",
		    dkim_alg_str(alg), dkim_key_bits(b.k), b.msg[0].len,
		    BENCH_MESSAGES, rate[0], rate[1], rate[2], rate[3],
		    rate[0] / rate[2], rate[1] / rate[3]);
	else
		printf("%-15s %4u bits  sign %8.0f/s  verify %8.0f/s  "
		    "(%zu-byte message, key record already fetched)\n"
		    "%-15s %4s       raw %8.0f/s         %8.0f/s  "
		    "(OpenSSL on a 32-byte digest)\n"
		    "%-15s %4s    smtpsd/raw %6.1f%%          %6.1f%%  "
		    "(per CPU second, interleaved)\n",
		    dkim_alg_str(alg), dkim_key_bits(b.k), rate[0], rate[1],
		    b.msg[0].len, "", "", rate[2], rate[3], "", "",
		    100 * rate[0] / rate[2], 100 * rate[1] / rate[3]);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "smtpsctl dkim: bench: %s %s failed\n",
	    dkim_alg_str(alg), bench_ops[op].name);
out:
	bench_fini(&b);
	return rc;
}

/* cmd_bench - smtpsctl dkim bench [--seconds S] [--json]: sign and
   verify rates on one core, the numbers make bench compares */
static int
cmd_bench(int argc, char **argv)
{
	long long secs = 2;
	bool json = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--resolver") == 0 && i + 1 < argc)
			i++;
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (!parse_ll(argv[++i], &secs) || secs < 1 ||
			    secs > 600)
				return usage_error("--seconds wants 1 to 600: "
				    "%s", argv[i]);
		} else
			return usage_error("bench: unknown option or missing "
			    "value: %s", argv[i]);
	}
	if (json)
		printf("{\"results\":[");
	if (bench_one(DKIM_ALG_RSA_SHA256, (double)secs, json, true) != 0 ||
	    bench_one(DKIM_ALG_ED25519_SHA256, (double)secs, json, false) != 0)
		return 1;
	if (json)
		printf("]}\n");
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int, char **);
} subcommands[] = {
	{ "verify", cmd_verify },
	{ "sign", cmd_sign },
	{ "keygen", cmd_keygen },
	{ "bench", cmd_bench },
};

/* cmd_dkim - smtpsctl dkim SUBCOMMAND ... */
int
cmd_dkim(int argc, char **argv)
{
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
		    i++)
			if (strcmp(argv[1], subcommands[i].name) == 0)
				return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: smtpsctl dkim verify [--resolver "
	    "ADDRESS[@PORT]] [--json] [FILE]\n"
	    "       smtpsctl dkim sign --domain D --selector S --key FILE "
	    "[--algorithm A] [--canonicalization relaxed/relaxed] [FILE]\n"
	    "       smtpsctl dkim keygen --domain D --selector S "
	    "[--algorithm rsa-sha256|ed25519-sha256] [--bits 2048] "
	    "[--out FILE]\n"
	    "       smtpsctl dkim bench [--seconds 2] [--json]\n");
	return 1;
}
