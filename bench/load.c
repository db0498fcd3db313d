/*
 * bench/load.c - smtpsd-load, the SMTP load generator behind `make bench`.
 *
 * It drives N concurrent SMTP sessions, plain or STARTTLS, each sending
 * M messages of S bytes, from one epoll loop per thread (one or two
 * threads: the client shares the host's cores with the server it
 * measures).  Every socket has TCP_NODELAY; MAIL, RCPT and DATA go out
 * in one write when the server advertises PIPELINING (RFC 2920); each
 * TLS connection does a full handshake unless --resume is given.
 *
 * It reports accepted messages (250 after end of data) per second,
 * errors by kind, the p50/p99 latency from writing end of data to
 * reading its 250, and the elapsed time, as one JSON line on stdout
 * and one human line on stderr.
 *
 * With --server-pid it also measures the server: CPU time (utime +
 * stime + reaped children's time, summed over the process tree in
 * /proc) before and after the run, and the peak of the tree's summed
 * RSS, sampled every 100 ms.  With --maildir it waits, bounded by
 * --delivery-timeout, until as many new files have appeared in that
 * Maildir new/ directory as messages were accepted, and takes the
 * "after" CPU reading only then, so delivery work is counted.
 *
 * --idle N opens N TLS sessions (or plain ones without --starttls),
 * says EHLO after the handshake and holds them; once all are up (or
 * failed) it prints a "ready" JSON line, holds for --hold seconds and
 * reports the server's RSS with all of them held.
 *
 * Every run ends by count and by --duration-limit (default 60 s).
 */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define REPLY_LINE_MAX	512
#define IN_CAP		1024
#define CMD_CAP		1200
#define MAX_THREADS	8
#define LAT_CAP		(8u * 1024 * 1024)
#define TICK_MS		50

enum phase {
	PH_WAIT,		/* not connected yet */
	PH_CONNECTING,
	PH_GREETING,
	PH_EHLO,
	PH_STARTTLS,
	PH_HANDSHAKE,
	PH_EHLO_TLS,
	PH_ENVELOPE,		/* pipelined MAIL, RCPT, DATA replies */
	PH_MAIL,
	PH_RCPT,
	PH_DATA,
	PH_EOD,			/* message sent, waiting for its 250 */
	PH_QUIT,
	PH_HOLD,		/* --idle: established, holding */
	PH_DONE,
};

enum err_kind {
	E_CONNECT,
	E_TLS,
	E_GREETING,
	E_EHLO,
	E_STARTTLS,
	E_MAIL,
	E_RCPT,
	E_DATA,
	E_EOD,
	E_TIMEOUT,
	E_CLOSED,
	E_PROTOCOL,
	E_NKINDS,
};

static const char *const err_names[E_NKINDS] = {
	"connect", "tls", "greeting", "ehlo", "starttls", "mail", "rcpt",
	"data", "end_of_data", "timeout", "closed", "protocol",
};

struct options {
	const char *host;
	int port;
	int sessions;
	int messages;
	int size;
	bool starttls;
	bool reuse;
	bool resume;
	const char *from;
	const char *rcpt;
	const char *helo;
	const char *sni;
	double duration_limit;
	double timeout;
	int threads;
	int idle;
	double hold;
	const char *ready_file;
	int connect_concurrency;
	const char *source_base;
	int sources;
	int server_pid;
	const char *maildir;
	double delivery_timeout;
	const char *label;
	const char *message_file;
	bool openssl;		/* --tls-library openssl */
};

struct thread;

struct session {
	struct thread *th;
	int id;
	int fd;
	/* TLS, from one of two libraries (--tls-library): */
	SSL *ssl;		/* OpenSSL */
	SSL_SESSION *saved;
	gnutls_session_t gs;	/* GnuTLS */
	gnutls_datum_t gsaved;
	bool tls_done;		/* the handshake finished */
	unsigned char *rbuf;	/* GnuTLS read-ahead (not with --idle) */
	size_t rlen, roff;
	enum phase phase;
	int msgs_left;
	int replies;		/* replies seen in the pipelined group */
	bool group_ok;
	bool pipelining;
	bool starttls_offered;
	bool inflight;		/* counted against connect concurrency */
	uint32_t events;
	const char *out;
	size_t outlen;
	size_t outoff;
	bool eod_in_out;
	double t_eod;
	double deadline;
	size_t inlen;
	char in[IN_CAP];
	char cmd[CMD_CAP];
};

struct thread {
	int idx;
	pthread_t tid;
	int ep;
	struct session *sess;
	int nsess;
	int next_start;
	int inflight;
	int active;		/* sessions not yet PH_DONE */
	char *msg;
	size_t msglen;
	uint32_t *lat;		/* microseconds, end of data to 250 */
	size_t nlat;
	size_t latcap;
	uint64_t accepted;
	uint64_t attempted;
	uint64_t connections;
	uint64_t resumed;	/* TLS handshakes that resumed a session */
	uint64_t errors[E_NKINDS];
};

static struct options opt = {
	.host = "127.0.0.1",
	.port = 25,
	.sessions = 1,
	.messages = 1,
	.size = 1024,
	.from = "load@client.example.test",
	.rcpt = "demo@example.test",
	.helo = "client.example.test",
	.duration_limit = 60,
	.timeout = 30,
	.threads = 1,
	.hold = 10,
	.connect_concurrency = 200,
	.sources = 1,
	.source_base = "127.0.0.1",
	.delivery_timeout = 120,
	.label = "",
};

static SSL_CTX *ssl_ctx;
static gnutls_certificate_credentials_t gnutls_cred;
static gnutls_priority_t gnutls_prio;
static struct sockaddr_in server_addr;
static uint32_t source_base_addr;
static atomic_bool stop_flag;
static atomic_int established;
static atomic_int failed_idle;
static double t_start;
static double t_deadline;

/* now - monotonic seconds */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* die - report a fatal setup error and exit */
static void
die(const char *what)
{
	fprintf(stderr, "smtpsd-load: %s\n", what);
	exit(2);
}

/* parse_long - strict decimal in [lo, hi], or die naming the option */
static long
parse_long(const char *s, long lo, long hi, const char *name)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "smtpsd-load: bad value for --%s: %s\n", name,
		    s);
		exit(2);
	}
	return v;
}

/* parse_secs - non-negative seconds (may be fractional), or die */
static double
parse_secs(const char *s, const char *name)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400) {
		fprintf(stderr, "smtpsd-load: bad value for --%s: %s\n", name,
		    s);
		exit(2);
	}
	return v;
}

/* build_message - the message text of about size bytes, ending in CRLF.CRLF */
static char *
build_message(size_t size, size_t *lenp)
{
	char *m;
	size_t cap, n;
	int r;

	cap = size + 1024;
	m = malloc(cap);
	if (m == NULL)
		die("out of memory");
	r = snprintf(m, cap,
	    "From: <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: smtpsd-load benchmark message\r\n"
	    "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <smtpsd-load.%ld@client.example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n", opt.from, opt.rcpt, (long)getpid());
	if (r < 0 || (size_t)r >= cap)
		die("message header too long");
	n = (size_t)r;
	/* Body lines of 76 characters; none starts with a dot. */
	while (n + 78 <= size) {
		memset(m + n, 'a' + (int)(n / 78 % 26), 76);
		m[n + 76] = '\r';
		m[n + 77] = '\n';
		n += 78;
	}
	if (n < size) {
		size_t k = size - n;

		if (k < 3)
			k = 3;
		memset(m + n, 'z', k - 2);
		m[n + k - 2] = '\r';
		m[n + k - 1] = '\n';
		n += k;
	}
	memcpy(m + n, ".\r\n", 3);
	n += 3;
	*lenp = n;
	return m;
}

/*
 * load_message_file - --message-file: a prepared message (for example a
 * DKIM-signed one), sent as it is; it must end in CRLF.CRLF and be
 * dot-stuffed already
 */
static char *
load_message_file(const char *path, size_t *lenp)
{
	size_t cap = 64u << 20, n;
	FILE *f;
	char *m;

	f = fopen(path, "rb");
	if (f == NULL)
		die("--message-file: cannot open the file");
	m = malloc(cap);
	if (m == NULL)
		die("out of memory");
	n = fread(m, 1, cap, f);
	fclose(f);
	if (n == cap || n < 5 || memcmp(m + n - 5, "\r\n.\r\n", 5) != 0)
		die("--message-file: over 64 MiB or not ending in CRLF.CRLF");
	*lenp = n;
	return m;
}

/* set_events - make the epoll mask of s equal ev */
static void
set_events(struct session *s, uint32_t ev)
{
	struct epoll_event e;

	if (s->fd < 0 || s->events == ev)
		return;
	e.events = ev;
	e.data.ptr = s;
	if (epoll_ctl(s->th->ep, EPOLL_CTL_MOD, s->fd, &e) == 0)
		s->events = ev;
}

/*
 * The TLS layer.  Two libraries, one interface: GnuTLS by default, OpenSSL
 * with --tls-library openssl.  The client's own CPU is shared with the
 * server under test on the same cores, so the lighter client leaves more
 * of them to the server: with OpenSSL 3.0 a client handshake spends a
 * third of its instructions building a decoder for the server
 * certificate's public key (d2i_X509); GnuTLS does the same handshake
 * (TLS 1.3, X25519, RSA-PSS) in about two thirds of the instructions.
 * The servers see the same handshake from either.
 */
enum { TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, TLS_FAILED };

#define RBUF_SIZE (16384 + 2048)	/* a whole TLS record, and more */

/* tls_pull - GnuTLS's reads, through a buffer of the session's own: one
   recv() per socket wake-up instead of one for each record's header and
   one for its body (GnuTLS has no read-ahead of its own) */
static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct session *s = ptr;
	ssize_t r;

	if (s->roff == s->rlen) {
		s->roff = s->rlen = 0;
		r = recv(s->fd, s->rbuf, RBUF_SIZE, 0);
		if (r <= 0) {
			gnutls_transport_set_errno(s->gs, r < 0 ? errno : 0);
			return r;
		}
		s->rlen = (size_t)r;
	}
	if (len > s->rlen - s->roff)
		len = s->rlen - s->roff;
	memcpy(data, s->rbuf + s->roff, len);
	s->roff += len;
	return (ssize_t)len;
}

/* tls_pull_timeout - is there something to read within ms? */
static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct session *s = ptr;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	if (s->roff < s->rlen)
		return 1;
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* tls_start - set up the client side of a handshake on s->fd */
static int
tls_start(struct session *s)
{
	if (opt.openssl) {
		if ((s->ssl = SSL_new(ssl_ctx)) == NULL)
			return -1;
		SSL_set_fd(s->ssl, s->fd);
		SSL_set_tlsext_host_name(s->ssl, opt.sni);
		if (opt.resume && s->saved != NULL)
			SSL_set_session(s->ssl, s->saved);
	} else {
		if (gnutls_init(&s->gs, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0)
			return -1;
		if (gnutls_priority_set(s->gs, gnutls_prio) < 0 ||
		    gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE,
		    gnutls_cred) < 0 ||
		    gnutls_server_name_set(s->gs, GNUTLS_NAME_DNS, opt.sni,
		    strlen(opt.sni)) < 0) {
			gnutls_deinit(s->gs);
			s->gs = NULL;
			return -1;
		}
		gnutls_transport_set_int(s->gs, s->fd);
		if (opt.idle == 0) {
			if (s->rbuf == NULL && (s->rbuf = malloc(RBUF_SIZE)) ==
			    NULL) {
				gnutls_deinit(s->gs);
				s->gs = NULL;
				return -1;
			}
			s->rlen = s->roff = 0;
			/* Reads through tls_pull; writes straight to fd. */
			gnutls_transport_set_ptr2(s->gs, s,
			    (gnutls_transport_ptr_t)(intptr_t)s->fd);
			gnutls_transport_set_pull_function(s->gs, tls_pull);
			gnutls_transport_set_pull_timeout_function(s->gs,
			    tls_pull_timeout);
		}
		if (opt.resume && s->gsaved.data != NULL)
			gnutls_session_set_data(s->gs, s->gsaved.data,
			    s->gsaved.size);
	}
	return 0;
}

/* tls_on - is either library's TLS set up on the session? */
static bool
tls_on(const struct session *s)
{
	return s->ssl != NULL || s->gs != NULL;
}

/* tls_retry - should a GnuTLS call that returned r be made again at
   once?  It may say "again" after a record it handled itself (a session
   ticket) with more already in our buffer; waiting for the socket then
   would wait for a wake-up that never comes. */
static bool
tls_retry(const struct session *s, int r)
{
	return (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) &&
	    s->rbuf != NULL && s->roff < s->rlen;
}

/* tls_want - what a GnuTLS call that returned r waits for */
static int
tls_want(struct session *s, int r)
{
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return gnutls_record_get_direction(s->gs) ? TLS_WANT_WRITE :
		    TLS_WANT_READ;
	return TLS_FAILED;
}

/* tls_ossl_want - the same for an OpenSSL call */
static int
tls_ossl_want(struct session *s, int r)
{
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
	default: return TLS_FAILED;
	}
}

/* tls_handshake - one step of the handshake: TLS_DONE or what it waits on */
static int
tls_handshake(struct session *s)
{
	int r;

	if (opt.openssl) {
		r = SSL_connect(s->ssl);
		return r == 1 ? TLS_DONE : tls_ossl_want(s, r);
	}
	do
		r = gnutls_handshake(s->gs);
	while (tls_retry(s, r));
	if (r == 0)
		s->tls_done = true;
	return r == 0 ? TLS_DONE : tls_want(s, r);
}

/* tls_resumed - did the handshake resume a saved session? */
static bool
tls_resumed(struct session *s)
{
	if (opt.openssl)
		return SSL_session_reused(s->ssl);
	return gnutls_session_is_resumed(s->gs) != 0;
}

/* tls_write - bytes written (> 0), or <= 0 with *want set.  After a want,
   GnuTLS needs the same buffer again, which do_io gives it. */
static ssize_t
tls_write(struct session *s, const char *p, size_t n, int *want)
{
	ssize_t r;

	*want = TLS_FAILED;
	if (opt.openssl) {
		r = SSL_write(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
		if (r <= 0)
			*want = tls_ossl_want(s, (int)r);
		return r;
	}
	r = gnutls_record_send(s->gs, p, n);
	if (r < 0) {
		*want = tls_want(s, (int)r);
		return 0;
	}
	return r;
}

/* tls_read - bytes read (> 0), or <= 0 with *want set (TLS_FAILED for
   the end of the connection) */
static ssize_t
tls_read(struct session *s, char *p, size_t n, int *want)
{
	ssize_t r;

	*want = TLS_FAILED;
	if (opt.openssl) {
		r = SSL_read(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
		if (r <= 0)
			*want = tls_ossl_want(s, (int)r);
		return r;
	}
	do
		r = gnutls_record_recv(s->gs, p, n);
	while (tls_retry(s, (int)r));
	if (r < 0) {
		*want = tls_want(s, (int)r);
		return 0;
	}
	return r;
}

/* tls_close - send close_notify if the handshake finished, keep the
   session for --resume, free */
static void
tls_close(struct session *s)
{
	if (s->ssl != NULL) {
		if (opt.resume && SSL_is_init_finished(s->ssl)) {
			SSL_SESSION *sess = SSL_get1_session(s->ssl);

			if (sess != NULL) {
				if (s->saved != NULL)
					SSL_SESSION_free(s->saved);
				s->saved = sess;
			}
		}
		if (SSL_is_init_finished(s->ssl))
			SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->gs != NULL) {
		if (opt.resume && s->tls_done) {
			gnutls_datum_t d = { NULL, 0 };

			if (gnutls_session_get_data2(s->gs, &d) == 0) {
				gnutls_free(s->gsaved.data);
				s->gsaved = d;
			}
		}
		if (s->tls_done)
			(void)gnutls_bye(s->gs, GNUTLS_SHUT_WR);
		gnutls_deinit(s->gs);
		s->gs = NULL;
	}
	s->tls_done = false;
}

/* session_close - drop the connection, keeping the TLS session if asked */
static void
session_close(struct session *s)
{
	tls_close(s);
	if (s->fd >= 0) {
		epoll_ctl(s->th->ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
	if (s->inflight) {
		s->inflight = false;
		s->th->inflight--;
	}
	s->events = 0;
	s->out = NULL;
	s->outlen = s->outoff = 0;
	s->inlen = 0;
	s->eod_in_out = false;
}

/* session_finish - mark s done for good */
static void
session_finish(struct session *s)
{
	session_close(s);
	if (s->phase != PH_DONE) {
		s->phase = PH_DONE;
		s->th->active--;
	}
}

/* session_next - after a connection ends: reconnect or finish */
static void
session_next(struct session *s)
{
	session_close(s);
	if (opt.idle > 0 || s->msgs_left <= 0 || atomic_load(&stop_flag))
		session_finish(s);
	else
		s->phase = PH_WAIT;
}

/* session_fail - count an error of kind k; the current attempt is spent */
static void
session_fail(struct session *s, enum err_kind k)
{
	struct thread *th = s->th;

	th->errors[k]++;
	if (opt.idle > 0) {
		if (s->phase != PH_HOLD)
			atomic_fetch_add(&failed_idle, 1);
		else
			atomic_fetch_sub(&established, 1);
		session_finish(s);
		return;
	}
	/*
	 * A failure before or inside a transaction uses up one message, so
	 * a server that refuses everything still ends the run.
	 */
	if (s->msgs_left > 0 && s->phase != PH_QUIT) {
		s->msgs_left--;
		th->attempted++;
	}
	session_next(s);
}

/* queue_out - make buf the pending output of s */
static void
queue_out(struct session *s, const char *buf, size_t len, bool eod)
{
	s->out = buf;
	s->outlen = len;
	s->outoff = 0;
	s->eod_in_out = eod;
	s->deadline = now() + opt.timeout;
}

/* queue_cmd - make the command a b c CRLF pending */
static void
queue_cmd(struct session *s, const char *a, const char *b, const char *c)
{
	int n;

	n = snprintf(s->cmd, sizeof(s->cmd), "%s%s%s\r\n", a, b, c);
	if (n < 0 || (size_t)n >= sizeof(s->cmd))
		n = 0;
	queue_out(s, s->cmd, (size_t)n, false);
}

/* session_start_connect - open a non-blocking connection for s */
static void
session_start_connect(struct session *s)
{
	struct epoll_event e;
	int fd, one = 1;

	s->phase = PH_CONNECTING;
	s->pipelining = s->starttls_offered = false;
	s->deadline = now() + opt.timeout;
	s->inflight = true;
	s->th->inflight++;
	s->th->connections++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		session_fail(s, E_CONNECT);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.sources > 1 || strcmp(opt.source_base, "127.0.0.1") != 0) {
		struct sockaddr_in src;
		uint32_t k = (uint32_t)(s->id + s->th->connections) %
		    (uint32_t)opt.sources;

		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(source_base_addr + k);
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* Pick the port at connect time, per 4-tuple. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
#endif
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			close(fd);
			session_fail(s, E_CONNECT);
			return;
		}
	}
	s->fd = fd;
	s->events = EPOLLOUT;
	e.events = EPOLLOUT;
	e.data.ptr = s;
	if (epoll_ctl(s->th->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		close(fd);
		s->fd = -1;
		session_fail(s, E_CONNECT);
		return;
	}
	if (connect(fd, (struct sockaddr *)&server_addr,
	    sizeof(server_addr)) < 0 && errno != EINPROGRESS) {
		session_fail(s, E_CONNECT);
		return;
	}
}

/* start_transaction - send MAIL (and RCPT, DATA when pipelining) */
static void
start_transaction(struct session *s)
{
	int n;

	if (s->pipelining) {
		n = snprintf(s->cmd, sizeof(s->cmd),
		    "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", opt.from,
		    opt.rcpt);
		if (n < 0 || (size_t)n >= sizeof(s->cmd))
			n = 0;
		queue_out(s, s->cmd, (size_t)n, false);
		s->replies = 0;
		s->group_ok = true;
		s->phase = PH_ENVELOPE;
	} else {
		queue_cmd(s, "MAIL FROM:<", opt.from, ">");
		s->phase = PH_MAIL;
	}
}

/* session_ready - the session has said EHLO on its final channel */
static void
session_ready(struct session *s)
{
	if (s->inflight) {
		s->inflight = false;
		s->th->inflight--;
	}
	if (opt.idle > 0) {
		s->phase = PH_HOLD;
		s->deadline = 0;
		atomic_fetch_add(&established, 1);
		return;
	}
	start_transaction(s);
}

/* send_message - the server said 354: send the text and end of data */
static void
send_message(struct session *s)
{
	queue_out(s, s->th->msg, s->th->msglen, true);
	s->phase = PH_EOD;
}

/* message_done - one transaction is over; what now */
static void
message_done(struct session *s)
{
	s->msgs_left--;
	s->th->attempted++;
	if (s->msgs_left > 0 && opt.reuse && !atomic_load(&stop_flag)) {
		start_transaction(s);
		return;
	}
	queue_cmd(s, "QUIT", "", "");
	s->phase = PH_QUIT;
}

/* is_keyword - does the EHLO line text start with keyword kw */
static bool
is_keyword(const char *p, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	if (n < k || strncasecmp(p, kw, k) != 0)
		return false;
	return n == k || p[k] == ' ';
}

/* on_reply - a complete reply with code arrived; advance the dialogue */
static void
on_reply(struct session *s, int code)
{
	switch (s->phase) {
	case PH_GREETING:
		if (code != 220) {
			session_fail(s, E_GREETING);
			return;
		}
		queue_cmd(s, "EHLO ", opt.helo, "");
		s->phase = PH_EHLO;
		return;
	case PH_EHLO:
		if (code != 250) {
			session_fail(s, E_EHLO);
			return;
		}
		if (opt.starttls) {
			if (!s->starttls_offered) {
				session_fail(s, E_STARTTLS);
				return;
			}
			queue_cmd(s, "STARTTLS", "", "");
			s->phase = PH_STARTTLS;
			return;
		}
		session_ready(s);
		return;
	case PH_STARTTLS:
		if (code != 220 || s->inlen != 0) {
			session_fail(s, E_STARTTLS);
			return;
		}
		if (tls_start(s) < 0) {
			session_fail(s, E_TLS);
			return;
		}
		s->phase = PH_HANDSHAKE;
		s->pipelining = s->starttls_offered = false;
		return;
	case PH_EHLO_TLS:
		if (code != 250) {
			session_fail(s, E_EHLO);
			return;
		}
		session_ready(s);
		return;
	case PH_ENVELOPE:
		s->replies++;
		if ((s->replies < 3 && code != 250) ||
		    (s->replies == 3 && code != 354)) {
			if (s->group_ok)
				s->th->errors[s->replies == 1 ? E_MAIL :
				    s->replies == 2 ? E_RCPT : E_DATA]++;
			s->group_ok = false;
		}
		if (s->replies < 3)
			return;
		if (s->group_ok) {
			send_message(s);
			return;
		}
		/* The error is counted; the attempt is spent; start over. */
		s->msgs_left--;
		s->th->attempted++;
		queue_cmd(s, "QUIT", "", "");
		s->phase = PH_QUIT;
		return;
	case PH_MAIL:
		if (code != 250) {
			session_fail(s, E_MAIL);
			return;
		}
		queue_cmd(s, "RCPT TO:<", opt.rcpt, ">");
		s->phase = PH_RCPT;
		return;
	case PH_RCPT:
		if (code != 250 && code != 251) {
			session_fail(s, E_RCPT);
			return;
		}
		queue_cmd(s, "DATA", "", "");
		s->phase = PH_DATA;
		return;
	case PH_DATA:
		if (code != 354) {
			session_fail(s, E_DATA);
			return;
		}
		send_message(s);
		return;
	case PH_EOD:
		if (code == 250) {
			struct thread *th = s->th;
			double d = now() - s->t_eod;

			th->accepted++;
			if (th->nlat < th->latcap)
				th->lat[th->nlat++] = (uint32_t)(d * 1e6);
		} else {
			s->th->errors[E_EOD]++;
		}
		message_done(s);
		return;
	case PH_QUIT:
		/* 221 (or the reply to RSET after a failed group). */
		session_next(s);
		return;
	default:
		session_fail(s, E_PROTOCOL);
		return;
	}
}

/* parse_input - consume complete reply lines from s->in */
static void
parse_input(struct session *s)
{
	size_t start = 0, i;

	for (i = 0; i + 1 < s->inlen; i++) {
		const char *line;
		size_t n;
		int code;

		if (s->in[i] != '\r' || s->in[i + 1] != '\n')
			continue;
		line = s->in + start;
		n = i - start;
		start = i + 2;
		i++;
		if (n < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (n > 3 && line[3] != ' ' && line[3] != '-')) {
			session_fail(s, E_PROTOCOL);
			return;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (s->phase == PH_EHLO || s->phase == PH_EHLO_TLS) {
			const char *kw = line + 4;
			size_t kn = n > 4 ? n - 4 : 0;

			if (is_keyword(kw, kn, "PIPELINING"))
				s->pipelining = true;
			else if (is_keyword(kw, kn, "STARTTLS"))
				s->starttls_offered = true;
		}
		if (n > 3 && line[3] == '-')
			continue;
		/* The reply is complete: drop it before acting on it. */
		memmove(s->in, s->in + start, s->inlen - start);
		s->inlen -= start;
		start = 0;
		i = (size_t)-1;
		on_reply(s, code);
		if (s->fd < 0 || s->phase == PH_HANDSHAKE)
			return;
	}
	if (start > 0) {
		memmove(s->in, s->in + start, s->inlen - start);
		s->inlen -= start;
	}
	if (s->inlen >= REPLY_LINE_MAX)
		session_fail(s, E_PROTOCOL);
}

/*
 * do_io - write pending output, then read; returns 1 on progress, 0 when
 * blocked (events set), -1 when the session was closed or failed
 */
static int
do_io(struct session *s)
{
	ssize_t r;
	int e;

	if (s->outoff < s->outlen) {
		size_t left = s->outlen - s->outoff;

		if (tls_on(s)) {
			r = tls_write(s, s->out + s->outoff, left, &e);
			if (r <= 0) {
				if (e == TLS_WANT_WRITE) {
					set_events(s, EPOLLIN | EPOLLOUT);
					return 0;
				}
				if (e == TLS_WANT_READ) {
					set_events(s, EPOLLIN);
					return 0;
				}
				session_fail(s, E_CLOSED);
				return -1;
			}
		} else {
			r = send(s->fd, s->out + s->outoff, left, MSG_NOSIGNAL);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					set_events(s, EPOLLIN | EPOLLOUT);
					return 0;
				}
				session_fail(s, E_CLOSED);
				return -1;
			}
		}
		s->outoff += (size_t)r;
		if (s->outoff == s->outlen && s->eod_in_out) {
			s->t_eod = now();
			s->eod_in_out = false;
		}
		return 1;
	}
	if (tls_on(s)) {
		r = tls_read(s, s->in + s->inlen, sizeof(s->in) - s->inlen, &e);
		if (r <= 0) {
			if (e == TLS_WANT_READ) {
				set_events(s, EPOLLIN);
				return 0;
			}
			if (e == TLS_WANT_WRITE) {
				set_events(s, EPOLLIN | EPOLLOUT);
				return 0;
			}
			if (s->phase == PH_QUIT) {
				session_next(s);
				return -1;
			}
			session_fail(s, E_CLOSED);
			return -1;
		}
	} else {
		r = recv(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			set_events(s, EPOLLIN);
			return 0;
		}
		if (r <= 0) {
			if (s->phase == PH_QUIT && r == 0) {
				session_next(s);
				return -1;
			}
			session_fail(s, E_CLOSED);
			return -1;
		}
	}
	if (s->phase == PH_HOLD) {
		/* Held sessions should hear nothing; a 421 ends them. */
		s->inlen = 0;
		session_fail(s, E_CLOSED);
		return -1;
	}
	s->inlen += (size_t)r;
	s->deadline = now() + opt.timeout;
	parse_input(s);
	return s->fd < 0 ? -1 : 1;
}

/* session_drive - make all the progress s can make without blocking */
static void
session_drive(struct session *s, uint32_t ev)
{
	int guard;

	if (s->phase == PH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0) {
			session_fail(s, E_CONNECT);
			return;
		}
		s->phase = PH_GREETING;
		s->deadline = now() + opt.timeout;
		set_events(s, EPOLLIN);
	}
	for (guard = 0; guard < 64 && s->fd >= 0; guard++) {
		if (s->phase == PH_HANDSHAKE) {
			int e = tls_handshake(s);

			if (e != TLS_DONE) {
				if (e == TLS_WANT_READ) {
					set_events(s, EPOLLIN);
					return;
				}
				if (e == TLS_WANT_WRITE) {
					set_events(s, EPOLLIN | EPOLLOUT);
					return;
				}
				session_fail(s, E_TLS);
				return;
			}
			if (tls_resumed(s))
				s->th->resumed++;
			queue_cmd(s, "EHLO ", opt.helo, "");
			s->phase = PH_EHLO_TLS;
		}
		if (do_io(s) <= 0)
			return;
	}
}

/* thread_tick - start waiting sessions and expire stuck ones */
static void
thread_tick(struct thread *th)
{
	double t = now();
	int cap, i;

	cap = opt.connect_concurrency / opt.threads;
	if (cap < 1)
		cap = 1;
	while (th->next_start < th->nsess && th->inflight < cap &&
	    !atomic_load(&stop_flag)) {
		struct session *s = &th->sess[th->next_start++];

		session_start_connect(s);
		if (s->fd >= 0)
			session_drive(s, 0);
	}
	for (i = 0; i < th->next_start; i++) {
		struct session *s = &th->sess[i];

		if (s->phase == PH_WAIT && !atomic_load(&stop_flag)) {
			if (th->inflight >= cap)
				continue;
			session_start_connect(s);
			continue;
		}
		if (s->phase == PH_DONE || s->phase == PH_HOLD ||
		    s->phase == PH_WAIT)
			continue;
		if (s->deadline > 0 && t > s->deadline)
			session_fail(s, E_TIMEOUT);
	}
}

/* thread_main - one epoll loop over this thread's sessions */
static void *
thread_main(void *arg)
{
	struct thread *th = arg;
	struct epoll_event evs[256];
	double last_tick = 0;
	int i, n;

	th->ep = epoll_create1(EPOLL_CLOEXEC);
	if (th->ep < 0)
		die("epoll_create1 failed");
	th->active = th->nsess;
	while (th->active > 0) {
		double t = now();

		if (atomic_load(&stop_flag) || t > t_deadline) {
			atomic_store(&stop_flag, true);
			break;
		}
		if (t - last_tick >= TICK_MS / 1000.0 ||
		    th->next_start < th->nsess) {
			thread_tick(th);
			last_tick = t;
		}
		n = epoll_wait(th->ep, evs, 256, TICK_MS);
		for (i = 0; i < n; i++) {
			struct session *s = evs[i].data.ptr;

			if (s->fd >= 0)
				session_drive(s, evs[i].events);
		}
		/* Sessions that reconnect go straight back to work. */
		for (i = 0; opt.idle == 0 && i < th->next_start; i++) {
			struct session *s = &th->sess[i];

			if (s->phase == PH_WAIT && !atomic_load(&stop_flag))
				session_start_connect(s);
		}
	}
	for (i = 0; i < th->nsess; i++) {
		session_close(&th->sess[i]);
		if (th->sess[i].saved != NULL)
			SSL_SESSION_free(th->sess[i].saved);
		gnutls_free(th->sess[i].gsaved.data);
		free(th->sess[i].rbuf);
	}
	close(th->ep);
	return NULL;
}

/* ---- server measurement through /proc ---- */

struct proc_sample {
	double cpu_s;		/* utime+stime+cutime+cstime, whole tree */
	uint64_t rss_kib;	/* summed RSS over the tree */
	uint64_t pss_kib;	/* summed PSS, when asked for */
	int nproc;
};

struct monitor {
	pthread_t tid;
	atomic_bool stop;
	uint64_t peak_rss_kib;
	int peak_nproc;
	pthread_mutex_t mu;
};

/* read_stat - pid's ppid, CPU ticks and RSS pages from /proc/pid/stat */
static bool
read_stat(int pid, int *ppid, unsigned long long *ticks, long *rss)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long long cut, cst;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL)
		return false;
	/* Fields 3.. after the command name: state ppid ... */
	if (sscanf(p + 2,
	    "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld "
	    "%*d %*d %*d %*d %*u %*u %ld", ppid, &ut, &st, &cut, &cst,
	    rss) != 6)
		return false;
	*ticks = ut + st + (unsigned long long)cut + (unsigned long long)cst;
	return true;
}

static pthread_mutex_t sample_mu = PTHREAD_MUTEX_INITIALIZER;

static bool sample_locked(int root, struct proc_sample *out, long pagekib,
    long hz, bool want_pss);

/* read_pss - pid's proportional set size in KiB from smaps_rollup, or 0 */
static uint64_t
read_pss(int pid)
{
	char path[64], line[256];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pss: %llu kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * proc_sample_tree - CPU and RSS summed over root and its descendants;
 * PSS too when want_pss (it costs a page-table walk per process, so the
 * 100 ms RSS sampler does not ask for it)
 */
static bool
proc_sample_tree(int root, struct proc_sample *out, bool want_pss)
{
	long pagekib = sysconf(_SC_PAGESIZE) / 1024;
	long hz = sysconf(_SC_CLK_TCK);
	bool ok;

	pthread_mutex_lock(&sample_mu);
	ok = sample_locked(root, out, pagekib, hz, want_pss);
	pthread_mutex_unlock(&sample_mu);
	return ok;
}

/* sample_locked - proc_sample_tree under sample_mu (static arrays) */
static bool
sample_locked(int root, struct proc_sample *out, long pagekib, long hz,
    bool want_pss)
{
	static int *pids, *ppids;
	static unsigned long long *ticks;
	static long *rss;
	static size_t cap;
	static bool *in;
	size_t n = 0, i;
	bool changed, found = false;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pids = realloc(pids, cap * sizeof(*pids));
			ppids = realloc(ppids, cap * sizeof(*ppids));
			ticks = realloc(ticks, cap * sizeof(*ticks));
			rss = realloc(rss, cap * sizeof(*rss));
			in = realloc(in, cap * sizeof(*in));
			if (!pids || !ppids || !ticks || !rss || !in)
				die("out of memory");
		}
		if (!read_stat((int)pid, &ppids[n], &ticks[n], &rss[n]))
			continue;
		pids[n] = (int)pid;
		in[n] = pid == root;
		if (in[n])
			found = true;
		n++;
	}
	closedir(d);
	if (!found)
		return false;
	do {
		changed = false;
		for (i = 0; i < n; i++) {
			size_t j;

			if (in[i])
				continue;
			for (j = 0; j < n; j++) {
				if (in[j] && pids[j] == ppids[i]) {
					in[i] = changed = true;
					break;
				}
			}
		}
	} while (changed);
	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		if (!in[i])
			continue;
		out->cpu_s += (double)ticks[i] / (double)hz;
		out->rss_kib += (uint64_t)rss[i] * (uint64_t)pagekib;
		if (want_pss)
			out->pss_kib += read_pss(pids[i]);
		out->nproc++;
	}
	return true;
}

/* monitor_main - sample the server tree's RSS until told to stop */
static void *
monitor_main(void *arg)
{
	struct monitor *m = arg;
	struct proc_sample ps;

	while (!atomic_load(&m->stop)) {
		if (proc_sample_tree(opt.server_pid, &ps, false)) {
			pthread_mutex_lock(&m->mu);
			if (ps.rss_kib > m->peak_rss_kib) {
				m->peak_rss_kib = ps.rss_kib;
				m->peak_nproc = ps.nproc;
			}
			pthread_mutex_unlock(&m->mu);
		}
		usleep(100 * 1000);
	}
	return NULL;
}

/* count_dir - entries in dir that do not start with a dot, or -1 */
static long
count_dir(const char *dir)
{
	struct dirent *de;
	long n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* client_cpu_s - CPU seconds this process has used so far */
static double
client_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * host_busy_s - CPU seconds the whole host has spent busy (not idle, not
 * waiting for I/O) since boot, summed over its CPUs, from /proc/stat; the
 * share not used by the server or this client shows how much other work
 * the run competed with
 */
static double
host_busy_s(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f;
	int n;

	f = fopen("/proc/stat", "r");
	if (f == NULL)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return 0;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	    (double)sysconf(_SC_CLK_TCK);
}

/* cmp_u32 - qsort order for latencies */
static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* percentile_ms - the p-th percentile (nearest rank) of sorted v, in ms */
static double
percentile_ms(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] / 1000.0;
}

/* usage - print the options and exit */
static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: smtpsd-load [options]\n"
	    "  --host ADDR            server IPv4 address (127.0.0.1)\n"
	    "  --port N               server port (25)\n"
	    "  --sessions N           concurrent sessions (1)\n"
	    "  --messages M           messages per session (1)\n"
	    "  --size S               message size in bytes (1024)\n"
	    "  --message-file PATH    send this text instead (ends CRLF.CRLF)\n"
	    "  --starttls             STARTTLS before MAIL (full handshake)\n"
	    "  --resume               resume TLS sessions on reconnect\n"
	    "  --tls-library gnutls|openssl  the client's TLS (gnutls)\n"
	    "  --new-connection-per-message | --reuse   (default: new)\n"
	    "  --from ADDR --rcpt ADDR --helo NAME --sni NAME\n"
	    "  --duration-limit SECS  hard end of the run (60)\n"
	    "  --timeout SECS         per step (30)\n"
	    "  --threads N            epoll loops, 1..%d (1)\n"
	    "  --idle N               open N sessions, EHLO, hold\n"
	    "  --hold SECS            how long --idle holds (10)\n"
	    "  --ready-file PATH      --idle: write the ready line here\n"
	    "  --connect-concurrency N  connections in set-up at once (200)\n"
	    "  --source-base ADDR --sources N  bind to ADDR, ADDR+1, ...\n"
	    "  --server-pid PID       measure that process tree's CPU and RSS\n"
	    "  --maildir DIR          wait for deliveries into DIR (a new/)\n"
	    "  --delivery-timeout SECS  bound on that wait (120)\n"
	    "  --label TEXT           copied into the JSON line\n",
	    MAX_THREADS);
	exit(code);
}

enum {
	O_HOST = 256, O_PORT, O_SESSIONS, O_MESSAGES, O_SIZE, O_STARTTLS,
	O_RESUME, O_NEWCONN, O_REUSE, O_FROM, O_RCPT, O_HELO, O_SNI,
	O_DURATION, O_TIMEOUT, O_THREADS, O_IDLE, O_HOLD, O_READY,
	O_CONNCONC, O_SRCBASE, O_SOURCES, O_PID, O_MAILDIR, O_DELIVTO,
	O_LABEL, O_MSGFILE, O_TLSLIB, O_HELP,
};

static const struct option long_opts[] = {
	{ "host", required_argument, NULL, O_HOST },
	{ "port", required_argument, NULL, O_PORT },
	{ "sessions", required_argument, NULL, O_SESSIONS },
	{ "messages", required_argument, NULL, O_MESSAGES },
	{ "size", required_argument, NULL, O_SIZE },
	{ "starttls", no_argument, NULL, O_STARTTLS },
	{ "resume", no_argument, NULL, O_RESUME },
	{ "new-connection-per-message", no_argument, NULL, O_NEWCONN },
	{ "reuse", no_argument, NULL, O_REUSE },
	{ "from", required_argument, NULL, O_FROM },
	{ "rcpt", required_argument, NULL, O_RCPT },
	{ "helo", required_argument, NULL, O_HELO },
	{ "sni", required_argument, NULL, O_SNI },
	{ "duration-limit", required_argument, NULL, O_DURATION },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "idle", required_argument, NULL, O_IDLE },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "ready-file", required_argument, NULL, O_READY },
	{ "connect-concurrency", required_argument, NULL, O_CONNCONC },
	{ "source-base", required_argument, NULL, O_SRCBASE },
	{ "sources", required_argument, NULL, O_SOURCES },
	{ "server-pid", required_argument, NULL, O_PID },
	{ "maildir", required_argument, NULL, O_MAILDIR },
	{ "delivery-timeout", required_argument, NULL, O_DELIVTO },
	{ "label", required_argument, NULL, O_LABEL },
	{ "message-file", required_argument, NULL, O_MSGFILE },
	{ "tls-library", required_argument, NULL, O_TLSLIB },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* parse_args - fill opt from argv */
static void
parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case O_HOST: opt.host = optarg; break;
		case O_PORT:
			opt.port = (int)parse_long(optarg, 1, 65535, "port");
			break;
		case O_SESSIONS:
			opt.sessions = (int)parse_long(optarg, 1, 100000,
			    "sessions");
			break;
		case O_MESSAGES:
			opt.messages = (int)parse_long(optarg, 1, 10000000,
			    "messages");
			break;
		case O_SIZE:
			opt.size = (int)parse_long(optarg, 1, 64 << 20, "size");
			break;
		case O_STARTTLS: opt.starttls = true; break;
		case O_RESUME: opt.resume = true; break;
		case O_TLSLIB:
			if (strcmp(optarg, "openssl") == 0)
				opt.openssl = true;
			else if (strcmp(optarg, "gnutls") == 0)
				opt.openssl = false;
			else
				die("--tls-library must be gnutls or openssl");
			break;
		case O_NEWCONN: opt.reuse = false; break;
		case O_REUSE: opt.reuse = true; break;
		case O_FROM: opt.from = optarg; break;
		case O_RCPT: opt.rcpt = optarg; break;
		case O_HELO: opt.helo = optarg; break;
		case O_SNI: opt.sni = optarg; break;
		case O_DURATION:
			opt.duration_limit = parse_secs(optarg,
			    "duration-limit");
			break;
		case O_TIMEOUT:
			opt.timeout = parse_secs(optarg, "timeout");
			break;
		case O_THREADS:
			opt.threads = (int)parse_long(optarg, 1, MAX_THREADS,
			    "threads");
			break;
		case O_IDLE:
			opt.idle = (int)parse_long(optarg, 1, 100000, "idle");
			break;
		case O_HOLD: opt.hold = parse_secs(optarg, "hold"); break;
		case O_READY: opt.ready_file = optarg; break;
		case O_CONNCONC:
			opt.connect_concurrency = (int)parse_long(optarg, 1,
			    100000, "connect-concurrency");
			break;
		case O_SRCBASE: opt.source_base = optarg; break;
		case O_SOURCES:
			opt.sources = (int)parse_long(optarg, 1, 65000,
			    "sources");
			break;
		case O_PID:
			opt.server_pid = (int)parse_long(optarg, 1, INT_MAX,
			    "server-pid");
			break;
		case O_MAILDIR: opt.maildir = optarg; break;
		case O_DELIVTO:
			opt.delivery_timeout = parse_secs(optarg,
			    "delivery-timeout");
			break;
		case O_LABEL: opt.label = optarg; break;
		case O_MSGFILE: opt.message_file = optarg; break;
		case O_HELP:
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (opt.sni == NULL)
		opt.sni = "mx.example.test";
	if (strlen(opt.from) > 256 || strlen(opt.rcpt) > 256 ||
	    strlen(opt.helo) > 255 || strpbrk(opt.from, "\r\n<>") ||
	    strpbrk(opt.rcpt, "\r\n<>") || strpbrk(opt.helo, "\r\n "))
		die("bad --from, --rcpt or --helo");
	if (opt.duration_limit <= 0)
		die("--duration-limit must be positive");
	if (opt.timeout <= 0)
		opt.timeout = 30;
}

/* json_str - write s as a JSON string (label only: printable ASCII) */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* write_ready - --idle: announce that every session is up or failed */
static void
write_ready(double t_up, const struct proc_sample *ps, bool have_ps)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line),
	    "{\"ready\":true,\"established\":%d,\"failed\":%d,"
	    "\"setup_s\":%.3f,\"server_rss_kib\":%llu,\"server_procs\":%d}\n",
	    atomic_load(&established), atomic_load(&failed_idle), t_up,
	    have_ps ? (unsigned long long)ps->rss_kib : 0ULL,
	    have_ps ? ps->nproc : 0);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	fputs(line, stderr);
	if (opt.ready_file != NULL) {
		FILE *f = fopen(opt.ready_file, "w");

		if (f != NULL) {
			fputs(line, f);
			fclose(f);
		}
	}
}

int
main(int argc, char **argv)
{
	struct thread th[MAX_THREADS];
	struct monitor mon;
	struct proc_sample before, after, held;
	bool have_before = false, have_after = false, have_held = false;
	uint64_t accepted = 0, attempted = 0, conns = 0, resumed = 0;
	uint64_t errors[E_NKINDS] = { 0 };
	uint64_t nerr = 0;
	uint32_t *lat = NULL;
	size_t nlat = 0;
	double elapsed, t_end, t_delivered = 0, setup_s = 0;
	double cpu0, client_cpu, busy0, host_busy;
	long maildir_base = -1, delivered = -1;
	bool timed_out, delivery_timed_out = false;
	int nsess, i, k;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	nsess = opt.idle > 0 ? opt.idle : opt.sessions;
	if (opt.threads > nsess)
		opt.threads = nsess;

	memset(&server_addr, 0, sizeof(server_addr));
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1)
		die("--host must be an IPv4 address");
	{
		struct in_addr a;

		if (inet_pton(AF_INET, opt.source_base, &a) != 1)
			die("--source-base must be an IPv4 address");
		source_base_addr = ntohl(a.s_addr);
	}

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Held idle sessions give their buffers back; a loaded session
	   keeps them (freeing and taking 17 KiB per record is the client's
	   CPU, not the server's), and reads ahead: one read per socket
	   wake-up instead of one for each record's header and body. */
	if (opt.idle > 0)
		SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	else
		SSL_CTX_set_read_ahead(ssl_ctx, 1);
	if (gnutls_global_init() < 0 ||
	    gnutls_certificate_allocate_credentials(&gnutls_cred) < 0 ||
	    gnutls_priority_init(&gnutls_prio, "NORMAL:-VERS-ALL:"
	    "+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:"
	    "+GROUP-SECP256R1:+GROUP-SECP384R1", NULL) < 0)
		die("GnuTLS set-up failed");
	if (!opt.resume)
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	else
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);

	memset(th, 0, sizeof(th));
	for (k = 0; k < opt.threads; k++) {
		int lo = nsess * k / opt.threads;
		int hi = nsess * (k + 1) / opt.threads;
		size_t want;

		th[k].idx = k;
		th[k].nsess = hi - lo;
		th[k].sess = calloc((size_t)th[k].nsess,
		    sizeof(struct session));
		if (th[k].sess == NULL)
			die("out of memory");
		for (i = 0; i < th[k].nsess; i++) {
			struct session *s = &th[k].sess[i];

			s->th = &th[k];
			s->id = lo + i;
			s->fd = -1;
			s->phase = PH_WAIT;
			s->msgs_left = opt.idle > 0 ? 0 : opt.messages;
		}
		if (opt.message_file != NULL) {
			th[k].msg = load_message_file(opt.message_file,
			    &th[k].msglen);
			/* Report the text's size, as --size would. */
			opt.size = (int)(th[k].msglen - 3);
		} else
			th[k].msg = build_message((size_t)opt.size,
			    &th[k].msglen);
		want = opt.idle > 0 ? 0 :
		    (size_t)th[k].nsess * (size_t)opt.messages;
		th[k].latcap = want < LAT_CAP ? want : LAT_CAP;
		if (th[k].latcap > 0) {
			th[k].lat = calloc(th[k].latcap, sizeof(uint32_t));
			if (th[k].lat == NULL)
				die("out of memory");
		}
	}

	memset(&mon, 0, sizeof(mon));
	pthread_mutex_init(&mon.mu, NULL);
	if (opt.server_pid > 0) {
		have_before = proc_sample_tree(opt.server_pid, &before, true);
		if (!have_before)
			die("--server-pid: no such process");
		mon.peak_rss_kib = before.rss_kib;
		mon.peak_nproc = before.nproc;
		if (pthread_create(&mon.tid, NULL, monitor_main, &mon) != 0)
			die("pthread_create failed");
	}
	if (opt.maildir != NULL) {
		maildir_base = count_dir(opt.maildir);
		if (maildir_base < 0)
			maildir_base = 0;	/* created on first delivery */
	}

	cpu0 = client_cpu_s();
	busy0 = host_busy_s();
	t_start = now();
	t_deadline = t_start + opt.duration_limit;
	for (k = 0; k < opt.threads; k++)
		if (pthread_create(&th[k].tid, NULL, thread_main, &th[k]) != 0)
			die("pthread_create failed");

	if (opt.idle > 0) {
		double t_ready_end;

		/* Wait until every session is up or failed, bounded. */
		while (atomic_load(&established) +
		    atomic_load(&failed_idle) < opt.idle &&
		    now() < t_deadline && !atomic_load(&stop_flag))
			usleep(50 * 1000);
		setup_s = now() - t_start;
		/* Let the server settle before reading its memory. */
		usleep(1000 * 1000);
		if (opt.server_pid > 0)
			have_held = proc_sample_tree(opt.server_pid, &held,
			    true);
		write_ready(setup_s, &held, have_held);
		t_ready_end = now() + opt.hold;
		if (t_ready_end > t_deadline)
			t_ready_end = t_deadline;
		while (now() < t_ready_end && !atomic_load(&stop_flag))
			usleep(50 * 1000);
		if (opt.server_pid > 0 && !have_held)
			have_held = proc_sample_tree(opt.server_pid, &held,
			    true);
		atomic_store(&stop_flag, true);
	}
	for (k = 0; k < opt.threads; k++)
		pthread_join(th[k].tid, NULL);
	t_end = now();
	elapsed = t_end - t_start;
	timed_out = opt.idle == 0 && t_end >= t_deadline;

	for (k = 0; k < opt.threads; k++) {
		accepted += th[k].accepted;
		attempted += th[k].attempted;
		conns += th[k].connections;
		resumed += th[k].resumed;
		for (i = 0; i < E_NKINDS; i++) {
			errors[i] += th[k].errors[i];
			nerr += th[k].errors[i];
		}
		nlat += th[k].nlat;
	}
	if (nlat > 0) {
		size_t off = 0;

		lat = malloc(nlat * sizeof(*lat));
		if (lat == NULL)
			die("out of memory");
		for (k = 0; k < opt.threads; k++) {
			memcpy(lat + off, th[k].lat, th[k].nlat * sizeof(*lat));
			off += th[k].nlat;
		}
		qsort(lat, nlat, sizeof(*lat), cmp_u32);
	}

	/* Durable delivery: wait for the Maildir to hold what was accepted. */
	if (opt.maildir != NULL && opt.idle == 0) {
		double limit = now() + opt.delivery_timeout;

		for (;;) {
			delivered = count_dir(opt.maildir);
			if (delivered < 0)
				delivered = 0;
			delivered -= maildir_base;
			if ((uint64_t)delivered >= accepted)
				break;
			if (now() >= limit) {
				delivery_timed_out = true;
				break;
			}
			/* new/ may hold tens of thousands of files by now. */
			usleep(50 * 1000);
		}
		t_delivered = now() - t_start;
	}
	client_cpu = client_cpu_s() - cpu0;
	host_busy = host_busy_s() - busy0;
	if (opt.server_pid > 0) {
		atomic_store(&mon.stop, true);
		pthread_join(mon.tid, NULL);
		have_after = proc_sample_tree(opt.server_pid, &after, true);
		if (have_after && after.rss_kib > mon.peak_rss_kib)
			mon.peak_rss_kib = after.rss_kib;
	}

	/* One JSON line on stdout. */
	{
		double rate = elapsed > 0 ? (double)accepted / elapsed : 0;
		double e2e = 0, cpu = 0, cpu_per = 0;

		if (delivered >= 0 && t_delivered > 0)
			e2e = (double)delivered / t_delivered;
		if (have_before && have_after) {
			cpu = after.cpu_s - before.cpu_s;
			if (delivered > 0)
				cpu_per = cpu * 1000.0 / (double)delivered;
			else if (accepted > 0)
				cpu_per = cpu * 1000.0 / (double)accepted;
		}
		printf("{\"label\":");
		json_str(stdout, opt.label);
		if (opt.idle > 0) {
			printf(",\"mode\":\"idle\",\"sessions\":%d,"
			    "\"tls\":%s,\"established\":%d,\"failed\":%d,"
			    "\"setup_s\":%.3f,\"held_s\":%.3f,"
			    "\"server_rss_held_kib\":%llu,"
			    "\"server_rss_before_kib\":%llu,"
			    "\"server_rss_peak_kib\":%llu,"
			    "\"server_pss_held_kib\":%llu,"
			    "\"server_pss_before_kib\":%llu,"
			    "\"server_procs\":%d,\"errors\":%llu",
			    opt.idle, opt.starttls ? "true" : "false",
			    atomic_load(&established),
			    atomic_load(&failed_idle), setup_s,
			    elapsed - setup_s,
			    have_held ? (unsigned long long)held.rss_kib : 0ULL,
			    have_before ?
			    (unsigned long long)before.rss_kib : 0ULL,
			    (unsigned long long)mon.peak_rss_kib,
			    have_held ? (unsigned long long)held.pss_kib : 0ULL,
			    have_before ?
			    (unsigned long long)before.pss_kib : 0ULL,
			    have_held ? held.nproc : 0,
			    (unsigned long long)nerr);
		} else {
			printf(",\"mode\":\"load\",\"sessions\":%d,"
			    "\"messages\":%d,\"size\":%d,\"tls\":%s,"
			    "\"reuse\":%s,\"resume\":%s,\"accepted\":%llu,"
			    "\"attempted\":%llu,\"connections\":%llu,"
			    "\"errors\":%llu,\"elapsed_s\":%.3f,"
			    "\"accepted_per_s\":%.2f,\"p50_ms\":%.3f,"
			    "\"p99_ms\":%.3f,\"timed_out\":%s",
			    opt.sessions, opt.messages, opt.size,
			    opt.starttls ? "true" : "false",
			    opt.reuse ? "true" : "false",
			    opt.resume ? "true" : "false",
			    (unsigned long long)accepted,
			    (unsigned long long)attempted,
			    (unsigned long long)conns,
			    (unsigned long long)nerr, elapsed, rate,
			    percentile_ms(lat, nlat, 50),
			    percentile_ms(lat, nlat, 99),
			    timed_out ? "true" : "false");
			if (opt.maildir != NULL)
				printf(",\"delivered\":%ld,"
				    "\"delivered_s\":%.3f,"
				    "\"delivered_per_s\":%.2f,"
				    "\"delivery_timed_out\":%s", delivered,
				    t_delivered, e2e,
				    delivery_timed_out ? "true" : "false");
			if (have_before && have_after)
				printf(",\"server_cpu_s\":%.3f,"
				    "\"server_cpu_ms_per_msg\":%.3f,"
				    "\"server_rss_before_kib\":%llu,"
				    "\"server_rss_peak_kib\":%llu,"
				    "\"server_pss_after_kib\":%llu,"
				    "\"server_procs_peak\":%d",
				    cpu, cpu_per,
				    (unsigned long long)before.rss_kib,
				    (unsigned long long)mon.peak_rss_kib,
				    (unsigned long long)after.pss_kib,
				    mon.peak_nproc);
		}
		printf(",\"client_cpu_s\":%.3f,\"host_busy_cpu_s\":%.3f,"
		    "\"host_cpus\":%ld,\"tls_resumed\":%llu,"
		    "\"tls_library\":\"%s\"", client_cpu,
		    host_busy, sysconf(_SC_NPROCESSORS_ONLN),
		    (unsigned long long)resumed,
		    opt.openssl ? "openssl" : "gnutls");
		printf(",\"error_kinds\":{");
		for (i = 0, k = 0; i < E_NKINDS; i++) {
			if (errors[i] == 0)
				continue;
			printf("%s\"%s\":%llu", k++ ? "," : "", err_names[i],
			    (unsigned long long)errors[i]);
		}
		printf("}}\n");
		fflush(stdout);

		/* And a human line on stderr. */
		if (opt.idle > 0)
			fprintf(stderr, "%s idle: %d/%d sessions held (%d "
			    "failed) after %.1f s; server RSS %.1f MiB held, "
			    "peak %.1f MiB\n", opt.label,
			    atomic_load(&established), opt.idle,
			    atomic_load(&failed_idle), setup_s,
			    have_held ? held.rss_kib / 1024.0 : 0,
			    mon.peak_rss_kib / 1024.0);
		else {
			fprintf(stderr, "%s load: %llu/%llu accepted in %.2f s "
			    "(%.1f msg/s), %llu errors, p50 %.2f ms, p99 %.2f "
			    "ms%s", opt.label, (unsigned long long)accepted,
			    (unsigned long long)attempted, elapsed, rate,
			    (unsigned long long)nerr,
			    percentile_ms(lat, nlat, 50),
			    percentile_ms(lat, nlat, 99),
			    timed_out ? " (duration limit hit)" : "");
			if (opt.maildir != NULL)
				fprintf(stderr, "; delivered %ld (%.1f msg/s "
				    "end to end%s)", delivered, e2e,
				    delivery_timed_out ?
				    ", delivery timed out" : "");
			if (have_before && have_after)
				fprintf(stderr, "; server CPU %.2f ms/msg, "
				    "peak RSS %.1f MiB", cpu_per,
				    mon.peak_rss_kib / 1024.0);
			fputc('\n', stderr);
		}
	}
	free(lat);
	for (k = 0; k < opt.threads; k++) {
		free(th[k].sess);
		free(th[k].msg);
		free(th[k].lat);
	}
	SSL_CTX_free(ssl_ctx);
	gnutls_priority_deinit(gnutls_prio);
	gnutls_certificate_free_credentials(gnutls_cred);
	gnutls_global_deinit();
	return (nerr > 0 || timed_out || delivery_timed_out) ? 1 : 0;
}
