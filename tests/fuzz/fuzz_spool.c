/*
 * fuzz_spool - the spool file parser fed arbitrary bytes.
 *
 * Whatever the bytes, spool_parse() must either reject them or return a
 * message that keeps the spool's promises: at least one recipient, no CR,
 * LF or NUL in an envelope field, the message inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/crc32c.h"
#include "queue/spool.h"

/* The queue id the images are read under (version 2 checksums cover it). */
#define FUZZ_ID "1LGNI0FMAEE00FJH"

/* field_clean - no CR or LF (a C string has no NUL inside) */
static void
field_clean(const char *s)
{
	if (s == NULL)
		return;
	if (strchr(s, '\r') != NULL || strchr(s, '\n') != NULL ||
	    strlen(s) > SPOOL_FIELD_MAX)
		abort();
}

/* check - parse one image and verify what came back */
static void
check(const uint8_t *data, size_t size)
{
	struct spool_message m;
	const char *why = NULL;
	size_t i;

	if (spool_parse(data, size, FUZZ_ID, &m, &why) != 0) {
		if (why == NULL)
			abort();
		return;
	}
	if (m.env.nrcpts == 0 || m.env.mail_from == NULL)
		abort();
	field_clean(m.env.mail_from);
	for (i = 0; i < m.env.nrcpts; i++)
		field_clean(m.env.rcpts[i]);
	field_clean(m.env.helo);
	field_clean(m.env.client_ip);
	field_clean(m.env.auth_user);
	field_clean(m.env.protocol);
	if ((const uint8_t *)m.msg < data ||
	    (const uint8_t *)m.msg + m.msg_len > data + size)
		abort();
	spool_message_fini(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;
	uint32_t c;

	check(data, size);
	/* Random bytes almost never carry a valid checksum, which would
	   keep the fuzzer at the front door: also try the input with its
	   END checksum fixed, so framing and fields are explored. */
	if (size >= 9 && size < (1u << 20)) {
		sealed = malloc(size);
		if (sealed == NULL)
			return 0;
		memcpy(sealed, data, size);
		/* version 2 (the id first) or 1, as the image says */
		c = crc32c(size > 9 && sealed[8] == 1 ? 0 :
		    crc32c(0, FUZZ_ID, strlen(FUZZ_ID)), sealed, size - 9);
		sealed[size - 9] = 255;
		sealed[size - 8] = 0;
		sealed[size - 7] = 0;
		sealed[size - 6] = 0;
		sealed[size - 5] = 4;
		sealed[size - 4] = (uint8_t)(c >> 24);
		sealed[size - 3] = (uint8_t)(c >> 16);
		sealed[size - 2] = (uint8_t)(c >> 8);
		sealed[size - 1] = (uint8_t)c;
		check(sealed, size);
		free(sealed);
	}
	return 0;
}
