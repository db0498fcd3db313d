/*
 * cli/cmd_dmarc.c - smtpsctl dmarc: SPF, DKIM and DMARC on one message,
 * printed as the Authentication-Results field the receiver would add.
 *
 *	smtpsctl dmarc --ip IP --helo NAME --mail-from ADDR
 *	    [--resolver ADDRESS[@PORT]] [--authserv-id ID]
 *	    [--discovery treewalk|psl] [--psl FILE] [--sample N] [--now T]
 *	    [--timeout MS] [--helo-check] [--json] [FILE]
 *
 * The message comes from FILE or stdin (LF line ends become CRLF).  SPF
 * (mailauth/spf.h) and DKIM (mailauth/dkim.h) run side by side on one
 * resolver; then the From domain is taken strictly (dmarc_from_domain)
 * and the DMARC machine asks for its own lookups.  --discovery picks the
 * RFC 9989 tree walk (the default) or RFC 7489 with the Public Suffix
 * List (Debian's list, or --psl FILE).  --sample fixes the pct= draw
 * (0-99; random otherwise) and --now the time DKIM checks t= and x=
 * against.  --helo-check adds the separate SPF check of the HELO name
 * (the daemon's spf-helo-check).  The resolver is --resolver, else
 * $SMTPSD_RESOLVER, else the system's.  The combination itself is
 * mailauth/inbound.h, shared with the daemon.  Exit status: 0 when the
 * checks ran (whatever they found, DNS failures included), 1 on a usage
 * or input error, with a message naming the problem.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/json.h"
#include "dns/dns.h"
#include "mailauth/authres.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/inbound.h"
#include "mailauth/psl.h"
#include "mailauth/spf.h"
#include "msg/header.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Messages larger than this are refused (ours). */
#define CMD_DMARC_MAX_INPUT (64u << 20)
#define CMD_DMARC_MAX_OUT (1u << 20)

struct dmarc_cli {
	const char *ip, *helo, *mail_from, *resolver, *authserv_id;
	const char *psl_file, *file;
	enum dmarc_discovery discovery;
	long sample;		/* -1: draw one */
	long long now;		/* -1: the clock */
	int timeout_ms;
	bool json;
	bool helo_check;
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* usage - name the problem, show the synopsis, return the usage status */
static int
usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtpsctl dmarc: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: smtpsctl dmarc --ip IP --helo NAME "
	    "--mail-from ADDR [--resolver ADDRESS[@PORT]]\n"
	    "       [--authserv-id ID] [--discovery treewalk|psl] "
	    "[--psl FILE] [--sample N]\n"
	    "       [--now T] [--timeout MS] [--helo-check] [--json] "
	    "[FILE]\n");
	return 1;
}

/* parse_num - a decimal in [lo, hi]; false if it is not one */
static bool
parse_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* parse_args - the options into c; 0 or the usage exit status */
static int
parse_args(struct dmarc_cli *c, int argc, char **argv)
{
	static const char *const valued[] = { "--ip", "--helo", "--mail-from",
	    "--resolver", "--authserv-id", "--discovery", "--psl",
	    "--sample", "--now", "--timeout" };
	long long n;
	size_t k;
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v;

		if (strcmp(o, "--json") == 0) {
			c->json = true;
			continue;
		}
		if (strcmp(o, "--helo-check") == 0) {
			c->helo_check = true;
			continue;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0)
			return usage("help");
		if (o[0] != '-' || strcmp(o, "-") == 0) {
			if (c->file != NULL)
				return usage("only one FILE");
			c->file = o;
			continue;
		}
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
			if (strcmp(o, valued[k]) == 0)
				break;
		if (k == sizeof(valued) / sizeof(valued[0]))
			return usage("unknown option '%s'", o);
		if (i + 1 >= argc)
			return usage("%s needs a value", o);
		v = argv[++i];
		if (strcmp(o, "--ip") == 0)
			c->ip = v;
		else if (strcmp(o, "--helo") == 0)
			c->helo = v;
		else if (strcmp(o, "--mail-from") == 0)
			c->mail_from = v;
		else if (strcmp(o, "--resolver") == 0)
			c->resolver = v;
		else if (strcmp(o, "--authserv-id") == 0)
			c->authserv_id = v;
		else if (strcmp(o, "--psl") == 0)
			c->psl_file = v;
		else if (strcmp(o, "--discovery") == 0) {
			if (strcmp(v, "treewalk") == 0)
				c->discovery = DMARC_DISCOVERY_TREEWALK;
			else if (strcmp(v, "psl") == 0)
				c->discovery = DMARC_DISCOVERY_PSL;
			else
				return usage("--discovery is treewalk or psl");
		} else if (strcmp(o, "--sample") == 0) {
			if (!parse_num(v, 0, 99, &n))
				return usage("--sample is 0 to 99");
			c->sample = (long)n;
		} else if (strcmp(o, "--now") == 0) {
			if (!parse_num(v, 0, (long long)1 << 40, &n))
				return usage("--now is seconds since "
				    "the epoch");
			c->now = n;
		} else if (strcmp(o, "--timeout") == 0) {
			if (!parse_num(v, 1, 600000, &n))
				return usage("--timeout is 1 to 600000 ms");
			c->timeout_ms = (int)n;
		}
	}
	if (c->ip == NULL)
		return usage("--ip is required");
	if (c->helo == NULL)
		return usage("--helo is required");
	if (c->mail_from == NULL)
		return usage("--mail-from is required (\"\" for the null "
		    "sender)");
	return 0;
}

/* read_all - FILE or stdin into b */
static int
read_all(struct buf *b, const char *path)
{
	char chunk[65536];
	ssize_t n;
	int fd = 0, r = 0;

	if (path && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "smtpsctl dmarc: %s: %s\n", path,
		    strerror(errno));
		return E_IO;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "smtpsctl dmarc: %s: %s\n",
			    path ? path : "stdin", strerror(errno));
			r = E_IO;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) < 0) {
			fprintf(stderr, "smtpsctl dmarc: %s: larger than %u "
			    "bytes\n", path ? path : "stdin",
			    CMD_DMARC_MAX_INPUT);
			r = E_LIMIT;
			break;
		}
	}
	if (fd != 0)
		close(fd);
	return r;
}

/* ---- output ---- */

/* jstr - s as a JSON string, or null, escaped by cli/json.c (RFC
   8259 7): valid UTF-8 such as a U-label domain kept, invalid bytes
   U+FFFD */
static void
jstr(struct buf *b, const char *s)
{
	struct json j;

	json_init(&j, b);
	json_str(&j, s);
}

/* print_json - one object with the same facts as the header */
static void
print_json(struct buf *o, const struct spf *s, const struct dkim_verify *v,
    const struct dmarc_verdict *d, const char *header)
{
	size_t i, n = dkim_verify_nsigs(v);

	(void)buf_append_str(o, "{\"spf\":{\"result\":");
	jstr(o, spf_result_str(spf_result(s)));
	(void)buf_append_str(o, ",\"domain\":");
	jstr(o, spf_domain(s));
	(void)buf_append_str(o, ",\"problem\":");
	jstr(o, spf_problem(s));
	(void)buf_append_str(o, "},\"dkim\":[");
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *r = dkim_verify_sig(v, i);

		(void)buf_append_str(o, i ? ",{\"result\":" : "{\"result\":");
		jstr(o, dkim_result_str(r->result));
		(void)buf_append_str(o, ",\"reason\":");
		jstr(o, r->result == DKIM_RESULT_PASS ? NULL :
		    dkim_reason_str(r->reason));
		(void)buf_append_str(o, ",\"domain\":");
		jstr(o, r->domain);
		(void)buf_append_str(o, ",\"selector\":");
		jstr(o, r->selector);
		(void)buf_printf(o, ",\"body_partial\":%s,\"dmarc_usable\":%s}",
		    r->body_partial ? "true" : "false",
		    r->dmarc_usable ? "true" : "false");
	}
	(void)buf_append_str(o, "],\"dmarc\":{\"result\":");
	jstr(o, dmarc_result_str(d->result));
	(void)buf_append_str(o, ",\"from_domain\":");
	jstr(o, *d->from_domain ? d->from_domain : NULL);
	(void)buf_append_str(o, ",\"from_domain_ascii\":");
	jstr(o, *d->from_domain_ascii ? d->from_domain_ascii : NULL);
	(void)buf_append_str(o, ",\"policy_domain\":");
	jstr(o, *d->policy_domain ? d->policy_domain : NULL);
	(void)buf_append_str(o, ",\"org_domain\":");
	jstr(o, *d->org_domain ? d->org_domain : NULL);
	(void)buf_append_str(o, ",\"policy\":");
	jstr(o, d->policy != DMARC_POLICY_UNSET ?
	    dmarc_policy_str(d->policy) : NULL);
	(void)buf_append_str(o, ",\"policy_tag\":");
	jstr(o, *d->policy_tag ? d->policy_tag : NULL);
	(void)buf_append_str(o, ",\"disposition\":");
	jstr(o, d->disposition != DMARC_POLICY_UNSET ?
	    dmarc_policy_str(d->disposition) : NULL);
	(void)buf_printf(o, ",\"spf_aligned\":%s,\"dkim_aligned\":%s,"
	    "\"sampled_out\":%s,\"reason\":", d->spf_aligned ? "true" : "false",
	    d->dkim_aligned ? "true" : "false",
	    d->sampled_out ? "true" : "false");
	jstr(o, d->reason);
	(void)buf_append_str(o, "},\"header\":");
	jstr(o, header);
	(void)buf_append_str(o, "}\n");
}

/* inbound_done - the verdicts are in */
static void
inbound_done(void *arg, struct inbound *ib)
{
	*(bool *)arg = true;
}

/* cmd_dmarc - see the top of the file */
int
cmd_dmarc(int argc, char **argv)
{
	struct dmarc_cli c;
	struct inbound_params ip;
	struct dns_resolver *r = NULL;
	struct pubsuffix *psl = NULL;
	struct inbound *ib = NULL;
	struct buf in, msg, out, hdr;
	char host[256], *err = NULL;
	bool finished = false;
	unsigned draw;
	int rc = 1;

	memset(&c, 0, sizeof(c));
	c.sample = -1;
	c.now = -1;
	buf_init(&in, CMD_DMARC_MAX_INPUT);
	buf_init(&msg, CMD_DMARC_MAX_INPUT + CMD_DMARC_MAX_INPUT / 2);
	buf_init(&out, CMD_DMARC_MAX_OUT);
	buf_init(&hdr, CMD_DMARC_MAX_OUT);
	if (parse_args(&c, argc, argv) != 0)
		goto out;
	if (c.resolver == NULL) {
		const char *env = getenv("SMTPSD_RESOLVER");

		if (env != NULL && *env != '\0')
			c.resolver = env;
	}
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (c.authserv_id == NULL)
		c.authserv_id = *host ? host : "localhost";
	if (c.now < 0)
		c.now = (long long)time(NULL);
	if (c.sample < 0) {
		if (getrandom(&draw, sizeof(draw), 0) != sizeof(draw))
			draw = (unsigned)time(NULL);
		c.sample = (long)(draw % 100);
	}
	if (c.discovery == DMARC_DISCOVERY_PSL) {
		int pr = c.psl_file ? pubsuffix_load_file(&psl, c.psl_file) :
		    pubsuffix_load_system(&psl);

		if (pr < 0) {
			fprintf(stderr, "smtpsctl dmarc: cannot load the "
			    "public suffix list%s%s\n", c.psl_file ? " " : "",
			    c.psl_file ? c.psl_file : "");
			goto out;
		}
	}
	if (read_all(&in, c.file) < 0)
		goto out;
	if (msg_lf_to_crlf(&msg, in.p ? in.p : "", in.len) < 0) {
		fprintf(stderr, "smtpsctl dmarc: message too large\n");
		goto out;
	}

	/* The same combination the receiver runs (mailauth/inbound.h). */
	memset(&ip, 0, sizeof(ip));
	ip.ip = c.ip;
	ip.helo = c.helo;
	ip.mail_from = c.mail_from;
	ip.authserv_id = c.authserv_id;
	ip.now = c.now;
	ip.sample = (unsigned)c.sample;
	ip.discovery = c.discovery;
	ip.psl = psl;
	ip.check_helo = c.helo_check;
	if (inbound_new(&ib, &ip) != 0) {
		fprintf(stderr, "smtpsctl dmarc: --ip '%s' is not an IP "
		    "address\n", c.ip);
		goto out;
	}
	if (dns_resolver_new(&r, c.resolver, &err) != 0) {
		fprintf(stderr, "smtpsctl dmarc: resolver: %s\n", err ? err :
		    "cannot start");
		goto out;
	}
	if (c.timeout_ms > 0)
		dns_set_timeout(r, c.timeout_ms);
	inbound_message(ib, r, buf_data(&msg), buf_size(&msg), inbound_done,
	    &finished);
	/* DMARC's lookups start from an answer callback, so one wait that
	   returns only when nothing is outstanding covers all three. */
	while (!finished && dns_resolver_pending(r) > 0)
		dns_resolver_wait(r);
	if (!finished) {
		fprintf(stderr, "smtpsctl dmarc: a check did not finish\n");
		goto out;
	}
	if (inbound_authres(ib, NULL, &hdr) < 0) {
		fprintf(stderr, "smtpsctl dmarc: header too large\n");
		goto out;
	}
	if (c.json)
		print_json(&out, inbound_spf(ib), inbound_dkim(ib),
		    inbound_dmarc(ib), buf_cstr(&hdr));
	else
		(void)buf_append(&out, buf_data(&hdr), buf_size(&hdr));
	fwrite(buf_data(&out), 1, buf_size(&out), stdout);
	rc = 0;
out:
	inbound_free(ib);
	dns_resolver_free(r);
	pubsuffix_free(psl);
	buf_fini(&in);
	buf_fini(&msg);
	buf_fini(&out);
	buf_fini(&hdr);
	free(err);
	return rc;
}
