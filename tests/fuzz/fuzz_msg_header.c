/* fuzz_msg_header - header splitting, lookups, unfolding and both DKIM
   canonicalisations must never crash or leak, and feeding the body in
   pieces must give exactly the bytes of feeding it whole */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/canon.h"
#include "msg/header.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
collect(void *arg, const void *p, size_t n)
{
	if (buf_append(arg, p, n) < 0)
		abort();
}

/* body - canonicalise in pieces of step bytes (0: whole) */
static void
body(struct buf *out, enum canon_mode m, const char *p, size_t n,
    size_t step)
{
	struct canon_body c;
	size_t i;

	canon_body_init(&c, m, collect, out);
	if (step == 0)
		canon_body_feed(&c, p, n);
	else
		for (i = 0; i < n; i += step)
			canon_body_feed(&c, p + i, n - i < step ? n - i : step);
	canon_body_finish(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_header h;
	struct buf a, b;
	size_t i, step;
	char *p;
	int m;

	if (size > 65536)
		return 0;
	p = malloc(size ? size : 1);
	memcpy(p, data, size);
	buf_init(&a, 1 << 20);
	buf_init(&b, 1 << 20);
	if (msg_header_parse(&h, p, size, 64) == 0) {
		for (i = 0; i < h.nfields; i++) {
			const struct msg_field *f = &h.fields[i];

			msg_header_find(&h, f->name, f->name_len, 0);
			msg_header_find_last(&h, f->name, f->name_len, i);
			msg_unfold(&a, f->value, f->value_len);
			canon_header(&a, CANON_SIMPLE, f->raw, f->raw_len, true);
			canon_header(&a, CANON_RELAXED, f->raw, f->raw_len,
			    true);
		}
		msg_header_count(&h, "From", 4);
	}
	msg_header_fini(&h);
	/* The whole input as a body: pieces equal whole. */
	step = size ? (size_t)data[0] % 7 + 1 : 1;
	for (m = 0; m < 2; m++) {
		buf_reset(&a);
		buf_reset(&b);
		body(&a, m ? CANON_RELAXED : CANON_SIMPLE, p, size, 0);
		body(&b, m ? CANON_RELAXED : CANON_SIMPLE, p, size, step);
		if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0))
			abort();
	}
	buf_reset(&a);
	msg_lf_to_crlf(&a, p, size);
	buf_fini(&a);
	buf_fini(&b);
	free(p);
	return 0;
}
