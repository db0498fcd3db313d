/*
 * cli/cmd_headers.c - smtpsctl headers: how did this message travel, and
 * what did the servers on its way conclude about it?
 *
 *	smtpsctl headers [--json] [--verify] [--ip IP] [--helo NAME]
 *	    [--mail-from ADDR] [--resolver ADDRESS[@PORT]] [--timeout MS]
 *	    [--now T] [FILE]
 *
 * The message comes from FILE or stdin (LF line ends become CRLF; a
 * leading mbox "From " line is skipped).  The Received chain is walked
 * oldest hop first (each server prepends its field, so the last one in
 * the file is the oldest), one row a hop, read by msg/received_parse.h.
 * Then the verdicts the message carries: Authentication-Results (RFC
 * 8601), Received-SPF (RFC 7208 9.1), the ARC sets (RFC 8617) and a
 * summary of each DKIM-Signature.  A summary line comes first.
 *
 * --verify re-checks DKIM live (mailauth/dkim.h over the resolver) and,
 * with --ip, SPF and DMARC too (HELO defaults to the newest hop's from
 * name, MAIL FROM to Return-Path), and shows where the live verdict
 * differs from the one recorded in the newest Authentication-Results.
 *
 * Exit status: 0 when the message was read (whatever it says), 1 when
 * the input cannot be read or is not a message, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/json.h"
#include "dns/dns.h"
#include "mailauth/authres.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "msg/header.h"
#include "msg/received_parse.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Inputs larger than this are refused (ours). */
#define HEADERS_MAX_INPUT (64u << 20)
/* Header fields we index; 10,000 Received lines must fit (ours). */
#define HEADERS_MAX_FIELDS 200000
/* Output: the text and JSON forms of a 10,000-hop message fit. */
#define HEADERS_MAX_OUT (256u << 20)
/* Longest raw text we echo from one field (ours). */
#define HEADERS_MAX_ECHO 1024
/* Hops named one by one in the summary before "and N more". */
#define HEADERS_SUMMARY_LIST 3

struct headers_cli {
	const char *ip, *helo, *mail_from, *resolver, *file;
	long long now;
	int timeout_ms;
	bool json, verify;
};

struct hop {
	struct received r;
	int parse_rc;
};

struct ar_field {
	struct authres ar;
	int rc;
	char *raw;
};

struct tag {
	char name[8];
	char *value;
};

struct dkim_sig_sum {
	char *d, *s, *a, *i;
	bool l;
};

struct arc_set {
	long instance;
	char *cv;		/* from the ARC-Seal */
	char *seal_d;
	bool has_seal, has_ams, has_aar;
	struct ar_field aar;
};

struct live {
	bool ran, spf_ran, dmarc_ran;
	struct dkim_verify *v;
	struct spf *s;
	struct dmarc_eval *e;
	int differences;
};

struct report {
	struct hop *hops;	/* oldest first */
	size_t nhops;
	struct ar_field *ars;	/* as they appear, newest first */
	size_t nars;
	char **spf;		/* Received-SPF, unfolded */
	size_t nspf;
	struct arc_set *arcs;
	size_t narcs;
	struct dkim_sig_sum *sigs;
	size_t nsigs;
	char *summary;
	struct live live;
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* usage - name the problem, show the synopsis, return the usage status */
static int
usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smtpsctl headers: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: smtpsctl headers [--json] [--verify] "
	    "[--ip IP] [--helo NAME] [--mail-from ADDR]\n"
	    "       [--resolver ADDRESS[@PORT]] [--timeout MS] [--now T] "
	    "[FILE]\n");
	return 2;
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
parse_args(struct headers_cli *c, int argc, char **argv)
{
	static const char *const valued[] = { "--ip", "--helo", "--mail-from",
	    "--resolver", "--timeout", "--now" };
	long long n;
	size_t k;
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v;

		if (strcmp(o, "--json") == 0) {
			c->json = true;
			continue;
		}
		if (strcmp(o, "--verify") == 0) {
			c->verify = true;
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
		else if (strcmp(o, "--timeout") == 0) {
			if (!parse_num(v, 1, 600000, &n))
				return usage("--timeout is 1 to 600000 ms");
			c->timeout_ms = (int)n;
		} else if (strcmp(o, "--now") == 0) {
			if (!parse_num(v, 0, (long long)1 << 40, &n))
				return usage("--now is seconds since "
				    "the epoch");
			c->now = n;
		}
	}
	if ((c->ip || c->helo || c->mail_from || c->resolver) && !c->verify)
		return usage("--ip, --helo, --mail-from and --resolver go "
		    "with --verify");
	return 0;
}

/* input_name - how messages name the input */
static const char *
input_name(const struct headers_cli *c)
{
	return c->file && strcmp(c->file, "-") != 0 ? c->file : "stdin";
}

/* read_all - FILE or stdin into b; prints the problem */
static int
read_all(struct buf *b, const struct headers_cli *c)
{
	char chunk[65536];
	ssize_t n;
	int fd = 0, r = 0;

	if (c->file && strcmp(c->file, "-") != 0 &&
	    (fd = open(c->file, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "smtpsctl headers: %s: %s\n", c->file,
		    strerror(errno));
		return E_IO;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "smtpsctl headers: %s: %s\n",
			    input_name(c), strerror(errno));
			r = E_IO;
			break;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) < 0) {
			fprintf(stderr, "smtpsctl headers: %s: larger than %u "
			    "bytes\n", input_name(c), HEADERS_MAX_INPUT);
			r = E_LIMIT;
			break;
		}
	}
	if (fd != 0)
		close(fd);
	return r;
}

/* unfold_copy - a field value unfolded, trimmed, runs of WSP as one */
static char *
unfold_copy(const char *v, size_t n)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		char ch = v[i];

		if (ch == '\r' || ch == '\n' || ch == '\t')
			ch = ' ';
		if (ch == ' ' && (k == 0 || o[k - 1] == ' '))
			continue;
		o[k++] = ch;
	}
	while (k > 0 && o[k - 1] == ' ')
		k--;
	o[k] = '\0';
	return o;
}

/* parse_tags - a DKIM-style tag list (RFC 6376 3.2): name=value; ... */
static size_t
parse_tags(const char *v, size_t n, struct tag *t, size_t max)
{
	size_t i = 0, nt = 0, s, e, k;

	while (i < n && nt < max) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
		    v[i] == '\n' || v[i] == ';'))
			i++;
		s = i;
		while (i < n && v[i] != '=' && v[i] != ';')
			i++;
		if (i < n && v[i] == ';')
			continue;	/* a piece without '=': skip it */
		if (i >= n)
			break;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t' ||
		    v[e - 1] == '\n' || v[e - 1] == '\r'))
			e--;
		k = e - s < sizeof(t[nt].name) - 1 ? e - s :
		    sizeof(t[nt].name) - 1;
		memcpy(t[nt].name, v + s, k);
		t[nt].name[k] = '\0';
		s = ++i;
		while (i < n && v[i] != ';')
			i++;
		/* values lose their folding whitespace (3.2) */
		t[nt].value = xmalloc(i - s + 1);
		for (k = 0, e = s; e < i; e++)
			if (v[e] != ' ' && v[e] != '\t' && v[e] != '\r' &&
			    v[e] != '\n')
				t[nt].value[k++] = v[e];
		t[nt].value[k] = '\0';
		nt++;
	}
	return nt;
}

/* tag_get - a copy of a tag's value, or NULL */
static char *
tag_get(const struct tag *t, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return xstrdup(t[i].value);
	return NULL;
}

/* tags_free - the values of a tag list */
static void
tags_free(struct tag *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(t[i].value);
}

/* arc_get - the ARC set of an instance, made if new */
static struct arc_set *
arc_get(struct report *rp, long instance)
{
	size_t i;

	for (i = 0; i < rp->narcs; i++)
		if (rp->arcs[i].instance == instance)
			return &rp->arcs[i];
	rp->arcs = xrealloc(rp->arcs, (rp->narcs + 1) * sizeof(*rp->arcs));
	memset(&rp->arcs[rp->narcs], 0, sizeof(*rp->arcs));
	rp->arcs[rp->narcs].instance = instance;
	authres_init(&rp->arcs[rp->narcs].aar.ar, NULL);
	return &rp->arcs[rp->narcs++];
}

/* arc_instance - i= of an ARC field, or -1 (RFC 8617 4.2.1: 1 to 50) */
static long
arc_instance(const struct tag *t, size_t n)
{
	char *v = tag_get(t, n, "i");
	long long i;

	if (v == NULL || !parse_num(v, 1, 50, &i))
		i = -1;
	free(v);
	return (long)i;
}

/* add_arc - one ARC-Seal, ARC-Message-Signature or ARC-A-R field */
static void
add_arc(struct report *rp, const struct msg_field *f)
{
	struct tag t[32];
	struct arc_set *a;
	size_t nt;
	long inst;

	if (msg_field_is(f, "ARC-Authentication-Results", 26)) {
		/* "i=N;" then an Authentication-Results value */
		const char *semi = memchr(f->value, ';', f->value_len);

		nt = parse_tags(f->value, semi ? (size_t)(semi - f->value) + 1
		    : f->value_len, t, 1);
		inst = arc_instance(t, nt);
		tags_free(t, nt);
		if (inst < 0 || semi == NULL)
			return;
		a = arc_get(rp, inst);
		if (a->has_aar)
			return;
		a->has_aar = true;
		authres_fini(&a->aar.ar);
		a->aar.rc = authres_parse(&a->aar.ar, semi + 1, f->value_len -
		    (size_t)(semi + 1 - f->value));
		return;
	}
	nt = parse_tags(f->value, f->value_len, t, 32);
	if ((inst = arc_instance(t, nt)) >= 0) {
		a = arc_get(rp, inst);
		if (msg_field_is(f, "ARC-Seal", 8) && !a->has_seal) {
			a->has_seal = true;
			a->cv = tag_get(t, nt, "cv");
			a->seal_d = tag_get(t, nt, "d");
		} else if (msg_field_is(f, "ARC-Message-Signature", 21))
			a->has_ams = true;
	}
	tags_free(t, nt);
}

/* add_dkim_sig - the summary of one DKIM-Signature */
static void
add_dkim_sig(struct report *rp, const struct msg_field *f)
{
	struct tag t[32];
	struct dkim_sig_sum *s;
	size_t nt, k;

	nt = parse_tags(f->value, f->value_len, t, 32);
	rp->sigs = xrealloc(rp->sigs, (rp->nsigs + 1) * sizeof(*rp->sigs));
	s = &rp->sigs[rp->nsigs++];
	memset(s, 0, sizeof(*s));
	s->d = tag_get(t, nt, "d");
	s->s = tag_get(t, nt, "s");
	s->a = tag_get(t, nt, "a");
	s->i = tag_get(t, nt, "i");
	for (k = 0; k < nt; k++)
		if (strcmp(t[k].name, "l") == 0)
			s->l = true;
	tags_free(t, nt);
}

/* is_known_field - a field name every mail message may carry */
static bool
is_known_field(const struct msg_field *f)
{
	static const char *const names[] = { "Received", "From", "To",
	    "Subject", "Date", "Message-ID", "Return-Path", "Sender",
	    "Authentication-Results", "DKIM-Signature", "Received-SPF",
	    "ARC-Seal", "MIME-Version", "Content-Type", "Cc", "Reply-To",
	    "Delivered-To", "X-Mailer", "References", "In-Reply-To" };
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (msg_field_is(f, names[k], strlen(names[k])))
			return true;
	return false;
}

/* collect - read every field of interest into rp */
static void
collect(struct report *rp, const struct msg_header *h)
{
	size_t i, nrec = 0, k;

	for (i = 0; i < h->nfields; i++)
		if (msg_field_is(&h->fields[i], "Received", 8))
			nrec++;
	rp->hops = xcalloc(nrec ? nrec : 1, sizeof(*rp->hops));
	for (i = h->nfields; i-- > 0;) {
		const struct msg_field *f = &h->fields[i];

		if (!msg_field_is(f, "Received", 8))
			continue;
		k = rp->nhops++;
		rp->hops[k].parse_rc = received_parse(&rp->hops[k].r,
		    f->value, f->value_len);
	}
	for (i = 0; i < h->nfields; i++) {
		const struct msg_field *f = &h->fields[i];

		if (msg_field_is(f, "Authentication-Results", 22)) {
			struct ar_field *a;

			rp->ars = xrealloc(rp->ars, (rp->nars + 1) *
			    sizeof(*rp->ars));
			a = &rp->ars[rp->nars++];
			a->rc = authres_parse(&a->ar, f->value, f->value_len);
			a->raw = unfold_copy(f->value, f->value_len <
			    HEADERS_MAX_ECHO ? f->value_len : HEADERS_MAX_ECHO);
		} else if (msg_field_is(f, "Received-SPF", 12)) {
			rp->spf = xrealloc(rp->spf, (rp->nspf + 1) *
			    sizeof(*rp->spf));
			rp->spf[rp->nspf++] = unfold_copy(f->value,
			    f->value_len < HEADERS_MAX_ECHO ? f->value_len :
			    HEADERS_MAX_ECHO);
		} else if (msg_field_is(f, "ARC-Seal", 8) ||
		    msg_field_is(f, "ARC-Message-Signature", 21) ||
		    msg_field_is(f, "ARC-Authentication-Results", 26))
			add_arc(rp, f);
		else if (msg_field_is(f, "DKIM-Signature", 14))
			add_dkim_sig(rp, f);
	}
}

/* report_fini - free everything rp holds */
static void
report_fini(struct report *rp)
{
	size_t i;

	for (i = 0; i < rp->nhops; i++)
		received_fini(&rp->hops[i].r);
	free(rp->hops);
	for (i = 0; i < rp->nars; i++) {
		authres_fini(&rp->ars[i].ar);
		free(rp->ars[i].raw);
	}
	free(rp->ars);
	for (i = 0; i < rp->nspf; i++)
		free(rp->spf[i]);
	free(rp->spf);
	for (i = 0; i < rp->narcs; i++) {
		authres_fini(&rp->arcs[i].aar.ar);
		free(rp->arcs[i].cv);
		free(rp->arcs[i].seal_d);
	}
	free(rp->arcs);
	for (i = 0; i < rp->nsigs; i++) {
		free(rp->sigs[i].d);
		free(rp->sigs[i].s);
		free(rp->sigs[i].a);
		free(rp->sigs[i].i);
	}
	free(rp->sigs);
	free(rp->summary);
	dmarc_eval_free(rp->live.e);
	dkim_verify_free(rp->live.v);
	spf_free(rp->live.s);
}

/* spf_result_word - the first word of a Received-SPF value, lower case */
static void
spf_result_word(const char *v, char *out, size_t outsz)
{
	size_t k = 0;

	while (*v && *v != ' ' && *v != '(' && *v != ';' && k + 1 < outsz) {
		out[k++] = (char)(*v >= 'A' && *v <= 'Z' ? *v + 32 : *v);
		v++;
	}
	out[k] = '\0';
}

/* ---- the live checks (--verify) ---- */

struct key_lookup {
	struct dkim_verify *v;
	size_t qi;
};

/* dkim_key_cb - one DKIM key answer */
static void
dkim_key_cb(void *arg, const struct dns_answer *ans)
{
	struct key_lookup *l = arg;

	dkim_verify_dns_answer(l->v, l->qi, ans);
}

/* spf_done - the SPF verdict is in */
static void
spf_done(void *arg, struct spf *s)
{
	*(bool *)arg = true;
}

/* dmarc_done - the DMARC verdict is in */
static void
dmarc_done(void *arg, struct dmarc_eval *e)
{
	*(bool *)arg = true;
}

/* strip_angle - the address inside <...>, trimmed, into a new string */
static char *
strip_angle(const char *v, size_t n)
{
	char *u = unfold_copy(v, n), *a, *b;
	char *r;

	a = strchr(u, '<');
	b = a ? strchr(a, '>') : NULL;
	if (a && b)
		r = xstrndup(a + 1, (size_t)(b - a - 1));
	else
		r = xstrdup(u);
	free(u);
	return r;
}

/* run_live - DKIM, and with --ip SPF and DMARC, over the resolver */
static int
run_live(struct report *rp, struct headers_cli *c, const char *msg,
    size_t n, size_t hlen, const struct msg_header *h)
{
	struct dns_resolver *r = NULL;
	struct dkim_verify_opts vo;
	struct key_lookup *ls = NULL;
	struct spf_params sp;
	struct dmarc_params dp;
	struct dmarc_auth *auths = NULL;
	char *err = NULL, *mail_from = NULL;
	char from[DMARC_DOMAIN_MAX + 1];
	bool spf_finished = false, dmarc_finished = false;
	const struct msg_field *rpath;
	size_t i, nq, nsig;
	int rc = -1;

	if (c->resolver == NULL) {
		const char *env = getenv("SMTPSD_RESOLVER");

		if (env != NULL && *env != '\0')
			c->resolver = env;
	}
	if (c->ip != NULL) {
		memset(&sp, 0, sizeof(sp));
		if (c->mail_from != NULL)
			mail_from = xstrdup(c->mail_from);
		else if ((rpath = msg_header_find(h, "Return-Path", 11, 0)))
			mail_from = strip_angle(rpath->value,
			    rpath->value_len);
		else
			mail_from = xstrdup("");
		if (c->helo == NULL && rp->nhops > 0 &&
		    rp->hops[rp->nhops - 1].r.from != NULL)
			c->helo = rp->hops[rp->nhops - 1].r.from;
		if (c->helo == NULL) {
			fprintf(stderr, "smtpsctl headers: --verify --ip needs "
			    "--helo (no Received header names the client)\n");
			goto out;
		}
		sp.ip = c->ip;
		sp.helo = c->helo;
		sp.mail_from = mail_from;
		sp.receiver = "smtpsctl";
		sp.now = c->now;
		sp.identity = SPF_ID_MAILFROM;
		if (spf_new(&rp->live.s, &sp) != 0) {
			fprintf(stderr, "smtpsctl headers: --ip '%s' is not an "
			    "IP address\n", c->ip);
			goto out;
		}
	}
	if (dns_resolver_new(&r, c->resolver, &err) != 0) {
		fprintf(stderr, "smtpsctl headers: resolver: %s\n", err ? err :
		    "cannot start");
		goto out;
	}
	if (c->timeout_ms > 0)
		dns_set_timeout(r, c->timeout_ms);
	memset(&vo, 0, sizeof(vo));
	vo.now = c->now;
	rp->live.v = dkim_verify_new(&vo);
	(void)dkim_verify_message(rp->live.v, msg, n);
	nq = dkim_verify_nqueries(rp->live.v);
	ls = xcalloc(nq ? nq : 1, sizeof(*ls));
	if (rp->live.s != NULL)
		spf_run(rp->live.s, r, spf_done, &spf_finished);
	for (i = 0; i < nq; i++) {
		ls[i].v = rp->live.v;
		ls[i].qi = i;
		if (dns_query(r, dkim_verify_query(rp->live.v, i), DNS_T_TXT,
		    dkim_key_cb, &ls[i]) < 0)
			dkim_verify_key_answer(rp->live.v, i,
			    DKIM_KEY_TEMPFAIL, NULL, NULL, 0);
	}
	dns_resolver_wait(r);
	rp->live.ran = true;
	if (rp->live.s != NULL) {
		rp->live.spf_ran = spf_finished;
		memset(&dp, 0, sizeof(dp));
		if (dmarc_from_domain(msg, hlen, from, sizeof(from),
		    &dp.from_status) == 0)
			dp.from_domain = from;
		if (spf_domain(rp->live.s) != NULL) {
			dp.spf.domain = spf_domain(rp->live.s);
			dp.spf.pass = spf_result(rp->live.s) == SPF_PASS;
		}
		nsig = dkim_verify_nsigs(rp->live.v);
		auths = xcalloc(nsig ? nsig : 1, sizeof(*auths));
		for (i = 0; i < nsig; i++) {
			const struct dkim_sig_result *sr =
			    dkim_verify_sig(rp->live.v, i);

			auths[i].domain = sr->domain;
			auths[i].pass = sr->result == DKIM_RESULT_PASS;
			auths[i].body_partial = sr->body_partial ||
			    !sr->dmarc_usable;
		}
		dp.dkim = auths;
		dp.ndkim = nsig;
		dp.discovery = DMARC_DISCOVERY_TREEWALK;
		dp.sample = 0;
		rp->live.e = dmarc_eval_new(&dp);
		if (dmarc_run(rp->live.e, r, dmarc_done, &dmarc_finished) !=
		    NULL)
			dns_resolver_wait(r);
		rp->live.dmarc_ran = dmarc_finished;
	}
	rc = 0;
out:
	free(auths);
	free(ls);
	free(mail_from);
	dns_resolver_free(r);
	free(err);
	return rc;
}

/* recorded - the newest recorded result of a method (and for DKIM the
   signing domain and selector), or NULL */
static const char *
recorded(const struct report *rp, const char *method, const char *d,
    const char *s)
{
	size_t i, k;

	for (i = 0; i < rp->nars; i++) {
		const struct authres *ar = &rp->ars[i].ar;

		if (rp->ars[i].rc != 0)
			continue;
		for (k = 0; k < ar->nres; k++) {
			const struct authres_resinfo *ri = &ar->res[k];
			const char *pd, *ps;

			if (strcmp(ri->method, method) != 0)
				continue;
			if (d != NULL) {
				pd = authres_prop_value(ri, "header", "d");
				ps = authres_prop_value(ri, "header", "s");
				/* Gmail records header.i=@domain only */
				if (pd == NULL && (pd = authres_prop_value(ri,
				    "header", "i")) != NULL && strchr(pd, '@'))
					pd = strchr(pd, '@') + 1;
				if (pd == NULL || strcasecmp(pd, d) != 0 ||
				    (ps != NULL && s != NULL &&
				    strcmp(ps, s) != 0))
					continue;
			}
			return ri->result;
		}
	}
	return NULL;
}

/* differs - is the live result different from a recorded one? */
static bool
differs(const char *rec, const char *now)
{
	return rec == NULL || now == NULL || strcmp(rec, now) != 0;
}

/* ---- summary ---- */

/* hop_label - "from -> by" of a hop, for the summary */
static void
hop_label(struct buf *b, size_t k, const struct received *r,
    const char *what)
{
	(void)buf_printf(b, "hop %zu %s: %s -> %s", k + 1, what,
	    r->from ? r->from : "?", r->by ? r->by : "?");
}

/* policy_of - p= from a DMARC resinfo's comment, else policy.dmarc */
static void
policy_of(const struct authres_resinfo *ri, char *out, size_t outsz)
{
	const char *c = ri->comment, *p;
	size_t k = 0;

	out[0] = '\0';
	if (c != NULL) {
		for (p = c; (p = strstr(p, "p=")) != NULL; p += 2)
			if (p == c || p[-1] == ' ' || p[-1] == '(' ||
			    p[-1] == ',')
				break;
		if (p != NULL) {
			p += 2;
			while (*p && *p != ' ' && *p != ',' && *p != ')' &&
			    k + 1 < outsz) {
				out[k++] = (char)(*p >= 'A' && *p <= 'Z' ?
				    *p + 32 : *p);
				p++;
			}
			out[k] = '\0';
			return;
		}
	}
	if ((p = authres_prop_value(ri, "policy", "dmarc")) != NULL)
		snprintf(out, outsz, "%s", p);
}

/* make_summary - the one line a person reads first */
static void
make_summary(struct report *rp)
{
	struct buf b;
	size_t k, enc = 0, listed = 0, more = 0, nlocal = 0, i, j;
	const struct authres_resinfo *ri = NULL;
	char pol[32];

	buf_init(&b, 4096);
	for (k = 0; k < rp->nhops; k++) {
		const struct received *r = &rp->hops[k].r;

		if (r->kind == RECEIVED_KIND_LMTP ||
		    r->kind == RECEIVED_KIND_LOCAL)
			nlocal++;
		else if (r->tls == RECEIVED_TLS_YES)
			enc++;
	}
	/* local deliveries (LMTP, "local") never cross a network between
	   organisations: they are counted apart from the transit hops */
	if (rp->nhops == 0)
		(void)buf_append_str(&b, "no Received headers");
	else
		(void)buf_printf(&b, "%zu of %zu hop%s encrypted", enc,
		    rp->nhops - nlocal, rp->nhops - nlocal == 1 ? "" : "s");
	for (k = 0; k < rp->nhops; k++) {
		const struct received *r = &rp->hops[k].r;

		if (r->tls == RECEIVED_TLS_YES ||
		    r->kind == RECEIVED_KIND_LMTP ||
		    r->kind == RECEIVED_KIND_LOCAL)
			continue;
		if (listed == HEADERS_SUMMARY_LIST) {
			more++;
			continue;
		}
		(void)buf_append_str(&b, listed ? ", " : " (");
		hop_label(&b, k, r, r->tls == RECEIVED_TLS_NO ? "plaintext" :
		    "unknown");
		listed++;
	}
	if (more)
		(void)buf_printf(&b, ", and %zu more not encrypted", more);
	if (listed)
		(void)buf_append_str(&b, ")");
	if (nlocal)
		(void)buf_printf(&b, " + %zu local delivery hop%s", nlocal,
		    nlocal == 1 ? "" : "s");
	for (i = 0; i < rp->nars && ri == NULL; i++)
		if (rp->ars[i].rc == 0)
			for (j = 0; j < rp->ars[i].ar.nres && ri == NULL; j++)
				if (strcmp(rp->ars[i].ar.res[j].method,
				    "dmarc") == 0)
					ri = &rp->ars[i].ar.res[j];
	if (ri != NULL) {
		const char *d = authres_prop_value(ri, "header", "from");

		policy_of(ri, pol, sizeof(pol));
		(void)buf_printf(&b, "; dmarc=%s", ri->result);
		if (d != NULL || *pol)
			(void)buf_printf(&b, " (%s%s%s%s)", d ? d : "",
			    d && *pol ? ", " : "", *pol ? "p=" : "", pol);
	} else
		(void)buf_append_str(&b, "; no DMARC result recorded");
	if (rp->live.ran)
		(void)buf_printf(&b, "; --verify: %d difference%s",
		    rp->live.differences, rp->live.differences == 1 ? "" :
		    "s");
	rp->summary = xstrdup(buf_cstr(&b));
	buf_fini(&b);
}

/* count_differences - compare the live checks with the records */
static void
count_differences(struct report *rp)
{
	size_t i, n;

	if (!rp->live.ran)
		return;
	n = dkim_verify_nsigs(rp->live.v);
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *r = dkim_verify_sig(rp->live.v,
		    i);

		if (differs(recorded(rp, "dkim", r->domain ? r->domain : "",
		    r->selector), dkim_result_str(r->result)))
			rp->live.differences++;
	}
	if (rp->live.spf_ran && differs(recorded(rp, "spf", NULL, NULL),
	    spf_result_str(spf_result(rp->live.s))))
		rp->live.differences++;
	if (rp->live.dmarc_ran && differs(recorded(rp, "dmarc", NULL, NULL),
	    dmarc_result_str(dmarc_eval_verdict(rp->live.e)->result)))
		rp->live.differences++;
}

/* ---- JSON ---- */

/* json_authres - one Authentication-Results (or ARC-A-R) value */
static void
json_authres(struct json *j, const struct ar_field *a, bool with_raw)
{
	size_t k, p;

	json_obj_begin(j);
	json_key(j, "authserv_id");
	json_str(j, a->rc == 0 ? a->ar.authserv_id : NULL);
	json_key(j, "parse_error");
	json_str(j, a->rc == 0 ? NULL : err_str(a->rc));
	json_key(j, "results");
	json_arr_begin(j);
	for (k = 0; a->rc == 0 && k < a->ar.nres; k++) {
		const struct authres_resinfo *ri = &a->ar.res[k];

		json_obj_begin(j);
		json_key(j, "method");
		json_str(j, ri->method);
		json_key(j, "result");
		json_str(j, ri->result);
		json_key(j, "reason");
		json_str(j, ri->reason);
		json_key(j, "comment");
		json_str(j, ri->comment);
		json_key(j, "props");
		json_obj_begin(j);
		for (p = 0; p < ri->nprops; p++) {
			char key[128];

			snprintf(key, sizeof(key), "%s.%s",
			    ri->props[p].ptype, ri->props[p].property);
			json_key(j, key);
			json_str(j, ri->props[p].value);
		}
		json_obj_end(j);
		json_obj_end(j);
	}
	json_arr_end(j);
	if (with_raw) {
		json_key(j, "raw");
		json_str(j, a->raw);
	}
	json_obj_end(j);
}

/* iso_date - seconds since the epoch as 2024-01-01T10:00:00Z */
static void
iso_date(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%lld", t);
}

/* json_hop - one hop object */
static void
json_hop(struct json *j, const struct hop *hp)
{
	const struct received *r = &hp->r;
	char d[64];

	json_obj_begin(j);
	json_key(j, "from");
	json_str(j, r->from);
	json_key(j, "from_ip");
	json_str(j, r->from_ip);
	json_key(j, "from_rdns");
	json_str(j, r->from_rdns);
	json_key(j, "by");
	json_str(j, r->by);
	json_key(j, "date");
	if (r->has_date) {
		iso_date(r->date, d, sizeof(d));
		json_str(j, d);
	} else
		json_null(j);
	json_key(j, "date_text");
	json_str(j, r->date_text);
	json_key(j, "protocol");
	json_str(j, r->protocol);
	json_key(j, "tls");
	if (r->tls == RECEIVED_TLS_UNKNOWN)
		json_null(j);
	else
		json_bool(j, r->tls == RECEIVED_TLS_YES);
	json_key(j, "tls_version");
	json_str(j, r->tls_version);
	json_key(j, "cipher");
	json_str(j, r->cipher);
	json_key(j, "id");
	json_str(j, r->id);
	json_key(j, "for");
	json_str(j, r->for_addr);
	json_key(j, "parse_error");
	json_str(j, hp->parse_rc == 0 ? NULL : err_str(hp->parse_rc));
	json_obj_end(j);
}

/* json_verify - the live checks and the recorded verdicts beside them */
static void
json_verify(struct json *j, const struct report *rp)
{
	size_t i, n = dkim_verify_nsigs(rp->live.v);

	json_obj_begin(j);
	json_key(j, "dkim");
	json_arr_begin(j);
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *r = dkim_verify_sig(rp->live.v,
		    i);
		const char *rec = recorded(rp, "dkim", r->domain ? r->domain :
		    "", r->selector);

		json_obj_begin(j);
		json_key(j, "d");
		json_str(j, r->domain);
		json_key(j, "s");
		json_str(j, r->selector);
		json_key(j, "result");
		json_str(j, dkim_result_str(r->result));
		json_key(j, "reason");
		json_str(j, r->result == DKIM_RESULT_PASS ? NULL :
		    dkim_reason_str(r->reason));
		json_key(j, "recorded");
		json_str(j, rec);
		json_key(j, "differs");
		json_bool(j, differs(rec, dkim_result_str(r->result)));
		json_obj_end(j);
	}
	json_arr_end(j);
	json_key(j, "spf");
	if (rp->live.spf_ran) {
		const char *now = spf_result_str(spf_result(rp->live.s));
		const char *rec = recorded(rp, "spf", NULL, NULL);

		json_obj_begin(j);
		json_key(j, "result");
		json_str(j, now);
		json_key(j, "recorded");
		json_str(j, rec);
		json_key(j, "differs");
		json_bool(j, differs(rec, now));
		json_obj_end(j);
	} else
		json_null(j);
	json_key(j, "dmarc");
	if (rp->live.dmarc_ran) {
		const struct dmarc_verdict *d = dmarc_eval_verdict(rp->live.e);
		const char *now = dmarc_result_str(d->result);
		const char *rec = recorded(rp, "dmarc", NULL, NULL);

		json_obj_begin(j);
		json_key(j, "result");
		json_str(j, now);
		json_key(j, "from_domain");
		json_str(j, *d->from_domain ? d->from_domain : NULL);
		json_key(j, "recorded");
		json_str(j, rec);
		json_key(j, "differs");
		json_bool(j, differs(rec, now));
		json_obj_end(j);
	} else
		json_null(j);
	json_key(j, "differences");
	json_int(j, rp->live.differences);
	json_obj_end(j);
}

/* print_json - the whole report as one object */
static void
print_json(struct buf *o, const struct report *rp)
{
	struct json j;
	size_t i;
	char w[32];

	json_init(&j, o);
	json_obj_begin(&j);
	json_key(&j, "summary");
	json_str(&j, rp->summary);
	json_key(&j, "hops");
	json_arr_begin(&j);
	for (i = 0; i < rp->nhops; i++)
		json_hop(&j, &rp->hops[i]);
	json_arr_end(&j);
	json_key(&j, "auth_results");
	json_arr_begin(&j);
	for (i = 0; i < rp->nars; i++)
		json_authres(&j, &rp->ars[i], true);
	json_arr_end(&j);
	json_key(&j, "received_spf");
	json_arr_begin(&j);
	for (i = 0; i < rp->nspf; i++) {
		spf_result_word(rp->spf[i], w, sizeof(w));
		json_obj_begin(&j);
		json_key(&j, "result");
		json_str(&j, w);
		json_key(&j, "raw");
		json_str(&j, rp->spf[i]);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "arc");
	json_arr_begin(&j);
	for (i = 0; i < rp->narcs; i++) {
		const struct arc_set *a = &rp->arcs[i];

		json_obj_begin(&j);
		json_key(&j, "instance");
		json_int(&j, a->instance);
		json_key(&j, "cv");
		json_str(&j, a->cv);
		json_key(&j, "seal_d");
		json_str(&j, a->seal_d);
		json_key(&j, "has_seal");
		json_bool(&j, a->has_seal);
		json_key(&j, "has_message_signature");
		json_bool(&j, a->has_ams);
		json_key(&j, "auth_results");
		if (a->has_aar)
			json_authres(&j, &a->aar, false);
		else
			json_null(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "dkim_signatures");
	json_arr_begin(&j);
	for (i = 0; i < rp->nsigs; i++) {
		json_obj_begin(&j);
		json_key(&j, "d");
		json_str(&j, rp->sigs[i].d);
		json_key(&j, "s");
		json_str(&j, rp->sigs[i].s);
		json_key(&j, "a");
		json_str(&j, rp->sigs[i].a);
		json_key(&j, "i");
		json_str(&j, rp->sigs[i].i);
		json_key(&j, "l");
		json_bool(&j, rp->sigs[i].l);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "verify");
	if (rp->live.ran)
		json_verify(&j, rp);
	else
		json_null(&j);
	json_obj_end(&j);
	(void)buf_append(o, "\n", 1);
}

/* ---- text ---- */

/* put_safe - s with control characters and non-ASCII bytes as '?', so
   peer text cannot drive the terminal */
static void
put_safe(struct buf *o, const char *s)
{
	char ch;

	if (s == NULL) {
		(void)buf_append(o, "-", 1);
		return;
	}
	for (; *s; s++) {
		ch = (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ?
		    '?' : *s;
		(void)buf_append(o, &ch, 1);
	}
}

/* text_authres - one A-R value on one line */
static void
text_authres(struct buf *o, const struct ar_field *a)
{
	size_t k, p;

	if (a->rc != 0) {
		(void)buf_printf(o, "unreadable (%s): ", err_str(a->rc));
		put_safe(o, a->raw);
		return;
	}
	put_safe(o, a->ar.authserv_id);
	(void)buf_append_str(o, ":");
	if (a->ar.nres == 0)
		(void)buf_append_str(o, " none");
	for (k = 0; k < a->ar.nres; k++) {
		const struct authres_resinfo *ri = &a->ar.res[k];

		(void)buf_append_str(o, k ? "; " : " ");
		put_safe(o, ri->method);
		(void)buf_append_str(o, "=");
		put_safe(o, ri->result);
		for (p = 0; p < ri->nprops; p++) {
			(void)buf_append_str(o, " ");
			put_safe(o, ri->props[p].ptype);
			(void)buf_append_str(o, ".");
			put_safe(o, ri->props[p].property);
			(void)buf_append_str(o, "=");
			put_safe(o, ri->props[p].value);
		}
	}
}

/* print_text - the report for a person */
static void
print_text(struct buf *o, const struct report *rp)
{
	size_t i, n;
	char d[64], w[32];

	(void)buf_append_str(o, "summary: ");
	put_safe(o, rp->summary);
	(void)buf_append_str(o, "\n\nhops (oldest first):\n");
	for (i = 0; i < rp->nhops; i++) {
		const struct received *r = &rp->hops[i].r;

		(void)buf_printf(o, "  %zu  ", i + 1);
		if (r->has_date) {
			iso_date(r->date, d, sizeof(d));
			(void)buf_append_str(o, d);
		} else
			(void)buf_append_str(o, "(no date)");
		(void)buf_append_str(o, "  ");
		put_safe(o, r->from);
		if (r->from_ip) {
			(void)buf_append_str(o, " [");
			put_safe(o, r->from_ip);
			(void)buf_append_str(o, "]");
		}
		(void)buf_append_str(o, " -> ");
		put_safe(o, r->by);
		(void)buf_append_str(o, "  ");
		put_safe(o, r->protocol);
		(void)buf_append_str(o, "  ");
		if (r->tls == RECEIVED_TLS_YES) {
			(void)buf_append_str(o, "TLS");
			if (r->tls_version) {
				(void)buf_append_str(o, " ");
				put_safe(o, r->tls_version);
			}
			if (r->cipher) {
				(void)buf_append_str(o, " ");
				put_safe(o, r->cipher);
			}
		} else
			(void)buf_append_str(o, r->tls == RECEIVED_TLS_NO ?
			    "plaintext" : "unknown");
		if (rp->hops[i].parse_rc != 0)
			(void)buf_printf(o, "  (unreadable: %s)",
			    err_str(rp->hops[i].parse_rc));
		(void)buf_append_str(o, "\n");
	}
	(void)buf_append_str(o, "\nauthentication-results (newest first):\n");
	if (rp->nars == 0)
		(void)buf_append_str(o, "  none\n");
	for (i = 0; i < rp->nars; i++) {
		(void)buf_append_str(o, "  ");
		text_authres(o, &rp->ars[i]);
		(void)buf_append_str(o, "\n");
	}
	for (i = 0; i < rp->nspf; i++) {
		spf_result_word(rp->spf[i], w, sizeof(w));
		(void)buf_append_str(o, i ? "  " : "\nreceived-spf:\n  ");
		put_safe(o, w);
		(void)buf_append_str(o, "  ");
		put_safe(o, rp->spf[i]);
		(void)buf_append_str(o, "\n");
	}
	for (i = 0; i < rp->narcs; i++) {
		const struct arc_set *a = &rp->arcs[i];

		(void)buf_printf(o, "%s  i=%ld cv=", i ? "" : "\narc:\n",
		    a->instance);
		put_safe(o, a->cv);
		(void)buf_append_str(o, " seal-d=");
		put_safe(o, a->seal_d);
		(void)buf_printf(o, "%s%s", a->has_seal ? "" : " (no seal)",
		    a->has_ams ? "" : " (no message signature)");
		if (a->has_aar) {
			(void)buf_append_str(o, "  aar ");
			text_authres(o, &a->aar);
		}
		(void)buf_append_str(o, "\n");
	}
	for (i = 0; i < rp->nsigs; i++) {
		(void)buf_append_str(o, i ? "  d=" :
		    "\ndkim-signatures:\n  d=");
		put_safe(o, rp->sigs[i].d);
		(void)buf_append_str(o, " s=");
		put_safe(o, rp->sigs[i].s);
		(void)buf_append_str(o, " a=");
		put_safe(o, rp->sigs[i].a);
		(void)buf_append_str(o, rp->sigs[i].l ?
		    " l=present (part of the body may be unsigned)\n" :
		    " l=absent\n");
	}
	if (!rp->live.ran)
		return;
	(void)buf_append_str(o, "\nverify (live):\n");
	n = dkim_verify_nsigs(rp->live.v);
	if (n == 0)
		(void)buf_append_str(o, "  dkim: no signature\n");
	for (i = 0; i < n; i++) {
		const struct dkim_sig_result *r = dkim_verify_sig(rp->live.v,
		    i);
		const char *rec = recorded(rp, "dkim", r->domain ? r->domain :
		    "", r->selector), *now = dkim_result_str(r->result);

		(void)buf_append_str(o, "  dkim d=");
		put_safe(o, r->domain);
		(void)buf_append_str(o, " s=");
		put_safe(o, r->selector);
		(void)buf_printf(o, ": now %s", now);
		if (r->result != DKIM_RESULT_PASS)
			(void)buf_printf(o, " (%s)",
			    dkim_reason_str(r->reason));
		(void)buf_printf(o, ", recorded %s%s\n", rec ? rec : "nothing",
		    differs(rec, now) ? "  DIFFERS" : "");
	}
	if (rp->live.spf_ran) {
		const char *now = spf_result_str(spf_result(rp->live.s));
		const char *rec = recorded(rp, "spf", NULL, NULL);

		(void)buf_printf(o, "  spf: now %s, recorded %s%s\n", now,
		    rec ? rec : "nothing", differs(rec, now) ? "  DIFFERS" :
		    "");
	}
	if (rp->live.dmarc_ran) {
		const char *now = dmarc_result_str(
		    dmarc_eval_verdict(rp->live.e)->result);
		const char *rec = recorded(rp, "dmarc", NULL, NULL);

		(void)buf_printf(o, "  dmarc: now %s, recorded %s%s\n", now,
		    rec ? rec : "nothing", differs(rec, now) ? "  DIFFERS" :
		    "");
	}
}

/* skip_mbox_from - past a leading mbox "From " line (not inlined: gcc's
   -Wstringop-overread otherwise takes buf_data()'s "" for an empty buffer,
   which the caller has already refused, as the argument) */
static size_t __attribute__((noinline))
skip_mbox_from(const char *p, size_t n)
{
	const char *nl;

	if (n < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	nl = memchr(p, '\n', n);
	return nl ? (size_t)(nl + 1 - p) : n;
}

/* cmd_headers - see the top of the file */
int
cmd_headers(int argc, char **argv)
{
	struct headers_cli c;
	struct report rp;
	struct msg_header h;
	struct buf in, msg, out;
	size_t skip, i;
	bool known = false;
	int rc = 1, r;

	memset(&c, 0, sizeof(c));
	memset(&rp, 0, sizeof(rp));
	memset(&h, 0, sizeof(h));
	c.now = -1;
	buf_init(&in, HEADERS_MAX_INPUT);
	buf_init(&msg, HEADERS_MAX_INPUT + HEADERS_MAX_INPUT / 2);
	buf_init(&out, HEADERS_MAX_OUT);
	if ((r = parse_args(&c, argc, argv)) != 0) {
		rc = r;
		goto out;
	}
	if (c.now < 0)
		c.now = (long long)time(NULL);
	if (read_all(&in, &c) < 0)
		goto out;
	if (buf_size(&in) == 0) {
		fprintf(stderr, "smtpsctl headers: %s: empty input, not a "
		    "mail message\n", input_name(&c));
		goto out;
	}
	skip = skip_mbox_from(buf_data(&in), buf_size(&in));
	if (msg_lf_to_crlf(&msg, buf_data(&in) + skip, buf_size(&in) - skip)
	    < 0) {
		fprintf(stderr, "smtpsctl headers: %s: message too large\n",
		    input_name(&c));
		goto out;
	}
	r = msg_header_parse(&h, buf_data(&msg), buf_size(&msg),
	    HEADERS_MAX_FIELDS);
	if (r == E_LIMIT) {
		fprintf(stderr, "smtpsctl headers: %s: more than %d header "
		    "fields\n", input_name(&c), HEADERS_MAX_FIELDS);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "smtpsctl headers: %s: not a mail message (a "
		    "line in the header section is neither a field nor a "
		    "continuation)\n", input_name(&c));
		goto out;
	}
	for (i = 0; i < h.nfields && !known; i++)
		known = is_known_field(&h.fields[i]);
	if (!known) {
		fprintf(stderr, "smtpsctl headers: %s: not a mail message (no "
		    "Received, From, Date or other known header field)\n",
		    input_name(&c));
		goto out;
	}
	collect(&rp, &h);
	if (c.verify) {
		size_t hl = h.body ? (size_t)(h.body - buf_data(&msg)) :
		    buf_size(&msg);

		if (run_live(&rp, &c, buf_data(&msg), buf_size(&msg), hl,
		    &h) < 0)
			goto out;
		count_differences(&rp);
	}
	make_summary(&rp);
	if (c.json)
		print_json(&out, &rp);
	else
		print_text(&out, &rp);
	if (fwrite(buf_data(&out), 1, buf_size(&out), stdout) !=
	    buf_size(&out) || fflush(stdout) != 0) {
		fprintf(stderr, "smtpsctl headers: writing the report: %s\n",
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	report_fini(&rp);
	msg_header_fini(&h);
	buf_fini(&in);
	buf_fini(&msg);
	buf_fini(&out);
	return rc;
}
