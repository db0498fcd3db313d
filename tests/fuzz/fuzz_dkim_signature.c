/* fuzz_dkim_signature - the DKIM tag-list parser, the DKIM-Signature and
   key-record parsers, and a whole verification (the input split into a
   message and the key record every query gets) must never crash, hang or
   leak */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* parse_alone - each parser on the same bytes */
static void
parse_alone(const char *p, size_t n)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	struct dkim_sig s;
	struct dkim_keyrec k;
	enum dkim_reason why;
	size_t nt, i;

	if (dkim_tags_parse(tags, DKIM_MAX_TAGS, &nt, p, n) == 0)
		for (i = 0; i < nt; i++)
			if (tags[i].name < p || tags[i].value + tags[i].value_len >
			    p + n)
				abort();
	dkim_sig_parse(&s, p, n, &why);
	if (why >= DKIM_R_COUNT)
		abort();
	dkim_sig_fini(&s);
	dkim_keyrec_parse(&k, p, n, &why);
	if (why >= DKIM_R_COUNT)
		abort();
	dkim_keyrec_fini(&k);
}

/* verify_whole - input = message, "\0", key record */
static void
verify_whole(const char *p, size_t n)
{
	const char *nul = memchr(p, '\0', n);
	size_t mlen = nul ? (size_t)(nul - p) : n, i;
	const char *rec = nul ? nul + 1 : "";
	size_t rlen = nul ? n - mlen - 1 : 0;
	struct dkim_verify_opts o = { .now = 1528637909 };
	struct dkim_verify *v = dkim_verify_new(&o);

	if (dkim_verify_message(v, p, mlen) == 0) {
		for (i = 0; i < dkim_verify_nqueries(v); i++) {
			if (i % 3 == 2)
				dkim_verify_key_answer(v, i, DKIM_KEY_TEMPFAIL,
				    NULL, NULL, 0);
			else
				dkim_verify_key_answer(v, i, DKIM_KEY_FOUND,
				    &rec, &rlen, 1);
		}
		if (!dkim_verify_done(v))
			abort();
		for (i = 0; i < dkim_verify_nsigs(v); i++)
			if (dkim_verify_sig(v, i)->result == DKIM_RESULT_NONE)
				abort();
	}
	dkim_verify_free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p;

	if (size > 65536)
		return 0;
	/* A copy of exactly size bytes: overreads are caught. */
	p = malloc(size ? size : 1);
	memcpy(p, data, size);
	parse_alone(p, size);
	verify_whole(p, size);
	free(p);
	return 0;
}
