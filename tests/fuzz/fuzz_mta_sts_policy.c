/*
 * fuzz_mta_sts_policy - the MTA-STS policy parser (RFC 8461 3.2) of
 * smtpsctl check, and mx pattern matching of the patterns it keeps
 * against host names taken from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_sts_policy p;
	const char *why = NULL;
	char host[300];
	size_t i, n;
	int rc;

	rc = mta_sts_policy_parse(&p, (const char *)data, size, &why);
	/* The verdict and its reason agree. */
	if ((rc == 0) != (why == NULL) || (rc != 0 && rc != E_SYNTAX))
		abort();
	if (p.nmx > MTA_STS_MX_MAX || p.max_age < -1 ||
	    p.max_age > MTA_STS_MAX_AGE_MAX)
		abort();
	if (rc == 0 && (p.mode == MTA_STS_MODE_UNSET || p.max_age < 0 ||
	    (p.nmx == 0 && p.mode != MTA_STS_MODE_NONE)))
		abort();
	/* The input's first line, as a host name, against every pattern;
	   a pattern without a wildcard always matches itself. */
	n = 0;
	while (n < size && n < sizeof(host) - 1 && data[n] != '\n' &&
	    data[n] != '\0')
		n++;
	memcpy(host, data, n);
	host[n] = '\0';
	for (i = 0; i < p.nmx; i++) {
		if (p.mx[i] == NULL || strlen(p.mx[i]) == 0)
			abort();
		(void)mta_sts_mx_match(p.mx[i], host);
		if (p.mx[i][0] != '*' && !mta_sts_mx_match(p.mx[i], p.mx[i]))
			abort();
	}
	mta_sts_policy_fini(&p);
	return 0;
}
