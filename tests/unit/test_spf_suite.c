/*
 * test_spf_suite - every test of the SPF project's RFC 7208 suite
 * (tests/data/spf/rfc7208-tests-2014-05.yml, 193 tests), run through the
 * SPF machine on the table resolver.
 *
 * The YAML is turned into tests/data/spf/rfc7208-tests.txt by
 * tests/data/spf/yaml2tests.py (see its header for the line format); an
 * integration test checks the committed file is what the script makes.
 * A test passes when the result is one of those it lists and, where it
 * names an explanation, the explanation matches: "DEFAULT" means no exp=
 * text was produced.  Explanations compare without regard to case: the
 * suite writes the %{i} nibbles of CAFE:BABE::1 in upper case, and DNS
 * names are case-insensitive.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "testlib.h"
#include "dns/dns.h"
#include "mailauth/spf.h"
#include "util/xmalloc.h"

#define SUITE_FILE	"tests/data/spf/rfc7208-tests.txt"
#define MAX_FIELDS	32

/* unescape - decode \xHH in place; the decoded length */
static size_t
unescape(char *s)
{
	size_t i = 0, o = 0;

	while (s[i]) {
		if (s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] && s[i + 3]) {
			char hex[3] = { s[i + 2], s[i + 3], 0 };

			s[o++] = (char)strtol(hex, NULL, 16);
			i += 4;
		} else
			s[o++] = s[i++];
	}
	s[o] = '\0';
	return o;
}

/* split - split a line on TABs, unescaping each field */
static size_t
split(char *line, char **f, size_t *len)
{
	size_t n = 0;
	char *p = line, *tab;

	for (;;) {
		if (n == MAX_FIELDS)
			return n;
		f[n] = p;
		tab = strchr(p, '\t');
		if (tab)
			*tab = '\0';
		len[n] = unescape(f[n]);
		n++;
		if (!tab)
			return n;
		p = tab + 1;
	}
}

/* load_zone - feed one "Z" line into the table */
static int
load_zone(struct dns_resolver *r, char **f, size_t *len, size_t n)
{
	uint8_t a[16];

	if (n < 3)
		return -1;
	if (strcmp(f[2], "TXT") == 0 && n >= 4) {
		dns_table_add_txt_len(r, f[1], (const char *const *)&f[3],
		    &len[3], n - 3);
	} else if (strcmp(f[2], "A") == 0 && n == 4 &&
	    inet_pton(AF_INET, f[3], a) == 1) {
		dns_table_add_addr(r, f[1], AF_INET, a);
	} else if (strcmp(f[2], "AAAA") == 0 && n == 4 &&
	    inet_pton(AF_INET6, f[3], a) == 1) {
		dns_table_add_addr(r, f[1], AF_INET6, a);
	} else if (strcmp(f[2], "MX") == 0 && n == 5) {
		dns_table_add_mx(r, f[1], (uint16_t)strtoul(f[3], NULL, 10),
		    f[4]);
	} else if (strcmp(f[2], "PTR") == 0 && n == 4) {
		dns_table_add_name(r, f[1], DNS_T_PTR, f[3]);
	} else if (strcmp(f[2], "CNAME") == 0 && n == 4) {
		dns_table_add_name(r, f[1], DNS_T_CNAME, f[3]);
	} else if (strcmp(f[2], "TIMEOUT") == 0) {
		dns_table_set_timeout_empty(r, f[1]);
	} else if (strcmp(f[2], "EXISTS") == 0) {
		dns_table_set_exists(r, f[1]);
	} else
		return -1;
	return 0;
}

struct run {
	bool done;
};

static void
on_done(void *arg, struct spf *s)
{
	((struct run *)arg)->done = true;
}

/* result_listed - is got one of the comma-separated results? */
static bool
result_listed(const char *got, const char *list)
{
	size_t gl = strlen(got);
	const char *p = list;

	while (*p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		while (l > 0 && *p == ' ') {
			p++;
			l--;
		}
		if (l == gl && strncmp(p, got, l) == 0)
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}

/* run_test - one "T" line against the zone lines of its scenario */
static void
run_test(char **zone, size_t nzone, char **f, size_t n)
{
	struct dns_resolver *r = dns_resolver_new_table();
	struct spf_params p = { 0 };
	char *zf[MAX_FIELDS], label[256];
	size_t zl[MAX_FIELDS], i, zn;
	struct spf *s = NULL;
	struct run run = { false };
	const char *got, *exp;

	snprintf(label, sizeof(label), "rfc7208 %s (%s)", f[1], f[2]);
	for (i = 0; i < nzone; i++) {
		char *copy = xstrdup(zone[i]);

		zn = split(copy, zf, zl);
		if (load_zone(r, zf, zl, zn) != 0)
			printf("bad zone line in %s: %s\n", label, zone[i]);
		free(copy);
	}
	p.ip = f[3];
	p.helo = f[4];
	p.mail_from = f[5];
	p.receiver = "receiver.example";
	p.now = 1400000000;
	p.identity = SPF_ID_MAILFROM;
	if (spf_new(&s, &p) != 0) {
		t_result(0, __FILE__, __LINE__, label, "bad ip", f[3]);
		dns_resolver_free(r);
		return;
	}
	spf_run(s, r, on_done, &run);
	dns_resolver_wait(r);
	got = run.done ? spf_result_str(spf_result(s)) : "(not finished)";
	exp = spf_explanation(s);
	if (!result_listed(got, f[6])) {
		char why[600];

		snprintf(why, sizeof(why), "%s [%s]", got,
		    spf_problem(s) ? spf_problem(s) : "");
		t_result(0, __FILE__, __LINE__, label, why, f[6]);
	} else if (n > 7 && f[7][0] != '\0') {
		bool ok;

		if (strcmp(f[7], "DEFAULT") == 0)
			ok = exp == NULL;
		else
			ok = exp != NULL && strcasecmp(exp, f[7]) == 0;
		t_result(ok, __FILE__, __LINE__, label,
		    exp ? exp : "(no explanation)", f[7]);
	} else
		t_result(1, __FILE__, __LINE__, label, NULL, NULL);
	spf_free(s);
	dns_resolver_free(r);
}

int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : SUITE_FILE;
	FILE *fp = fopen(path, "r");
	char *line = NULL, **zone = NULL, *f[MAX_FIELDS];
	size_t cap = 0, nzone = 0, len[MAX_FIELDS], n, i, tests = 0;
	ssize_t got;

	if (fp == NULL) {
		printf("FAIL cannot open %s\n", path);
		return test_done() + 1;
	}
	while ((got = getline(&line, &cap, fp)) > 0) {
		if (line[got - 1] == '\n')
			line[--got] = '\0';
		if (line[0] == 'Z') {
			zone = xrealloc(zone, (nzone + 1) * sizeof(*zone));
			zone[nzone++] = xstrdup(line);
			continue;
		}
		if (line[0] == 'S') {
			for (i = 0; i < nzone; i++)
				free(zone[i]);
			nzone = 0;
			continue;
		}
		n = split(line, f, len);
		if (f[0][0] == 'T' && n >= 7) {
			run_test(zone, nzone, f, n);
			tests++;
		}
	}
	for (i = 0; i < nzone; i++)
		free(zone[i]);
	free(zone);
	free(line);
	fclose(fp);
	/* The suite has 193 tests; a short file must not pass quietly. */
	CHECK_INT(tests, 193, "rfc7208 suite: every test was run");
	return test_done();
}
