/* fuzz_spf_record - the SPF record parser, the macro expander and a whole
   evaluation over a small table must never crash, hang or leak */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "mailauth/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
done(void *arg, struct spf *s)
{
	*(int *)arg += 1;
}

/* evaluate - the input as the record of f.example, seen from ip */
static void
evaluate(const char *rec, size_t len, const char *ip)
{
	static const uint8_t a4[4] = { 192, 0, 2, 1 };
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct dns_resolver *r = dns_resolver_new_table();
	const char *strs[] = { rec };
	const char *inc = "v=spf1 a mx ptr exists:%{i}.x.f.example ?all";
	const char *exp = "%{l} at %{c} via %{r} on %{t}: %{p}";
	struct spf_params p = { .ip = ip, .helo = "h.f.example",
	    .mail_from = "Some.One-x@f.example", .receiver = "mx.example",
	    .now = 1 };
	struct spf *s;
	int calls = 0;

	dns_table_add_txt_len(r, "f.example", strs, &len, 1);
	dns_table_add_txt(r, "i.f.example", &inc, 1);
	dns_table_add_txt(r, "e.f.example", &exp, 1);
	dns_table_add_addr(r, "f.example", AF_INET, a4);
	dns_table_add_addr(r, "f.example", AF_INET6, a6);
	dns_table_add_mx(r, "f.example", 10, "f.example");
	dns_table_add_name(r, "1.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "f.example");
	dns_table_set_timeout(r, "t.f.example");
	if (spf_new(&s, &p) == 0) {
		spf_run(s, r, done, &calls);
		dns_resolver_wait(r);
		if (calls != 1)
			abort();
		spf_free(s);
	}
	dns_resolver_free(r);
}

/* take - the next n bytes of the input, or NULL when it runs out */
static const uint8_t *
take(const uint8_t **p, size_t *left, size_t n)
{
	const uint8_t *r = *p;

	if (*left < n)
		return NULL;
	*p += n;
	*left -= n;
	return r;
}

/*
 * answered_by_bytes - a machine whose every DNS answer is made of input
 * bytes: status, record count, then per record a type and its data, so
 * the evaluation meets answers no resolver would give (wrong types,
 * missing names, empty strings).
 */
static void
answered_by_bytes(const uint8_t *p, size_t left)
{
	static const uint16_t types[] = { DNS_T_A, DNS_T_AAAA, DNS_T_MX,
	    DNS_T_TXT, DNS_T_PTR, DNS_T_CNAME };
	struct spf_params sp = { .ip = "192.0.2.1", .helo = "h.example",
	    .mail_from = "a@f.example", .receiver = "r.example" };
	struct spf *s;
	struct spf_query q;
	char names[8][64], texts[8][256];
	int steps = 0;

	if (spf_new(&s, &sp) != 0)
		return;
	while (spf_next(s, &q) == SPF_STEP_QUERY) {
		struct dns_answer a = { .status = DNS_OK };
		struct dns_rr rrs[8];
		const uint8_t *b;
		size_t i, n;

		/* Each answer is a new (name, type): the machine ends within
		   its 512-answer bound, whatever it is told. */
		if (++steps > 600)
			abort();
		memset(rrs, 0, sizeof(rrs));
		if ((b = take(&p, &left, 2)) == NULL) {
			a.status = DNS_NXDOMAIN;
			spf_answer(s, &a);
			continue;
		}
		a.status = (enum dns_status)(b[0] % 6);
		n = b[1] % 9;
		for (i = 0; i < n; i++) {
			const uint8_t *t = take(&p, &left, 2), *d;
			size_t len;

			if (t == NULL)
				break;
			rrs[i].type = types[t[0] % 6];
			len = t[1] % 64;
			if ((d = take(&p, &left, len)) == NULL)
				break;
			memcpy(rrs[i].addr, d, len < 16 ? len : 16);
			rrs[i].pref = (uint16_t)len;
			memcpy(names[i], d, len);
			names[i][len] = '\0';
			rrs[i].name = t[0] & 0x80 ? NULL : names[i];
			memcpy(texts[i], d, len);
			texts[i][len] = '\0';
			rrs[i].txt = texts[i];
			rrs[i].txt_len = len;
		}
		a.rrs = rrs;
		a.nrrs = i;
		spf_answer(s, &a);
	}
	spf_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spf_params p = { .ip = "2001:db8::1", .helo = "h.example",
	    .mail_from = "a-b.c@d.example", .receiver = "r.example" };
	struct buf b;
	char *rec;

	if (size > 4096)
		return 0;
	(void)spf_record_check((const char *)data, size);
	buf_init(&b, 65536);
	(void)spf_expand(&p, "d.example", (const char *)data, size, false,
	    &b);
	buf_reset(&b);
	(void)spf_expand(&p, "d.example", (const char *)data, size, true, &b);
	buf_fini(&b);

	rec = malloc(size + 8);
	memcpy(rec, "v=spf1 ", 7);
	memcpy(rec + 7, data, size);
	rec[size + 7] = '\0';
	(void)spf_record_check(rec, size + 7);
	evaluate(rec, size + 7, "192.0.2.1");
	evaluate(rec, size + 7, "2001:db8::2");
	free(rec);
	answered_by_bytes(data, size);
	return 0;
}
