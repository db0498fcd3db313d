/* fuzz_received - the Received parser on any bytes */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/received_parse.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* clean - a result string never holds a control character */
static void
clean(const char *s)
{
	if (s == NULL)
		return;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct received r;
	long long t;
	int rc;

	rc = received_parse(&r, (const char *)data, size);
	if (rc != 0 && rc != E_SYNTAX && rc != E_LIMIT)
		abort();
	if (rc == E_LIMIT && (size <= RECEIVED_MAX_VALUE || r.from != NULL))
		abort();
	/* a version or cipher is only ever read as evidence of TLS */
	if ((r.tls_version != NULL || r.cipher != NULL) &&
	    r.tls != RECEIVED_TLS_YES)
		abort();
	if (r.has_date && r.date_text == NULL)
		abort();
	clean(r.from);
	clean(r.from_ip);
	clean(r.by);
	clean(r.protocol);
	clean(r.id);
	clean(r.for_addr);
	clean(r.date_text);
	clean(r.tls_version);
	clean(r.cipher);
	received_fini(&r);
	(void)received_parse_date((const char *)data, size, &t);
	return 0;
}
