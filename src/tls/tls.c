#include "tls/tls.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "util/err.h"
#include "util/xmalloc.h"

/* The Mozilla "intermediate" profile (server side TLS, version 5.7). */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:" \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"

struct tls_ctx {
	SSL_CTX *ctx;
	char **names;		/* lower-cased DNS names of the certificate */
	size_t nnames;
};

struct tls_store {
	struct tls_ctx *ctxs;
	size_t nctxs;
};

const char *
tls_error_string(char *out, size_t outsz)
{
	unsigned long e;
	size_t o = 0;

	out[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (o + strlen(one) + 3 < outsz) {
			o += (size_t)snprintf(out + o, outsz - o, "%s%s",
			    o ? "; " : "", one);
		}
	}
	if (o == 0)
		snprintf(out, outsz, "unknown TLS error");
	return out;
}

/* cert_names - the DNS names of a certificate: SAN dNSName, else CN */
static void
cert_names(X509 *x, char ***names, size_t *n)
{
	GENERAL_NAMES *gens;
	int i;

	*names = NULL;
	*n = 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens != NULL) {
		for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			const unsigned char *d;
			int len;

			if (g->type != GEN_DNS)
				continue;
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			*names = xrealloc(*names, (*n + 1) * sizeof(char *));
			(*names)[*n] = xstrndup((const char *)d, (size_t)len);
			(*n)++;
		}
		GENERAL_NAMES_free(gens);
	}
	if (*n == 0) {
		char cn[256];

		if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn)) > 0) {
			*names = xmalloc(sizeof(char *));
			(*names)[0] = xstrdup(cn);
			*n = 1;
		}
	}
	for (size_t k = 0; k < *n; k++)
		for (char *p = (*names)[k]; *p; p++)
			*p = (char)tolower((unsigned char)*p);
}

static bool
same_names(char **a, size_t na, char **b, size_t nb)
{
	size_t i, j;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb; j++)
			if (strcmp(a[i], b[j]) == 0)
				break;
		if (j == nb)
			return false;
	}
	return true;
}

static bool
name_matches(const char *pattern, const char *name)
{
	const char *dot;

	if (strcasecmp(pattern, name) == 0)
		return true;
	/* one-label wildcard: *.example.org matches a.example.org only */
	if (pattern[0] == '*' && pattern[1] == '.' &&
	    (dot = strchr(name, '.')) != NULL && dot != name)
		return strcasecmp(pattern + 1, dot) == 0;
	return false;
}

/* sni_cb - switch to the context whose certificate names the server */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_store *ts = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i, j;

	if (name == NULL || ts->nctxs < 2)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < ts->nctxs; i++)
		for (j = 0; j < ts->ctxs[i].nnames; j++)
			if (name_matches(ts->ctxs[i].names[j], name)) {
				if (SSL_get_SSL_CTX(ssl) != ts->ctxs[i].ctx)
					SSL_set_SSL_CTX(ssl, ts->ctxs[i].ctx);
				return SSL_TLSEXT_ERR_OK;
			}
	/* Unknown name: keep the default certificate (RFC 6066 3 allows it;
	   SMTP clients rarely verify names against MX hosts without DANE or
	   MTA-STS, and those name the MX host we serve). */
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
new_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	/* Intermediate leaves the choice among these strong suites to the
	   client (no server preference). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	/* One ticket is enough for a client to resume; the second that
	   OpenSSL sends by default costs every handshake about 12 us. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"smtpsd",
	    6);
	return ctx;
}

/* no_passphrase - the PEM passphrase callback: never prompt (smtpsd runs
   unattended, and a reload must not wait on a terminal); note that the
   key asked for one */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	*(bool *)arg = true;
	return -1;
}

/* load_pair - read a chain and key, check they match */
static int
load_pair(const struct config_cert *cc, X509 **cert, STACK_OF(X509) **chain,
    EVP_PKEY **key, char **err)
{
	char e[512];
	bool encrypted;
	FILE *f;
	X509 *x;

	*cert = NULL;
	*chain = NULL;
	*key = NULL;
	if ((f = fopen(cc->cert_file, "r")) == NULL) {
		*err = xasprintf("%s: cannot open certificate: %m",
		    cc->cert_file);
		return E_INVAL;
	}
	*cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (*cert == NULL) {
		fclose(f);
		*err = xasprintf("%s: no PEM certificate found (%s)",
		    cc->cert_file, tls_error_string(e, sizeof(e)));
		return E_INVAL;
	}
	*chain = sk_X509_new_null();
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		sk_X509_push(*chain, x);
	ERR_clear_error();
	fclose(f);
	if ((f = fopen(cc->key_file, "r")) == NULL) {
		*err = xasprintf("%s: cannot open private key: %m",
		    cc->key_file);
		return E_INVAL;
	}
	encrypted = false;
	*key = PEM_read_PrivateKey(f, NULL, no_passphrase, &encrypted);
	fclose(f);
	if (*key == NULL && encrypted) {
		ERR_clear_error();
		*err = xasprintf("%s: the private key is encrypted with a "
		    "passphrase; smtpsd starts unattended and needs it "
		    "unencrypted (mode 0600), e.g. openssl pkey -in KEY -out "
		    "NEWKEY", cc->key_file);
		return E_INVAL;
	}
	if (*key == NULL) {
		*err = xasprintf("%s: no PEM private key found (%s)",
		    cc->key_file, tls_error_string(e, sizeof(e)));
		return E_INVAL;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		ERR_clear_error();
		*err = xasprintf("%s does not match the certificate %s",
		    cc->key_file, cc->cert_file);
		return E_INVAL;
	}
	return 0;
}

int
tls_store_load(struct tls_store **out, const struct config *cfg, char **err)
{
	struct tls_store *ts = xcalloc(1, sizeof(*ts));
	char e[512];
	size_t i, j;
	int r = 0;

	*out = NULL;
	*err = NULL;
	for (i = 0; i < cfg->ncerts; i++) {
		const struct config_cert *cc = &cfg->certs[i];
		STACK_OF(X509) *chain = NULL;
		X509 *cert = NULL;
		EVP_PKEY *key = NULL;
		struct tls_ctx *tc = NULL;
		char **names;
		size_t nnames;

		if ((r = load_pair(cc, &cert, &chain, &key, err)) < 0)
			goto pair_out;
		cert_names(cert, &names, &nnames);
		for (j = 0; j < ts->nctxs; j++)
			if (same_names(ts->ctxs[j].names, ts->ctxs[j].nnames,
			    names, nnames))
				tc = &ts->ctxs[j];
		if (tc == NULL) {
			ts->ctxs = xrealloc(ts->ctxs,
			    (ts->nctxs + 1) * sizeof(*ts->ctxs));
			tc = &ts->ctxs[ts->nctxs++];
			tc->names = names;
			tc->nnames = nnames;
			if ((tc->ctx = new_ctx()) == NULL) {
				*err = xasprintf("TLS context: %s",
				    tls_error_string(e, sizeof(e)));
				r = E_TLS;
				goto pair_out;
			}
			SSL_CTX_set_tlsext_servername_callback(tc->ctx, sni_cb);
			SSL_CTX_set_tlsext_servername_arg(tc->ctx, ts);
		} else {
			for (j = 0; j < nnames; j++)
				free(names[j]);
			free(names);
		}
		if (SSL_CTX_use_cert_and_key(tc->ctx, cert, key, chain, 1)
		    != 1) {
			*err = xasprintf("%s: %s", cc->cert_file,
			    tls_error_string(e, sizeof(e)));
			r = E_TLS;
		}
pair_out:
		X509_free(cert);
		EVP_PKEY_free(key);
		if (chain)
			sk_X509_pop_free(chain, X509_free);
		if (r < 0) {
			tls_store_free(ts);
			return r;
		}
	}
	*out = ts;
	return 0;
}

void
tls_store_free(struct tls_store *ts)
{
	size_t i, j;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->nctxs; i++) {
		SSL_CTX_free(ts->ctxs[i].ctx);
		for (j = 0; j < ts->ctxs[i].nnames; j++)
			free(ts->ctxs[i].names[j]);
		free(ts->ctxs[i].names);
	}
	free(ts->ctxs);
	free(ts);
}

size_t
tls_store_count(const struct tls_store *ts)
{
	return ts ? ts->nctxs : 0;
}

SSL *
tls_store_new_ssl(struct tls_store *ts)
{
	if (ts == NULL || ts->nctxs == 0)
		return NULL;
	return SSL_new(ts->ctxs[0].ctx);
}

void
tls_info(SSL *ssl, struct smtp_tls_info *info)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	memset(info, 0, sizeof(*info));
	snprintf(info->version, sizeof(info->version), "%s",
	    SSL_get_version(ssl));
	if (c != NULL) {
		snprintf(info->cipher, sizeof(info->cipher), "%s",
		    SSL_CIPHER_get_name(c));
		info->bits = SSL_CIPHER_get_bits(c, NULL);
	}
	if (sni != NULL) {
		/* SNI is peer data: keep it to hostname characters */
		size_t i, o = 0;

		for (i = 0; sni[i] && o + 1 < sizeof(info->sni); i++) {
			unsigned char ch = (unsigned char)sni[i];

			if (isalnum(ch) || ch == '.' || ch == '-')
				info->sni[o++] = (char)ch;
		}
		info->sni[o] = '\0';
	}
}
