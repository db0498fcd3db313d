/* fuzz_msg_from - the From: extractor on any header bytes */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/from.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *addr = NULL;
	const char *why = NULL;
	int r;

	r = msg_from_extract((const char *)data, size, &addr, &why);
	/* an answer is one address with one '@', never a partial one */
	if ((r == 0) != (addr != NULL))
		abort();
	if (r == 0 && (strchr(addr, '@') == NULL || why != NULL))
		abort();
	if (r != 0 && why == NULL)
		abort();
	free(addr);
	addr = NULL;
	r = msg_from_parse((const char *)data, size, &addr, NULL);
	if ((r == 0) != (addr != NULL))
		abort();
	free(addr);
	return 0;
}
