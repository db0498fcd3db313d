/*
 * fuzz_dmarc_record - the DMARC record parser, the strict From parser,
 * and the discovery machine fed fuzzed TXT answers.  The first byte
 * picks which; the rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* record - parse; the result and the error field must agree */
static void
record(const char *p, size_t n)
{
	struct dmarc_record r;
	size_t i;
	int rc;

	rc = dmarc_record_parse(&r, p, n);
	if ((rc == 0) != (r.error == DMARC_REC_OK))
		abort();
	if (r.pct < 0 || r.pct > 100 || r.nrua > DMARC_URIS_MAX ||
	    r.nruf > DMARC_URIS_MAX)
		abort();
	for (i = 0; i < r.nrua; i++)
		if (r.rua[i].uri == NULL || strchr(r.rua[i].uri, ',') != NULL)
			abort();
	if (rc == 0 && !dmarc_is_record(p, n))
		abort();
	dmarc_record_fini(&r);
}

/* from - a domain only with status OK, and then a plain host name */
static void
from(const char *p, size_t n)
{
	char out[DMARC_DOMAIN_MAX + 1];
	enum dmarc_from_status st;
	size_t i;
	int rc;

	rc = dmarc_from_domain(p, n, out, sizeof(out), &st);
	if ((rc == 0) != (st == DMARC_FROM_OK))
		abort();
	if (rc != 0 && out[0] != '\0')
		abort();
	for (i = 0; rc == 0 && out[i]; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') ||
		    (out[i] >= '0' && out[i] <= '9') || out[i] == '-' ||
		    out[i] == '_' || out[i] == '.'))
			abort();
	if (rc == 0 && out[0] == '\0')
		abort();
}

/* machine - every TXT query answered with the input split at NULs; a
   fixed, bounded number of steps */
static void
machine(const char *p, size_t n)
{
	struct dmarc_params prm;
	struct dmarc_auth dk = { "mail.example.com", true, false };
	struct dmarc_eval *e;
	struct dmarc_query q;
	const struct dmarc_verdict *v;
	const char *txt[4];
	size_t len[4], k = 0, start = 0, i, steps = 0;

	for (i = 0; i <= n && k < 4; i++)
		if (i == n || p[i] == '\0') {
			txt[k] = p + start;
			len[k++] = i - start;
			start = i + 1;
		}
	memset(&prm, 0, sizeof(prm));
	prm.from_domain = "a.b.c.d.e.f.g.h.i.mail.example.com";
	prm.spf.domain = "example.com";
	prm.spf.pass = n & 1;
	prm.dkim = &dk;
	prm.ndkim = 1;
	prm.sample = (unsigned)(n % 100);
	e = dmarc_eval_new(&prm);
	while (dmarc_eval_next(e, &q) == DMARC_NEED_DNS) {
		if (++steps > 64)
			abort();	/* the query budget must hold */
		if (q.type == DNS_T_TXT)
			dmarc_eval_answer(e, DNS_OK, txt, len, k);
		else
			dmarc_eval_answer(e, DNS_NXDOMAIN, NULL, NULL, 0);
	}
	v = dmarc_eval_verdict(e);
	if (v->result == DMARC_RESULT_PASS && !v->spf_aligned &&
	    !v->dkim_aligned)
		abort();
	dmarc_eval_free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		record((const char *)data + 1, size - 1);
		break;
	case 1:
		from((const char *)data + 1, size - 1);
		break;
	default:
		machine((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
