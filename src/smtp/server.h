/*
 * smtp/server.h - the SMTP server session machine (RFC 5321 and extensions).
 *
 * A pure machine: it never touches a socket, a clock, DNS or the disk.  The
 * caller (the daemon's worker, the golden tests, the fuzzer) feeds it the
 * bytes read from the peer and then pulls actions until it says READ:
 *
 *	smtp_server_feed(s, p, n);
 *	while ((a = smtp_server_next(s, &out)) != SMTP_ACT_READ) {
 *		switch (a) {
 *		case SMTP_ACT_MAIL: ... smtp_server_verdict(s, 250, "2.1.0", "Ok");
 *		...
 *		}
 *	}
 *	send smtp_server_output(s, &n), then smtp_server_output_consume(s, n);
 *
 * Replies accumulate in the output buffer so that a pipelined group of
 * commands is answered with one write.  After an action other than READ
 * and CLOSE the machine waits: it processes no more input until the caller
 * answers with smtp_server_verdict(), smtp_server_auth_result() or
 * smtp_server_tls_started() (STARTTLS).  The caller should stop reading
 * from the peer while the machine waits.
 *
 * Timeouts are the caller's: on one it calls smtp_server_timeout(), which
 * queues a 421 and returns; the next smtp_server_next() says CLOSE.
 *
 * Every reply carries an RFC 3463 enhanced status code.
 */
#ifndef SMTP_SERVER_H
#define SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

enum smtp_role {
	SMTP_ROLE_MX,		/* port 25: STARTTLS offered, no AUTH */
	SMTP_ROLE_SUBMISSION,	/* 587/2525: STARTTLS, AUTH after TLS, required */
	SMTP_ROLE_SUBMISSIONS,	/* 465: implicit TLS, AUTH required */
};

struct smtp_limits {
	size_t cmd_line;	/* RFC 5321 4.5.3.1.4: 512 incl. CRLF */
	size_t text_line;	/* RFC 5321 4.5.3.1.6: 1000 incl. CRLF */
	size_t auth_line;	/* RFC 4954 4: 12288 */
	size_t header_size;	/* header section, octets */
	size_t message_size;	/* whole message, octets (SIZE) */
	unsigned rcpts;		/* per transaction; RFC 5321 4.5.3.1.8: >= 100 */
	unsigned errors;	/* protocol errors before 421 */
	unsigned auth_failures;	/* failed AUTH before 421 */
};

/* smtp_limits_default - the defaults named above */
void smtp_limits_default(struct smtp_limits *l);

struct smtp_tls_info {
	char version[16];	/* "TLSv1.3" */
	char cipher[64];	/* "TLS_AES_256_GCM_SHA384" */
	int bits;		/* 256 */
	char sni[256];		/* server name the client asked for, or "" */
};

struct smtp_server_params {
	enum smtp_role role;
	const char *hostname;	/* our name: greeting, EHLO, Received */
	const char *client_ip;	/* "127.0.0.1" or "::1" */
	const char *client_name; /* verified reverse name, or NULL */
	struct smtp_limits limits;
	bool tls_offered;	/* a certificate is loaded: offer STARTTLS */
	/* implicit TLS: the handshake is done before the greeting */
	const struct smtp_tls_info *tls;
};

enum smtp_action {
	SMTP_ACT_READ,		/* flush output, then read more from the peer */
	SMTP_ACT_STARTTLS,	/* flush output (the 220), handshake, then
				   smtp_server_tls_started() */
	SMTP_ACT_AUTH,		/* check out->user/out->pass, then
				   smtp_server_auth_result() */
	SMTP_ACT_MAIL,		/* check sender out->addr: smtp_server_verdict() */
	SMTP_ACT_RCPT,		/* check recipient out->addr: smtp_server_verdict() */
	SMTP_ACT_COMMIT,	/* message complete (smtp_server_envelope()):
				   commit it, then smtp_server_verdict() */
	SMTP_ACT_CLOSE,		/* flush output and close the connection */
};

struct smtp_out {
	/* SMTP_ACT_MAIL, SMTP_ACT_RCPT: the address without <>, "" for <>;
	   always valid RFC 5321 / 6531 Mailbox syntax (smtp/address.h), or
	   for RCPT the bare "Postmaster" (any case) of RFC 5321 4.5.1 */
	const char *addr;
	/* SMTP_ACT_AUTH: NUL-terminated; never log pass */
	const char *user;
	const char *pass;
	const char *mech;	/* "PLAIN" or "LOGIN" */
};

struct smtp_envelope {
	const char *helo;	/* EHLO/HELO argument */
	bool esmtp;		/* EHLO rather than HELO */
	const char *mail_from;	/* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *auth_user;	/* NULL unless authenticated */
	const struct smtp_tls_info *tls; /* NULL when in plaintext */
	const char *protocol;	/* RFC 3848: SMTP ESMTP ESMTPS ESMTPA ESMTPSA */
	bool smtputf8;
	bool body_8bit;		/* BODY=8BITMIME */
	const char *msg;	/* the message, dot-unstuffed, CRLF line ends */
	size_t msg_len;
};

struct smtp_server;

struct smtp_server *smtp_server_new(const struct smtp_server_params *p);
void smtp_server_free(struct smtp_server *s);

/*
 * The input buffer holds SMTP_SERVER_FEED_MAX octets plus the longest line
 * limit.  After smtp_server_next() has said READ, at most one partial line
 * (never longer than its limit) is left in it, so a feed of up to
 * SMTP_SERVER_FEED_MAX octets always fits; a caller that feeds more, or
 * feeds while the machine waits for a verdict, can get E_LIMIT.  Longer
 * peer lines never grow memory: the machine closes (command line) or
 * drops the excess (message text) as soon as the limit is passed.
 */
#define SMTP_SERVER_FEED_MAX	65536

/* smtp_server_feed - hand the machine bytes read from the peer; E_LIMIT
   when its input buffer is full (the caller closes the connection) */
int smtp_server_feed(struct smtp_server *s, const void *p, size_t n);

/* smtp_server_next - what the caller should do now */
enum smtp_action smtp_server_next(struct smtp_server *s, struct smtp_out *out);

/* smtp_server_verdict - answer MAIL, RCPT or COMMIT: code (250, 452, 550...)
   enhanced code ("2.1.0") and text ("Ok") become the reply line */
void smtp_server_verdict(struct smtp_server *s, int code, const char *enh,
    const char *text);

/* smtp_server_auth_result - answer AUTH: ok, or one more failure */
void smtp_server_auth_result(struct smtp_server *s, bool ok);

/* smtp_server_tls_started - the handshake after STARTTLS succeeded; the
   machine forgets EHLO, AUTH and the transaction (RFC 3207 4.2) */
void smtp_server_tls_started(struct smtp_server *s,
    const struct smtp_tls_info *tls);

/* smtp_server_timeout - queue 421 4.4.2 and close */
void smtp_server_timeout(struct smtp_server *s);
/* smtp_server_shutdown - queue 421 4.3.2 (server shutting down) and close */
void smtp_server_shutdown(struct smtp_server *s);

/* smtp_server_output - bytes to send; _consume when sent */
const char *smtp_server_output(struct smtp_server *s, size_t *len);
void smtp_server_output_consume(struct smtp_server *s, size_t n);

/* smtp_server_envelope - the transaction at SMTP_ACT_COMMIT */
void smtp_server_envelope(const struct smtp_server *s,
    struct smtp_envelope *env);

/* smtp_server_in_data - between 354 and end of data (the caller applies
   the whole-DATA timeout and the minimum data rate) */
bool smtp_server_in_data(const struct smtp_server *s);
/* smtp_server_idle - no transaction and no buffered input (idle sessions
   may release their buffers) */
bool smtp_server_idle(const struct smtp_server *s);
/* smtp_server_release_buffers - free empty buffers of an idle session */
void smtp_server_release_buffers(struct smtp_server *s);

/* smtp_server_footprint - heap octets the session holds now (stats, tests) */
size_t smtp_server_footprint(const struct smtp_server *s);
/* smtp_server_auth_failures - failed AUTH attempts so far (the caller may
   delay its answer more after each one) */
unsigned smtp_server_auth_failures(const struct smtp_server *s);

#endif
