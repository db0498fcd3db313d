/*
 * bench/tls_floor.c - what OpenSSL alone costs the server per full TLS
 * handshake: the floor under smtpsd's CPU per STARTTLS message.
 *
 *	tls_floor CERT KEY [HANDSHAKES]
 *
 * Client and server run in one thread over a pair of memory BIOs, with the
 * server context set up as smtpsd sets up its own (TLS 1.2-1.3, X25519
 * first, the same suites, one session ticket).  Each handshake is a full
 * one (no resumption), followed by one 1 KiB record each way and a close,
 * as one STARTTLS message costs.  Only the server's calls are timed, on the
 * thread's CPU clock, so other load on the host changes little.  Prints one
 * JSON line.  No sockets, no network.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pump - move what each side wrote to the other side's input */
static void
pump(BIO *c_out, BIO *s_in, BIO *s_out, BIO *c_in)
{
	char buf[16384];
	int n;

	while ((n = BIO_read(c_out, buf, sizeof(buf))) > 0)
		BIO_write(s_in, buf, n);
	while ((n = BIO_read(s_out, buf, sizeof(buf))) > 0)
		BIO_write(c_in, buf, n);
}

int
main(int argc, char **argv)
{
	SSL_CTX *sctx, *cctx;
	long i, count = argc > 3 ? atol(argv[3]) : 2000;
	double server = 0, t0, wall0;
	char data[1024], got[2048];
	struct timespec w;

	if (argc < 3 || count <= 0) {
		fprintf(stderr, "usage: tls_floor CERT KEY [HANDSHAKES]\n");
		return 1;
	}
	memset(data, 'x', sizeof(data));
	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	if (sctx == NULL || cctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "tls_floor: cannot load %s / %s\n", argv[1],
		    argv[2]);
		return 1;
	}
	SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION);
	SSL_CTX_set1_groups_list(sctx, "X25519:P-256:P-384");
	SSL_CTX_set_num_tickets(sctx, 1);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"f", 1);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	clock_gettime(CLOCK_MONOTONIC, &w);
	wall0 = (double)w.tv_sec + (double)w.tv_nsec / 1e9;
	for (i = 0; i < count; i++) {
		SSL *s, *c = SSL_new(cctx);
		BIO *s_in, *s_out;
		BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
		int sd = 0, cd = 0, rounds = 0;

		t0 = cpu_now();
		s = SSL_new(sctx);
		s_in = BIO_new(BIO_s_mem());
		s_out = BIO_new(BIO_s_mem());
		SSL_set_bio(s, s_in, s_out);
		SSL_set_accept_state(s);
		server += cpu_now() - t0;
		SSL_set_bio(c, c_in, c_out);
		SSL_set_connect_state(c);
		while ((!sd || !cd) && rounds++ < 20) {
			if (!cd)
				cd = SSL_do_handshake(c) == 1;
			pump(c_out, s_in, s_out, c_in);
			if (!sd) {
				t0 = cpu_now();
				sd = SSL_do_handshake(s) == 1;
				server += cpu_now() - t0;
			}
			pump(c_out, s_in, s_out, c_in);
		}
		if (!sd || !cd) {
			fprintf(stderr, "tls_floor: handshake %ld failed\n", i);
			ERR_print_errors_fp(stderr);
			return 1;
		}
		/* one message each way, then close */
		SSL_write(c, data, sizeof(data));
		pump(c_out, s_in, s_out, c_in);
		t0 = cpu_now();
		SSL_read(s, got, sizeof(got));
		SSL_write(s, "250 2.0.0 Ok\r\n", 14);
		SSL_shutdown(s);
		server += cpu_now() - t0;
		pump(c_out, s_in, s_out, c_in);
		SSL_read(c, got, sizeof(got));
		t0 = cpu_now();
		SSL_free(s);
		server += cpu_now() - t0;
		SSL_free(c);
	}
	clock_gettime(CLOCK_MONOTONIC, &w);
	printf("{\"handshakes\":%ld,\"server_cpu_ms_per_handshake\":%.3f,"
	    "\"version\":\"%s\",\"wall_s\":%.2f}\n", count,
	    1000.0 * server / (double)count, OpenSSL_version(OPENSSL_VERSION),
	    (double)w.tv_sec + (double)w.tv_nsec / 1e9 - wall0);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
