/*
 * check/probe.c - the SMTP and TLS client of smtpsctl check.
 *
 * One probe is one connection with one deadline: connect, greeting, EHLO,
 * STARTTLS (or TLS first for port 465), handshake, QUIT.  Every read and
 * write waits with poll() until the deadline, so a server that never
 * answers ends the probe as a finding, and replies are capped and must
 * follow RFC 5321 4.2, so garbage ends it too.  The certificate is not
 * trusted blindly and not rejected blindly either: the handshake always
 * completes and each property (chain, names, expiry, DANE) is graded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "check/check_int.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define PROBE_LINE_MAX		512
/* Ours: a whole multi-line reply (EHLO lists a few dozen lines). */
#define PROBE_REPLY_MAX		16384
/* A certificate that expires sooner than this many days is a warning. */
#define PROBE_EXPIRY_WARN_DAYS	14

struct conn {
	int fd;
	SSL *ssl;
	struct buf in;		/* read but not yet consumed */
	long long deadline;	/* monotonic milliseconds */
	char why[200];		/* the last failure */
};

/* now_ms - monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_fd - poll fd for events until the deadline; 0, or E_TIMEOUT */
static int
wait_fd(struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	long long left;
	int n;

	for (;;) {
		left = c->deadline - now_ms();
		if (left <= 0) {
			snprintf(c->why, sizeof(c->why), "timed out");
			return E_TIMEOUT;
		}
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			snprintf(c->why, sizeof(c->why), "poll: %s",
			    strerror(errno));
			return E_IO;
		}
	}
}

/* conn_open - a non-blocking TCP connection to addr:port */
static int
conn_open(struct conn *c, const char *addr, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int err = 0;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		snprintf(c->why, sizeof(c->why), "bad address");
		return E_INVAL;
	}
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why), "socket: %s", strerror(errno));
		return E_IO;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(errno));
		return E_IO;
	}
	if (wait_fd(c, POLLOUT) != 0)
		return E_TIMEOUT;
	len = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(err));
		return E_IO;
	}
	return 0;
}

/* ssl_wait - after an SSL call returned r, wait as OpenSSL asks; 0 to
   retry, or an error */
static int
ssl_wait(struct conn *c, int r, const char *what)
{
	int e = SSL_get_error(c->ssl, r);
	unsigned long ee;

	if (e == SSL_ERROR_WANT_READ)
		return wait_fd(c, POLLIN);
	if (e == SSL_ERROR_WANT_WRITE)
		return wait_fd(c, POLLOUT);
	ee = ERR_get_error();
	if (ee != 0) {
		char tmp[160];

		ERR_error_string_n(ee, tmp, sizeof(tmp));
		snprintf(c->why, sizeof(c->why), "%s: %s", what, tmp);
	} else if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
		snprintf(c->why, sizeof(c->why), "%s: connection closed",
		    what);
	else
		snprintf(c->why, sizeof(c->why), "%s: TLS error %d", what, e);
	ERR_clear_error();
	return E_TLS;
}

/* conn_read - some bytes into c->in; 0, or an error (closed: E_IO) */
static int
conn_read(struct conn *c)
{
	char tmp[4096];
	ssize_t n;
	int r;

	for (;;) {
		if (c->ssl != NULL) {
			r = SSL_read(c->ssl, tmp, sizeof(tmp));
			if (r > 0) {
				n = r;
				break;
			}
			if ((r = ssl_wait(c, r, "read")) != 0)
				return r;
			continue;
		}
		n = read(c->fd, tmp, sizeof(tmp));
		if (n > 0)
			break;
		if (n == 0) {
			snprintf(c->why, sizeof(c->why), "connection closed");
			return E_IO;
		}
		if (errno == EAGAIN || errno == EINTR) {
			if ((r = wait_fd(c, POLLIN)) != 0)
				return r;
			continue;
		}
		snprintf(c->why, sizeof(c->why), "read: %s", strerror(errno));
		return E_IO;
	}
	if (buf_append(&c->in, tmp, (size_t)n) != 0) {
		snprintf(c->why, sizeof(c->why), "reply longer than %d bytes",
		    PROBE_REPLY_MAX);
		return E_LIMIT;
	}
	return 0;
}

/* conn_write - all of s, bounded by the deadline */
static int
conn_write(struct conn *c, const char *s)
{
	size_t off = 0, n = strlen(s);
	ssize_t w;
	int r;

	while (off < n) {
		if (c->ssl != NULL) {
			r = SSL_write(c->ssl, s + off, (int)(n - off));
			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			if ((r = ssl_wait(c, r, "write")) != 0)
				return r;
			continue;
		}
		w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = wait_fd(c, POLLOUT)) != 0)
				return r;
			continue;
		}
		snprintf(c->why, sizeof(c->why), "write: %s",
		    w < 0 ? strerror(errno) : "nothing written");
		return E_IO;
	}
	return 0;
}

/*
 * read_reply - one whole SMTP reply (RFC 5321 4.2): lines "NNN-text" up
 * to a last "NNN text".  The lines are kept in *lines (text after the
 * code, one per line, NUL-separated by '\n').  E_SYNTAX for garbage.
 */
static int
read_reply(struct conn *c, int *code, struct buf *lines)
{
	int r, first = -1;

	buf_reset(lines);
	for (;;) {
		const char *p = buf_data(&c->in), *nl;
		size_t n = buf_size(&c->in), len;
		int cd;

		nl = memchr(p, '\n', n);
		if (nl == NULL) {
			if (n > PROBE_LINE_MAX) {
				snprintf(c->why, sizeof(c->why), "reply line "
				    "longer than %d bytes", PROBE_LINE_MAX);
				return E_SYNTAX;
			}
			if ((r = conn_read(c)) != 0)
				return r;
			continue;
		}
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len < 3 || len > PROBE_LINE_MAX || p[0] < '2' ||
		    p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' ||
		    p[2] > '9' || (len > 3 && p[3] != ' ' && p[3] != '-')) {
			snprintf(c->why, sizeof(c->why), "not an SMTP reply");
			return E_SYNTAX;
		}
		cd = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (first >= 0 && cd != first) {
			snprintf(c->why, sizeof(c->why), "reply codes differ "
			    "within one reply");
			return E_SYNTAX;
		}
		first = cd;
		if ((len > 4 && buf_append(lines, p + 4, len - 4) != 0) ||
		    buf_append(lines, "\n", 1) != 0) {
			snprintf(c->why, sizeof(c->why), "reply longer than %d "
			    "bytes", PROBE_REPLY_MAX);
			return E_LIMIT;
		}
		buf_consume(&c->in, (size_t)(nl - p) + 1);
		if (len == 3 || p[3] == ' ') {
			*code = cd;
			return 0;
		}
	}
}

/* has_keyword - does an EHLO reply list this extension? */
static bool
has_keyword(struct buf *lines, const char *kw)
{
	const char *p = buf_cstr(lines), *nl;
	size_t kl = strlen(kw);

	/* The first line is the server's greeting name, not a keyword. */
	if ((nl = strchr(p, '\n')) == NULL)
		return false;
	for (p = nl + 1; *p; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if ((size_t)(nl - p) >= kl && strncasecmp(p, kw, kl) == 0 &&
		    ((size_t)(nl - p) == kl || p[kl] == ' ' || p[kl] == '='))
			return true;
	}
	return false;
}

/* tls_start - the client handshake, SNI set to host */
static int
tls_start(struct conn *c, SSL_CTX *ctx, const char *host)
{
	int r;

	if ((c->ssl = SSL_new(ctx)) == NULL) {
		snprintf(c->why, sizeof(c->why), "SSL_new failed");
		return E_TLS;
	}
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, host);
	for (;;) {
		r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		if ((r = ssl_wait(c, r, "handshake")) != 0)
			return r;
	}
}

/* digest_matches - TLSA matching type over data (RFC 6698 2.1.3) */
static bool
digest_matches(const struct ck_tlsa *t, const unsigned char *d, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (t->mtype == 0)
		return t->len == n && memcmp(t->data, d, n) == 0;
	if (EVP_Digest(d, n, md, &mdlen, t->mtype == 1 ? EVP_sha256() :
	    t->mtype == 2 ? EVP_sha512() : NULL, NULL) != 1)
		return false;
	return t->len == mdlen && memcmp(t->data, md, mdlen) == 0;
}

/* cert_matches - does one certificate match one TLSA record? */
static bool
cert_matches(X509 *x, const struct ck_tlsa *t)
{
	unsigned char *der = NULL;
	int n;
	bool ok;

	if (t->mtype > 2 || t->selector > 1)
		return false;
	if (t->selector == 0)
		n = i2d_X509(x, &der);
	else
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (n <= 0)
		return false;
	ok = digest_matches(t, der, (size_t)n);
	OPENSSL_free(der);
	return ok;
}

/* check_dane - RFC 7672 3.1: DANE-EE(3) against the leaf, DANE-TA(2)
   against the certificates the server sent above it */
static void
check_dane(struct check_report *rep, const char *area, SSL *ssl,
    const struct ck_tlsa *tlsa, size_t ntlsa, bool secure)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	size_t i, usable = 0;
	int j;

	for (i = 0; i < ntlsa; i++) {
		const struct ck_tlsa *t = &tlsa[i];

		if (t->usage != 2 && t->usage != 3)
			continue;
		usable++;
		if (t->usage == 3 && leaf != NULL && cert_matches(leaf, t)) {
			check_report_add(rep, area, secure ? CHECK_PASS :
			    CHECK_WARN, "sign the zone with DNSSEC: DANE "
			    "clients ignore unsigned TLSA records",
			    "certificate matches TLSA %u %u %u%s", t->usage,
			    t->selector, t->mtype, secure ? "" :
			    " (but the TLSA records are not DNSSEC-validated)");
			return;
		}
		for (j = 1; t->usage == 2 && chain != NULL &&
		    j < sk_X509_num(chain); j++)
			if (cert_matches(sk_X509_value(chain, j), t)) {
				check_report_add(rep, area, secure ?
				    CHECK_PASS : CHECK_WARN, "sign the zone "
				    "with DNSSEC", "issuer certificate matches "
				    "TLSA 2 %u %u%s", t->selector, t->mtype,
				    secure ? "" : " (not DNSSEC-validated)");
				return;
			}
	}
	if (usable == 0)
		check_report_add(rep, area, CHECK_FAIL, "publish DANE-EE (3 1 1)"
		    " or DANE-TA (2 x x) records: SMTP uses only these "
		    "(RFC 7672 3.1.3)", "no TLSA record with usage 2 or 3");
	else
		check_report_add(rep, area, CHECK_FAIL, "publish TLSA records "
		    "for the certificate in use (3 1 1 = SHA-256 of its "
		    "public key) before switching certificates",
		    "certificate matches none of %zu TLSA records: DANE "
		    "senders will not deliver", usable);
}

/* check_certificate - chain, names, expiry of the server's certificate */
static void
check_certificate(struct check_report *rep, const char *area,
    const char *host, SSL *ssl)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	int days = 0, secs = 0;

	if (leaf == NULL) {
		check_report_add(rep, area, CHECK_FAIL, "configure a "
		    "certificate", "the server sent no certificate");
		return;
	}
	if (vr == X509_V_OK)
		check_report_add(rep, area, CHECK_PASS, NULL,
		    "certificate chain valid");
	else
		check_report_add(rep, area, CHECK_FAIL, "install a certificate "
		    "from a public CA with its full intermediate chain",
		    "certificate chain not valid: %s",
		    X509_verify_cert_error_string(vr));
	if (X509_check_host(leaf, host, 0, 0, NULL) == 1)
		check_report_add(rep, area, CHECK_PASS, NULL,
		    "certificate names %s", host);
	else
		check_report_add(rep, area, CHECK_FAIL, "get a certificate "
		    "whose subjectAltName holds the MX host name (MTA-STS "
		    "and DANE-TA senders check it)",
		    "certificate does not name %s", host);
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) !=
	    1)
		check_report_add(rep, area, CHECK_UNKNOWN, "", "certificate "
		    "expiry date unreadable");
	else if (days < 0 || (days == 0 && secs < 0))
		check_report_add(rep, area, CHECK_FAIL, "renew the certificate "
		    "now and automate renewal", "certificate expired %d days "
		    "ago", -days);
	else if (days < PROBE_EXPIRY_WARN_DAYS)
		check_report_add(rep, area, CHECK_WARN, "renew the "
		    "certificate and automate renewal",
		    "certificate expires in %d days", days);
	else
		check_report_add(rep, area, CHECK_PASS, NULL,
		    "certificate expires in %d days", days);
}

/* new_ctx - a client context that verifies (result kept, not fatal) */
static SSL_CTX *
new_ctx(const struct check_opts *o, char *why, size_t whysz)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(why, whysz, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (o->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
			snprintf(why, whysz, "cannot read --ca-file %s",
			    o->ca_file);
			SSL_CTX_free(ctx);
			ERR_clear_error();
			return NULL;
		}
	} else
		SSL_CTX_set_default_verify_paths(ctx);
	return ctx;
}

/* ck_probe - one SMTP/TLS probe, its findings under area */
void
ck_probe(struct check_report *rep, const struct check_opts *o,
    const char *area, const char *host, const char *addr, int port,
    enum ck_probe_mode mode, bool auth_check, const struct ck_tlsa *tlsa,
    size_t ntlsa, bool tlsa_secure)
{
	struct conn c = { .fd = -1 };
	struct buf lines;
	SSL_CTX *ctx = NULL;
	char why[200];
	int code = 0;
	bool starttls, auth;

	buf_init(&c.in, PROBE_REPLY_MAX);
	buf_init(&lines, PROBE_REPLY_MAX);
	c.deadline = now_ms() + o->timeout_ms;
	if ((ctx = new_ctx(o, why, sizeof(why))) == NULL) {
		check_report_add(rep, area, CHECK_UNKNOWN, "", "%s", why);
		goto out;
	}
	if (conn_open(&c, addr, port) != 0) {
		check_report_add(rep, area, CHECK_FAIL, "make the server accept "
		    "connections on this port from the internet",
		    "no connection to %s port %d: %s", addr, port, c.why);
		goto out;
	}
	if (mode == CK_PROBE_IMPLICIT && tls_start(&c, ctx, host) != 0) {
		check_report_add(rep, area, CHECK_FAIL, "offer implicit TLS on "
		    "port 465 (RFC 8314 3.3)", "TLS handshake failed: %s",
		    c.why);
		goto out;
	}
	if (read_reply(&c, &code, &lines) != 0 || code != 220) {
		check_report_add(rep, area, CHECK_FAIL, "the server must greet "
		    "with 220 (RFC 5321 4.3.1)", "no SMTP greeting: %s",
		    code && !*c.why ? "code is not 220" : c.why);
		goto out;
	}
	if (conn_write(&c, "EHLO check.smtpsctl.invalid\r\n") != 0 ||
	    read_reply(&c, &code, &lines) != 0 || code != 250) {
		check_report_add(rep, area, CHECK_FAIL, "the server must answer"
		    " EHLO with 250 (RFC 5321 4.1.1.1)", "EHLO failed: %s",
		    *c.why ? c.why : "code is not 250");
		goto out;
	}
	starttls = has_keyword(&lines, "STARTTLS");
	auth = has_keyword(&lines, "AUTH");
	if (mode == CK_PROBE_STARTTLS) {
		if (auth_check && auth)
			check_report_add(rep, area, CHECK_FAIL, "offer AUTH only"
			    " after STARTTLS so passwords never travel in "
			    "clear", "AUTH offered before TLS");
		else if (auth_check)
			check_report_add(rep, area, CHECK_PASS, NULL,
			    "AUTH not offered before TLS");
		if (!starttls) {
			check_report_add(rep, area, CHECK_FAIL, "configure a "
			    "certificate and offer STARTTLS (RFC 3207)",
			    "STARTTLS not offered: mail arrives in clear");
			goto out;
		}
		check_report_add(rep, area, CHECK_PASS, NULL,
		    "STARTTLS offered");
		if (conn_write(&c, "STARTTLS\r\n") != 0 ||
		    read_reply(&c, &code, &lines) != 0 || code != 220) {
			check_report_add(rep, area, CHECK_FAIL, "make STARTTLS "
			    "answer 220 (RFC 3207 4)", "STARTTLS refused: %s",
			    *c.why ? c.why : "code is not 220");
			goto out;
		}
		if (buf_size(&c.in) != 0) {
			/* RFC 3207 4.2 ... and the STARTTLS command injection
			   problem (CVE-2011-0411): nothing may follow 220. */
			check_report_add(rep, area, CHECK_FAIL, "discard "
			    "pipelined input at STARTTLS", "bytes after the "
			    "STARTTLS reply before the handshake");
			goto out;
		}
		if (tls_start(&c, ctx, host) != 0) {
			check_report_add(rep, area, CHECK_FAIL, "fix the server's"
			    " TLS configuration (certificate, key, protocols)",
			    "TLS handshake failed: %s", c.why);
			goto out;
		}
	} else if (auth_check)
		check_report_add(rep, area, auth ? CHECK_PASS : CHECK_INFO,
		    "", "AUTH %s after implicit TLS", auth ? "offered" :
		    "not offered");
	{
		const char *v = SSL_get_version(c.ssl);
		bool old = SSL_version(c.ssl) < TLS1_2_VERSION;

		check_report_add(rep, area, old ? CHECK_WARN : CHECK_PASS,
		    "allow TLS 1.2 and 1.3 only (RFC 8996)",
		    "TLS %s with %s", v, SSL_get_cipher_name(c.ssl));
	}
	check_certificate(rep, area, host, c.ssl);
	if (ntlsa > 0)
		check_dane(rep, area, c.ssl, tlsa, ntlsa, tlsa_secure);
	if (conn_write(&c, "QUIT\r\n") == 0)
		read_reply(&c, &code, &lines);
out:
	if (c.ssl != NULL) {
		SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN |
		    SSL_RECEIVED_SHUTDOWN);
		SSL_free(c.ssl);
	}
	if (c.fd >= 0)
		close(c.fd);
	SSL_CTX_free(ctx);
	buf_fini(&c.in);
	buf_fini(&lines);
}
