/* cli/json.c - a small JSON writer (see json.h) */
#include <string.h>

#include "cli/json.h"
#include "util/buf.h"

/* put - append and remember a failure */
static void
put(struct json *j, const char *p, size_t n)
{
	if (buf_append(j->b, p, n) < 0)
		j->failed = true;
}

/* sep - the comma before a value or key, unless it follows a key */
static void
sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (!j->first[j->depth - 1])
			put(j, ",", 1);
		j->first[j->depth - 1] = false;
	}
}

/* open_ - start an object or array */
static void
open_(struct json *j, char c)
{
	sep(j);
	put(j, &c, 1);
	if (j->depth >= JSON_MAX_DEPTH) {
		j->failed = true;
		return;
	}
	j->first[j->depth++] = true;
}

/* close_ - end an object or array */
static void
close_(struct json *j, char c)
{
	put(j, &c, 1);
	if (j->depth > 0)
		j->depth--;
}

/* json_init - see json.h */
void
json_init(struct json *j, struct buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
}

/* json_obj_begin - open an object */
void
json_obj_begin(struct json *j)
{
	open_(j, '{');
}

/* json_obj_end - close an object */
void
json_obj_end(struct json *j)
{
	close_(j, '}');
}

/* json_arr_begin - open an array */
void
json_arr_begin(struct json *j)
{
	open_(j, '[');
}

/* json_arr_end - close an array */
void
json_arr_end(struct json *j)
{
	close_(j, ']');
}

/* utf8_len - the length of a valid UTF-8 sequence at p, or 0 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* write_string - p[0..n) quoted and escaped */
static void
write_string(struct json *j, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	char esc[8];
	size_t i = 0, k;

	put(j, "\"", 1);
	while (i < n) {
		unsigned char c = u[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(j, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			static const char hex[] = "0123456789abcdef";

			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put(j, esc, 6);
			i++;
		} else if ((k = utf8_len(u + i, n - i)) == 0) {
			put(j, "\\ufffd", 6);
			i++;
		} else {
			put(j, p + i, k);
			i += k;
		}
	}
	put(j, "\"", 1);
}

/* json_key - see json.h */
void
json_key(struct json *j, const char *key)
{
	sep(j);
	write_string(j, key, strlen(key));
	put(j, ":", 1);
	j->after_key = true;
}

/* json_str - a string or null (json.h) */
void
json_str(struct json *j, const char *s)
{
	if (s == NULL) {
		json_null(j);
		return;
	}
	json_strn(j, s, strlen(s));
}

/* json_strn - p[0..n) as a string */
void
json_strn(struct json *j, const char *p, size_t n)
{
	sep(j);
	write_string(j, p, n);
}

/* json_int - a decimal integer */
void
json_int(struct json *j, long long v)
{
	sep(j);
	if (buf_printf(j->b, "%lld", v) < 0)
		j->failed = true;
}

/* json_bool - true or false */
void
json_bool(struct json *j, bool v)
{
	sep(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

/* json_null - null */
void
json_null(struct json *j)
{
	sep(j);
	put(j, "null", 4);
}

/* json_failed - did a write fail? */
bool
json_failed(const struct json *j)
{
	return j->failed;
}
