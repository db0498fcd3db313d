/*
 * mailauth/authres.c - Authentication-Results (RFC 8601): build, format,
 * parse.
 *
 * Formatting puts each resinfo on its own line and folds long ones at
 * the spaces between words (comments fold too: FWS is allowed inside a
 * comment).  Parsing follows the section 2.2 grammar with CFWS anywhere
 * it may appear, and bends in two places real servers need: a value is
 * read up to the next space, ';' or comment even when it holds
 * characters RFC 2045 reserves (base64 header.b values do), and a bare
 * "name=value" after the result (Microsoft's "action=none") is kept as a
 * property with an empty ptype.  Everything else that breaks the grammar
 * is E_SYNTAX.
 */
#include "mailauth/authres.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/idna.h"
#include "util/xmalloc.h"

/* RFC 5322 2.1.1: lines SHOULD stay within 78 characters. */
#define AUTHRES_FOLD 78
/* A folded line starts with a tab; count it as a full tab stop so the
   line also fits 78 columns on screen. */
#define TAB_WIDTH 8

/* authres_init - an empty field with this authserv-id */
void
authres_init(struct authres *ar, const char *authserv_id)
{
	memset(ar, 0, sizeof(*ar));
	if (authserv_id)
		ar->authserv_id = xstrdup(authserv_id);
}

/* resinfo_fini - free one resinfo's strings */
static void
resinfo_fini(struct authres_resinfo *ri)
{
	size_t i;

	free(ri->method);
	free(ri->result);
	free(ri->reason);
	free(ri->comment);
	for (i = 0; i < ri->nprops; i++) {
		free(ri->props[i].ptype);
		free(ri->props[i].property);
		free(ri->props[i].value);
	}
	free(ri->props);
}

/* authres_fini - free everything */
void
authres_fini(struct authres *ar)
{
	size_t i;

	for (i = 0; i < ar->nres; i++)
		resinfo_fini(&ar->res[i]);
	free(ar->res);
	free(ar->authserv_id);
	memset(ar, 0, sizeof(*ar));
}

/* dup_or_null - a copy, or NULL for NULL */
static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* authres_add - append one resinfo */
struct authres_resinfo *
authres_add(struct authres *ar, const char *method, const char *result,
    const char *reason, const char *comment)
{
	struct authres_resinfo *ri;

	ar->res = xrealloc(ar->res, (ar->nres + 1) * sizeof(*ar->res));
	ri = &ar->res[ar->nres++];
	memset(ri, 0, sizeof(*ri));
	ri->method = xstrdup(method);
	ri->result = xstrdup(result);
	ri->reason = dup_or_null(reason);
	ri->comment = dup_or_null(comment);
	return ri;
}

/* authres_add_prop - append ptype.property=value */
void
authres_add_prop(struct authres_resinfo *ri, const char *ptype,
    const char *property, const char *value)
{
	struct authres_prop *p;

	ri->props = xrealloc(ri->props, (ri->nprops + 1) * sizeof(*ri->props));
	p = &ri->props[ri->nprops++];
	p->ptype = xstrdup(ptype);
	p->property = xstrdup(property);
	p->value = xstrdup(value ? value : "");
}

/* authres_find - the first resinfo for a method */
const struct authres_resinfo *
authres_find(const struct authres *ar, const char *method)
{
	size_t i;

	for (i = 0; i < ar->nres; i++)
		if (strcasecmp(ar->res[i].method, method) == 0)
			return &ar->res[i];
	return NULL;
}

/* authres_prop_value - the value of ptype.property, or NULL */
const char *
authres_prop_value(const struct authres_resinfo *ri, const char *ptype,
    const char *property)
{
	size_t i;

	for (i = 0; i < ri->nprops; i++)
		if (strcasecmp(ri->props[i].ptype, ptype) == 0 &&
		    strcasecmp(ri->props[i].property, property) == 0)
			return ri->props[i].value;
	return NULL;
}

/* ---- formatting ---- */

/* RFC 2045 5.1 tspecials, which a token may not hold */
static bool
is_tspecial(unsigned char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* is_token - an RFC 2045 token, writable without quotes */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || is_tspecial(c))
			return false;
	}
	return true;
}

/* is_dot_atom_text - RFC 5322 3.2.3, with RFC 6532 3.2's UTF-8 (valid
   sequences only) */
static bool
is_dot_atom(const char *s, size_t n)
{
	size_t i, k;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80) {
			if ((k = idna_utf8_len(s + i, n - i)) == 0)
				return false;
			i += k - 1;
			continue;
		}
		if (c == '.') {
			if (s[i - 1] == '.')
				return false;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL)))
			return false;
	}
	return true;
}

/* is_addr_value - RFC 8601 pvalue: [[local-part] "@"] domain-name; the
   domain may hold U-labels (valid UTF-8), as an SMTPUTF8 message's
   header may (RFC 6532 3.2, RFC 8616 3) */
static bool
is_addr_value(const char *s)
{
	const char *at = strrchr(s, '@');
	const char *d = at ? at + 1 : s;
	size_t i, k, n = strlen(d);

	if (at && at != s && !is_dot_atom(s, (size_t)(at - s)))
		return false;
	if (n == 0 || d[0] == '.' || d[n - 1] == '.' || d[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c >= 0x80) {
			if ((k = idna_utf8_len(d + i, n - i)) == 0)
				return false;
			i += k - 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return false;
		if (c == '.' && d[i + 1] == '.')
			return false;
	}
	return true;
}

/* append_quoted - a quoted-string; control characters and bytes that are
   not valid UTF-8 become '?' so a peer's text can never end the header
   line or break its encoding; valid UTF-8 is kept (RFC 6532 3.2) */
static int
append_quoted(struct buf *w, const char *s)
{
	size_t n = strlen(s), k;
	int r = buf_append(w, "\"", 1);

	while (r == 0 && *s) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80) {
			if ((k = idna_utf8_len(s, n)) == 0) {
				r = buf_append(w, "?", 1);
				k = 1;
			} else
				r = buf_append(w, s, k);
			s += k;
			n -= k;
			continue;
		}
		if (c == '"' || c == '\\')
			r = buf_append(w, "\\", 1);
		if (r == 0)
			r = buf_append(w, c < 0x20 || c == 0x7f ? "?" : s, 1);
		s++;
		n--;
	}
	return r ? r : buf_append(w, "\"", 1);
}

/* append_value - as it is when it is a token or an address, else quoted */
static int
append_value(struct buf *w, const char *s, bool addr_ok)
{
	if (is_token(s) || (addr_ok && is_addr_value(s)))
		return buf_append_str(w, s);
	return append_quoted(w, s);
}

struct folder {
	struct buf *out;
	size_t col;
};

/* put_word - one word, after a space or on a new folded line */
static int
put_word(struct folder *f, const char *w, size_t n, bool first)
{
	int r;

	if (first) {
		f->col += n;
		return buf_append(f->out, w, n);
	}
	/* One column stays free for the ';' that may end the line. */
	if (f->col + 1 + n > AUTHRES_FOLD - 1) {
		if ((r = buf_append(f->out, "\r\n\t", 3)) < 0)
			return r;
		f->col = TAB_WIDTH + n;
		return buf_append(f->out, w, n);
	}
	if ((r = buf_append(f->out, " ", 1)) < 0)
		return r;
	f->col += 1 + n;
	return buf_append(f->out, w, n);
}

/* put_words - a text that may fold at its spaces (a comment) */
static int
put_words(struct folder *f, const char *s, bool first)
{
	const char *sp;
	int r = 0;

	while (*s == ' ')
		s++;
	while (r == 0 && *s) {
		sp = strchr(s, ' ');
		if (sp == NULL)
			sp = s + strlen(s);
		r = put_word(f, s, (size_t)(sp - s), first);
		first = false;
		s = sp;
		while (*s == ' ')
			s++;
	}
	return r;
}

/* comment_text - "(" text ")" with parentheses and backslashes escaped
   and control characters replaced */
static void
comment_text(struct buf *w, const char *s)
{
	size_t n = strlen(s), k;

	(void)buf_append(w, "(", 1);
	while (*s) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80) {
			if ((k = idna_utf8_len(s, n)) == 0) {
				(void)buf_append(w, "?", 1);
				k = 1;
			} else
				(void)buf_append(w, s, k);
			s += k;
			n -= k;
			continue;
		}
		if (c == '(' || c == ')' || c == '\\')
			(void)buf_append(w, "\\", 1);
		(void)buf_append(w, c < 0x20 || c == 0x7f ? " " : s, 1);
		s++;
		n--;
	}
	(void)buf_append(w, ")", 1);
}

/* authres_format - the whole field, folded */
int
authres_format(const struct authres *ar, struct buf *out)
{
	struct folder f = { out, 0 };
	struct buf w;
	size_t i, j;
	int r;

	buf_init(&w, AUTHRES_MAX_FIELD);
	if ((r = buf_append_str(out, "Authentication-Results:")) < 0)
		goto out;
	f.col = strlen("Authentication-Results:");
	if ((r = append_value(&w, ar->authserv_id ? ar->authserv_id :
	    "localhost", false)) < 0)
		goto out;
	if (ar->nres == 0 && (r = buf_append_str(&w, ";")) < 0)
		goto out;
	if ((r = put_word(&f, buf_cstr(&w), buf_size(&w), false)) < 0)
		goto out;
	if (ar->nres == 0) {
		r = put_word(&f, "none", 4, false);
		goto crlf;
	}
	for (i = 0; i < ar->nres; i++) {
		const struct authres_resinfo *ri = &ar->res[i];

		if ((r = buf_append(out, ";\r\n\t", 4)) < 0)
			goto out;
		f.col = TAB_WIDTH;
		buf_reset(&w);
		(void)buf_append_str(&w, ri->method);
		if (ri->method_version > 0)
			(void)buf_printf(&w, "/%d", ri->method_version);
		(void)buf_append(&w, "=", 1);
		(void)buf_append_str(&w, ri->result);
		if ((r = put_word(&f, buf_cstr(&w), buf_size(&w), true)) < 0)
			goto out;
		if (ri->comment) {
			buf_reset(&w);
			comment_text(&w, ri->comment);
			if ((r = put_words(&f, buf_cstr(&w), false)) < 0)
				goto out;
		}
		if (ri->reason) {
			buf_reset(&w);
			(void)buf_append_str(&w, "reason=");
			(void)append_quoted(&w, ri->reason);
			/* Folding inside the quotes would turn a space into
			   a tab once unfolded: the reason stays whole. */
			if ((r = put_word(&f, buf_cstr(&w), buf_size(&w),
			    false)) < 0)
				goto out;
		}
		for (j = 0; j < ri->nprops; j++) {
			const struct authres_prop *p = &ri->props[j];

			buf_reset(&w);
			if (*p->ptype)
				(void)buf_printf(&w, "%s.%s=", p->ptype,
				    p->property);
			else
				(void)buf_printf(&w, "%s=", p->property);
			(void)append_value(&w, p->value, true);
			if ((r = put_word(&f, buf_cstr(&w), buf_size(&w),
			    false)) < 0)
				goto out;
		}
	}
crlf:
	r = buf_append(out, "\r\n", 2);
out:
	buf_fini(&w);
	return r;
}

/* ---- parsing ---- */

struct parser {
	const char *p;
	size_t n, i;
	char *comment;		/* first comment since cleared */
};

/* skip_cfws - FWS and nested comments; E_SYNTAX if one is unclosed */
static int
skip_cfws(struct parser *ps)
{
	while (ps->i < ps->n) {
		char c = ps->p[ps->i];
		size_t start;
		int depth = 0;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			ps->i++;
			continue;
		}
		if (c != '(')
			return 0;
		start = ps->i;
		do {
			c = ps->p[ps->i++];
			if (c == '\\' && ps->i < ps->n)
				ps->i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} while (depth > 0 && ps->i < ps->n);
		if (depth != 0)
			return E_SYNTAX;
		if (ps->comment == NULL)
			ps->comment = xstrndup(ps->p + start + 1,
			    ps->i - start - 2);
	}
	return 0;
}

/* is_kw - a Keyword character (ldh, and '_' from real servers) */
static bool
is_kw(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* keyword - RFC 8601 Keyword (an ldh-str; '_' tolerated), lower-cased */
static char *
keyword(struct parser *ps)
{
	size_t b = ps->i, k;
	char *s;

	while (ps->i < ps->n && is_kw(ps->p[ps->i]))
		ps->i++;
	if (ps->i == b)
		return NULL;
	s = xstrndup(ps->p + b, ps->i - b);
	for (k = 0; s[k]; k++)
		if (s[k] >= 'A' && s[k] <= 'Z')
			s[k] = (char)(s[k] - 'A' + 'a');
	return s;
}

/*
 * value - a quoted-string (unquoted, and an "@domain" after it kept), or
 * the run of characters up to white space, ';', '(' or '"'.  Empty is
 * allowed: some servers write "smtp.mailfrom=" for the null sender.
 */
static int
value(struct parser *ps, char **out)
{
	struct buf b;
	int r = 0;

	*out = NULL;
	buf_init(&b, AUTHRES_MAX_FIELD);
	if (ps->i < ps->n && ps->p[ps->i] == '"') {
		ps->i++;
		for (;;) {
			char c;

			if (ps->i >= ps->n) {
				r = E_SYNTAX;
				goto out;
			}
			c = ps->p[ps->i++];
			if (c == '"')
				break;
			if (c == '\\') {
				if (ps->i >= ps->n) {
					r = E_SYNTAX;
					goto out;
				}
				c = ps->p[ps->i++];
			} else if (c == '\r' || c == '\n')
				continue;	/* folding inside the quotes */
			(void)buf_append(&b, &c, 1);
		}
	}
	while (ps->i < ps->n) {
		char c = ps->p[ps->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == ';' || c == '(' || c == '"' || c == '\0')
			break;
		(void)buf_append(&b, &c, 1);
		ps->i++;
	}
	*out = xstrdup(buf_cstr(&b));
out:
	buf_fini(&b);
	return r;
}

/*
 * looks_like_prop - does a "ptype.property=" start here?  Only then is
 * an empty value read as empty rather than as swallowing the next
 * property: RFC 8601 has no empty pvalue, but some servers write one.
 */
static bool
looks_like_prop(const struct parser *ps)
{
	size_t i = ps->i;
	int part;

	if (i == 0 || (ps->p[i - 1] != ' ' && ps->p[i - 1] != '\t' &&
	    ps->p[i - 1] != '\n'))
		return false;
	for (part = 0; part < 2; part++) {
		size_t b = i;

		while (i < ps->n && is_kw(ps->p[i]))
			i++;
		if (i == b || i >= ps->n)
			return false;
		if (ps->p[i] != (part == 0 ? '.' : '='))
			return false;
		i++;
	}
	return true;
}

/* at - is the next character c? */
static bool
at(const struct parser *ps, char c)
{
	return ps->i < ps->n && ps->p[ps->i] == c;
}

/* resinfo - methodspec [reasonspec] *propspec, after the ';' */
static int
resinfo(struct parser *ps, struct authres *ar)
{
	struct authres_resinfo *ri;
	char *method, *result, *name = NULL, *prop = NULL, *val = NULL;
	int r, version = 0;

	if ((r = skip_cfws(ps)) < 0)
		return r;
	if ((method = keyword(ps)) == NULL)
		return E_SYNTAX;
	if ((r = skip_cfws(ps)) < 0)
		goto bad_method;
	if (at(ps, '/')) {
		ps->i++;
		if ((r = skip_cfws(ps)) < 0)
			goto bad_method;
		if (ps->i >= ps->n || ps->p[ps->i] < '0' || ps->p[ps->i] > '9')
			goto bad_method;
		while (ps->i < ps->n && ps->p[ps->i] >= '0' &&
		    ps->p[ps->i] <= '9') {
			if (version < 100000)
				version = version * 10 + ps->p[ps->i] - '0';
			ps->i++;
		}
		if ((r = skip_cfws(ps)) < 0)
			goto bad_method;
	}
	if (!at(ps, '='))
		goto bad_method;
	ps->i++;
	if ((r = skip_cfws(ps)) < 0)
		goto bad_method;
	if ((result = keyword(ps)) == NULL)
		goto bad_method;
	if (ar->nres >= AUTHRES_MAX_RESINFO) {
		free(result);
		free(method);
		return E_LIMIT;
	}
	free(ps->comment);
	ps->comment = NULL;
	ri = authres_add(ar, method, result, NULL, NULL);
	ri->method_version = version;
	free(method);
	free(result);

	for (;;) {
		if ((r = skip_cfws(ps)) < 0)
			goto out;
		if (ps->i >= ps->n || at(ps, ';'))
			break;
		if ((name = keyword(ps)) == NULL) {
			r = E_SYNTAX;
			goto out;
		}
		if ((r = skip_cfws(ps)) < 0)
			goto out;
		if (at(ps, '.')) {
			ps->i++;
			if ((r = skip_cfws(ps)) < 0)
				goto out;
			if ((prop = keyword(ps)) == NULL) {
				r = E_SYNTAX;
				goto out;
			}
			if ((r = skip_cfws(ps)) < 0)
				goto out;
		}
		if (!at(ps, '=')) {
			r = E_SYNTAX;
			goto out;
		}
		ps->i++;
		if ((r = skip_cfws(ps)) < 0)
			goto out;
		if (looks_like_prop(ps))
			/* "smtp.mailfrom= smtp.helo=..." */
			val = xstrdup("");
		else if ((r = value(ps, &val)) < 0)
			goto out;
		if (prop == NULL && strcmp(name, "reason") == 0 &&
		    ri->reason == NULL && ri->nprops == 0) {
			ri->reason = val;
			val = NULL;
		} else {
			if (ri->nprops >= AUTHRES_MAX_PROPS) {
				r = E_LIMIT;
				goto out;
			}
			authres_add_prop(ri, prop ? name : "",
			    prop ? prop : name, val);
		}
		free(name);
		free(prop);
		free(val);
		name = prop = val = NULL;
	}
	ri->comment = ps->comment;
	ps->comment = NULL;
	r = 0;
out:
	free(name);
	free(prop);
	free(val);
	return r;
bad_method:
	free(method);
	return r < 0 ? r : E_SYNTAX;
}

/* authres_parse - one field's value into ar */
int
authres_parse(struct authres *ar, const char *v, size_t n)
{
	struct parser ps = { v, n, 0, NULL };
	size_t start;
	int r;

	authres_init(ar, NULL);
	if (n > AUTHRES_MAX_FIELD)
		return E_LIMIT;
	if (memchr(v, '\0', n) != NULL)
		return E_SYNTAX;
	if ((r = skip_cfws(&ps)) < 0)
		goto out;
	start = ps.i;
	if (start >= n) {
		r = E_SYNTAX;
		goto out;
	}
	if ((r = value(&ps, &ar->authserv_id)) < 0)
		goto out;
	/* An empty quoted-string is a valid value; nothing at all is not. */
	if (ar->authserv_id[0] == '\0' && v[start] != '"') {
		r = E_SYNTAX;
		goto out;
	}
	/* Some servers (Exchange Online) omit the authserv-id and start
	   with the first resinfo: keep an empty id and read it as one. */
	if (strchr(ar->authserv_id, '=') != NULL && v[start] != '"') {
		ar->authserv_id[0] = '\0';
		ps.i = start;
		if ((r = resinfo(&ps, ar)) < 0)
			goto out;
		goto rest;
	}
	if ((r = skip_cfws(&ps)) < 0)
		goto out;
	if (ps.i < n && v[ps.i] >= '0' && v[ps.i] <= '9') {
		while (ps.i < n && v[ps.i] >= '0' && v[ps.i] <= '9') {
			if (ar->version < 100000)
				ar->version = ar->version * 10 + v[ps.i] - '0';
			ps.i++;
		}
		if ((r = skip_cfws(&ps)) < 0)
			goto out;
	}
	if (ps.i >= n || v[ps.i] != ';') {
		r = E_SYNTAX;
		goto out;
	}
rest:
	while (ps.i < n && v[ps.i] == ';') {
		size_t save;

		ps.i++;
		if ((r = skip_cfws(&ps)) < 0)
			goto out;
		if (ps.i >= n)
			break;		/* a trailing ';' */
		save = ps.i;
		if (ar->nres == 0 && n - ps.i >= 4 &&
		    strncasecmp(v + ps.i, "none", 4) == 0) {
			ps.i += 4;
			if ((r = skip_cfws(&ps)) < 0)
				goto out;
			if (ps.i >= n) {
				ar->none = true;
				break;
			}
			ps.i = save;
		}
		if ((r = resinfo(&ps, ar)) < 0)
			goto out;
	}
	if (ps.i < n) {
		r = E_SYNTAX;
		goto out;
	}
	if (ar->nres == 0 && !ar->none)
		r = E_SYNTAX;
out:
	free(ps.comment);
	return r;
}
