/*
 * mailauth/dkim_key.c - DKIM keys on OpenSSL: public keys from key
 * records, private keys from PEM, key generation, sign and verify of a
 * SHA-256 digest (RSASSA-PKCS1-v1_5 for rsa-sha256, PureEdDSA over the
 * digest for ed25519-sha256, RFC 8463 3).
 */
#include "mailauth/dkim_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define ED25519_KEY_LEN 32

/* DER of the rsaEncryption OID, 1.2.840.113549.1.1.1 (RFC 8017 A.1) */
static const unsigned char rsa_oid[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
};

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

/* fetch_sha256 - look SHA-256 up in the provider once, not per hash */
static void
fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* dkim_sha256 - the SHA-256 implementation, fetched once */
const EVP_MD *
dkim_sha256(void)
{
	pthread_once(&sha256_once, fetch_sha256);
	return sha256_md ? sha256_md : EVP_sha256();
}

/* der_item - read one DER tag and definite length at p[*off..n); the
   contents start at the new *off and are *len long */
static bool
der_item(const unsigned char *p, size_t n, size_t *off, unsigned char tag,
    size_t *len)
{
	size_t o = *off, l, k;

	if (o + 2 > n || p[o] != tag)
		return false;
	l = p[o + 1];
	o += 2;
	if (l & 0x80) {
		k = l & 0x7f;
		if (k == 0 || k > 3 || o + k > n)
			return false;
		for (l = 0; k > 0; k--)
			l = (l << 8) | p[o++];
	}
	if (l > n - o)
		return false;
	*off = o;
	*len = l;
	return true;
}

/*
 * rsa_spki_inner - the RSAPublicKey inside an RSA SubjectPublicKeyInfo
 * (RFC 5280 4.1), found by hand: OpenSSL 3's generic decoder costs
 * hundreds of microseconds a key, the PKCS#1 one well under one.
 */
static bool
rsa_spki_inner(const unsigned char *p, size_t n, const unsigned char **in,
    size_t *inlen)
{
	size_t off = 0, len, alg_end, bits;

	if (!der_item(p, n, &off, 0x30, &len) || off + len != n)
		return false;
	if (!der_item(p, n, &off, 0x30, &len))
		return false;
	alg_end = off + len;
	if (len < sizeof(rsa_oid) || memcmp(p + off, rsa_oid,
	    sizeof(rsa_oid)) != 0)
		return false;
	off = alg_end;
	if (!der_item(p, n, &off, 0x03, &bits) || off + bits != n ||
	    bits < 2 || p[off] != 0)
		return false;
	*in = p + off + 1;
	*inlen = bits - 1;
	return true;
}

/*
 * A signing context set up once per key (as `openssl speed` does), so a
 * signature costs the private-key operation alone and not the context
 * set-up (about 2 us for Ed25519 on OpenSSL 3.0).  One thread uses it at
 * a time; a thread that finds it busy signs with a context of its own.
 */
struct sign_ctx {
	pthread_mutex_t lock;
	bool tried;		/* set-up attempted (failed if both NULL) */
	EVP_MD_CTX *ed;		/* Ed25519: DigestSign-initialised */
	EVP_PKEY_CTX *rsa;	/* RSA: sign-initialised, PKCS#1, SHA-256 */
};

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
	struct sign_ctx *sc;
};

/* dkim_pubkey - p= to an OpenSSL public key */
enum dkim_reason
dkim_pubkey(const struct dkim_keyrec *k, EVP_PKEY **out, unsigned *bits)
{
	const unsigned char *q;
	EVP_PKEY *pk = NULL;
	size_t inner;

	*out = NULL;
	*bits = 0;
	if (k->key_type == DKIM_ALG_ED25519_SHA256) {
		if (k->pub_len != ED25519_KEY_LEN)
			return DKIM_R_KEY_INVALID;
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
		    k->pub, k->pub_len);
		if (pk == NULL)
			return DKIM_R_KEY_INVALID;
		*bits = 256;
		*out = pk;
		return DKIM_R_OK;
	}
	if (rsa_spki_inner(k->pub, k->pub_len, &q, &inner)) {
		const unsigned char *start = q;

		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)inner);
		if (pk != NULL && q == start + inner)
			goto have;
		EVP_PKEY_free(pk);
	}
	q = k->pub;
	pk = d2i_PUBKEY(NULL, &q, (long)k->pub_len);
	if (pk == NULL || q != k->pub + k->pub_len) {
		/* Some publishers put the bare PKCS#1 RSAPublicKey in p=. */
		EVP_PKEY_free(pk);
		q = k->pub;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)k->pub_len);
		if (pk == NULL || q != k->pub + k->pub_len) {
			EVP_PKEY_free(pk);
			return DKIM_R_KEY_INVALID;
		}
	}
have:
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		return DKIM_R_KEY_TYPE;
	}
	*bits = (unsigned)EVP_PKEY_get_bits(pk);
	*out = pk;
	return DKIM_R_OK;
}

/* dkim_crypto_verify - check sig over a SHA-256 digest */
int
dkim_crypto_verify(EVP_PKEY *pk, enum dkim_alg alg,
    const unsigned char *digest, const unsigned char *sig, size_t siglen)
{
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *mc = NULL;
	int r = -1;

	if (alg == DKIM_ALG_ED25519_SHA256) {
		if ((mc = EVP_MD_CTX_new()) == NULL)
			goto out;
		if (EVP_DigestVerifyInit(mc, NULL, NULL, NULL, pk) != 1)
			goto out;
		r = EVP_DigestVerify(mc, sig, siglen, digest,
		    DKIM_HASH_LEN) == 1 ? 1 : 0;
		goto out;
	}
	if ((pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_verify_init(pc) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(pc, dkim_sha256()) != 1)
		goto out;
	r = EVP_PKEY_verify(pc, sig, siglen, digest, DKIM_HASH_LEN) == 1 ?
	    1 : 0;
out:
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(mc);
	return r;
}

/*
 * A small per-thread cache of public keys made ready to verify.  A busy
 * receiver sees the same few keys (the big senders') over and over; here
 * a repeated key costs no decoding and no context set-up, only the
 * public-key operation.  Per thread, because an OpenSSL context must not
 * be shared between threads; keyed by the exact p= bytes and key type, so
 * a changed record is simply a different entry.
 */
#define DKIM_KEY_CACHE_SIZE 32

struct dkim_vkey {
	enum dkim_alg type;
	unsigned char *pub;
	size_t len;
	unsigned bits;
	EVP_PKEY *pk;
	EVP_PKEY_CTX *rsa;	/* RSA: verify-initialised, PKCS#1, SHA-256 */
	EVP_MD_CTX *ed;		/* Ed25519: DigestVerify-initialised */
	unsigned long long used;
};

static __thread struct dkim_vkey key_cache[DKIM_KEY_CACHE_SIZE];
static __thread unsigned long long key_cache_clock;

/* vkey_clear - empty one cache slot */
static void
vkey_clear(struct dkim_vkey *e)
{
	free(e->pub);
	EVP_PKEY_free(e->pk);
	EVP_PKEY_CTX_free(e->rsa);
	EVP_MD_CTX_free(e->ed);
	memset(e, 0, sizeof(*e));
}

/* dkim_key_cache_clear - drop this thread's cached keys */
void
dkim_key_cache_clear(void)
{
	size_t i;

	for (i = 0; i < DKIM_KEY_CACHE_SIZE; i++)
		vkey_clear(&key_cache[i]);
}

/* dkim_vkey_get - a ready verifier for the record's key, from the cache
   or made now (valid until the next call on this thread) */
enum dkim_reason
dkim_vkey_get(const struct dkim_keyrec *k, const struct dkim_vkey **out)
{
	struct dkim_vkey *e, *victim = &key_cache[0];
	enum dkim_reason why;
	EVP_PKEY *pk;
	unsigned bits;
	size_t i;

	*out = NULL;
	key_cache_clock++;
	for (i = 0; i < DKIM_KEY_CACHE_SIZE; i++) {
		e = &key_cache[i];
		if (e->pk && e->type == k->key_type && e->len == k->pub_len &&
		    memcmp(e->pub, k->pub, k->pub_len) == 0) {
			e->used = key_cache_clock;
			*out = e;
			return DKIM_R_OK;
		}
		if (e->used < victim->used)
			victim = e;
	}
	if ((why = dkim_pubkey(k, &pk, &bits)) != DKIM_R_OK)
		return why;
	vkey_clear(victim);
	e = victim;
	e->pk = pk;
	e->bits = bits;
	e->type = k->key_type;
	if (k->key_type == DKIM_ALG_ED25519_SHA256) {
		if ((e->ed = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestVerifyInit(e->ed, NULL, NULL, NULL, pk) != 1)
			goto fail;
	} else {
		if ((e->rsa = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
		    EVP_PKEY_verify_init(e->rsa) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(e->rsa, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(e->rsa, dkim_sha256()) != 1)
			goto fail;
	}
	e->pub = xmalloc(k->pub_len ? k->pub_len : 1);
	memcpy(e->pub, k->pub, k->pub_len);
	e->len = k->pub_len;
	e->used = key_cache_clock;
	*out = e;
	return DKIM_R_OK;
fail:
	vkey_clear(e);
	return DKIM_R_INTERNAL;
}

/* dkim_vkey_bits - the key's size */
unsigned
dkim_vkey_bits(const struct dkim_vkey *vk)
{
	return vk->bits;
}

/* dkim_vkey_verify - check sig over a SHA-256 digest: 1 valid, 0 not */
int
dkim_vkey_verify(const struct dkim_vkey *vk, const unsigned char *digest,
    const unsigned char *sig, size_t siglen)
{
	if (vk->ed)
		return EVP_DigestVerify(vk->ed, sig, siglen, digest,
		    DKIM_HASH_LEN) == 1 ? 1 : 0;
	return EVP_PKEY_verify(vk->rsa, sig, siglen, digest,
	    DKIM_HASH_LEN) == 1 ? 1 : 0;
}

/* dkim_crypto_sign - sign a SHA-256 digest */
int
dkim_crypto_sign(EVP_PKEY *pk, enum dkim_alg alg,
    const unsigned char *digest, unsigned char **sig, size_t *siglen)
{
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *mc = NULL;
	unsigned char *s = NULL;
	size_t len = 0;
	int r = E_INVAL;

	if (alg == DKIM_ALG_ED25519_SHA256) {
		if ((mc = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestSignInit(mc, NULL, NULL, NULL, pk) != 1 ||
		    EVP_DigestSign(mc, NULL, &len, digest, DKIM_HASH_LEN) != 1)
			goto out;
		s = xmalloc(len);
		if (EVP_DigestSign(mc, s, &len, digest, DKIM_HASH_LEN) != 1)
			goto out;
	} else {
		if ((pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
		    EVP_PKEY_sign_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pc, dkim_sha256()) != 1 ||
		    EVP_PKEY_sign(pc, NULL, &len, digest, DKIM_HASH_LEN) != 1)
			goto out;
		s = xmalloc(len);
		if (EVP_PKEY_sign(pc, s, &len, digest, DKIM_HASH_LEN) != 1)
			goto out;
	}
	*sig = s;
	*siglen = len;
	s = NULL;
	r = 0;
out:
	free(s);
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(mc);
	return r;
}

/* sign_ctx_setup - make the key's signing context; false if OpenSSL
   could not (the caller then signs without it) */
static bool
sign_ctx_setup(struct sign_ctx *sc, EVP_PKEY *pk, enum dkim_alg alg)
{
	sc->tried = true;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		if ((sc->ed = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestSignInit(sc->ed, NULL, NULL, NULL, pk) == 1)
			return true;
		EVP_MD_CTX_free(sc->ed);
		sc->ed = NULL;
		return false;
	}
	if ((sc->rsa = EVP_PKEY_CTX_new(pk, NULL)) != NULL &&
	    EVP_PKEY_sign_init(sc->rsa) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(sc->rsa, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(sc->rsa, dkim_sha256()) == 1)
		return true;
	EVP_PKEY_CTX_free(sc->rsa);
	sc->rsa = NULL;
	return false;
}

/* sign_ctx_sign - sign with the set-up context (lock held) */
static int
sign_ctx_sign(struct sign_ctx *sc, const unsigned char *digest,
    unsigned char **sig, size_t *siglen)
{
	unsigned char *s;
	size_t len = 0;
	int ok;

	if (sc->ed)
		ok = EVP_DigestSign(sc->ed, NULL, &len, digest,
		    DKIM_HASH_LEN) == 1;
	else
		ok = EVP_PKEY_sign(sc->rsa, NULL, &len, digest,
		    DKIM_HASH_LEN) == 1;
	if (!ok)
		return E_INVAL;
	s = xmalloc(len);
	if (sc->ed)
		ok = EVP_DigestSign(sc->ed, s, &len, digest,
		    DKIM_HASH_LEN) == 1;
	else
		ok = EVP_PKEY_sign(sc->rsa, s, &len, digest,
		    DKIM_HASH_LEN) == 1;
	if (!ok) {
		free(s);
		return E_INVAL;
	}
	*sig = s;
	*siglen = len;
	return 0;
}

/* dkim_key_sign - sign a SHA-256 digest with the key's own context when
   it is free, else as dkim_crypto_sign does */
int
dkim_key_sign(const struct dkim_key *k, const unsigned char *digest,
    unsigned char **sig, size_t *siglen)
{
	struct sign_ctx *sc = k->sc;
	int r = E_INVAL;

	if (pthread_mutex_trylock(&sc->lock) != 0)
		return dkim_crypto_sign(k->pkey, k->alg, digest, sig, siglen);
	if (!sc->tried)
		sign_ctx_setup(sc, k->pkey, k->alg);
	if (sc->ed || sc->rsa)
		r = sign_ctx_sign(sc, digest, sig, siglen);
	pthread_mutex_unlock(&sc->lock);
	/* A context OpenSSL would not set up or reuse: sign afresh. */
	if (r < 0)
		r = dkim_crypto_sign(k->pkey, k->alg, digest, sig, siglen);
	return r;
}

/* wrap - a dkim_key around an OpenSSL private key of a usable type */
static int
wrap(struct dkim_key **out, EVP_PKEY *pk, char **err)
{
	struct dkim_key *k;
	int id = EVP_PKEY_get_base_id(pk);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		if (err)
			*err = xstrdup("key is neither RSA nor Ed25519");
		EVP_PKEY_free(pk);
		return E_INVAL;
	}
	k = xcalloc(1, sizeof(*k));
	k->sc = xcalloc(1, sizeof(*k->sc));
	pthread_mutex_init(&k->sc->lock, NULL);
	k->pkey = pk;
	k->alg = id == EVP_PKEY_RSA ? DKIM_ALG_RSA_SHA256 :
	    DKIM_ALG_ED25519_SHA256;
	*out = k;
	return 0;
}

/* dkim_key_load - a private key in PEM, or a bare base64 Ed25519 seed */
int
dkim_key_load(struct dkim_key **out, const char *pem, size_t n, char **err)
{
	unsigned char seed[64];
	size_t slen, e;
	EVP_PKEY *pk;
	BIO *bio;

	*out = NULL;
	if (err)
		*err = NULL;
	if (n > INT32_MAX) {
		if (err)
			*err = xstrdup("key file too large");
		return E_INVAL;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)n)) == NULL)
		return E_INVAL;
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pk != NULL)
		return wrap(out, pk, err);
	/* RFC 8463 keys are often kept as the base64 of the 32-byte private
	   seed (dkimpy and the RFC's example do so). */
	e = n;
	while (e > 0 && (pem[e - 1] == '\n' || pem[e - 1] == '\r' ||
	    pem[e - 1] == ' '))
		e--;
	if (e > 0 && e <= 48 && base64_decode(seed, &slen, pem, e, false) ==
	    0 && slen == ED25519_KEY_LEN) {
		pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
		    slen);
		if (pk != NULL)
			return wrap(out, pk, err);
	}
	if (err)
		*err = xstrdup("not a PEM private key (RSA or Ed25519)");
	return E_SYNTAX;
}

/* dkim_key_generate - a new RSA or Ed25519 key */
int
dkim_key_generate(struct dkim_key **out, enum dkim_alg alg, unsigned bits)
{
	EVP_PKEY *pk;

	*out = NULL;
	if (alg == DKIM_ALG_ED25519_SHA256)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (alg == DKIM_ALG_RSA_SHA256) {
		/* RFC 8301 3.2: at least 1024 bits; 4096 is as far as DNS
		   TXT records comfortably go. */
		if (bits < 1024 || bits > 4096)
			return E_INVAL;
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else
		return E_INVAL;
	if (pk == NULL)
		return E_INVAL;
	return wrap(out, pk, NULL);
}

/* dkim_key_free - release a key */
void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	pthread_mutex_destroy(&k->sc->lock);
	EVP_MD_CTX_free(k->sc->ed);
	EVP_PKEY_CTX_free(k->sc->rsa);
	free(k->sc);
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* dkim_key_alg - the signing algorithm the key gives */
enum dkim_alg
dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

/* dkim_key_bits - the key's size */
unsigned
dkim_key_bits(const struct dkim_key *k)
{
	return (unsigned)EVP_PKEY_get_bits(k->pkey);
}

/* dkim_key_pkey - the OpenSSL key */
EVP_PKEY *
dkim_key_pkey(const struct dkim_key *k)
{
	return k->pkey;
}

/* dkim_key_pem - append the private key as PKCS#8 PEM */
int
dkim_key_pem(const struct dkim_key *k, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int r = E_INVAL;

	if (bio == NULL)
		return E_INVAL;
	if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL,
	    NULL) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	r = buf_append(out, p, (size_t)n);
out:
	BIO_free(bio);
	return r;
}

/* dkim_key_record - append "v=DKIM1; k=...; p=..." */
int
dkim_key_record(const struct dkim_key *k, struct buf *out)
{
	unsigned char *der = NULL, raw[ED25519_KEY_LEN];
	size_t len = sizeof(raw);
	char *b64;
	int n, r;

	if (k->alg == DKIM_ALG_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1)
			return E_INVAL;
		b64 = xmalloc(base64_encoded_len(len) + 1);
		base64_encode(b64, raw, len);
		r = buf_printf(out, "v=DKIM1; k=ed25519; p=%s", b64);
		free(b64);
		return r;
	}
	if ((n = i2d_PUBKEY(k->pkey, &der)) <= 0)
		return E_INVAL;
	b64 = xmalloc(base64_encoded_len((size_t)n) + 1);
	base64_encode(b64, der, (size_t)n);
	r = buf_printf(out, "v=DKIM1; k=rsa; p=%s", b64);
	free(b64);
	OPENSSL_free(der);
	return r;
}
