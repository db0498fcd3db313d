/*
 * msg/header.c - index the header fields of an RFC 5322 message.
 */
#include "msg/header.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* is_wsp - RFC 5234 WSP */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* line_end - offset just past the next LF at or after i (or n), and the
   length of the line's text without its CRLF or LF */
static size_t
line_end(const char *p, size_t n, size_t i, size_t *textlen, bool *bare)
{
	const char *lf = memchr(p + i, '\n', n - i);
	size_t e;

	*bare = false;
	if (lf == NULL) {
		*textlen = n - i;
		return n;
	}
	e = (size_t)(lf - p);
	if (e > i && p[e - 1] == '\r')
		*textlen = e - 1 - i;
	else {
		*textlen = e - i;
		*bare = true;
	}
	return e + 1;
}

/* msg_header_parse - index the header fields of p[0..n) into h */
int
msg_header_parse(struct msg_header *h, const char *p, size_t n,
    size_t max_fields)
{
	size_t i = 0, cap = 0, next, tl;
	struct msg_field *f = NULL;
	bool bare;
	int r = 0;

	memset(h, 0, sizeof(*h));
	if (max_fields == 0)
		max_fields = MSG_HEADER_MAX_FIELDS_DEFAULT;
	while (i < n) {
		next = line_end(p, n, i, &tl, &bare);
		if (tl == 0) {
			/* The blank line: the body follows it. */
			h->has_separator = true;
			h->body = p + next;
			h->body_len = n - next;
			goto out;
		}
		if (is_wsp(p[i])) {
			/* A continuation line (RFC 5322 2.2.3). */
			if (h->nfields == 0) {
				r = E_SYNTAX;
				goto out;
			}
			f = &h->fields[h->nfields - 1];
			f->raw_len = (size_t)(p + i + tl - f->raw);
			f->value_len = (size_t)(p + i + tl - f->value);
			f->bare_lf |= bare;
			i = next;
			continue;
		}
		{
			const char *colon = memchr(p + i, ':', tl);
			size_t nl;

			if (colon == NULL || colon == p + i) {
				r = E_SYNTAX;
				goto out;
			}
			if (h->nfields == max_fields) {
				r = E_LIMIT;
				goto out;
			}
			if (h->nfields == cap) {
				cap = cap ? cap * 2 : 32;
				if (cap > max_fields)
					cap = max_fields;
				h->fields = xrealloc(h->fields,
				    cap * sizeof(*h->fields));
			}
			f = &h->fields[h->nfields];
			memset(f, 0, sizeof(*f));
			f->raw = p + i;
			f->raw_len = tl;
			f->name = p + i;
			nl = (size_t)(colon - (p + i));
			while (nl > 0 && is_wsp(f->name[nl - 1])) {
				nl--;
				f->ws_before_colon = true;
			}
			if (nl == 0) {
				r = E_SYNTAX;
				goto out;
			}
			f->name_len = nl;
			f->value = colon + 1;
			f->value_len = (size_t)(p + i + tl - f->value);
			f->pos = h->nfields;
			f->bare_lf = bare;
			h->nfields++;
		}
		i = next;
	}
	/* The message ended inside the header section: no body. */
out:
	if (r < 0) {
		free(h->fields);
		memset(h, 0, sizeof(*h));
	}
	return r;
}

/* msg_header_fini - release the index */
void
msg_header_fini(struct msg_header *h)
{
	free(h->fields);
	memset(h, 0, sizeof(*h));
}

/* msg_field_is - does the field's name equal name, ignoring case? */
bool
msg_field_is(const struct msg_field *f, const char *name, size_t len)
{
	return f->name_len == len && strncasecmp(f->name, name, len) == 0;
}

/* msg_header_find - the first field named name at index >= from */
const struct msg_field *
msg_header_find(const struct msg_header *h, const char *name, size_t len,
    size_t from)
{
	size_t i;

	for (i = from; i < h->nfields; i++)
		if (msg_field_is(&h->fields[i], name, len))
			return &h->fields[i];
	return NULL;
}

/* msg_header_find_last - the last field named name at index < before */
const struct msg_field *
msg_header_find_last(const struct msg_header *h, const char *name,
    size_t len, size_t before)
{
	size_t i = before < h->nfields ? before : h->nfields;

	while (i > 0) {
		i--;
		if (msg_field_is(&h->fields[i], name, len))
			return &h->fields[i];
	}
	return NULL;
}

/* msg_header_count - how many fields carry this name */
size_t
msg_header_count(const struct msg_header *h, const char *name, size_t len)
{
	size_t i, c = 0;

	for (i = 0; i < h->nfields; i++)
		if (msg_field_is(&h->fields[i], name, len))
			c++;
	return c;
}

/* msg_unfold - append v with every CRLF (and bare LF) removed */
int
msg_unfold(struct buf *out, const char *v, size_t n)
{
	size_t i = 0, j;
	int r;

	while (i < n) {
		for (j = i; j < n && v[j] != '\r' && v[j] != '\n'; j++)
			;
		if ((r = buf_append(out, v + i, j - i)) < 0)
			return r;
		if (j < n && v[j] == '\r' && j + 1 < n && v[j + 1] == '\n')
			j += 2;
		else if (j < n && v[j] == '\n')
			j++;
		else if (j < n) {
			/* A lone CR is kept: it is not a line break. */
			if ((r = buf_append(out, v + j, 1)) < 0)
				return r;
			j++;
		}
		i = j;
	}
	return 0;
}

/* msg_lf_to_crlf - append p with each bare LF turned into CRLF */
int
msg_lf_to_crlf(struct buf *out, const char *p, size_t n)
{
	size_t i = 0;
	const char *lf;
	int r;

	while (i < n) {
		lf = memchr(p + i, '\n', n - i);
		if (lf == NULL)
			return buf_append(out, p + i, n - i);
		if (lf > p + i && lf[-1] == '\r') {
			r = buf_append(out, p + i, (size_t)(lf - (p + i)) + 1);
		} else {
			if ((r = buf_append(out, p + i,
			    (size_t)(lf - (p + i)))) < 0)
				return r;
			r = buf_append(out, "\r\n", 2);
		}
		if (r < 0)
			return r;
		i = (size_t)(lf - p) + 1;
	}
	return 0;
}
