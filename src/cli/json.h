/*
 * cli/json.h - a small JSON writer for smtpsctl's --json output.
 *
 * It appends to a capped buffer (util/buf.h) and places the commas
 * itself: open an object or array, write keys and values, close it.
 * Strings are escaped per RFC 8259 section 7; bytes that are not valid
 * UTF-8 become U+FFFD, so any input (peer text, binary junk) yields a
 * valid document.  Errors from the buffer's cap are sticky: json_failed
 * tells the caller at the end.
 */
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define JSON_MAX_DEPTH 32

struct json {
	struct buf *b;
	int depth;
	bool first[JSON_MAX_DEPTH];
	bool after_key;
	bool failed;		/* the cap was reached or nesting too deep */
};

/* json_init - write into b (which the caller owns) */
void
json_init(struct json *j, struct buf *b);
void
json_obj_begin(struct json *j);
void
json_obj_end(struct json *j);
void
json_arr_begin(struct json *j);
void
json_arr_end(struct json *j);
/* json_key - the key of the next member of an object */
void
json_key(struct json *j, const char *key);
/* json_str - a NUL-terminated string, or null for NULL */
void
json_str(struct json *j, const char *s);
/* json_strn - p[0..n) as a string (NUL bytes escaped) */
void
json_strn(struct json *j, const char *p, size_t n);
void
json_int(struct json *j, long long v);
void
json_bool(struct json *j, bool v);
void
json_null(struct json *j);
/* json_failed - did any write fail? */
bool
json_failed(const struct json *j);

#endif
