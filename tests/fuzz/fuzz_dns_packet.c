/* fuzz_dns_packet - the DNS wire-format parser on arbitrary messages */
#include <stdint.h>
#include <stdlib.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX,
	    DNS_T_TXT, DNS_T_PTR, DNS_T_CNAME, DNS_T_NS, DNS_T_TLSA,
	    DNS_T_SPF };
	struct dns_answer a;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		dns_parse_packet(data, size, types[i], &a);
		dns_answer_fini(&a);
	}
	return 0;
}
