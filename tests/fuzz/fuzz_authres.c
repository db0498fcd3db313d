/*
 * fuzz_authres - parse any Authentication-Results value; whatever parses
 * is formatted again, must stay within its lines' rules (no bare CR or
 * LF, each resinfo intact), and must parse back to the same facts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/authres.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authres ar, back;
	struct buf out;
	const char *s;
	size_t i, j;

	if (authres_parse(&ar, (const char *)data, size) != 0) {
		authres_fini(&ar);
		return 0;
	}
	if (ar.authserv_id == NULL || (ar.nres == 0 && !ar.none))
		abort();
	buf_init(&out, 1 << 20);
	if (authres_format(&ar, &out) != 0)
		abort();
	s = buf_cstr(&out);
	/* Every LF is part of a CRLF followed by a tab: no injected field. */
	for (i = 0; s[i]; i++)
		if ((s[i] == '\n' && (i == 0 || s[i - 1] != '\r' ||
		    (s[i + 1] != '\t' && s[i + 1] != '\0'))) ||
		    (s[i] == '\r' && s[i + 1] != '\n'))
			abort();
	if (authres_parse(&back, strchr(s, ':') + 1,
	    strlen(strchr(s, ':') + 1)) != 0)
		abort();
	if (back.nres != ar.nres)
		abort();
	for (i = 0; i < ar.nres; i++) {
		if (!same(back.res[i].method, ar.res[i].method) ||
		    !same(back.res[i].result, ar.res[i].result) ||
		    back.res[i].nprops != ar.res[i].nprops)
			abort();
		for (j = 0; j < ar.res[i].nprops; j++)
			if (!same(back.res[i].props[j].property,
			    ar.res[i].props[j].property))
				abort();
	}
	authres_fini(&back);
	authres_fini(&ar);
	buf_fini(&out);
	return 0;
}
