/*
 * config/config.c - parse and validate the smtpsd configuration file.
 *
 * One directive a line; the keyword picks a handler from a table, which
 * also states the argument count.  Every problem is reported as
 * "FILE:LINE: problem" and stops the load: nothing is half-applied.
 * Relative paths are made absolute against the working directory at load
 * time, so the daemon may chdir later.  docs/CONFIG.md is the user's side
 * of this file; keep the two in step.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* a configuration file is small; anything this big is a mistake */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX 8192
#define CONFIG_ARGS_MAX 256
/* RFC 1035 2.3.4: 63-octet labels, 253 characters written out */
#define DOMAIN_MAX 253
#define LABEL_MAX 63
/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets */
#define LOCAL_PART_MAX 64
/* useradd's limit (NAME_REGEX and 32 characters) */
#define UNIX_USER_MAX 32

struct parse {
	const char *file;
	int line;
	char *err;
	struct config *c;
	/* where each single-valued directive was set (0: not yet) */
	int seen[32];
	int limit_seen[16];
	int timeout_seen[4];
	int check_timeout_seen[4];
	int *grant_lines;
	int *mailbox_lines;
};

/* perr - record "FILE:LINE: problem" */
static int
perr(struct parse *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct parse *p, int code, const char *fmt, ...)
{
	va_list ap;
	char *m;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(p->err);
	p->err = xasprintf("%s:%d: %s", p->file, p->line, m ? m : "error");
	free(m);
	return code;
}

/* ---- small validators ---- */

/* domain_ok - RFC 1035 host name: LDH labels, no IP address */
static bool
domain_ok(const char *d)
{
	size_t n = strlen(d), i, label = 0;
	bool alpha_last = false;

	if (n == 0 || n > DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			alpha_last = false;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > LABEL_MAX)
			return false;
		if (!(ch >= '0' && ch <= '9'))
			alpha_last = true;
	}
	/* "1.2.3.4" is an address, not a name: the last label has a letter */
	return label > 0 && d[n - 1] != '-' && alpha_last;
}

/* lower - ASCII lower-case s in place */
static char *
lower(char *s)
{
	char *q;

	for (q = s; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return s;
}

/* is_atext - RFC 5322 3.2.3 atext (ASCII) */
static bool
is_atext(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* local_part_ok - dot-atom local part, 1..64 octets */
static bool
local_part_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LOCAL_PART_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* address_ok - "local@domain" with a dot-atom local part */
static bool
address_ok(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL && local_part_ok(a, (size_t)(at - a)) &&
	    domain_ok(at + 1);
}

/* login_ok - a passwd-file user name: no blank, control or ':' */
static bool
login_ok(const char *u)
{
	if (*u == '\0')
		return false;
	for (; *u; u++)
		if ((unsigned char)*u <= ' ' || *u == ':' || *u == 0x7f)
			return false;
	return true;
}

/* unix_user_ok - [A-Za-z0-9._-], not starting with '-', up to 32 */
static bool
unix_user_ok(const char *u)
{
	size_t i;

	if (u[0] == '\0' || u[0] == '-' || strlen(u) > UNIX_USER_MAX)
		return false;
	for (i = 0; u[i]; i++) {
		unsigned char ch = (unsigned char)u[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-'))
			return false;
	}
	return true;
}

/* number - a decimal number in [min, max], digits only */
static bool
number(const char *s, long long min, long long max, long long *out)
{
	long long v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* parse_port - "1".."65535" */
static bool
parse_port(const char *s, int *port)
{
	long long v;

	if (!number(s, 1, 65535, &v))
		return false;
	*port = (int)v;
	return true;
}

/* ip_normal - the canonical text of an IPv4 or IPv6 address, or NULL */
static char *
ip_normal(const char *s, int af)
{
	unsigned char a[16];
	char out[INET6_ADDRSTRLEN];

	if (inet_pton(af, s, a) != 1 || inet_ntop(af, a, out, sizeof(out))
	    == NULL)
		return NULL;
	return xstrdup(out);
}

/*
 * abs_path - p made absolute against the working directory, with
 * leading "./" and trailing '/' dropped
 */
static char *
abs_path(const char *p)
{
	char cwd[PATH_MAX];
	char *r;
	size_t n;

	while (p[0] == '.' && p[1] == '/') {
		p += 2;
		while (*p == '/')
			p++;
	}
	if (p[0] == '/')
		r = xstrdup(p);
	else if (p[0] == '\0' || strcmp(p, ".") == 0)
		r = xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		r = xstrdup(p);
	else
		r = xasprintf("%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", p);
	n = strlen(r);
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

/* role_name - the config word for a role */
static const char *
role_name(enum smtp_role r)
{
	switch (r) {
	case SMTP_ROLE_MX:
		return "mx";
	case SMTP_ROLE_SUBMISSION:
		return "submission";
	case SMTP_ROLE_SUBMISSIONS:
		return "submissions";
	}
	return "?";
}

/* ---- directive handlers: args[0] is the keyword ---- */

/* once - a single-valued directive: refuse a second one */
static int
once(struct parse *p, int *seen, const char *what)
{
	if (*seen)
		return perr(p, E_INVAL, "%s already set on line %d", what,
		    *seen);
	*seen = p->line;
	return 0;
}

/* set_path - a path setting, made absolute */
static int
set_path(struct parse *p, char **dst, const char *kw, const char *arg)
{
	if (arg[0] == '\0')
		return perr(p, E_INVAL, "%s: empty path", kw);
	free(*dst);
	*dst = abs_path(arg);
	return 0;
}

/* d_hostname - "hostname NAME" */
static int
d_hostname(struct parse *p, char **a, size_t n)
{
	if (!domain_ok(a[1]))
		return perr(p, E_INVAL, "hostname: \"%s\" is not a valid "
		    "domain name", a[1]);
	free(p->c->hostname);
	p->c->hostname = xstrdup(a[1]);
	return 0;
}

/* d_spool_dir - "spool-dir DIR" */
static int
d_spool_dir(struct parse *p, char **a, size_t n)
{
	return set_path(p, &p->c->spool_dir, a[0], a[1]);
}

/* d_mail_dir - "mail-dir DIR" */
static int
d_mail_dir(struct parse *p, char **a, size_t n)
{
	return set_path(p, &p->c->mail_dir, a[0], a[1]);
}

/* d_passwd_file - "passwd-file FILE" */
static int
d_passwd_file(struct parse *p, char **a, size_t n)
{
	return set_path(p, &p->c->passwd_file, a[0], a[1]);
}

/* d_user - "user NAME", the account to drop to */
static int
d_user(struct parse *p, char **a, size_t n)
{
	if (!unix_user_ok(a[1]))
		return perr(p, E_INVAL, "user: \"%s\" is not a valid user name",
		    a[1]);
	free(p->c->user);
	p->c->user = xstrdup(a[1]);
	return 0;
}

/* d_workers - "workers N", 0 for one per core */
static int
d_workers(struct parse *p, char **a, size_t n)
{
	long long v;

	if (!number(a[1], 0, 256, &v))
		return perr(p, E_INVAL, "workers: bad value \"%s\" (want a "
		    "number from 0 to 256)", a[1]);
	p->c->workers = (int)v;
	return 0;
}

/* one_of - v must be one of names[0..n-1]; its index in *out, or the
   error "KW: bad value "V" (want A, B or C)" */
static int
one_of(struct parse *p, const char *kw, const char *v,
    const char *const *names, int n, int *out)
{
	char want[128] = "";
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	for (i = 0; i < n; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
		    "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
	return perr(p, E_INVAL, "%s: bad value \"%s\" (want %s)", kw, v, want);
}

static const char *const sched_names[] = {	/* by enum config_sched */
	[CONFIG_SCHED_BATCH] = "batch",
	[CONFIG_SCHED_NORMAL] = "normal",
	[CONFIG_SCHED_INHERIT] = "inherit",
};

/* d_scheduling - "scheduling batch|normal|inherit", the CPU policy of the
   workers and the queue manager */
static int
d_scheduling(struct parse *p, char **a, size_t n)
{
	int i, r;

	if ((r = one_of(p, a[0], a[1], sched_names,
	    (int)(sizeof(sched_names) / sizeof(sched_names[0])), &i)) == 0)
		p->c->sched = (enum config_sched)i;
	return r;
}

/* config_sched_name - the keyword value of a scheduling setting */
const char *
config_sched_name(enum config_sched s)
{
	return sched_names[s];
}

/* config_resolver_normal - ADDRESS[@PORT] in its normal form (IP
   written canonically), malloc'ed into *out; E_INVAL when it is not one */
int
config_resolver_normal(const char *in, char **out)
{
	char *addr = xstrdup(in), *at, *ip;
	int port = 0;

	*out = NULL;
	if ((at = strrchr(addr, '@')) != NULL)
		*at = '\0';
	ip = ip_normal(addr, strchr(addr, ':') ? AF_INET6 : AF_INET);
	if (ip == NULL || (at != NULL && !parse_port(at + 1, &port))) {
		free(ip);
		free(addr);
		return E_INVAL;
	}
	*out = at ? xasprintf("%s@%d", ip, port) : xstrdup(ip);
	free(ip);
	free(addr);
	return 0;
}

/* d_resolver - "resolver ADDRESS[@PORT]", stored normalised */
static int
d_resolver(struct parse *p, char **a, size_t n)
{
	char *r;

	if (config_resolver_normal(a[1], &r) < 0)
		return perr(p, E_INVAL, "resolver: bad address \"%s\" (want "
		    "ADDRESS[@PORT])", a[1]);
	free(p->c->resolver);
	p->c->resolver = r;
	return 0;
}

/* d_listen - "listen ADDRESS:PORT ROLE" */
static int
d_listen(struct parse *p, char **a, size_t n)
{
	static const struct {
		const char *name;
		enum smtp_role role;
	} roles[] = {
		{ "mx", SMTP_ROLE_MX },
		{ "submission", SMTP_ROLE_SUBMISSION },
		{ "submissions", SMTP_ROLE_SUBMISSIONS },
	};
	struct config *c = p->c;
	struct config_listen *l;
	char *host, *colon, *ip;
	const char *portstr;
	size_t i;
	int port, af, role = -1;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(a[2], roles[i].name) == 0)
			role = (int)roles[i].role;
	if (role < 0)
		return perr(p, E_INVAL, "listen: unknown role \"%s\" (want mx, "
		    "submission or submissions)", a[2]);
	host = xstrdup(a[1]);
	if (host[0] == '[') {
		/* "[v6]:port" */
		colon = strchr(host, ']');
		if (colon == NULL || colon[1] != ':') {
			free(host);
			return perr(p, E_INVAL, "listen: bad address \"%s\" "
			    "(want ADDRESS:PORT, [IPV6]:PORT)", a[1]);
		}
		*colon = '\0';
		portstr = colon + 2;
		af = AF_INET6;
		ip = ip_normal(host + 1, af);
	} else {
		colon = strrchr(host, ':');
		if (colon == NULL) {
			free(host);
			return perr(p, E_INVAL, "listen: bad address \"%s\" "
			    "(want ADDRESS:PORT, [IPV6]:PORT)", a[1]);
		}
		*colon = '\0';
		portstr = colon + 1;
		af = AF_INET;
		ip = strchr(host, ':') ? NULL : ip_normal(host, af);
	}
	if (ip == NULL) {
		free(host);
		return perr(p, E_INVAL, "listen: bad address \"%s\" (want "
		    "ADDRESS:PORT, [IPV6]:PORT)", a[1]);
	}
	if (!parse_port(portstr, &port)) {
		free(host);
		free(ip);
		return perr(p, E_INVAL, "listen: bad port in \"%s\" (want 1 to "
		    "65535)", a[1]);
	}
	free(host);
	for (i = 0; i < c->nlistens; i++) {
		if (c->listens[i].port == port &&
		    strcmp(c->listens[i].address, ip) == 0) {
			free(ip);
			return perr(p, E_INVAL, "listen: %s already declared "
			    "on line %d", a[1], c->listens[i].line);
		}
	}
	c->listens = xrealloc(c->listens, (c->nlistens + 1) * sizeof(*l));
	l = &c->listens[c->nlistens++];
	l->address = ip;
	l->port = port;
	l->role = (enum smtp_role)role;
	l->line = p->line;
	return 0;
}

/* d_certificate - "certificate CERT KEY" (files checked by the TLS loader) */
static int
d_certificate(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	struct config_cert *ce;

	if (a[1][0] == '\0' || a[2][0] == '\0')
		return perr(p, E_INVAL, "certificate: empty file name");
	c->certs = xrealloc(c->certs, (c->ncerts + 1) * sizeof(*ce));
	ce = &c->certs[c->ncerts++];
	ce->cert_file = abs_path(a[1]);
	ce->key_file = abs_path(a[2]);
	ce->line = p->line;
	return 0;
}

/* d_local_domain - "local-domain DOMAIN...", lower-cased, duplicates merged */
static int
d_local_domain(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	size_t i;

	for (i = 1; i < n; i++) {
		if (!domain_ok(a[i]))
			return perr(p, E_INVAL, "local-domain: \"%s\" is not a "
			    "valid domain name", a[i]);
		if (config_is_local_domain(c, a[i]))
			continue;
		c->local_domains = xrealloc(c->local_domains,
		    (c->nlocal_domains + 1) * sizeof(char *));
		c->local_domains[c->nlocal_domains++] = lower(xstrdup(a[i]));
	}
	return 0;
}

/* d_mailbox - "mailbox ADDRESS...", lower-cased for lookup */
static int
d_mailbox(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	size_t i, k;
	char *m;

	for (i = 1; i < n; i++) {
		if (!address_ok(a[i]))
			return perr(p, E_INVAL, "mailbox: \"%s\" is not a "
			    "valid address", a[i]);
		m = lower(xstrdup(a[i]));
		for (k = 0; k < c->nmailboxes; k++)
			if (strcmp(c->mailboxes[k].address, m) == 0)
				break;
		if (k < c->nmailboxes) {
			free(m);
			continue;
		}
		c->mailboxes = xrealloc(c->mailboxes, (c->nmailboxes + 1) *
		    sizeof(*c->mailboxes));
		p->mailbox_lines = xrealloc(p->mailbox_lines,
		    (c->nmailboxes + 1) * sizeof(int));
		p->mailbox_lines[c->nmailboxes] = p->line;
		c->mailboxes[c->nmailboxes++].address = m;
	}
	return 0;
}

/* d_grant - "grant USER PATTERN...", one line per user */
static int
d_grant(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	struct config_grant *g;
	const char *at;
	size_t i;

	if (!login_ok(a[1]))
		return perr(p, E_INVAL, "grant: \"%s\" is not a valid user "
		    "name", a[1]);
	for (i = 0; i < c->ngrants; i++)
		if (strcasecmp(c->grants[i].user, a[1]) == 0)
			return perr(p, E_INVAL, "grant: user %s already "
			    "granted on line %d", a[1], p->grant_lines[i]);
	for (i = 2; i < n; i++) {
		at = strrchr(a[i], '@');
		if (at == NULL || !domain_ok(at + 1) || (at != a[i] &&
		    !local_part_ok(a[i], (size_t)(at - a[i]))))
			return perr(p, E_INVAL, "grant: bad sender pattern "
			    "\"%s\" (want user@domain or @domain)", a[i]);
	}
	c->grants = xrealloc(c->grants, (c->ngrants + 1) * sizeof(*g));
	p->grant_lines = xrealloc(p->grant_lines, (c->ngrants + 1) *
	    sizeof(int));
	p->grant_lines[c->ngrants] = p->line;
	g = &c->grants[c->ngrants++];
	g->user = xstrdup(a[1]);
	g->npatterns = n - 2;
	g->patterns = xcalloc(g->npatterns, sizeof(char *));
	for (i = 2; i < n; i++) {
		/* the domain is compared without case; keep it lower */
		g->patterns[i - 2] = xstrdup(a[i]);
		lower(strrchr(g->patterns[i - 2], '@'));
	}
	return 0;
}

/* The numeric settings: where each lives, its bounds, and why. */
enum num_kind { NUM_SIZE, NUM_UNSIGNED, NUM_INT };

struct num_setting {
	const char *name;
	enum num_kind kind;
	size_t offset;		/* in struct config */
	long long min, max;
};

#define LIM(f) offsetof(struct config, limits) + offsetof(struct smtp_limits, f)

static const struct num_setting limits[] = {
	/* RFC 5321 4.5.3.1.4: at least 512 octets including CRLF */
	{ "command-line", NUM_SIZE, LIM(cmd_line), 512, 65536 },
	/* RFC 5321 4.5.3.1.6: at least 1000 octets including CRLF */
	{ "text-line", NUM_SIZE, LIM(text_line), 1000, 1048576 },
	/* RFC 4954 4: at least 12288 octets */
	{ "auth-line", NUM_SIZE, LIM(auth_line), 12288, 1048576 },
	{ "header-size", NUM_SIZE, LIM(header_size), 1000, 67108864 },
	{ "message-size", NUM_SIZE, LIM(message_size), 65536, 2147483647 },
	/* RFC 5321 4.5.3.1.8: at least 100 recipients */
	{ "recipients", NUM_UNSIGNED, LIM(rcpts), 100, 1000000 },
	{ "errors", NUM_UNSIGNED, LIM(errors), 1, 1000 },
	{ "auth-failures", NUM_UNSIGNED, LIM(auth_failures), 1, 100 },
};

static const struct num_setting timeouts[] = {
	/* RFC 5321 4.5.3.2.7 asks for 5 minutes; tests need less */
	{ "command", NUM_INT, offsetof(struct config, timeout_command), 1,
	    86400 },
	/* RFC 5321 4.5.3.2.6 (10 minutes for the final dot) */
	{ "data", NUM_INT, offsetof(struct config, timeout_data), 1, 86400 },
};

static const struct num_setting check_timeouts[] = {
	/* RFC 7208 4.6.4: at least 20 seconds for a whole SPF check */
	{ "spf", NUM_INT, offsetof(struct config, check_timeout_spf), 1,
	    600 },
	{ "dkim", NUM_INT, offsetof(struct config, check_timeout_dkim), 1,
	    600 },
	{ "dmarc", NUM_INT, offsetof(struct config, check_timeout_dmarc), 1,
	    600 },
};

static const struct num_setting scalars[] = {
	{ "min-data-rate", NUM_INT, offsetof(struct config, min_data_rate), 0,
	    1000000000 },
	{ "max-connections-per-ip", NUM_INT,
	    offsetof(struct config, max_conn_per_ip), 1, 1000000 },
	{ "max-connections", NUM_INT, offsetof(struct config,
	    max_connections), 1, 1000000 },
	{ "auth-delay-ms", NUM_INT, offsetof(struct config, auth_delay_ms), 0,
	    60000 },
};

/* num_set - store v in the setting's field */
static void
num_set(struct config *c, const struct num_setting *s, long long v)
{
	char *f = (char *)c + s->offset;

	switch (s->kind) {
	case NUM_SIZE:
		*(size_t *)(void *)f = (size_t)v;
		break;
	case NUM_UNSIGNED:
		*(unsigned *)(void *)f = (unsigned)v;
		break;
	case NUM_INT:
		*(int *)(void *)f = (int)v;
		break;
	}
}

/* num_get - the setting's value */
static long long
num_get(const struct config *c, const struct num_setting *s)
{
	const char *f = (const char *)c + s->offset;

	switch (s->kind) {
	case NUM_SIZE:
		return (long long)*(const size_t *)(const void *)f;
	case NUM_UNSIGNED:
		return *(const unsigned *)(const void *)f;
	case NUM_INT:
		return *(const int *)(const void *)f;
	}
	return 0;
}

/* num_directive - "[group] name value" against a table of settings */
static int
num_directive(struct parse *p, const char *group, const struct num_setting *t,
    size_t nt, int *seen, const char *name, const char *value)
{
	long long v;
	size_t i;
	char what[64];

	for (i = 0; i < nt; i++)
		if (strcmp(t[i].name, name) == 0)
			break;
	if (i == nt)
		return perr(p, E_INVAL, "unknown %s \"%s\"", group, name);
	snprintf(what, sizeof(what), "%s %s", group, name);
	if (once(p, &seen[i], what) < 0)
		return E_INVAL;
	if (!number(value, t[i].min, t[i].max, &v))
		return perr(p, E_INVAL, "%s: bad value \"%s\" (want a number "
		    "from %lld to %lld)", what, value, t[i].min, t[i].max);
	num_set(p->c, &t[i], v);
	return 0;
}

/* d_limit - "limit NAME N" */
static int
d_limit(struct parse *p, char **a, size_t n)
{
	return num_directive(p, "limit", limits, sizeof(limits) /
	    sizeof(limits[0]), p->limit_seen, a[1], a[2]);
}

/* d_timeout - "timeout command|data SECONDS" */
static int
d_timeout(struct parse *p, char **a, size_t n)
{
	return num_directive(p, "timeout", timeouts, sizeof(timeouts) /
	    sizeof(timeouts[0]), p->timeout_seen, a[1], a[2]);
}

/* d_check_timeout - "check-timeout spf|dkim|dmarc SECONDS" */
static int
d_check_timeout(struct parse *p, char **a, size_t n)
{
	return num_directive(p, "check-timeout", check_timeouts,
	    sizeof(check_timeouts) / sizeof(check_timeouts[0]),
	    p->check_timeout_seen, a[1], a[2]);
}

/* yes_no - "yes"/"on" or "no"/"off" into *out */
static int
yes_no(struct parse *p, const char *kw, const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
		*out = false;
	else
		return perr(p, E_INVAL, "%s: bad value \"%s\" (want yes or "
		    "no)", kw, v);
	return 0;
}

/* d_inbound_checks - "inbound-checks on|off" */
static int
d_inbound_checks(struct parse *p, char **a, size_t n)
{
	return yes_no(p, a[0], a[1], &p->c->inbound_checks);
}

/* d_dmarc_enforce - "dmarc-enforce yes|no" */
static int
d_dmarc_enforce(struct parse *p, char **a, size_t n)
{
	return yes_no(p, a[0], a[1], &p->c->dmarc_enforce);
}

/* d_spf_reject - "spf-reject-without-dmarc yes|no" */
static int
d_spf_reject(struct parse *p, char **a, size_t n)
{
	return yes_no(p, a[0], a[1], &p->c->spf_reject_without_dmarc);
}

/* d_spf_helo_check - "spf-helo-check yes|no" */
static int
d_spf_helo_check(struct parse *p, char **a, size_t n)
{
	return yes_no(p, a[0], a[1], &p->c->spf_helo_check);
}

/* d_temperror_action - "temperror-action accept|defer" */
static int
d_temperror_action(struct parse *p, char **a, size_t n)
{
	static const char *const names[] = { "accept", "defer" };
	int i, r;

	if ((r = one_of(p, a[0], a[1], names, 2, &i)) == 0)
		p->c->temperror_defer = i == 1;
	return r;
}

/* d_dmarc_discovery - "dmarc-discovery treewalk|psl" */
static int
d_dmarc_discovery(struct parse *p, char **a, size_t n)
{
	static const char *const names[] = { "treewalk", "psl" };
	int i, r;

	if ((r = one_of(p, a[0], a[1], names, 2, &i)) == 0)
		p->c->dmarc_discovery_psl = i == 1;
	return r;
}

/* d_authserv_id - "authserv-id NAME" (RFC 8601 2.5: a domain name) */
static int
d_authserv_id(struct parse *p, char **a, size_t n)
{
	if (!domain_ok(a[1]))
		return perr(p, E_INVAL, "authserv-id: \"%s\" is not a valid "
		    "domain name", a[1]);
	free(p->c->authserv_id);
	p->c->authserv_id = lower(xstrdup(a[1]));
	return 0;
}

/* parse_cidr - "ADDRESS[/BITS]" into out; false if it is not one */
static bool
parse_cidr(const char *s, struct config_cidr *out)
{
	char *t = xstrdup(s), *slash = strchr(t, '/');
	long long bits;
	int max;
	bool ok = false;

	if (slash)
		*slash = '\0';
	memset(out, 0, sizeof(*out));
	out->family = strchr(t, ':') ? AF_INET6 : AF_INET;
	max = out->family == AF_INET6 ? 128 : 32;
	if (inet_pton(out->family, t, out->addr) != 1)
		goto out;
	bits = max;
	if (slash && !number(slash + 1, 0, max, &bits))
		goto out;
	out->bits = (int)bits;
	ok = true;
out:
	free(t);
	return ok;
}

/* d_trusted_forwarder - "trusted-forwarder CIDR..." */
static int
d_trusted_forwarder(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	struct config_cidr b;
	size_t i;

	for (i = 1; i < n; i++) {
		if (!parse_cidr(a[i], &b))
			return perr(p, E_INVAL, "trusted-forwarder: \"%s\" is "
			    "not an address or ADDRESS/BITS", a[i]);
		c->trusted_forwarders = xrealloc(c->trusted_forwarders,
		    (c->ntrusted_forwarders + 1) * sizeof(b));
		c->trusted_forwarders[c->ntrusted_forwarders++] = b;
	}
	return 0;
}

/* d_dmarc_opt_out - "dmarc-opt-out DOMAIN..." */
static int
d_dmarc_opt_out(struct parse *p, char **a, size_t n)
{
	struct config *c = p->c;
	size_t i;

	for (i = 1; i < n; i++) {
		if (!domain_ok(a[i]))
			return perr(p, E_INVAL, "dmarc-opt-out: \"%s\" is not "
			    "a valid domain name", a[i]);
		if (config_dmarc_opted_out(c, a[i]))
			continue;
		c->dmarc_opt_outs = xrealloc(c->dmarc_opt_outs,
		    (c->ndmarc_opt_outs + 1) * sizeof(char *));
		c->dmarc_opt_outs[c->ndmarc_opt_outs++] = lower(xstrdup(a[i]));
	}
	return 0;
}

/* d_scalar - the one-number directives of the scalars table */
static int
d_scalar(struct parse *p, char **a, size_t n)
{
	long long v;
	size_t i;

	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		if (strcmp(scalars[i].name, a[0]) == 0)
			break;
	if (!number(a[1], scalars[i].min, scalars[i].max, &v))
		return perr(p, E_INVAL, "%s: bad value \"%s\" (want a number "
		    "from %lld to %lld)", a[0], a[1], scalars[i].min,
		    scalars[i].max);
	num_set(p->c, &scalars[i], v);
	return 0;
}

struct directive {
	const char *keyword;
	size_t min, max;	/* arguments after the keyword; 0 max: any */
	bool single;		/* may appear once */
	int (*fn)(struct parse *, char **, size_t);
	const char *usage;
};

static const struct directive directives[] = {
	{ "hostname", 1, 1, true, d_hostname, "hostname NAME" },
	{ "spool-dir", 1, 1, true, d_spool_dir, "spool-dir DIR" },
	{ "mail-dir", 1, 1, true, d_mail_dir, "mail-dir DIR" },
	{ "passwd-file", 1, 1, true, d_passwd_file, "passwd-file FILE" },
	{ "user", 1, 1, true, d_user, "user NAME" },
	{ "workers", 1, 1, true, d_workers, "workers N" },
	{ "scheduling", 1, 1, true, d_scheduling,
	    "scheduling batch|normal|inherit" },
	{ "resolver", 1, 1, true, d_resolver, "resolver ADDRESS[@PORT]" },
	{ "listen", 2, 2, false, d_listen, "listen ADDRESS:PORT ROLE" },
	{ "certificate", 2, 2, false, d_certificate,
	    "certificate CERT-FILE KEY-FILE" },
	{ "local-domain", 1, 0, false, d_local_domain,
	    "local-domain DOMAIN..." },
	{ "mailbox", 1, 0, false, d_mailbox, "mailbox ADDRESS..." },
	{ "grant", 2, 0, false, d_grant, "grant USER PATTERN..." },
	{ "limit", 2, 2, false, d_limit, "limit NAME N" },
	{ "timeout", 2, 2, false, d_timeout, "timeout command|data SECONDS" },
	{ "min-data-rate", 1, 1, true, d_scalar, "min-data-rate BYTES" },
	{ "max-connections-per-ip", 1, 1, true, d_scalar,
	    "max-connections-per-ip N" },
	{ "max-connections", 1, 1, true, d_scalar, "max-connections N" },
	{ "auth-delay-ms", 1, 1, true, d_scalar, "auth-delay-ms MS" },
	{ "inbound-checks", 1, 1, true, d_inbound_checks,
	    "inbound-checks on|off" },
	{ "authserv-id", 1, 1, true, d_authserv_id, "authserv-id NAME" },
	{ "dmarc-enforce", 1, 1, true, d_dmarc_enforce,
	    "dmarc-enforce yes|no" },
	{ "spf-reject-without-dmarc", 1, 1, true, d_spf_reject,
	    "spf-reject-without-dmarc yes|no" },
	{ "spf-helo-check", 1, 1, true, d_spf_helo_check,
	    "spf-helo-check yes|no" },
	{ "temperror-action", 1, 1, true, d_temperror_action,
	    "temperror-action accept|defer" },
	{ "dmarc-discovery", 1, 1, true, d_dmarc_discovery,
	    "dmarc-discovery treewalk|psl" },
	{ "trusted-forwarder", 1, 0, false, d_trusted_forwarder,
	    "trusted-forwarder ADDRESS[/BITS]..." },
	{ "dmarc-opt-out", 1, 0, false, d_dmarc_opt_out,
	    "dmarc-opt-out DOMAIN..." },
	{ "check-timeout", 2, 2, false, d_check_timeout,
	    "check-timeout spf|dkim|dmarc SECONDS" },
};

/*
 * split - cut line into blank-separated arguments; "..." quotes an
 * argument (\" and \\ inside), '#' outside quotes starts a comment
 */
static int
split(struct parse *p, const char *line, char ***out, size_t *nout)
{
	char **a = NULL;
	size_t n = 0;
	struct buf w;
	const char *s = line;
	int r = 0;

	buf_init(&w, CONFIG_LINE_MAX);
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			break;
		if (n == CONFIG_ARGS_MAX) {
			r = perr(p, E_SYNTAX, "too many arguments");
			goto out;
		}
		buf_reset(&w);
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '#') {
			if (*s != '"') {
				buf_append(&w, s++, 1);
				continue;
			}
			for (s++; *s != '"'; s++) {
				if (*s == '\0') {
					r = perr(p, E_SYNTAX,
					    "unterminated quoted string");
					goto out;
				}
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				buf_append(&w, s, 1);
			}
			s++;
		}
		a = xrealloc(a, (n + 1) * sizeof(char *));
		a[n++] = xstrndup(buf_cstr(&w), buf_size(&w));
	}
out:
	buf_fini(&w);
	if (r < 0) {
		while (n > 0)
			free(a[--n]);
		free(a);
		a = NULL;
	}
	*out = a;
	*nout = n;
	return r;
}

/* line_directive - parse and apply one line */
static int
line_directive(struct parse *p, const char *line)
{
	const struct directive *d = NULL;
	char **a;
	size_t n, i, k;
	int r;

	for (i = 0; line[i]; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f)
			return perr(p, E_SYNTAX, "control character in line");
	if (i > CONFIG_LINE_MAX)
		return perr(p, E_SYNTAX, "line too long");
	if ((r = split(p, line, &a, &n)) < 0)
		return r;
	if (n == 0)
		return 0;
	for (k = 0; k < sizeof(directives) / sizeof(directives[0]); k++)
		if (strcmp(a[0], directives[k].keyword) == 0) {
			d = &directives[k];
			break;
		}
	if (d == NULL)
		r = perr(p, E_SYNTAX, "unknown keyword \"%s\"", a[0]);
	else if (n - 1 < d->min || (d->max != 0 && n - 1 > d->max))
		r = perr(p, E_SYNTAX, "wrong number of arguments for %s "
		    "(usage: %s)", d->keyword, d->usage);
	else if (d->single && once(p, &p->seen[k], d->keyword) < 0)
		r = E_INVAL;
	else
		r = d->fn(p, a, n);
	for (i = 0; i < n; i++)
		free(a[i]);
	free(a);
	return r;
}

/* set_defaults - every setting before the file is read */
static void
set_defaults(struct config *c)
{
	char host[256];

	if (gethostname(host, sizeof(host)) == 0 &&
	    memchr(host, '\0', sizeof(host)) != NULL && domain_ok(host))
		c->hostname = xstrdup(host);
	else
		c->hostname = xstrdup("localhost");
	c->spool_dir = xstrdup("/var/spool/smtpsd");
	c->mail_dir = xstrdup("/var/mail/vhosts");
	c->workers = 0;
	c->sched = CONFIG_SCHED_BATCH;
	c->limits.cmd_line = 512;
	c->limits.text_line = 1000;
	c->limits.auth_line = 12288;
	c->limits.header_size = 262144;
	c->limits.message_size = 26214400;
	c->limits.rcpts = 100;
	c->limits.errors = 10;
	c->limits.auth_failures = 3;
	c->timeout_command = 300;
	c->timeout_data = 600;
	c->min_data_rate = 100;
	c->max_conn_per_ip = 20;
	c->max_connections = 20000;
	c->auth_delay_ms = 1000;
	c->inbound_checks = true;
	c->dmarc_enforce = true;
	c->check_timeout_spf = 20;
	c->check_timeout_dkim = 5;
	c->check_timeout_dmarc = 5;
}

/* listen_text - "ADDRESS:PORT", IPv6 in brackets (static buffer) */
static const char *
listen_text(const struct config_listen *l, char *out, size_t outsz)
{
	snprintf(out, outsz, strchr(l->address, ':') ? "[%s]:%d" : "%s:%d",
	    l->address, l->port);
	return out;
}

/* validate - the checks that need the whole file */
static int
validate(struct parse *p, int last_line)
{
	struct config *c = p->c;
	const char *at;
	char where[INET6_ADDRSTRLEN + 16];
	size_t i;

	if (c->nlistens == 0) {
		p->line = last_line;
		return perr(p, E_INVAL, "no listen directive");
	}
	for (i = 0; i < c->nlistens; i++) {
		p->line = c->listens[i].line;
		listen_text(&c->listens[i], where, sizeof(where));
		if (c->listens[i].role == SMTP_ROLE_SUBMISSIONS &&
		    c->ncerts == 0)
			return perr(p, E_INVAL, "listen %s submissions needs a "
			    "certificate (implicit TLS)", where);
		if (c->listens[i].role != SMTP_ROLE_MX &&
		    c->passwd_file == NULL)
			return perr(p, E_INVAL, "listen %s %s needs a "
			    "passwd-file (AUTH is required there)", where,
			    role_name(c->listens[i].role));
	}
	for (i = 0; i < c->nmailboxes; i++) {
		at = strrchr(c->mailboxes[i].address, '@');
		if (!config_is_local_domain(c, at + 1)) {
			p->line = p->mailbox_lines[i];
			return perr(p, E_INVAL, "mailbox %s is not in a local "
			    "domain (add local-domain %s)",
			    c->mailboxes[i].address, at + 1);
		}
	}
	return 0;
}

/* config_load_text - parse text line by line, then the whole-file checks */
int
config_load_text(struct config **out, const char *name, const char *text,
    char **err)
{
	struct parse p;
	struct config *c;
	const char *s, *e;
	char *line;
	int r = 0;

	*out = NULL;
	*err = NULL;
	memset(&p, 0, sizeof(p));
	c = xcalloc(1, sizeof(*c));
	c->file = xstrdup(name);
	set_defaults(c);
	p.file = name;
	p.c = c;
	for (s = text; *s != '\0'; s = *e ? e + 1 : e) {
		p.line++;
		e = strchr(s, '\n');
		if (e == NULL)
			e = s + strlen(s);
		line = xstrndup(s, (size_t)(e - s));
		if (e > s && line[e - s - 1] == '\r')
			line[e - s - 1] = '\0';
		r = line_directive(&p, line);
		free(line);
		if (r < 0)
			goto out;
	}
	r = validate(&p, p.line > 0 ? p.line : 1);
out:
	free(p.grant_lines);
	free(p.mailbox_lines);
	if (r < 0) {
		config_free(c);
		*err = p.err;
		return r;
	}
	free(p.err);
	*out = c;
	return 0;
}

/* config_load - read FILE (capped) and parse it */
int
config_load(struct config **out, const char *file, char **err)
{
	struct buf b;
	char chunk[8192];
	const char *nul;
	size_t n;
	FILE *f;
	int r, line;

	*out = NULL;
	*err = NULL;
	if ((f = fopen(file, "re")) == NULL) {
		*err = xasprintf("%s: %s", file, strerror(errno));
		return E_IO;
	}
	buf_init(&b, CONFIG_FILE_MAX);
	r = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			*err = xasprintf("%s: file larger than %d bytes", file,
			    CONFIG_FILE_MAX);
			r = E_LIMIT;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		*err = xasprintf("%s: %s", file, strerror(errno));
		r = E_IO;
	}
	fclose(f);
	if (r == 0) {
		buf_cstr(&b);
		if (b.p != NULL && (nul = memchr(buf_data(&b), '\0',
		    buf_size(&b))) != NULL) {
			const char *q;

			for (line = 1, q = buf_data(&b); q < nul; q++)
				line += *q == '\n';
			*err = xasprintf("%s:%d: NUL byte in line", file, line);
			r = E_SYNTAX;
		} else
			r = config_load_text(out, file, b.p ? buf_data(&b) : "",
			    err);
	}
	buf_fini(&b);
	return r;
}

/* config_free - release everything; NULL does nothing */
void
config_free(struct config *c)
{
	size_t i, k;

	if (c == NULL)
		return;
	free(c->file);
	free(c->hostname);
	free(c->spool_dir);
	free(c->mail_dir);
	free(c->passwd_file);
	free(c->user);
	free(c->resolver);
	for (i = 0; i < c->nlistens; i++)
		free(c->listens[i].address);
	free(c->listens);
	for (i = 0; i < c->ncerts; i++) {
		free(c->certs[i].cert_file);
		free(c->certs[i].key_file);
	}
	free(c->certs);
	for (i = 0; i < c->nlocal_domains; i++)
		free(c->local_domains[i]);
	free(c->local_domains);
	for (i = 0; i < c->nmailboxes; i++)
		free(c->mailboxes[i].address);
	free(c->mailboxes);
	for (i = 0; i < c->ngrants; i++) {
		free(c->grants[i].user);
		for (k = 0; k < c->grants[i].npatterns; k++)
			free(c->grants[i].patterns[k]);
		free(c->grants[i].patterns);
	}
	free(c->grants);
	free(c->authserv_id);
	free(c->trusted_forwarders);
	for (i = 0; i < c->ndmarc_opt_outs; i++)
		free(c->dmarc_opt_outs[i]);
	free(c->dmarc_opt_outs);
	free(c);
}

/* print_arg - one argument, quoted when the file syntax needs it */
static void
print_arg(FILE *f, const char *s)
{
	const char *q;
	bool plain = *s != '\0';

	for (q = s; *q; q++)
		if (*q == ' ' || *q == '\t' || *q == '#' || *q == '"' ||
		    *q == '\\')
			plain = false;
	fputc(' ', f);
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (q = s; *q; q++) {
		if (*q == '"' || *q == '\\')
			fputc('\\', f);
		fputc(*q, f);
	}
	fputc('"', f);
}

/* print_num - "keyword [name] value" for a numeric setting */
static void
print_num(FILE *f, const char *group, const struct num_setting *t, size_t n,
    const struct config *c)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (group)
			fprintf(f, "%s %s %lld\n", group, t[i].name,
			    num_get(c, &t[i]));
		else
			fprintf(f, "%s %lld\n", t[i].name, num_get(c, &t[i]));
	}
}

/* config_print - the effective settings, loadable again */
void
config_print(const struct config *c, FILE *f)
{
	char where[INET6_ADDRSTRLEN + 16];
	size_t i, k;

	fputs("hostname", f);
	print_arg(f, c->hostname);
	fputs("\nspool-dir", f);
	print_arg(f, c->spool_dir);
	fputs("\nmail-dir", f);
	print_arg(f, c->mail_dir);
	fputc('\n', f);
	if (c->passwd_file) {
		fputs("passwd-file", f);
		print_arg(f, c->passwd_file);
		fputc('\n', f);
	}
	if (c->user)
		fprintf(f, "user %s\n", c->user);
	fprintf(f, "workers %d\n", c->workers);
	fprintf(f, "scheduling %s\n", config_sched_name(c->sched));
	if (c->resolver)
		fprintf(f, "resolver %s\n", c->resolver);
	for (i = 0; i < c->nlistens; i++)
		fprintf(f, "listen %s %s\n", listen_text(&c->listens[i], where,
		    sizeof(where)), role_name(c->listens[i].role));
	for (i = 0; i < c->ncerts; i++) {
		fputs("certificate", f);
		print_arg(f, c->certs[i].cert_file);
		print_arg(f, c->certs[i].key_file);
		fputc('\n', f);
	}
	if (c->nlocal_domains) {
		fputs("local-domain", f);
		for (i = 0; i < c->nlocal_domains; i++)
			fprintf(f, " %s", c->local_domains[i]);
		fputc('\n', f);
	}
	for (i = 0; i < c->nmailboxes; i++) {
		fputs("mailbox", f);
		print_arg(f, c->mailboxes[i].address);
		fputc('\n', f);
	}
	for (i = 0; i < c->ngrants; i++) {
		fputs("grant", f);
		print_arg(f, c->grants[i].user);
		for (k = 0; k < c->grants[i].npatterns; k++)
			print_arg(f, c->grants[i].patterns[k]);
		fputc('\n', f);
	}
	print_num(f, "limit", limits, sizeof(limits) / sizeof(limits[0]), c);
	print_num(f, "timeout", timeouts, sizeof(timeouts) /
	    sizeof(timeouts[0]), c);
	print_num(f, NULL, scalars, sizeof(scalars) / sizeof(scalars[0]), c);
	fprintf(f, "inbound-checks %s\n", c->inbound_checks ? "on" : "off");
	if (c->authserv_id)
		fprintf(f, "authserv-id %s\n", c->authserv_id);
	fprintf(f, "dmarc-enforce %s\n", c->dmarc_enforce ? "yes" : "no");
	fprintf(f, "spf-reject-without-dmarc %s\n",
	    c->spf_reject_without_dmarc ? "yes" : "no");
	fprintf(f, "spf-helo-check %s\n", c->spf_helo_check ? "yes" : "no");
	fprintf(f, "temperror-action %s\n", c->temperror_defer ? "defer" :
	    "accept");
	fprintf(f, "dmarc-discovery %s\n", c->dmarc_discovery_psl ? "psl" :
	    "treewalk");
	if (c->ntrusted_forwarders) {
		fputs("trusted-forwarder", f);
		for (i = 0; i < c->ntrusted_forwarders; i++) {
			char a[INET6_ADDRSTRLEN];
			const struct config_cidr *b = &c->trusted_forwarders[i];

			inet_ntop(b->family, b->addr, a, sizeof(a));
			fprintf(f, " %s/%d", a, b->bits);
		}
		fputc('\n', f);
	}
	if (c->ndmarc_opt_outs) {
		fputs("dmarc-opt-out", f);
		for (i = 0; i < c->ndmarc_opt_outs; i++)
			fprintf(f, " %s", c->dmarc_opt_outs[i]);
		fputc('\n', f);
	}
	print_num(f, "check-timeout", check_timeouts, sizeof(check_timeouts) /
	    sizeof(check_timeouts[0]), c);
}

/* config_default_text - the make run configuration */
const char *
config_default_text(void)
{
	return
	    "# smtpsd - the default configuration written by `make run`.\n"
	    "# Paths are relative to the directory smtpsd starts in.\n"
	    "# docs/CONFIG.md describes every keyword.\n"
	    "hostname mx.example.test\n"
	    "spool-dir var/spool\n"
	    "mail-dir var/mail\n"
	    "passwd-file var/passwd\n"
	    "\n"
	    "listen 127.0.0.1:10025 mx\n"
	    "listen 127.0.0.1:10465 submissions\n"
	    "listen 127.0.0.1:10587 submission\n"
	    "listen 127.0.0.1:2525 submission\n"
	    "certificate var/tls/cert.pem var/tls/key.pem\n"
	    "\n"
	    "local-domain localhost example.test\n"
	    "mailbox demo@example.test\n"
	    "mailbox postmaster@localhost postmaster@example.test\n"
	    "\n"
	    "# the demo user may send as itself, whether its passwd-file\n"
	    "# entry is \"demo\" or \"demo@example.test\"\n"
	    "grant demo demo@example.test\n"
	    "grant demo@example.test demo@example.test\n";
}

/* domain_of - the domain part of address (after the last '@') */
static const char *
domain_of(const char *address, size_t *local_len)
{
	const char *at;

	if (address == NULL || (at = strrchr(address, '@')) == NULL)
		return NULL;
	*local_len = (size_t)(at - address);
	return at + 1;
}

/* config_is_local_domain - domain (any case) is ours */
bool
config_is_local_domain(const struct config *c, const char *domain)
{
	size_t i;

	if (domain == NULL || *domain == '\0')
		return false;
	for (i = 0; i < c->nlocal_domains; i++)
		if (strcasecmp(c->local_domains[i], domain) == 0)
			return true;
	return false;
}

/* config_mailbox_exists - a local recipient we accept */
bool
config_mailbox_exists(const struct config *c, const char *address)
{
	const char *domain;
	size_t llen, i;

	if ((domain = domain_of(address, &llen)) == NULL || llen == 0 ||
	    !config_is_local_domain(c, domain))
		return false;
	/* RFC 5321 4.5.1: every domain we serve has a postmaster */
	if (llen == 10 && strncasecmp(address, "postmaster", 10) == 0)
		return true;
	if (c->nmailboxes == 0)
		return true;
	/* local parts are looked up without case (stored lower-cased) */
	for (i = 0; i < c->nmailboxes; i++)
		if (strcasecmp(c->mailboxes[i].address, address) == 0)
			return true;
	return false;
}

/* config_sender_allowed - user's grant covers address */
bool
config_sender_allowed(const struct config *c, const char *user,
    const char *address)
{
	const struct config_grant *g = NULL;
	const char *domain, *pat, *pdom;
	size_t llen, plen = 0, i;

	if (user == NULL || (domain = domain_of(address, &llen)) == NULL ||
	    llen == 0 || *domain == '\0')
		return false;
	for (i = 0; i < c->ngrants; i++)
		if (strcasecmp(c->grants[i].user, user) == 0) {
			g = &c->grants[i];
			break;
		}
	if (g == NULL)
		return false;
	for (i = 0; i < g->npatterns; i++) {
		pat = g->patterns[i];
		if ((pdom = domain_of(pat, &plen)) == NULL)
			continue;
		if (strcasecmp(pdom, domain) != 0)
			continue;
		/* "@domain": any local part; otherwise the exact one,
		   case-sensitive as RFC 5321 2.4 says local parts are */
		if (plen == 0 || (plen == llen &&
		    strncmp(pat, address, llen) == 0))
			return true;
	}
	return false;
}

/* config_is_trusted_forwarder - see config.h */
bool
config_is_trusted_forwarder(const struct config *c, const void *addr,
    size_t len)
{
	const unsigned char *a = addr;
	size_t i;

	for (i = 0; i < c->ntrusted_forwarders; i++) {
		const struct config_cidr *b = &c->trusted_forwarders[i];
		int full = b->bits / 8, rest = b->bits % 8;

		if ((b->family == AF_INET) != (len == 4))
			continue;
		if (memcmp(a, b->addr, (size_t)full) != 0)
			continue;
		if (rest && ((a[full] ^ b->addr[full]) &
		    (0xff << (8 - rest)) & 0xff))
			continue;
		return true;
	}
	return false;
}

/* config_dmarc_opted_out - see config.h */
bool
config_dmarc_opted_out(const struct config *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->ndmarc_opt_outs; i++)
		if (strcasecmp(c->dmarc_opt_outs[i], domain) == 0)
			return true;
	return false;
}

/* config_authserv_id - see config.h */
const char *
config_authserv_id(const struct config *c)
{
	return c->authserv_id ? c->authserv_id : c->hostname;
}
