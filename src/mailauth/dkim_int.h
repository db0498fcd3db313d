/*
 * mailauth/dkim_int.h - what the DKIM files share among themselves (not a
 * contract for other modules): the OpenSSL side of keys and signatures.
 */
#ifndef MAILAUTH_DKIM_INT_H
#define MAILAUTH_DKIM_INT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "mailauth/dkim.h"

#define DKIM_HASH_LEN 32	/* SHA-256 */

/* The header-hash input of one signature may not exceed this (the header
   section is already capped by the receiver; this bounds the CLI too). */
#define DKIM_MAX_HEADER_HASH_INPUT (4u << 20)

/*
 * dkim_pubkey - turn a key record's p= into an OpenSSL key of the type
 * k= names: SubjectPublicKeyInfo (or a bare RSAPublicKey) for RSA, 32 raw
 * bytes for Ed25519.  DKIM_R_KEY_INVALID when it is not one.
 */
enum dkim_reason dkim_pubkey(const struct dkim_keyrec *k, EVP_PKEY **out,
    unsigned *bits);
/*
 * dkim_vkey_get - the key of a record, ready to verify, from a small
 * per-thread cache (decoded and set up once per distinct p=); the pointer
 * is good until the next dkim_vkey_get on this thread.
 */
struct dkim_vkey;
enum dkim_reason dkim_vkey_get(const struct dkim_keyrec *k,
    const struct dkim_vkey **out);
unsigned dkim_vkey_bits(const struct dkim_vkey *vk);
/* dkim_vkey_verify - 1 valid, 0 not valid */
int dkim_vkey_verify(const struct dkim_vkey *vk, const unsigned char *digest,
    const unsigned char *sig, size_t siglen);
/* dkim_crypto_verify - 1 valid, 0 not valid, <0 library failure */
int dkim_crypto_verify(EVP_PKEY *pk, enum dkim_alg alg,
    const unsigned char *digest, const unsigned char *sig, size_t siglen);
/* dkim_sha256 - SHA-256, fetched from the provider once per process */
const EVP_MD *dkim_sha256(void);
/* dkim_key_pkey - the OpenSSL key inside a dkim_key */
EVP_PKEY *dkim_key_pkey(const struct dkim_key *k);
/* dkim_crypto_sign - sign a SHA-256 digest; the signature to *sig (heap) */
int dkim_crypto_sign(EVP_PKEY *pk, enum dkim_alg alg,
    const unsigned char *digest, unsigned char **sig, size_t *siglen);
/*
 * dkim_key_sign - the same with the key's signing context, set up on
 * first use and kept with the key; safe from several threads (one uses
 * the context, the others sign as dkim_crypto_sign does)
 */
int dkim_key_sign(const struct dkim_key *k, const unsigned char *digest,
    unsigned char **sig, size_t *siglen);

/*
 * dkim_header_hash - the SHA-256 of the header-hash input of RFC 6376
 * 3.7: the fields h= names, each instance chosen from the bottom up, in
 * canonical form, then sigfield (the DKIM-Signature field with b= empty)
 * without its final CRLF.  The input is built in scratch (a buf made with
 * a cap of at least DKIM_MAX_HEADER_HASH_INPUT; reset first, left holding
 * the input), so one allocation serves every signature of a message.
 */
struct buf;
struct msg_header;
int dkim_header_hash(struct buf *scratch, const struct msg_header *h,
    enum canon_mode m, char *const *names, size_t nnames,
    const char *sigfield, size_t siglen, unsigned char *digest);

#endif
