/*
 * mailauth/dkim_sign.c - make a DKIM-Signature field (RFC 6376 5).
 */
#include "mailauth/dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/canon.h"
#include "msg/header.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* Fields signed by default, each listed once more than it occurs so that
   nobody can add another instance later (oversigning). */
static const char *const oversigned[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to",
	"mime-version", "content-type", "content-transfer-encoding",
};
/* Fields signed as they occur. */
static const char *const signed_if_present[] = {
	"in-reply-to", "references",
};

/* Folded lines of the field stay under this many columns. */
#define DKIM_FOLD_COLUMN 76
/* The DKIM-Signature field we make stays under this size. */
#define DKIM_MAX_SIG_FIELD (64u << 10)

/* dkim_sign_opts_init - the defaults */
void
dkim_sign_opts_init(struct dkim_sign_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->hcanon = o->bcanon = CANON_RELAXED;
	o->timestamp = o->expiration = -1;
}

/* body_emit - canonical body bytes into the body hash */
static void
body_emit(void *arg, const void *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* body_hash - bh= for the body under mode m */
static int
body_hash(const char *body, size_t n, enum canon_mode m,
    unsigned char *out)
{
	struct canon_body cb;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	unsigned int len;
	int r = E_INVAL;

	if (mc == NULL || EVP_DigestInit_ex(mc, dkim_sha256(), NULL) != 1)
		goto out;
	canon_body_init(&cb, m, body_emit, mc);
	if (body)
		canon_body_feed(&cb, body, n);
	canon_body_finish(&cb);
	if (EVP_DigestFinal_ex(mc, out, &len) == 1)
		r = 0;
out:
	EVP_MD_CTX_free(mc);
	return r;
}

/* add_name - append a name to the list */
static void
add_name(char ***names, size_t *n, const char *s)
{
	*names = xrealloc(*names, (*n + 1) * sizeof(char *));
	(*names)[(*n)++] = xstrdup(s);
}

/* build_names - the h= list for this message */
static void
build_names(const struct msg_header *h, const struct dkim_sign_opts *o,
    char ***names, size_t *n)
{
	size_t i, c, k;

	*names = NULL;
	*n = 0;
	if (o->headers) {
		for (i = 0; i < o->nheaders; i++)
			add_name(names, n, o->headers[i]);
		return;
	}
	for (i = 0; i < sizeof(oversigned) / sizeof(oversigned[0]); i++) {
		c = msg_header_count(h, oversigned[i], strlen(oversigned[i]));
		for (k = 0; k < c + 1; k++)
			add_name(names, n, oversigned[i]);
	}
	for (i = 0; i < sizeof(signed_if_present) /
	    sizeof(signed_if_present[0]); i++) {
		c = msg_header_count(h, signed_if_present[i],
		    strlen(signed_if_present[i]));
		for (k = 0; k < c; k++)
			add_name(names, n, signed_if_present[i]);
	}
}

/* fold_put - append text, first folding the line if it would grow too
   long (FWS between tags and list items is insignificant) */
static int
fold_put(struct buf *b, size_t *col, const char *s, bool may_fold)
{
	size_t n = strlen(s);
	int r;

	if (may_fold && *col + n > DKIM_FOLD_COLUMN && *col > 1) {
		if ((r = buf_append(b, "\r\n\t", 3)) < 0)
			return r;
		*col = 1;
		/* The fold is the separating whitespace. */
		if (*s == ' ') {
			s++;
			n--;
		}
	}
	if ((r = buf_append(b, s, n)) < 0)
		return r;
	*col += n;
	return 0;
}

/* has_bad_char - would the text break the field (CR, LF, ';', space)? */
static bool
has_bad_char(const char *s)
{
	return s == NULL || *s == '\0' || strpbrk(s, "\r\n; \t") != NULL;
}

/* dkim_sign - append the DKIM-Signature field that signs msg */
int
dkim_sign(struct buf *out, const struct dkim_key *k,
    const struct dkim_sign_opts *o, const char *msg, size_t n)
{
	struct msg_header h;
	unsigned char bh[DKIM_HASH_LEN], hd[DKIM_HASH_LEN], *sig = NULL;
	char **names = NULL, *b64 = NULL, tmp[128];
	size_t nnames = 0, i, siglen, col, b64len;
	struct buf f, hin;
	enum dkim_alg alg = dkim_key_alg(k);
	int r;

	buf_init(&f, DKIM_MAX_SIG_FIELD);
	memset(&h, 0, sizeof(h));
	if (has_bad_char(o->domain) || has_bad_char(o->selector) ||
	    (o->identity && has_bad_char(o->identity))) {
		r = E_INVAL;
		goto out;
	}
	if ((r = msg_header_parse(&h, msg, n, 0)) < 0)
		goto out;
	if (msg_header_find(&h, "from", 4, 0) == NULL) {
		r = E_SYNTAX;
		goto out;
	}
	build_names(&h, o, &names, &nnames);
	for (i = 0; i < nnames; i++)
		if (has_bad_char(names[i]) || strchr(names[i], ':')) {
			r = E_INVAL;
			goto out;
		}
	if ((r = body_hash(h.body, h.body_len, o->bcanon, bh)) < 0)
		goto out;

	/* The field, up to an empty b=, exactly as it will be sent. */
	col = 0;
	r = buf_printf(&f, "DKIM-Signature: v=1; a=%s; c=%s/%s;",
	    dkim_alg_str(alg), canon_mode_str(o->hcanon),
	    canon_mode_str(o->bcanon));
	col = f.len;
	if (r < 0)
		goto out;
	{
		char *d = xasprintf(" d=%s;", o->domain);
		char *s = xasprintf(" s=%s;", o->selector);

		r = fold_put(&f, &col, d, true);
		if (r == 0)
			r = fold_put(&f, &col, s, true);
		free(d);
		free(s);
		if (r < 0)
			goto out;
	}
	if (o->identity) {
		char *t = xasprintf(" i=%s;", o->identity);

		r = fold_put(&f, &col, t, true);
		free(t);
		if (r < 0)
			goto out;
	}
	if (o->timestamp >= 0) {
		snprintf(tmp, sizeof(tmp), " t=%lld;", o->timestamp);
		if ((r = fold_put(&f, &col, tmp, true)) < 0)
			goto out;
	}
	if (o->expiration >= 0) {
		snprintf(tmp, sizeof(tmp), " x=%lld;", o->expiration);
		if ((r = fold_put(&f, &col, tmp, true)) < 0)
			goto out;
	}
	if ((r = fold_put(&f, &col, " h=", true)) < 0)
		goto out;
	for (i = 0; i < nnames; i++) {
		char *t = xasprintf("%s%s", names[i], i + 1 < nnames ? ":" :
		    ";");

		r = fold_put(&f, &col, t, i > 0);
		free(t);
		if (r < 0)
			goto out;
	}
	b64 = xmalloc(base64_encoded_len(sizeof(bh)) + 1);
	base64_encode(b64, bh, sizeof(bh));
	{
		char *t = xasprintf(" bh=%s;", b64);

		r = fold_put(&f, &col, t, true);
		free(t);
		if (r < 0)
			goto out;
	}
	free(b64);
	b64 = NULL;
	if ((r = fold_put(&f, &col, " b=", true)) < 0)
		goto out;

	/* Hash the headers and the field with b= empty (RFC 6376 3.7). */
	buf_init(&hin, DKIM_MAX_HEADER_HASH_INPUT);
	r = dkim_header_hash(&hin, &h, o->hcanon, names, nnames, f.p, f.len,
	    hd);
	buf_fini(&hin);
	if (r < 0)
		goto out;
	if ((r = dkim_key_sign(k, hd, &sig, &siglen)) < 0)
		goto out;
	b64len = base64_encoded_len(siglen);
	b64 = xmalloc(b64len + 1);
	base64_encode(b64, sig, siglen);
	/* The signature value, folded; FWS inside b= is ignored. */
	for (i = 0; i < b64len;) {
		size_t room = col < DKIM_FOLD_COLUMN ? DKIM_FOLD_COLUMN - col :
		    0, take;

		if (room < 8) {
			if ((r = buf_append(&f, "\r\n\t", 3)) < 0)
				goto out;
			col = 1;
			continue;
		}
		take = b64len - i < room ? b64len - i : room;
		if ((r = buf_append(&f, b64 + i, take)) < 0)
			goto out;
		col += take;
		i += take;
	}
	if ((r = buf_append(&f, "\r\n", 2)) < 0)
		goto out;
	r = buf_append(out, f.p, f.len);
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(b64);
	free(sig);
	buf_fini(&f);
	msg_header_fini(&h);
	return r;
}
