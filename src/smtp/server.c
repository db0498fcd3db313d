/*
 * smtp/server.c - the SMTP server session machine.
 *
 * Input is kept in one capped buffer and consumed a line at a time; every
 * scan is a memchr over the bytes of one line, so the cost is linear in
 * the input however it is split into writes.  Replies are appended to one
 * output buffer so that a pipelined group is answered with one write.
 * docs/SMTP.md lists every reply and the reason for it.
 */
#include "smtp/server.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/address.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/*
 * Replies are small, but a client can pipeline many commands in one
 * write; the output buffer is capped well above what the largest input
 * buffer can provoke before the error limit closes the session.
 */
#define OUTPUT_MAX	(1024 * 1024)

/* Keep a message buffer this small across transactions; free larger. */
#define MSG_KEEP	(64 * 1024)

/* The longest verdict text the caller can put into a reply. */
#define VERDICT_TEXT_MAX 400

enum wait {
	W_NONE,
	W_MAIL,
	W_RCPT,
	W_AUTH,
	W_STARTTLS,
	W_COMMIT,
};

enum auth_stage {
	AUTH_NONE,
	AUTH_PLAIN_WAIT,	/* 334 sent, waiting for the PLAIN response */
	AUTH_LOGIN_USER,	/* 334 Username: sent */
	AUTH_LOGIN_PASS,	/* 334 Password: sent */
};

/* Why a message in DATA is refused; the first reason found wins. */
enum poison {
	P_NONE,
	P_BARE,		/* bare CR, bare LF or NUL */
	P_LINE,		/* text line longer than limits.text_line */
	P_HEADER,	/* header section over limits.header_size */
	P_SIZE,		/* message over limits.message_size */
};

struct smtp_server {
	enum smtp_role role;
	char *hostname;
	char *client_ip;
	char *client_name;
	struct smtp_limits lim;
	bool tls_offered;

	struct buf in;
	struct buf out;
	struct buf msg;

	enum wait wait;
	bool closing;
	unsigned errors;
	unsigned auth_failures;

	/* session: reset by STARTTLS (RFC 3207 4.2) */
	char *helo;		/* NULL until EHLO/HELO */
	bool esmtp;
	bool tls;
	struct smtp_tls_info tls_info;
	char *auth_user;	/* NULL until AUTH succeeded */

	/* AUTH exchange in progress */
	enum auth_stage auth_stage;
	char *auth_buf;		/* decoded credentials; wiped after use */
	size_t auth_buf_size;
	size_t auth_user_len;	/* LOGIN: the username at auth_buf[0] */
	const char *auth_pass;
	const char *auth_mech;

	/* transaction */
	bool in_txn;
	char *mail_from;
	bool smtputf8;
	bool body_8bit;
	char **rcpts;
	size_t nrcpts;
	size_t rcpts_cap;
	/* the address being checked by the caller and its MAIL params */
	char *check_addr;
	bool check_utf8;
	bool check_8bit;

	/* DATA */
	bool in_data;
	bool bol_crlf;		/* the previous text line ended in CRLF */
	size_t dline;		/* bytes of an over-long line already dropped */
	bool last_cr;		/* ... and whether the last of them was CR */
	enum poison poison;
	bool in_header;
	size_t header_len;
	size_t msg_total;
};

struct command {
	const char *name;
	size_t len;
	void (*fn)(struct smtp_server *, const char *, size_t, size_t);
	unsigned flags;
};

#define CMD_NEED_HELO	0x01	/* 503 before EHLO/HELO */
#define CMD_NO_ARG	0x02	/* 501 with an argument */
#define CMD_NEED_ARG	0x04	/* 501 without an argument */
#define CMD_NEED_AUTH	0x08	/* 530 on submission roles before AUTH */
#define CMD_AUTH_DATA	0x10	/* the line may carry credentials: wipe it */

static void cmd_ehlo(struct smtp_server *, const char *, size_t, size_t);
static void cmd_helo(struct smtp_server *, const char *, size_t, size_t);
static void cmd_mail(struct smtp_server *, const char *, size_t, size_t);
static void cmd_rcpt(struct smtp_server *, const char *, size_t, size_t);
static void cmd_data(struct smtp_server *, const char *, size_t, size_t);
static void cmd_rset(struct smtp_server *, const char *, size_t, size_t);
static void cmd_noop(struct smtp_server *, const char *, size_t, size_t);
static void cmd_quit(struct smtp_server *, const char *, size_t, size_t);
static void cmd_vrfy(struct smtp_server *, const char *, size_t, size_t);
static void cmd_help(struct smtp_server *, const char *, size_t, size_t);
static void cmd_starttls(struct smtp_server *, const char *, size_t, size_t);
static void cmd_auth(struct smtp_server *, const char *, size_t, size_t);

#define CMD(n) n, sizeof(n) - 1
static const struct command commands[] = {
	{ CMD("EHLO"), cmd_ehlo, CMD_NEED_ARG },
	{ CMD("HELO"), cmd_helo, CMD_NEED_ARG },
	{ CMD("MAIL"), cmd_mail, CMD_NEED_HELO | CMD_NEED_ARG | CMD_NEED_AUTH },
	{ CMD("RCPT"), cmd_rcpt, CMD_NEED_HELO | CMD_NEED_ARG | CMD_NEED_AUTH },
	{ CMD("DATA"), cmd_data, CMD_NEED_HELO | CMD_NO_ARG | CMD_NEED_AUTH },
	{ CMD("RSET"), cmd_rset, CMD_NO_ARG },
	{ CMD("NOOP"), cmd_noop, 0 },
	{ CMD("QUIT"), cmd_quit, CMD_NO_ARG },
	{ CMD("VRFY"), cmd_vrfy, CMD_NEED_ARG },
	{ CMD("HELP"), cmd_help, 0 },
	{ CMD("STARTTLS"), cmd_starttls, CMD_NEED_HELO | CMD_NO_ARG },
	{ CMD("AUTH"), cmd_auth, CMD_NEED_HELO | CMD_NEED_ARG | CMD_AUTH_DATA },
};

/* smtp_limits_default - the defaults of server.h */
void
smtp_limits_default(struct smtp_limits *l)
{
	l->cmd_line = 512;		/* RFC 5321 4.5.3.1.4 */
	l->text_line = 1000;		/* RFC 5321 4.5.3.1.6 */
	l->auth_line = 12288;		/* RFC 4954 4 */
	l->header_size = 256 * 1024;
	l->message_size = 25 * 1024 * 1024;
	l->rcpts = 100;			/* RFC 5321 4.5.3.1.8 */
	l->errors = 10;
	l->auth_failures = 3;
}

/* sane_limits - replace zero limits by the defaults */
static void
sane_limits(struct smtp_limits *l)
{
	struct smtp_limits d;

	smtp_limits_default(&d);
	if (l->cmd_line < 16)
		l->cmd_line = d.cmd_line;
	if (l->text_line < 16)
		l->text_line = d.text_line;
	if (l->auth_line < 16)
		l->auth_line = d.auth_line;
	if (l->header_size == 0)
		l->header_size = d.header_size;
	if (l->message_size == 0)
		l->message_size = d.message_size;
	if (l->rcpts == 0)
		l->rcpts = d.rcpts;
	if (l->errors == 0)
		l->errors = d.errors;
	if (l->auth_failures == 0)
		l->auth_failures = d.auth_failures;
}

/* input_max - the input buffer cap: one feed plus the longest line */
static size_t
input_max(const struct smtp_limits *l)
{
	size_t m = l->cmd_line;

	if (l->text_line > m)
		m = l->text_line;
	if (l->auth_line > m)
		m = l->auth_line;
	return SMTP_SERVER_FEED_MAX + m;
}

/* reply - queue one reply line "code enh text" */
static void
reply(struct smtp_server *s, int code, const char *enh, const char *text)
{
	if (buf_printf(&s->out, "%d %s %s\r\n", code, enh, text) < 0)
		s->closing = true;
}

/* reply_raw - queue one reply line exactly as given (plus CRLF) */
static void
reply_raw(struct smtp_server *s, const char *line)
{
	if (buf_printf(&s->out, "%s\r\n", line) < 0)
		s->closing = true;
}

/* close_with - queue a final reply and close */
static void
close_with(struct smtp_server *s, int code, const char *enh,
    const char *text)
{
	if (buf_printf(&s->out, "%d %s %s %s\r\n", code, enh, s->hostname,
	    text) < 0) {
		/* the reply is lost, the close is not */
	}
	s->closing = true;
}

/* error - a protocol error reply; counts toward limits.errors */
static void
error(struct smtp_server *s, int code, const char *enh, const char *text)
{
	reply(s, code, enh, text);
	if (++s->errors >= s->lim.errors)
		close_with(s, 421, "4.7.0",
		    "Too many errors, closing connection");
}

/* txn_reset - forget the mail transaction (RSET, EHLO, end of data) */
static void
txn_reset(struct smtp_server *s)
{
	size_t i;

	free(s->mail_from);
	s->mail_from = NULL;
	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	s->nrcpts = 0;
	if (s->rcpts_cap > 16) {
		free(s->rcpts);
		s->rcpts = NULL;
		s->rcpts_cap = 0;
	}
	free(s->check_addr);
	s->check_addr = NULL;
	s->in_txn = false;
	s->smtputf8 = false;
	s->body_8bit = false;
	s->in_data = false;
	s->poison = P_NONE;
	buf_reset(&s->msg);
	if (s->msg.cap > MSG_KEEP)
		buf_shrink(&s->msg);
}

/* auth_wipe - forget the credentials of an AUTH exchange */
static void
auth_wipe(struct smtp_server *s)
{
	if (s->auth_buf != NULL) {
		explicit_bzero(s->auth_buf, s->auth_buf_size);
		free(s->auth_buf);
	}
	s->auth_buf = NULL;
	s->auth_buf_size = 0;
	s->auth_user_len = 0;
	s->auth_pass = NULL;
	s->auth_stage = AUTH_NONE;
}

/* session_reset - forget EHLO, AUTH and the transaction (RFC 3207 4.2) */
static void
session_reset(struct smtp_server *s)
{
	txn_reset(s);
	auth_wipe(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	free(s->auth_user);
	s->auth_user = NULL;
}

/* smtp_server_new - a session; the greeting is queued at once */
struct smtp_server *
smtp_server_new(const struct smtp_server_params *p)
{
	struct smtp_server *s = xcalloc(1, sizeof(*s));

	s->role = p->role;
	s->hostname = xstrdup(p->hostname ? p->hostname : "localhost");
	s->client_ip = xstrdup(p->client_ip ? p->client_ip : "");
	s->client_name = p->client_name ? xstrdup(p->client_name) : NULL;
	s->lim = p->limits;
	sane_limits(&s->lim);
	s->tls_offered = p->tls_offered;
	if (p->tls != NULL) {
		s->tls = true;
		s->tls_info = *p->tls;
		s->tls_info.version[sizeof(s->tls_info.version) - 1] = '\0';
		s->tls_info.cipher[sizeof(s->tls_info.cipher) - 1] = '\0';
		s->tls_info.sni[sizeof(s->tls_info.sni) - 1] = '\0';
	}
	buf_init(&s->in, input_max(&s->lim));
	buf_init(&s->out, OUTPUT_MAX);
	buf_init(&s->msg, s->lim.message_size);
	if (buf_printf(&s->out, "220 %s ESMTP smtpsd\r\n", s->hostname) < 0)
		s->closing = true;
	return s;
}

/* smtp_server_free - free a session and wipe its input */
void
smtp_server_free(struct smtp_server *s)
{
	if (s == NULL)
		return;
	session_reset(s);
	free(s->rcpts);
	free(s->hostname);
	free(s->client_ip);
	free(s->client_name);
	if (s->in.p != NULL)
		explicit_bzero(s->in.p, s->in.cap);
	buf_fini(&s->in);
	buf_fini(&s->out);
	buf_fini(&s->msg);
	free(s);
}

/* smtp_server_feed - buffer bytes from the peer (processed by _next) */
int
smtp_server_feed(struct smtp_server *s, const void *p, size_t n)
{
	if (s->closing || n == 0)
		return 0;
	return buf_append(&s->in, p, n);
}

/* is_printable - printable ASCII without space */
static bool
is_printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* greet - EHLO and HELO: reset the transaction and remember the name */
static bool
greet(struct smtp_server *s, const char *arg, size_t n)
{
	/* RFC 5321 4.1.1.1: Domain or address-literal; one printable token */
	if (n > 255 || !is_printable(arg, n)) {
		error(s, 501, "5.5.2", "Invalid EHLO/HELO argument");
		return false;
	}
	txn_reset(s);
	free(s->helo);
	s->helo = xstrndup(arg, n);
	return true;
}

/* cmd_ehlo - EHLO: the extension list of RFC 5321 4.1.1.1 */
static void
cmd_ehlo(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	const char *ext[8];
	char size[48];
	size_t i, next = 0;

	if (!greet(s, arg, n))
		return;
	s->esmtp = true;
	snprintf(size, sizeof(size), "SIZE %zu", s->lim.message_size);
	ext[next++] = "PIPELINING";
	ext[next++] = size;
	ext[next++] = "8BITMIME";
	ext[next++] = "SMTPUTF8";
	ext[next++] = "ENHANCEDSTATUSCODES";
	if (s->tls_offered && !s->tls)
		ext[next++] = "STARTTLS";
	if (s->role != SMTP_ROLE_MX && s->tls)
		ext[next++] = "AUTH PLAIN LOGIN";
	/* RFC 2034 3: no enhanced code on the EHLO reply */
	if (buf_printf(&s->out, "250-%s\r\n", s->hostname) < 0)
		s->closing = true;
	for (i = 0; i < next; i++)
		if (buf_printf(&s->out, "250%c%s\r\n",
		    i + 1 == next ? ' ' : '-', ext[i]) < 0)
			s->closing = true;
}

/* cmd_helo - HELO: plain SMTP, no extensions */
static void
cmd_helo(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	if (!greet(s, arg, n))
		return;
	s->esmtp = false;
	if (buf_printf(&s->out, "250 %s\r\n", s->hostname) < 0)
		s->closing = true;
}

/* has_prefix - case-insensitive prefix test on pointer+length */
static bool
has_prefix(const char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && strncasecmp(p, prefix, k) == 0;
}

/* is_word - does p..n equal w, ignoring case? */
static bool
is_word(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/*
 * parse_size - the SIZE parameter value (RFC 1870: 1*20DIGIT); -1 for a
 * syntax error, otherwise the value saturated at SIZE_MAX.
 */
static int
parse_size(const char *p, size_t n, size_t *v)
{
	size_t i, x = 0;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (x > (SIZE_MAX - 9) / 10)
			x = SIZE_MAX;
		else
			x = x * 10 + (size_t)(p[i] - '0');
	}
	*v = x;
	return 0;
}

/* is_param - RFC 5321 esmtp-keyword ["=" esmtp-value] */
static bool
is_param(const char *p, size_t n, size_t *klen)
{
	size_t i;

	for (i = 0; i < n && p[i] != '='; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= '0' && p[i] <= '9') || (p[i] == '-' && i > 0)))
			return false;
	if (i == 0)
		return false;
	*klen = i;
	if (i == n)
		return true;
	if (i + 1 == n)
		return false;
	/* esmtp-value = 1*(%d33-60 / %d62-126) */
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

/* parse_path - the "FROM:<...>" / "TO:<...>" argument; 0, or a reply sent */
static int
parse_path(struct smtp_server *s, const char *arg, size_t n,
    const char *prefix, unsigned flags, struct smtp_path *path,
    const char **params, size_t *plen)
{
	bool mail = flags & SMTP_PATH_NULL_OK;
	size_t i;

	if (!has_prefix(arg, n, prefix)) {
		error(s, 501, "5.5.4", mail ? "Syntax: MAIL FROM:<address>" :
		    "Syntax: RCPT TO:<address>");
		return -1;
	}
	i = strlen(prefix);
	/* tolerate "FROM: <a@b>", a common client habit */
	while (i < n && arg[i] == ' ')
		i++;
	if (i >= n || arg[i] != '<' ||
	    smtp_address_path(arg + i, n - i, flags, path) < 0) {
		error(s, 501, mail ? "5.1.7" : "5.1.3", mail ?
		    "Bad sender address syntax" :
		    "Bad recipient address syntax");
		return -1;
	}
	i += path->len;
	if (i < n && arg[i] != ' ') {
		error(s, 501, mail ? "5.1.7" : "5.1.3", mail ?
		    "Bad sender address syntax" :
		    "Bad recipient address syntax");
		return -1;
	}
	while (i < n && arg[i] == ' ')
		i++;
	*params = arg + i;
	*plen = n - i;
	return 0;
}

/* cmd_mail - MAIL FROM:<path> [params]: check, then ask the caller */
static void
cmd_mail(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	struct smtp_path path;
	const char *params;
	size_t plen, i = 0, size = 0;
	bool utf8 = false, eight = false;

	if (s->in_txn) {
		error(s, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	if (parse_path(s, arg, n, "FROM:", SMTP_PATH_NULL_OK, &path, &params,
	    &plen) < 0)
		return;
	while (i < plen) {
		const char *w = params + i, *sp;
		size_t wlen, klen;

		sp = memchr(w, ' ', plen - i);
		wlen = sp ? (size_t)(sp - w) : plen - i;
		i += wlen;
		while (i < plen && params[i] == ' ')
			i++;
		if (!s->esmtp || !is_param(w, wlen, &klen)) {
			error(s, 555, "5.5.4", "Unsupported MAIL parameter");
			return;
		}
		if (is_word(w, klen, "SIZE") && klen < wlen) {
			if (parse_size(w + 5, wlen - 5, &size) < 0) {
				error(s, 501, "5.5.4", "Bad SIZE parameter");
				return;
			}
		} else if (is_word(w, wlen, "BODY=7BIT")) {
			eight = false;
		} else if (is_word(w, wlen, "BODY=8BITMIME")) {
			eight = true;
		} else if (is_word(w, wlen, "SMTPUTF8")) {
			utf8 = true;
		} else if (is_word(w, klen, "AUTH") && klen < wlen) {
			/* RFC 4954 5: accepted; we do not relay the identity */
		} else {
			error(s, 555, "5.5.4", "Unsupported MAIL parameter");
			return;
		}
	}
	/* RFC 1870 6.2 */
	if (size > s->lim.message_size) {
		error(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	/* RFC 6531 3.5 */
	if (path.utf8 && !utf8) {
		error(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
		return;
	}
	s->check_addr = xstrndup(path.mailbox, path.mailbox_len);
	s->check_utf8 = utf8;
	s->check_8bit = eight;
	s->wait = W_MAIL;
}

/* cmd_rcpt - RCPT TO:<path>: check, then ask the caller */
static void
cmd_rcpt(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	struct smtp_path path;
	const char *params;
	size_t plen;

	if (!s->in_txn) {
		error(s, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (parse_path(s, arg, n, "TO:", SMTP_PATH_POSTMASTER_OK, &path,
	    &params, &plen) < 0)
		return;
	if (plen > 0) {
		error(s, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	if (path.utf8 && !s->smtputf8) {
		error(s, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
		return;
	}
	/* RFC 5321 4.5.3.1.10: 452, and the client sends the rest later */
	if (s->nrcpts >= s->lim.rcpts) {
		reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	s->check_addr = xstrndup(path.mailbox, path.mailbox_len);
	s->wait = W_RCPT;
}

/* cmd_data - DATA: start the message text after a 354 */
static void
cmd_data(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	/* RFC 2920 3.1: DATA ends a group; text before the 354 is an attack */
	if (rest > 0) {
		close_with(s, 554, "5.5.0",
		    "Message text sent before the 354 reply, closing");
		return;
	}
	if (!s->in_txn) {
		error(s, 503, "5.5.1", "Need MAIL command");
		return;
	}
	if (s->nrcpts == 0) {
		error(s, 554, "5.5.1", "No valid recipients");
		return;
	}
	reply_raw(s, "354 End data with <CR><LF>.<CR><LF>");
	s->in_data = true;
	s->bol_crlf = true;
	s->dline = 0;
	s->last_cr = false;
	s->poison = P_NONE;
	s->in_header = true;
	s->header_len = 0;
	s->msg_total = 0;
	buf_reset(&s->msg);
}

/* cmd_rset - RSET: abort the transaction */
static void
cmd_rset(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	txn_reset(s);
	reply(s, 250, "2.0.0", "Ok");
}

/* cmd_noop - NOOP: nothing */
static void
cmd_noop(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	reply(s, 250, "2.0.0", "Ok");
}

/* cmd_quit - QUIT: say goodbye and close */
static void
cmd_quit(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	reply(s, 221, "2.0.0", "Bye");
	s->closing = true;
}

/* cmd_vrfy - VRFY: 252, never a directory lookup */
static void
cmd_vrfy(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	/* RFC 5321 3.5.3: neither confirm nor deny */
	reply(s, 252, "2.5.0",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

/* cmd_help - HELP: one line */
static void
cmd_help(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
	    "QUIT VRFY HELP STARTTLS AUTH; see RFC 5321");
}

/* cmd_starttls - STARTTLS (RFC 3207): refuse anything pipelined after it */
static void
cmd_starttls(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	if (s->tls) {
		error(s, 503, "5.5.1", "Already running TLS");
		return;
	}
	if (!s->tls_offered) {
		error(s, 502, "5.5.1", "STARTTLS not available");
		return;
	}
	if (s->in_txn) {
		error(s, 503, "5.5.1", "STARTTLS not allowed in a transaction");
		return;
	}
	/* RFC 3207 4.2 and CVE-2011-0411: nothing plaintext crosses over */
	if (rest > 0) {
		close_with(s, 554, "5.5.0",
		    "Commands sent after STARTTLS before the handshake, "
		    "closing");
		return;
	}
	reply(s, 220, "2.0.0", "Ready to start TLS");
	s->wait = W_STARTTLS;
}

/* auth_fail - one failed authentication; 421 after limits.auth_failures */
static void
auth_fail(struct smtp_server *s)
{
	auth_wipe(s);
	reply(s, 535, "5.7.8", "Authentication credentials invalid");
	if (++s->auth_failures >= s->lim.auth_failures)
		close_with(s, 421, "4.7.0",
		    "Too many failed authentications, closing connection");
}

/* auth_decode - base64 p..n into auth_buf at off; -1 after a reply */
static int
auth_decode(struct smtp_server *s, const char *p, size_t n, size_t off,
    size_t *len)
{
	if (n == 1 && p[0] == '*') {
		/* RFC 4954 4: the client cancels */
		auth_wipe(s);
		error(s, 501, "5.7.0", "Authentication cancelled");
		return -1;
	}
	if (n == 1 && p[0] == '=')
		n = 0;
	if (s->auth_buf == NULL) {
		/* two decoded lines, each shorter than auth_line, and NULs */
		s->auth_buf_size = 2 * s->lim.auth_line + 2;
		s->auth_buf = xmalloc(s->auth_buf_size);
	}
	if (off + n / 4 * 3 + 1 > s->auth_buf_size ||
	    base64_decode(s->auth_buf + off, len, p, n, false) < 0) {
		auth_wipe(s);
		error(s, 501, "5.5.2", "Invalid base64 data");
		return -1;
	}
	s->auth_buf[off + *len] = '\0';
	return 0;
}

/* has_ctl - does p..n hold a control character (or NUL)? */
static bool
has_ctl(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

/* auth_plain - check the PLAIN response in auth_buf and ask the caller */
static void
auth_plain(struct smtp_server *s, size_t len)
{
	const char *b = s->auth_buf, *z1, *z2;
	size_t zlen, ulen, plen;

	/* RFC 4616 2: [authzid] NUL authcid NUL passwd */
	z1 = memchr(b, '\0', len);
	if (z1 == NULL || (z2 = memchr(z1 + 1, '\0', len -
	    (size_t)(z1 + 1 - b))) == NULL) {
		auth_fail(s);
		return;
	}
	zlen = (size_t)(z1 - b);
	ulen = (size_t)(z2 - z1 - 1);
	plen = len - (size_t)(z2 + 1 - b);
	if (ulen == 0 || has_ctl(z1 + 1, ulen) ||
	    memchr(z2 + 1, '\0', plen) != NULL ||
	    (zlen > 0 && (zlen != ulen || memcmp(b, z1 + 1, ulen) != 0))) {
		auth_fail(s);
		return;
	}
	s->auth_user_len = ulen;
	/* the user name starts after the authzid */
	memmove(s->auth_buf, z1 + 1, ulen + 1 + plen + 1);
	s->auth_pass = s->auth_buf + ulen + 1;
	s->auth_mech = "PLAIN";
	s->auth_stage = AUTH_NONE;
	s->wait = W_AUTH;
}

/* auth_login_user - the LOGIN user name is in auth_buf: ask for the pass */
static void
auth_login_user(struct smtp_server *s, size_t len)
{
	if (len == 0 || has_ctl(s->auth_buf, len)) {
		auth_fail(s);
		return;
	}
	s->auth_user_len = len;
	s->auth_stage = AUTH_LOGIN_PASS;
	reply_raw(s, "334 UGFzc3dvcmQ6");
}

/* auth_login_pass - the LOGIN password follows the user: ask the caller */
static void
auth_login_pass(struct smtp_server *s, size_t len)
{
	const char *pass = s->auth_buf + s->auth_user_len + 1;

	if (memchr(pass, '\0', len) != NULL) {
		auth_fail(s);
		return;
	}
	s->auth_pass = pass;
	s->auth_mech = "LOGIN";
	s->auth_stage = AUTH_NONE;
	s->wait = W_AUTH;
}

/* cmd_auth - AUTH mechanism [initial-response] (RFC 4954) */
static void
cmd_auth(struct smtp_server *s, const char *arg, size_t n, size_t rest)
{
	const char *sp, *ir = NULL;
	size_t mlen, irlen = 0, len;

	if (s->role == SMTP_ROLE_MX) {
		error(s, 502, "5.5.1", "AUTH not available");
		return;
	}
	if (s->auth_user != NULL) {
		error(s, 503, "5.5.1", "Already authenticated");
		return;
	}
	/* RFC 4954 4: only over TLS here (RFC 8314) */
	if (!s->tls) {
		error(s, 538, "5.7.11",
		    "Encryption required for requested authentication "
		    "mechanism");
		return;
	}
	if (s->in_txn) {
		error(s, 503, "5.5.1", "AUTH not allowed during a transaction");
		return;
	}
	sp = memchr(arg, ' ', n);
	mlen = sp ? (size_t)(sp - arg) : n;
	if (sp != NULL) {
		ir = sp + 1;
		irlen = n - mlen - 1;
		if (irlen == 0 || memchr(ir, ' ', irlen) != NULL) {
			error(s, 501, "5.5.4",
			    "Syntax: AUTH mechanism [response]");
			return;
		}
	}
	if (is_word(arg, mlen, "PLAIN")) {
		if (ir == NULL) {
			s->auth_stage = AUTH_PLAIN_WAIT;
			reply_raw(s, "334 ");
			return;
		}
		if (auth_decode(s, ir, irlen, 0, &len) == 0)
			auth_plain(s, len);
	} else if (is_word(arg, mlen, "LOGIN")) {
		if (ir == NULL) {
			s->auth_stage = AUTH_LOGIN_USER;
			reply_raw(s, "334 VXNlcm5hbWU6");
			return;
		}
		if (auth_decode(s, ir, irlen, 0, &len) == 0)
			auth_login_user(s, len);
	} else {
		error(s, 504, "5.5.4", "Unrecognized authentication mechanism");
	}
}

/* auth_continue - a response line inside an AUTH exchange */
static void
auth_continue(struct smtp_server *s, const char *p, size_t n)
{
	size_t len, off = 0;

	if (s->auth_stage == AUTH_LOGIN_PASS)
		off = s->auth_user_len + 1;
	if (auth_decode(s, p, n, off, &len) < 0)
		return;
	switch (s->auth_stage) {
	case AUTH_PLAIN_WAIT:
		auth_plain(s, len);
		break;
	case AUTH_LOGIN_USER:
		auth_login_user(s, len);
		break;
	case AUTH_LOGIN_PASS:
		auth_login_pass(s, len);
		break;
	case AUTH_NONE:
		break;
	}
}

/* dispatch - one complete command line without its CRLF */
static void
dispatch(struct smtp_server *s, const char *p, size_t n, size_t rest)
{
	const struct command *c = NULL;
	const char *sp;
	size_t vlen, i, alen = 0;
	const char *arg = p + n;

	sp = memchr(p, ' ', n);
	vlen = sp ? (size_t)(sp - p) : n;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].len == vlen &&
		    strncasecmp(commands[i].name, p, vlen) == 0) {
			c = &commands[i];
			break;
		}
	}
	if (c == NULL) {
		error(s, 500, "5.5.2", "Command unrecognized");
		return;
	}
	if (sp != NULL) {
		arg = sp + 1;
		alen = n - vlen - 1;
	}
	if ((c->flags & CMD_NEED_HELO) && s->helo == NULL) {
		error(s, 503, "5.5.1", "Send EHLO first");
		return;
	}
	if ((c->flags & CMD_NO_ARG) && sp != NULL) {
		error(s, 501, "5.5.4", "No parameters allowed");
		return;
	}
	if ((c->flags & CMD_NEED_ARG) && alen == 0) {
		error(s, 501, "5.5.4", "Parameter required");
		return;
	}
	if ((c->flags & CMD_NEED_AUTH) && s->role != SMTP_ROLE_MX &&
	    s->auth_user == NULL) {
		error(s, 530, "5.7.0", "Authentication required");
		return;
	}
	c->fn(s, arg, alen, rest);
}

/* line_limit - the longest line allowed for what is buffered now */
static size_t
line_limit(const struct smtp_server *s, const char *p, size_t n)
{
	/* RFC 4954 4: AUTH lines may be longer than command lines */
	if (s->auth_stage != AUTH_NONE || has_prefix(p, n, "AUTH "))
		return s->lim.auth_line;
	return s->lim.cmd_line;
}

/* line_step - handle one command line; false when more input is needed */
static bool
line_step(struct smtp_server *s)
{
	char *p = (char *)buf_data(&s->in);
	size_t n = buf_size(&s->in), len, limit, clen;
	const char *lf;
	bool secret;

	if (n == 0)
		return false;
	limit = line_limit(s, p, n);
	lf = memchr(p, '\n', n);
	if (lf == NULL) {
		if (n < limit)
			return false;
		len = n;
	} else
		len = (size_t)(lf - p) + 1;
	if (len > limit || (lf == NULL && n >= limit)) {
		/* RFC 5321 4.5.3.1.4, RFC 4954 4: drop it all and close */
		explicit_bzero(p, n);
		buf_reset(&s->in);
		auth_wipe(s);
		close_with(s, 500, "5.5.6",
		    "Line too long, closing connection");
		return true;
	}
	secret = s->auth_stage != AUTH_NONE || has_prefix(p, len, "AUTH ");
	buf_consume(&s->in, len);
	if (len < 2 || p[len - 2] != '\r' ||
	    memchr(p, '\r', len - 2) != NULL || memchr(p, '\0', len) != NULL) {
		/* a bare CR, a bare LF or a NUL: the line is refused whole */
		auth_wipe(s);
		error(s, 500, "5.5.2",
		    "Bare CR, bare LF or NUL in command line refused");
	} else {
		clen = len - 2;
		if (s->auth_stage != AUTH_NONE)
			auth_continue(s, p, clen);
		else
			dispatch(s, p, clen, n - len);
	}
	if (secret)
		explicit_bzero(p, len);
	return true;
}

/* poison - refuse the message being received, for the first reason */
static void
poison(struct smtp_server *s, enum poison why)
{
	if (s->poison == P_NONE)
		s->poison = why;
	buf_reset(&s->msg);
}

/* data_line - one complete text line (through its LF) in DATA */
static void
data_line(struct smtp_server *s, const char *p, size_t len, bool crlf)
{
	size_t clen = crlf ? len - 2 : len - 1;

	if (!crlf || memchr(p, '\r', clen) != NULL ||
	    memchr(p, '\0', clen) != NULL) {
		poison(s, P_BARE);
		return;
	}
	/* RFC 5321 4.5.2: drop the first of a leading dot */
	if (p[0] == '.') {
		p++;
		len--;
	}
	if (s->in_header) {
		if (len == 2)
			s->in_header = false;
		else if ((s->header_len += len) > s->lim.header_size) {
			poison(s, P_HEADER);
			return;
		}
	}
	if (len > s->lim.message_size - s->msg_total) {
		poison(s, P_SIZE);
		return;
	}
	s->msg_total += len;
	if (buf_append(&s->msg, p, len) < 0)
		poison(s, P_SIZE);
}

/* data_end - the <CRLF>.<CRLF> was seen */
static void
data_end(struct smtp_server *s)
{
	s->in_data = false;
	switch (s->poison) {
	case P_NONE:
		s->wait = W_COMMIT;
		return;
	case P_BARE:
		txn_reset(s);
		error(s, 550, "5.6.0", "Bare CR, bare LF or NUL in message "
		    "text; message refused");
		return;
	case P_LINE:
		txn_reset(s);
		error(s, 552, "5.6.0", "Message text line longer than "
		    "permitted; message refused");
		return;
	case P_HEADER:
		txn_reset(s);
		reply(s, 552, "5.3.4", "Message header section too big");
		return;
	case P_SIZE:
		txn_reset(s);
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
}

/* data_step - consume message text; true when end of data was reached */
static bool
data_step(struct smtp_server *s)
{
	for (;;) {
		const char *p = buf_data(&s->in), *lf;
		size_t n = buf_size(&s->in), len;
		bool crlf;

		if (n == 0)
			return false;
		lf = memchr(p, '\n', n);
		if (lf == NULL) {
			/* RFC 5321 4.5.3.1.6: the line will be too long
			   (even if it starts with a stuffed dot) */
			if (s->dline + n > s->lim.text_line) {
				poison(s, P_LINE);
				s->dline += n;
				s->last_cr = p[n - 1] == '\r';
				buf_consume(&s->in, n);
			}
			return false;
		}
		len = (size_t)(lf - p) + 1;
		if (s->dline == 0 && s->bol_crlf && len == 3 && p[0] == '.' &&
		    p[1] == '\r') {
			buf_consume(&s->in, 3);
			data_end(s);
			return true;
		}
		crlf = len >= 2 ? p[len - 2] == '\r' : s->last_cr;
		/* the limit applies to the line before dot-stuffing */
		if (s->dline > 0 || len - (p[0] == '.') > s->lim.text_line)
			poison(s, P_LINE);
		else if (s->poison == P_NONE)
			data_line(s, p, len, crlf);
		s->bol_crlf = crlf;
		s->dline = 0;
		s->last_cr = false;
		buf_consume(&s->in, len);
	}
}

/* fill_out - describe the action the machine waits on */
static enum smtp_action
fill_out(struct smtp_server *s, struct smtp_out *out)
{
	switch (s->wait) {
	case W_MAIL:
		out->addr = s->check_addr;
		return SMTP_ACT_MAIL;
	case W_RCPT:
		out->addr = s->check_addr;
		return SMTP_ACT_RCPT;
	case W_AUTH:
		out->user = s->auth_buf;
		out->pass = s->auth_pass;
		out->mech = s->auth_mech;
		return SMTP_ACT_AUTH;
	case W_STARTTLS:
		return SMTP_ACT_STARTTLS;
	case W_COMMIT:
		return SMTP_ACT_COMMIT;
	case W_NONE:
		break;
	}
	return SMTP_ACT_READ;
}

/* smtp_server_next - process buffered input until an action is due */
enum smtp_action
smtp_server_next(struct smtp_server *s, struct smtp_out *out)
{
	memset(out, 0, sizeof(*out));
	for (;;) {
		if (s->closing)
			return SMTP_ACT_CLOSE;
		if (s->wait != W_NONE)
			return fill_out(s, out);
		if (s->in_data) {
			if (!data_step(s))
				return SMTP_ACT_READ;
		} else if (!line_step(s))
			return SMTP_ACT_READ;
	}
}

/* sanitize_text - the caller's reply text, one printable line */
static void
sanitize_text(char *dst, size_t dsz, const char *text)
{
	size_t i;

	for (i = 0; text[i] != '\0' && i + 1 < dsz; i++)
		dst[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) ?
		    '?' : text[i];
	dst[i] = '\0';
}

/* sanitize_enh - the caller's enhanced code, or one made from the code */
static void
sanitize_enh(char *dst, size_t dsz, int code, const char *enh)
{
	size_t i;

	for (i = 0; enh != NULL && enh[i] != '\0' && i + 1 < dsz; i++) {
		if (!(enh[i] == '.' || (enh[i] >= '0' && enh[i] <= '9')))
			break;
		dst[i] = enh[i];
	}
	if (enh == NULL || enh[i] != '\0' || i == 0 || i + 1 >= dsz)
		snprintf(dst, dsz, "%d.0.0", code / 100);
	else
		dst[i] = '\0';
}

/* smtp_server_verdict - the caller's answer to MAIL, RCPT or COMMIT */
void
smtp_server_verdict(struct smtp_server *s, int code, const char *enh,
    const char *text)
{
	char t[VERDICT_TEXT_MAX], e[16];
	bool ok = code >= 200 && code < 300;

	if (s->wait != W_MAIL && s->wait != W_RCPT && s->wait != W_COMMIT)
		return;
	if (code < 200 || code > 599)
		code = 451;
	sanitize_text(t, sizeof(t), text ? text : "");
	sanitize_enh(e, sizeof(e), code, enh);
	reply(s, code, e, t);
	switch (s->wait) {
	case W_MAIL:
		if (ok) {
			s->in_txn = true;
			s->mail_from = s->check_addr;
			s->check_addr = NULL;
			s->smtputf8 = s->check_utf8;
			s->body_8bit = s->check_8bit;
		}
		break;
	case W_RCPT:
		if (ok) {
			if (s->nrcpts == s->rcpts_cap) {
				s->rcpts_cap = s->rcpts_cap ? 2 * s->rcpts_cap :
				    4;
				s->rcpts = xrealloc(s->rcpts, s->rcpts_cap *
				    sizeof(*s->rcpts));
			}
			s->rcpts[s->nrcpts++] = s->check_addr;
			s->check_addr = NULL;
		}
		break;
	case W_COMMIT:
		/* RFC 5321 4.1.1.4: the transaction ends either way */
		txn_reset(s);
		break;
	default:
		break;
	}
	free(s->check_addr);
	s->check_addr = NULL;
	s->wait = W_NONE;
}

/* smtp_server_auth_result - the caller's answer to AUTH */
void
smtp_server_auth_result(struct smtp_server *s, bool ok)
{
	if (s->wait != W_AUTH)
		return;
	s->wait = W_NONE;
	if (ok) {
		s->auth_user = xstrndup(s->auth_buf, s->auth_user_len);
		auth_wipe(s);
		reply(s, 235, "2.7.0", "Authentication successful");
		return;
	}
	auth_fail(s);
}

/* smtp_server_tls_started - the STARTTLS handshake is done: start afresh */
void
smtp_server_tls_started(struct smtp_server *s, const struct smtp_tls_info *tls)
{
	if (s->wait != W_STARTTLS)
		return;
	s->wait = W_NONE;
	s->tls = true;
	memset(&s->tls_info, 0, sizeof(s->tls_info));
	if (tls != NULL) {
		s->tls_info = *tls;
		s->tls_info.version[sizeof(s->tls_info.version) - 1] = '\0';
		s->tls_info.cipher[sizeof(s->tls_info.cipher) - 1] = '\0';
		s->tls_info.sni[sizeof(s->tls_info.sni) - 1] = '\0';
	}
	/* RFC 3207 4.2: forget everything learnt in plaintext */
	session_reset(s);
	buf_reset(&s->in);
}

/* smtp_server_timeout - 421 4.4.2 and close */
void
smtp_server_timeout(struct smtp_server *s)
{
	if (!s->closing)
		close_with(s, 421, "4.4.2", "Timeout, closing connection");
}

/* smtp_server_shutdown - 421 4.3.2 and close */
void
smtp_server_shutdown(struct smtp_server *s)
{
	if (!s->closing)
		close_with(s, 421, "4.3.2", "Server shutting down");
}

/* smtp_server_output - the replies waiting to be sent */
const char *
smtp_server_output(struct smtp_server *s, size_t *len)
{
	*len = buf_size(&s->out);
	return buf_data(&s->out);
}

/* smtp_server_output_consume - n octets of output were sent */
void
smtp_server_output_consume(struct smtp_server *s, size_t n)
{
	buf_consume(&s->out, n);
}

/* smtp_server_envelope - the transaction, valid until the COMMIT verdict */
void
smtp_server_envelope(const struct smtp_server *s, struct smtp_envelope *env)
{
	bool auth = s->auth_user != NULL;

	memset(env, 0, sizeof(*env));
	env->helo = s->helo ? s->helo : "";
	env->esmtp = s->esmtp;
	env->mail_from = s->mail_from ? s->mail_from : "";
	env->rcpts = (const char *const *)s->rcpts;
	env->nrcpts = s->nrcpts;
	env->auth_user = s->auth_user;
	env->tls = s->tls ? &s->tls_info : NULL;
	/* RFC 3848 */
	if (!s->esmtp)
		env->protocol = "SMTP";
	else if (s->tls)
		env->protocol = auth ? "ESMTPSA" : "ESMTPS";
	else
		env->protocol = auth ? "ESMTPA" : "ESMTP";
	env->smtputf8 = s->smtputf8;
	env->body_8bit = s->body_8bit;
	env->msg = s->msg.p ? buf_data(&s->msg) : "";
	env->msg_len = buf_size(&s->msg);
}

/* smtp_server_in_data - between 354 and the end of data? */
bool
smtp_server_in_data(const struct smtp_server *s)
{
	return s->in_data;
}

/* smtp_server_idle - nothing in progress and nothing buffered? */
bool
smtp_server_idle(const struct smtp_server *s)
{
	return !s->in_txn && !s->in_data && s->wait == W_NONE &&
	    s->auth_stage == AUTH_NONE && buf_size(&s->in) == 0;
}

/* smtp_server_release_buffers - free the empty buffers of an idle session */
void
smtp_server_release_buffers(struct smtp_server *s)
{
	if (buf_size(&s->in) == 0) {
		if (s->in.p != NULL)
			explicit_bzero(s->in.p, s->in.cap);
		buf_shrink(&s->in);
	}
	buf_shrink(&s->out);
	if (!s->in_data && s->wait != W_COMMIT) {
		buf_reset(&s->msg);
		buf_shrink(&s->msg);
	}
	if (!s->in_txn && s->wait == W_NONE) {
		free(s->rcpts);
		s->rcpts = NULL;
		s->rcpts_cap = 0;
	}
}

/* smtp_server_footprint - heap octets held by the session */
size_t
smtp_server_footprint(const struct smtp_server *s)
{
	return sizeof(*s) + s->in.cap + s->out.cap + s->msg.cap +
	    s->auth_buf_size + s->rcpts_cap * sizeof(char *);
}

/* smtp_server_auth_failures - failed AUTH attempts so far */
unsigned
smtp_server_auth_failures(const struct smtp_server *s)
{
	return s->auth_failures;
}
