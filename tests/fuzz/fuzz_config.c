/* fuzz_config - the configuration parser must never crash or leak */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL, *c2 = NULL;
	char *text, *err = NULL, *printed = NULL;
	size_t plen = 0;
	FILE *f;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_text(&c, "fuzz.conf", text, &err) == 0) {
		/* whatever loads must print as text that loads again */
		if ((f = open_memstream(&printed, &plen)) != NULL) {
			config_print(c, f);
			fclose(f);
			free(err);
			err = NULL;
			if (config_load_text(&c2, "again.conf", printed,
			    &err) != 0)
				abort();
			(void)config_sender_allowed(c2, "demo", "demo@x.test");
			(void)config_mailbox_exists(c2, "a@b.test");
		}
	}
	free(printed);
	free(err);
	config_free(c);
	config_free(c2);
	free(text);
	return 0;
}
