/*
 * test_smtp_golden - SMTP transcripts (tests/golden/NAME.txt, format in
 * tests/golden/README.md) and the smuggling and STARTTLS-injection
 * sequences of tests/data/smtp-sequences, fed to the pure session machine
 * with a deterministic fake caller.
 *
 * Each transcript counts one test when fed write by write and, unless it
 * says "bytewise no", one more when every write is fed one byte at a time
 * (which must give exactly the same replies).  Each smuggling sequence
 * counts one test.  Run from the repository root.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "testlib.h"
#include "smtp/address.h"
#include "smtp/server.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define GOLDEN_DIR	"tests/golden"
#define SEQ_FILE	"tests/data/smtp-sequences/" \
			"smtp-smuggling-and-injection-sequences.json"
#define PIECE		16384

struct strlist {
	char **v;
	size_t n, cap;
};

/* strlist_add - append a copy of p..n */
static void
strlist_add(struct strlist *l, const char *p, size_t n)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrndup(p, n);
}

/* strlist_free - free every string and the list */
static void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* strlist_has - is s in the list? */
static bool
strlist_has(const struct strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* A session under test and everything the fake caller saw. */
struct run {
	const char *name;
	bool bytewise;
	bool ok;
	struct smtp_server_params params;
	struct smtp_server *s;
	struct buf partial;	/* output bytes not yet split into lines */
	struct strlist got;	/* reply lines, without CRLF */
	size_t gpos;		/* next line an S: checks */
	bool closed;
	bool feed_failed;
	size_t max_footprint;
	/* fake caller */
	int mail_code;
	char mail_enh[16], mail_text[128];
	int commit_code;
	char commit_enh[16], commit_text[128];
	unsigned commits;
	struct buf last_msg;
	char last_env[1024];	/* "from=.. rcpts=.. protocol=.." etc. */
	struct strlist committed_rcpts;
	struct strlist asked;	/* every address given to MAIL or RCPT */
	unsigned auths;
	char last_auth[256];
	unsigned bad_addrs;	/* addresses that broke the grammar */
};

/* fail - report one failed assertion of a transcript */
static void
fail(struct run *r, int line, const char *what, const char *got,
    const char *want)
{
	r->ok = false;
	printf("FAIL %s%s:%d: %s: got %s, want %s\n", r->name,
	    r->bytewise ? " (bytewise)" : "", line, what,
	    got ? got : "(none)", want ? want : "(none)");
}

/* collect - split the machine's output into reply lines */
static void
collect(struct run *r)
{
	const char *p;
	size_t n;

	p = smtp_server_output(r->s, &n);
	if (n > 0) {
		buf_append(&r->partial, p, n);
		smtp_server_output_consume(r->s, n);
	}
	for (;;) {
		const char *d = buf_data(&r->partial), *e;
		size_t len = buf_size(&r->partial);

		e = len ? memmem(d, len, "\r\n", 2) : NULL;
		if (e == NULL)
			break;
		strlist_add(&r->got, d, (size_t)(e - d));
		buf_consume(&r->partial, (size_t)(e - d) + 2);
	}
}

/* rcpt_ok - the fake caller's relay policy */
static bool
rcpt_ok(const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return strcasecmp(addr, "postmaster") == 0;
	return strcasecmp(at + 1, "example.test") == 0 ||
	    strcasecmp(at + 1, "localhost") == 0;
}

/* check_addr - the machine never hands over a bad address */
static void
check_addr(struct run *r, const char *a, bool mail)
{
	if (a == NULL || (a[0] == '\0' && !mail)) {
		r->bad_addrs++;
		return;
	}
	if (a[0] == '\0' || (!mail && strcasecmp(a, "postmaster") == 0))
		return;
	if (smtp_address_mailbox(a, strlen(a), NULL) < 0 ||
	    strpbrk(a, "\r\n") != NULL)
		r->bad_addrs++;
}

/* on_commit - record the message and the envelope */
static void
on_commit(struct run *r)
{
	struct smtp_envelope env;
	char rcpts[512] = "", text[160];
	size_t i;

	smtp_server_envelope(r->s, &env);
	r->commits++;
	buf_reset(&r->last_msg);
	buf_append(&r->last_msg, env.msg, env.msg_len);
	for (i = 0; i < env.nrcpts; i++) {
		strlist_add(&r->committed_rcpts, env.rcpts[i],
		    strlen(env.rcpts[i]));
		if (i > 0)
			strncat(rcpts, ",", sizeof(rcpts) - strlen(rcpts) - 1);
		strncat(rcpts, env.rcpts[i], sizeof(rcpts) - strlen(rcpts) - 1);
	}
	snprintf(r->last_env, sizeof(r->last_env),
	    "from=%s rcpts=%s protocol=%s helo=%s auth=%s tls=%s utf8=%d "
	    "body8=%d esmtp=%d size=%zu", env.mail_from, rcpts, env.protocol,
	    env.helo, env.auth_user ? env.auth_user : "-",
	    env.tls ? env.tls->version : "-", env.smtputf8, env.body_8bit,
	    env.esmtp, env.msg_len);
	if (r->commit_code) {
		smtp_server_verdict(r->s, r->commit_code, r->commit_enh,
		    r->commit_text);
		return;
	}
	snprintf(text, sizeof(text), "Ok: queued as TEST%u", r->commits);
	smtp_server_verdict(r->s, 250, "2.0.0", text);
}

/* drive - run the machine until it wants input, answering its actions */
static void
drive(struct run *r)
{
	static const struct smtp_tls_info tls = { "TLSv1.3",
		"TLS_AES_256_GCM_SHA384", 256, "" };
	struct smtp_out out;
	size_t fp;
	int guard;

	for (guard = 0; guard < 100000 && !r->closed; guard++) {
		enum smtp_action a = smtp_server_next(r->s, &out);

		if (a == SMTP_ACT_READ)
			break;
		switch (a) {
		case SMTP_ACT_CLOSE:
			r->closed = true;
			break;
		case SMTP_ACT_STARTTLS:
			collect(r);
			smtp_server_tls_started(r->s, &tls);
			break;
		case SMTP_ACT_AUTH:
			r->auths++;
			snprintf(r->last_auth, sizeof(r->last_auth), "%s %s %s",
			    out.mech, out.user, out.pass);
			smtp_server_auth_result(r->s, strcmp(out.user,
			    "demo") == 0 && strcmp(out.pass, "secret") == 0);
			break;
		case SMTP_ACT_MAIL:
			check_addr(r, out.addr, true);
			strlist_add(&r->asked, out.addr, strlen(out.addr));
			if (r->mail_code)
				smtp_server_verdict(r->s, r->mail_code,
				    r->mail_enh, r->mail_text);
			else
				smtp_server_verdict(r->s, 250, "2.1.0", "Ok");
			break;
		case SMTP_ACT_RCPT:
			check_addr(r, out.addr, false);
			strlist_add(&r->asked, out.addr, strlen(out.addr));
			if (rcpt_ok(out.addr))
				smtp_server_verdict(r->s, 250, "2.1.5", "Ok");
			else
				smtp_server_verdict(r->s, 554, "5.7.1",
				    "Relay access denied");
			break;
		case SMTP_ACT_COMMIT:
			on_commit(r);
			break;
		case SMTP_ACT_READ:
			break;
		}
	}
	fp = smtp_server_footprint(r->s);
	if (fp > r->max_footprint)
		r->max_footprint = fp;
	collect(r);
}

/* client_write - one write of the client: fed whole or byte by byte */
static void
client_write(struct run *r, const char *p, size_t n)
{
	size_t i, k;

	for (i = 0; i < n && !r->closed; i += k) {
		k = r->bytewise ? 1 : (n - i > PIECE ? PIECE : n - i);
		if (smtp_server_feed(r->s, p + i, k) < 0)
			r->feed_failed = true;
		drive(r);
	}
}

/* run_start - a fresh session with the transcript's parameters */
static void
run_start(struct run *r)
{
	r->s = smtp_server_new(&r->params);
	drive(r);
}

/* run_init - defaults: role mx, STARTTLS offered, default limits */
static void
run_init(struct run *r, const char *name, bool bytewise)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->bytewise = bytewise;
	r->ok = true;
	r->params.role = SMTP_ROLE_MX;
	r->params.hostname = "mx.example.test";
	r->params.client_ip = "127.0.0.1";
	r->params.tls_offered = true;
	smtp_limits_default(&r->params.limits);
	buf_init(&r->partial, 1 << 24);
	buf_init(&r->last_msg, 1 << 26);
}

/* run_fini - free the session and what was recorded */
static void
run_fini(struct run *r)
{
	smtp_server_free(r->s);
	buf_fini(&r->partial);
	buf_fini(&r->last_msg);
	strlist_free(&r->got);
	strlist_free(&r->committed_rcpts);
	strlist_free(&r->asked);
}

/* unescape - decode \r \n \t \0 \\ \xHH into out */
static void
unescape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	buf_reset(out);
	while (*s) {
		char c = *s++;

		if (c == '\\' && *s) {
			char e = *s++;
			const char *h1, *h2;

			switch (e) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case 'x':
				if (s[0] && s[1] &&
				    (h1 = strchr(hex, s[0] | 0x20)) != NULL &&
				    (h2 = strchr(hex, s[1] | 0x20)) != NULL) {
					c = (char)((h1 - hex) * 16 + (h2 - hex));
					s += 2;
				}
				break;
			default: c = e; break;
			}
		}
		buf_append(out, &c, 1);
	}
}

/* unescape_str - unescape into out and return it as a C string */
static const char *
unescape_str(struct buf *out, const char *s)
{
	unescape(out, s);
	return buf_cstr(out);
}

/* escape - printable form of p..n for messages */
static const char *
escape(char *dst, size_t dsz, const char *p, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < dsz; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			dst[o++] = '\\';
			dst[o++] = 'r';
		} else if (c == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else if (c < 0x20 || c >= 0x7f || c == '\\') {
			o += (size_t)snprintf(dst + o, dsz - o, "\\x%02x", c);
		} else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return dst;
}

/* expect_line - the next reply line must be want */
static void
expect_line(struct run *r, int line, const char *want)
{
	if (r->gpos >= r->got.n) {
		fail(r, line, "reply", NULL, want);
		return;
	}
	if (strcmp(r->got.v[r->gpos], want) != 0)
		fail(r, line, "reply", r->got.v[r->gpos], want);
	r->gpos++;
}

/* env_field - the value of key in r->last_env */
static const char *
env_field(const struct run *r, const char *key, char *dst, size_t dsz)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = r->last_env; (p = strstr(p, pat)) != NULL; p++)
		if (p == r->last_env || p[-1] == ' ')
			break;
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	e = strchr(p, ' ');
	snprintf(dst, dsz, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
	return dst;
}

/* set_limit - "limit NAME VALUE" */
static bool
set_limit(struct smtp_limits *l, const char *name, unsigned long v)
{
	if (strcmp(name, "cmd_line") == 0)
		l->cmd_line = v;
	else if (strcmp(name, "text_line") == 0)
		l->text_line = v;
	else if (strcmp(name, "auth_line") == 0)
		l->auth_line = v;
	else if (strcmp(name, "header_size") == 0)
		l->header_size = v;
	else if (strcmp(name, "message_size") == 0)
		l->message_size = v;
	else if (strcmp(name, "rcpts") == 0)
		l->rcpts = (unsigned)v;
	else if (strcmp(name, "errors") == 0)
		l->errors = (unsigned)v;
	else if (strcmp(name, "auth_failures") == 0)
		l->auth_failures = (unsigned)v;
	else
		return false;
	return true;
}

/* parse_verdict - "CODE ENH TEXT..." */
static bool
parse_verdict(const char *arg, int *code, char *enh, size_t esz, char *text,
    size_t tsz)
{
	char *end;
	long c = strtol(arg, &end, 10);
	const char *sp;

	if (end == arg || *end != ' ')
		return false;
	arg = end + 1;
	sp = strchr(arg, ' ');
	if (sp == NULL)
		return false;
	snprintf(enh, esz, "%.*s", (int)(sp - arg), arg);
	snprintf(text, tsz, "%s", sp + 1);
	*code = (int)c;
	return true;
}

/* yesno - "yes" or "no" */
static bool
yesno(const char *s)
{
	return strcmp(s, "yes") == 0;
}

/*
 * run_transcript - execute one golden file; the header directives come
 * first, the first C:, W:, R: or S: line starts the session.
 */
static bool
run_transcript(const char *path, bool bytewise, bool *has_bytewise)
{
	FILE *f = fopen(path, "r");
	struct run r;
	struct buf arg;
	char *line = NULL, tmp[4096], msg[512];
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;
	bool started = false, ok;

	run_init(&r, path, bytewise);
	buf_init(&arg, 1 << 24);
	*has_bytewise = true;
	if (f == NULL) {
		fail(&r, 0, "open", path, "a readable transcript");
		goto out;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *d = line, *a;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		a = strchr(d, ' ');
		if (a != NULL)
			*a++ = '\0';
		else
			a = d + len;
		if (!started && (strcmp(d, "C:") == 0 || strcmp(d, "W:") == 0 ||
		    strcmp(d, "R:") == 0 || strcmp(d, "S:") == 0 ||
		    strcmp(d, "S*:") == 0)) {
			run_start(&r);
			started = true;
		}
		if (strcmp(d, "role") == 0) {
			if (strcmp(a, "submission") == 0)
				r.params.role = SMTP_ROLE_SUBMISSION;
			else if (strcmp(a, "submissions") == 0) {
				static const struct smtp_tls_info tls = {
					"TLSv1.3", "TLS_AES_256_GCM_SHA384",
					256, "mx.example.test" };

				r.params.role = SMTP_ROLE_SUBMISSIONS;
				r.params.tls = &tls;
				r.params.tls_offered = false;
			}
		} else if (strcmp(d, "tls-offered") == 0) {
			r.params.tls_offered = yesno(a);
		} else if (strcmp(d, "bytewise") == 0) {
			*has_bytewise = yesno(a);
		} else if (strcmp(d, "limit") == 0) {
			char *v = strchr(a, ' ');

			if (v == NULL || (*v++ = '\0', !set_limit(
			    &r.params.limits, a, strtoul(v, NULL, 10))))
				fail(&r, lineno, "bad limit directive", a,
				    "NAME VALUE");
		} else if (strcmp(d, "mail-verdict") == 0) {
			if (!parse_verdict(a, &r.mail_code, r.mail_enh,
			    sizeof(r.mail_enh), r.mail_text,
			    sizeof(r.mail_text)))
				fail(&r, lineno, "bad verdict", a, "CODE ENH TEXT");
		} else if (strcmp(d, "commit-verdict") == 0) {
			if (!parse_verdict(a, &r.commit_code, r.commit_enh,
			    sizeof(r.commit_enh), r.commit_text,
			    sizeof(r.commit_text)))
				fail(&r, lineno, "bad verdict", a, "CODE ENH TEXT");
		} else if (strcmp(d, "C:") == 0 || strcmp(d, "W:") == 0) {
			unescape(&arg, a);
			if (d[0] == 'C')
				buf_append(&arg, "\r\n", 2);
			client_write(&r, buf_data(&arg), buf_size(&arg));
		} else if (strcmp(d, "R:") == 0) {
			char *rest;
			unsigned long count = strtoul(a, &rest, 10), i;
			struct buf one;

			buf_init(&one, 1 << 24);
			unescape(&one, *rest == ' ' ? rest + 1 : rest);
			buf_reset(&arg);
			for (i = 0; i < count; i++)
				buf_append(&arg, buf_data(&one), buf_size(&one));
			buf_fini(&one);
			client_write(&r, buf_data(&arg), buf_size(&arg));
		} else if (strcmp(d, "S:") == 0) {
			expect_line(&r, lineno, a);
		} else if (strcmp(d, "S*:") == 0) {
			char *rest;
			unsigned long count = strtoul(a, &rest, 10), i;

			for (i = 0; i < count; i++)
				expect_line(&r, lineno, *rest ? rest + 1 : rest);
		} else if (strcmp(d, "CLOSED") == 0) {
			if (!r.closed)
				fail(&r, lineno, "session", "open", "closed");
		} else if (strcmp(d, "OPEN") == 0) {
			if (r.closed)
				fail(&r, lineno, "session", "closed", "open");
		} else if (strcmp(d, "COMMITS") == 0) {
			snprintf(tmp, sizeof(tmp), "%u", r.commits);
			if (strcmp(tmp, a) != 0)
				fail(&r, lineno, "committed messages", tmp, a);
		} else if (strcmp(d, "MSG") == 0) {
			unescape(&arg, a);
			if (buf_size(&arg) != buf_size(&r.last_msg) ||
			    memcmp(buf_data(&arg), buf_data(&r.last_msg),
			    buf_size(&arg)) != 0)
				fail(&r, lineno, "message", escape(tmp,
				    sizeof(tmp), buf_data(&r.last_msg),
				    buf_size(&r.last_msg)), escape(msg,
				    sizeof(msg), buf_data(&arg),
				    buf_size(&arg)));
		} else if (strcmp(d, "ENV") == 0) {
			char *v = strchr(a, ' ');
			const char *g;

			if (v != NULL)
				*v++ = '\0';
			g = env_field(&r, a, tmp, sizeof(tmp));
			if (g == NULL || strcmp(g, v ? v : "") != 0)
				fail(&r, lineno, a, g, v);
		} else if (strcmp(d, "NOT-COMMITTED") == 0) {
			a = (char *)unescape_str(&arg, a);
			if (strlist_has(&r.committed_rcpts, a))
				fail(&r, lineno, "committed recipient", a,
				    "never committed");
		} else if (strcmp(d, "NOT-ASKED") == 0) {
			a = (char *)unescape_str(&arg, a);
			if (strlist_has(&r.asked, a))
				fail(&r, lineno, "address given to caller", a,
				    "never given");
		} else if (strcmp(d, "ASKED") == 0) {
			const char *g = r.asked.n ? r.asked.v[r.asked.n - 1] :
			    NULL;

			a = (char *)unescape_str(&arg, a);
			if (g == NULL || strcmp(g, a) != 0)
				fail(&r, lineno, "last address given", g, a);
		} else if (strcmp(d, "AUTH-SEEN") == 0) {
			if (strcmp(r.last_auth, a) != 0)
				fail(&r, lineno, "last AUTH action",
				    r.last_auth, a);
		} else if (strcmp(d, "AUTHS") == 0) {
			snprintf(tmp, sizeof(tmp), "%u", r.auths);
			if (strcmp(tmp, a) != 0)
				fail(&r, lineno, "AUTH actions", tmp, a);
		} else if (strcmp(d, "IDLE") == 0) {
			bool want = yesno(a), got = smtp_server_idle(r.s);

			if (got != want)
				fail(&r, lineno, "idle", got ? "yes" : "no", a);
		} else if (strcmp(d, "INDATA") == 0) {
			bool want = yesno(a), got = smtp_server_in_data(r.s);

			if (got != want)
				fail(&r, lineno, "in data", got ? "yes" : "no",
				    a);
		} else if (strcmp(d, "RELEASE") == 0) {
			smtp_server_release_buffers(r.s);
		} else if (strcmp(d, "FOOTPRINT-BELOW") == 0) {
			size_t want = strtoul(a, NULL, 10), now;

			now = smtp_server_footprint(r.s);
			if (now > r.max_footprint)
				r.max_footprint = now;
			if (r.max_footprint >= want) {
				snprintf(tmp, sizeof(tmp), "%zu",
				    r.max_footprint);
				snprintf(msg, sizeof(msg), "< %s", a);
				fail(&r, lineno, "peak footprint", tmp, msg);
			}
		} else if (strcmp(d, "TIMEOUT") == 0) {
			smtp_server_timeout(r.s);
			drive(&r);
		} else if (strcmp(d, "SHUTDOWN") == 0) {
			smtp_server_shutdown(r.s);
			drive(&r);
		} else {
			fail(&r, lineno, "unknown directive", d, "a known one");
		}
	}
	if (f != NULL)
		fclose(f);
	if (!started)
		fail(&r, lineno, "transcript", "empty", "C:/S: lines");
	if (r.gpos < r.got.n)
		fail(&r, lineno, "unexpected extra reply", r.got.v[r.gpos],
		    "no more replies");
	if (buf_size(&r.partial) > 0)
		fail(&r, lineno, "output", "a reply without CRLF", "CRLF");
	if (r.feed_failed)
		fail(&r, lineno, "smtp_server_feed", "E_LIMIT", "0");
	if (r.bad_addrs > 0)
		fail(&r, lineno, "addresses given to the caller",
		    "one breaking RFC 5321", "valid ones only");
out:
	free(line);
	buf_fini(&arg);
	ok = r.ok;
	run_fini(&r);
	return ok;
}

/* name_cmp - qsort on file names */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* test_transcripts - every tests/golden/NAME.txt, whole and bytewise */
static void
test_transcripts(void)
{
	struct strlist files = { 0 };
	DIR *d = opendir(GOLDEN_DIR);
	struct dirent *e;
	size_t i;

	CHECK(d != NULL, "tests/golden exists (run from the repo root)");
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char path[512];

		if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0) {
			snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR,
			    e->d_name);
			strlist_add(&files, path, strlen(path));
		}
	}
	closedir(d);
	qsort(files.v, files.n, sizeof(*files.v), name_cmp);
	CHECK(files.n >= 20, "at least 20 golden transcripts");
	for (i = 0; i < files.n; i++) {
		bool bw = true;

		CHECK(run_transcript(files.v[i], false, &bw), files.v[i]);
		if (bw)
			CHECK(run_transcript(files.v[i], true, &bw),
			    files.v[i]);
	}
	strlist_free(&files);
}

/*
 * A minimal JSON reader for the sequences file: it walks the document
 * and hands every string value to a callback with its key (or its
 * array's key) and the key of the enclosing object.
 */
struct json {
	const char *p, *end;
	void (*cb)(void *, const char *key, const char *parent,
	    const char *s, size_t n);
	void *arg;
	bool bad;
};

static void json_value(struct json *j, const char *key, const char *parent,
    int depth);

/* json_ws - skip white space */
static void
json_ws(struct json *j)
{
	while (j->p < j->end && strchr(" \t\r\n", *j->p) != NULL)
		j->p++;
}

/* json_string - decode a string literal into out */
static void
json_string(struct json *j, struct buf *out)
{
	buf_reset(out);
	if (j->p >= j->end || *j->p != '"') {
		j->bad = true;
		return;
	}
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if (c == '\\' && j->p < j->end) {
			char e = *j->p++;

			switch (e) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v = 0;
				int i;

				for (i = 0; i < 4 && j->p < j->end; i++) {
					char h = *j->p++;

					v = v * 16 + (unsigned)(h <= '9' ?
					    h - '0' : (h | 0x20) - 'a' + 10);
				}
				if (v < 0x80) {
					c = (char)v;
				} else if (v < 0x800) {
					char u[2] = { (char)(0xc0 | (v >> 6)),
						(char)(0x80 | (v & 0x3f)) };

					buf_append(out, u, 2);
					continue;
				} else {
					char u[3] = { (char)(0xe0 | (v >> 12)),
						(char)(0x80 | ((v >> 6) & 0x3f)),
						(char)(0x80 | (v & 0x3f)) };

					buf_append(out, u, 3);
					continue;
				}
				break;
			}
			default: c = e; break;
			}
		}
		buf_append(out, &c, 1);
	}
	if (j->p >= j->end)
		j->bad = true;
	else
		j->p++;
}

static void
json_value(struct json *j, const char *key, const char *parent, int depth)
{
	struct buf s, k;

	json_ws(j);
	if (j->p >= j->end || depth > 32) {
		j->bad = true;
		return;
	}
	buf_init(&s, 1 << 20);
	buf_init(&k, 4096);
	if (*j->p == '"') {
		json_string(j, &s);
		j->cb(j->arg, key, parent, buf_data(&s), buf_size(&s));
	} else if (*j->p == '{') {
		j->p++;
		for (;;) {
			json_ws(j);
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				break;
			}
			json_string(j, &k);
			json_ws(j);
			if (j->bad || j->p >= j->end || *j->p != ':') {
				j->bad = true;
				break;
			}
			j->p++;
			json_value(j, buf_cstr(&k), key, depth + 1);
			json_ws(j);
			if (j->p < j->end && *j->p == ',')
				j->p++;
			if (j->bad)
				break;
		}
	} else if (*j->p == '[') {
		j->p++;
		for (;;) {
			json_ws(j);
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				break;
			}
			json_value(j, key, parent, depth + 1);
			json_ws(j);
			if (j->p < j->end && *j->p == ',')
				j->p++;
			if (j->bad)
				break;
		}
	} else {
		while (j->p < j->end && strchr(",]} \t\r\n", *j->p) == NULL)
			j->p++;
	}
	buf_fini(&s);
	buf_fini(&k);
}

struct sequences {
	struct strlist eod;		/* fake end-of-data sequences */
	struct strlist messages;	/* whole messages (aiosmtpd) */
	struct strlist pre_tls;		/* STARTTLS probe writes */
};

/* on_json_string - sort the strings of the sequences file */
static void
on_json_string(void *arg, const char *key, const char *parent,
    const char *s, size_t n)
{
	struct sequences *q = arg;
	size_t i;

	if (key == NULL)
		return;
	if (strstr(key, "eod_sequences") != NULL ||
	    (parent != NULL && strcmp(parent, "tests") == 0)) {
		char *e;

		/* stored length-prefixed: some forms hold a NUL */
		for (i = 0; i < q->eod.n; i++)
			if ((unsigned char)q->eod.v[i][0] == n &&
			    memcmp(q->eod.v[i] + 1, s, n) == 0)
				return;
		if (n == 0 || n > 64)
			return;
		e = xmalloc(n + 2);
		e[0] = (char)n;
		memcpy(e + 1, s, n);
		e[n + 1] = '\0';
		strlist_add(&q->eod, "", 0);
		free(q->eod.v[q->eod.n - 1]);
		q->eod.v[q->eod.n - 1] = e;
	} else if (strcmp(key, "message_bytes") == 0) {
		strlist_add(&q->messages, s, n);
	} else if (strcmp(key, "pre_tls_writes") == 0) {
		strlist_add(&q->pre_tls, s, n);
	}
}

/* open_transaction - EHLO, MAIL, RCPT legit@, DATA, each its own write */
static void
open_transaction(struct run *r)
{
	static const char *const cmds[] = { "EHLO client.example\r\n",
		"MAIL FROM:<sender@example.test>\r\n",
		"RCPT TO:<legit@example.test>\r\n", "DATA\r\n" };
	size_t i;

	run_start(r);
	for (i = 0; i < 4; i++)
		client_write(r, cmds[i], strlen(cmds[i]));
}

/*
 * test_smuggling - each fake end of data, then a smuggled transaction.
 * Three ways: all in one write (what the scanners send), the smuggled
 * commands in a second write, and everything byte by byte.  Never two
 * messages, never one for the smuggled recipient; unless the sequence
 * itself holds a real <CRLF>.<CRLF>, the smuggled commands are never even
 * read as commands.
 */
static void
test_smuggling(const struct sequences *q)
{
	static const char head[] = "From: a@example.test\r\nSubject: legit"
	    "\r\n\r\nlegit body";
	static const char smuggled[] = "MAIL FROM:<evil@example.test>\r\n"
	    "RCPT TO:<smuggled@example.test>\r\nDATA\r\n"
	    "From: evil@example.test\r\nSubject: smuggled\r\n\r\nevil\r\n"
	    ".\r\n";
	static const char *const modes[] = { "one write", "two writes",
		"bytewise" };
	size_t i;
	int mode;

	CHECK(q->eod.n >= 10, "sequences file gives >= 10 end-of-data forms");
	for (i = 0; i < q->eod.n; i++) {
		size_t n = (unsigned char)q->eod.v[i][0];
		const char *seq = q->eod.v[i] + 1;
		bool real_eod = memmem(seq, n, "\r\n.\r\n", 5) != NULL;

		for (mode = 0; mode < 3; mode++) {
			char name[128], esc[64];
			struct run r;
			struct buf w;
			bool ok;

			escape(esc, sizeof(esc), seq, n);
			snprintf(name, sizeof(name), "smuggling \"%s\" (%s)",
			    esc, modes[mode]);
			run_init(&r, name, mode == 2);
			open_transaction(&r);
			buf_init(&w, 1 << 16);
			buf_append(&w, head, sizeof(head) - 1);
			buf_append(&w, seq, n);
			if (mode == 1) {
				client_write(&r, buf_data(&w), buf_size(&w));
				buf_reset(&w);
			}
			buf_append(&w, smuggled, sizeof(smuggled) - 1);
			client_write(&r, buf_data(&w), buf_size(&w));
			client_write(&r, "QUIT\r\n", 6);
			buf_fini(&w);
			if (r.commits > 1)
				fail(&r, 0, "commits", "two or more",
				    "at most one");
			/* every form holds a bare CR, bare LF or NUL */
			if (strlist_has(&r.committed_rcpts,
			    "legit@example.test"))
				fail(&r, 0, "legit message", "committed",
				    "refused");
			if (!real_eod || mode == 0) {
				if (r.commits != 0)
					fail(&r, 0, "commits", "1", "0");
				if (strlist_has(&r.committed_rcpts,
				    "smuggled@example.test"))
					fail(&r, 0, "smuggled recipient",
					    "committed", "never committed");
			}
			if (!real_eod && strlist_has(&r.asked,
			    "smuggled@example.test"))
				fail(&r, 0, "smuggled RCPT", "read as a command",
				    "swallowed as text");
			if (!r.closed)
				fail(&r, 0, "session", "open", "closed");
			ok = r.ok;
			run_fini(&r);
			CHECK(ok, name);
		}
	}
}

/* test_whole_messages - messages with a fake end inside are refused */
static void
test_whole_messages(const struct sequences *q)
{
	size_t i;

	CHECK(q->messages.n >= 1, "sequences file gives a whole message");
	for (i = 0; i < q->messages.n; i++) {
		struct run r;
		bool ok;
		const char *m = q->messages.v[i];

		run_init(&r, "aiosmtpd message with \\n.\\r\\n inside", false);
		open_transaction(&r);
		client_write(&r, m, strlen(m));
		if (r.commits != 0)
			fail(&r, 0, "commits", "1", "0");
		if (r.got.n == 0 || strncmp(r.got.v[r.got.n - 1], "550 5.6.0",
		    9) != 0)
			fail(&r, 0, "last reply", r.got.n ?
			    r.got.v[r.got.n - 1] : NULL, "550 5.6.0 ...");
		if (r.closed)
			fail(&r, 0, "session", "closed", "open");
		ok = r.ok;
		run_fini(&r);
		CHECK(ok, "whole message with a fake end of data is refused");
	}
}

/* test_starttls_probe - the command-injection-tester writes */
static void
test_starttls_probe(const struct sequences *q)
{
	struct run r;
	size_t i;
	bool ok;

	CHECK(q->pre_tls.n >= 2, "sequences file gives the STARTTLS probe");
	run_init(&r, "STARTTLS injection probe", false);
	run_start(&r);
	for (i = 0; i < q->pre_tls.n; i++)
		client_write(&r, q->pre_tls.v[i], strlen(q->pre_tls.v[i]));
	if (!r.closed)
		fail(&r, 0, "session", "open", "closed");
	if (r.got.n == 0 || strncmp(r.got.v[r.got.n - 1], "554 5.5.0", 9) != 0)
		fail(&r, 0, "last reply", r.got.n ? r.got.v[r.got.n - 1] :
		    NULL, "554 5.5.0 ...");
	for (i = 0; i < r.got.n; i++)
		if (strncmp(r.got.v[i], "220 2.0.0", 9) == 0)
			fail(&r, 0, "reply", r.got.v[i], "no TLS start");
	ok = r.ok;
	run_fini(&r);
	CHECK(ok, "STARTTLS with a pipelined EHLO is refused, no TLS");
}

/* test_sequences - the public smuggling and injection sequences */
static void
test_sequences(void)
{
	struct sequences q;
	struct json j;
	FILE *f = fopen(SEQ_FILE, "rb");
	char *data;
	size_t n;

	memset(&q, 0, sizeof(q));
	CHECK(f != NULL, SEQ_FILE " is readable");
	if (f == NULL)
		return;
	data = xmalloc(1 << 20);
	n = fread(data, 1, 1 << 20, f);
	fclose(f);
	memset(&j, 0, sizeof(j));
	j.p = data;
	j.end = data + n;
	j.cb = on_json_string;
	j.arg = &q;
	json_value(&j, NULL, NULL, 0);
	CHECK(!j.bad, "sequences file parses");
	test_smuggling(&q);
	test_whole_messages(&q);
	test_starttls_probe(&q);
	free(data);
	strlist_free(&q.eod);
	strlist_free(&q.messages);
	strlist_free(&q.pre_tls);
}

/* feed_str - feed a C string */
static int
feed_str(struct smtp_server *s, const char *str)
{
	return smtp_server_feed(s, str, strlen(str));
}

/*
 * test_feed_contract - a feed of up to SMTP_SERVER_FEED_MAX octets always
 * fits after READ; feeding while the machine waits is refused once the
 * cap is reached, and memory stays capped; after CLOSE input is ignored.
 */
static void
test_feed_contract(void)
{
	static char junk[SMTP_SERVER_FEED_MAX];
	struct smtp_server_params p;
	struct smtp_server *s;
	struct smtp_out out;
	enum smtp_action a;
	int i, refused = 0, reads = 0;

	memset(&p, 0, sizeof(p));
	p.role = SMTP_ROLE_MX;
	p.hostname = "mx.example.test";
	p.client_ip = "127.0.0.1";
	smtp_limits_default(&p.limits);

	/* message text in full-size feeds: every feed fits */
	s = smtp_server_new(&p);
	feed_str(s, "HELO c\r\nMAIL FROM:<a@b.example>\r\n");
	while ((a = smtp_server_next(s, &out)) != SMTP_ACT_READ)
		smtp_server_verdict(s, 250, "2.0.0", "Ok");
	feed_str(s, "RCPT TO:<c@example.test>\r\n");
	while ((a = smtp_server_next(s, &out)) != SMTP_ACT_READ)
		smtp_server_verdict(s, 250, "2.0.0", "Ok");
	feed_str(s, "DATA\r\n");
	CHECK_INT(smtp_server_next(s, &out), SMTP_ACT_READ, "DATA then READ");
	memset(junk, 'x', sizeof(junk));
	for (i = 0; i < 64; i++) {
		if (smtp_server_feed(s, junk, sizeof(junk)) < 0)
			refused++;
		if (smtp_server_next(s, &out) == SMTP_ACT_READ)
			reads++;
	}
	CHECK_INT(refused, 0, "64 KiB feeds after READ always fit (DATA)");
	CHECK_INT(reads, 64, "each feed ends in READ");
	CHECK(smtp_server_footprint(s) < 256 * 1024,
	    "4 MiB line in DATA keeps the footprint small");
	smtp_server_free(s);

	/* feeding while the machine waits for a verdict hits the cap */
	s = smtp_server_new(&p);
	feed_str(s, "HELO c\r\nMAIL FROM:<a@b.example>\r\n");
	CHECK_INT(smtp_server_next(s, &out), SMTP_ACT_MAIL, "waits on MAIL");
	refused = 0;
	for (i = 0; i < 8; i++)
		if (smtp_server_feed(s, junk, sizeof(junk)) == E_LIMIT)
			refused++;
	CHECK(refused > 0, "overfilling while waiting is E_LIMIT");
	CHECK(smtp_server_footprint(s) < 4 * SMTP_SERVER_FEED_MAX,
	    "the input buffer stays capped");
	CHECK_INT(smtp_server_next(s, &out), SMTP_ACT_MAIL,
	    "still waiting until the verdict");
	smtp_server_free(s);

	/* after CLOSE nothing is read or answered */
	s = smtp_server_new(&p);
	feed_str(s, "QUIT\r\n");
	CHECK_INT(smtp_server_next(s, &out), SMTP_ACT_CLOSE, "QUIT closes");
	CHECK_INT(feed_str(s, "NOOP\r\n"), 0,
	    "feed after close is ignored");
	CHECK_INT(smtp_server_next(s, &out), SMTP_ACT_CLOSE, "stays closed");
	smtp_server_free(s);
	smtp_server_free(NULL);
}

int
main(void)
{
	test_transcripts();
	test_sequences();
	test_feed_contract();
	return test_done();
}
