/*
 * tls/tls.h - the server's TLS contexts: certificates, SNI, the profile.
 *
 * One tls_store holds every configured certificate.  Certificates whose
 * name sets are equal share one SSL_CTX, so an RSA and an ECDSA certificate
 * for the same names are both offered and OpenSSL picks by the client's
 * signature algorithms; other name sets are chosen by SNI (exact name or
 * one-label wildcard).  The first certificate's context is the default.
 *
 * Profile: TLS 1.2 and 1.3 only, the Mozilla "intermediate" cipher list
 * and groups, no renegotiation, no compression, buffers released while a
 * session is idle.
 *
 * Loaded by the master (which may read root-only keys) before it forks;
 * on SIGHUP the master loads a new store and starts a new generation of
 * workers, so sessions on the old one finish undisturbed.
 */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <openssl/ssl.h>

#include "config/config.h"
#include "smtp/server.h"

struct tls_store;

/* tls_store_load - load every certificate of the config; *err explains */
int tls_store_load(struct tls_store **out, const struct config *cfg,
    char **err);
void tls_store_free(struct tls_store *ts);
/* tls_store_new_ssl - a server SSL on the default context (SNI switches) */
SSL *tls_store_new_ssl(struct tls_store *ts);
/* tls_store_count - number of contexts (0: no certificate configured) */
size_t tls_store_count(const struct tls_store *ts);

/* tls_info - version, cipher, bits and SNI of an established session */
void tls_info(SSL *ssl, struct smtp_tls_info *info);

/* tls_error_string - the OpenSSL error queue as one line (and cleared) */
const char *tls_error_string(char *out, size_t outsz);

#endif
