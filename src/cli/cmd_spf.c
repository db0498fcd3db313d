/*
 * cli/cmd_spf.c - smtpsctl spf: evaluate SPF (RFC 7208) for one client.
 *
 *	smtpsctl spf --ip IP --helo NAME --mail-from ADDR
 *	    [--identity mailfrom|helo] [--receiver NAME] [--resolver ADDR[@PORT]]
 *	    [--timeout MS] [--header] [--json]
 *
 * Prints the Authentication-Results resinfo ("spf=pass
 * smtp.mailfrom=example.com"), then "explanation: TEXT" when the domain's
 * exp= gave one, then "problem: TEXT" for permerror/temperror, and with
 * --header the Received-SPF header field.  --json prints one JSON object
 * with the same facts instead.  The resolver is --resolver, else
 * $SMTPSD_RESOLVER, else the system's (/etc/resolv.conf).  Exit status: 0
 * when SPF could be evaluated (whatever the result, temperror included),
 * 1 on a usage or input error, with a message naming the problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/json.h"
#include "dns/dns.h"
#include "mailauth/spf.h"
#include "util/buf.h"

#define SPF_CLI_MAX_OUT	8192

struct spf_cli {
	const char *ip, *helo, *mail_from, *resolver, *receiver;
	enum spf_identity identity;
	int timeout_ms;
	bool header, json;
	bool done;
};

/* usage - print the problem and the usage; the exit status */
static int
usage(const char *problem)
{
	fprintf(stderr, "smtpsctl spf: %s\n", problem);
	fprintf(stderr, "usage: smtpsctl spf --ip IP --helo NAME --mail-from "
	    "ADDR [--identity mailfrom|helo]\n"
	    "       [--receiver NAME] [--resolver ADDRESS[@PORT]] "
	    "[--timeout MS] [--header] [--json]\n");
	return 1;
}

/* jstr - append s as a JSON string (or null): cli/json.c escapes it
   (RFC 8259 7), keeping valid UTF-8 such as a U-label domain */
static void
jstr(struct buf *b, const char *s)
{
	struct json j;

	json_init(&j, b);
	json_str(&j, s);
}

/* on_done - the evaluation finished */
static void
on_done(void *arg, struct spf *s)
{
	((struct spf_cli *)arg)->done = true;
}

/* takes_value - is o one of the options that take a value? */
static bool
takes_value(const char *o)
{
	static const char *const opts[] = { "--ip", "--helo", "--mail-from",
	    "--resolver", "--receiver", "--identity", "--timeout" };
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(o, opts[i]) == 0)
			return true;
	return false;
}

/* parse_args - the options; 0 or the usage exit status */
static int
parse_args(struct spf_cli *c, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (strcmp(o, "--header") == 0) {
			c->header = true;
			takes = false;
		} else if (strcmp(o, "--json") == 0) {
			c->json = true;
			takes = false;
		} else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			usage("help");
			return 1;
		} else if (!takes_value(o)) {
			fprintf(stderr, "smtpsctl spf: unknown option '%s'\n",
			    o);
			return usage("unknown option");
		} else if (v == NULL) {
			fprintf(stderr, "smtpsctl spf: %s needs a value\n", o);
			return usage("missing option value");
		} else if (strcmp(o, "--ip") == 0)
			c->ip = v;
		else if (strcmp(o, "--helo") == 0)
			c->helo = v;
		else if (strcmp(o, "--mail-from") == 0)
			c->mail_from = v;
		else if (strcmp(o, "--resolver") == 0)
			c->resolver = v;
		else if (strcmp(o, "--receiver") == 0)
			c->receiver = v;
		else if (strcmp(o, "--identity") == 0) {
			if (strcmp(v, "mailfrom") == 0)
				c->identity = SPF_ID_MAILFROM;
			else if (strcmp(v, "helo") == 0)
				c->identity = SPF_ID_HELO;
			else
				return usage("--identity is mailfrom or helo");
		} else if (strcmp(o, "--timeout") == 0) {
			char *end;
			long ms = strtol(v, &end, 10);

			if (*v == '\0' || *end != '\0' || ms < 1 ||
			    ms > 600000)
				return usage("--timeout is 1 to 600000 ms");
			c->timeout_ms = (int)ms;
		}
		if (takes)
			i++;
	}
	if (c->ip == NULL)
		return usage("--ip is required");
	if (c->helo == NULL && c->mail_from == NULL)
		return usage("--helo or --mail-from is required");
	if (c->identity == SPF_ID_HELO && (c->helo == NULL || !*c->helo))
		return usage("--identity helo needs --helo");
	return 0;
}

/* cmd_spf - smtpsctl spf */
int
cmd_spf(int argc, char **argv)
{
	struct spf_cli c = { 0 };
	struct spf_params p = { 0 };
	struct dns_resolver *r = NULL;
	struct spf *s = NULL;
	struct buf out, hdr;
	char host[256], *err = NULL;
	int rc;

	c.identity = SPF_ID_MAILFROM;
	if ((rc = parse_args(&c, argc, argv)) != 0)
		return rc;
	if (c.resolver == NULL) {
		const char *env = getenv("SMTPSD_RESOLVER");

		if (env != NULL && *env != '\0')
			c.resolver = env;
	}
	if (c.receiver == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		c.receiver = host;
	}
	p.ip = c.ip;
	p.helo = c.helo;
	p.mail_from = c.mail_from ? c.mail_from : "";
	p.receiver = c.receiver;
	p.now = (int64_t)time(NULL);
	p.identity = c.identity;
	if (spf_new(&s, &p) != 0) {
		fprintf(stderr, "smtpsctl spf: --ip '%s' is not an IP address\n",
		    c.ip);
		return 1;
	}
	if (dns_resolver_new(&r, c.resolver, &err) != 0) {
		fprintf(stderr, "smtpsctl spf: %s\n", err ? err :
		    "cannot start the resolver");
		free(err);
		spf_free(s);
		return 1;
	}
	if (c.timeout_ms > 0)
		dns_set_timeout(r, c.timeout_ms);
	spf_run(s, r, on_done, &c);
	dns_resolver_wait(r);

	buf_init(&out, SPF_CLI_MAX_OUT);
	buf_init(&hdr, SPF_CLI_MAX_OUT);
	spf_received_header(s, &hdr);
	if (c.json) {
		struct buf ri;

		buf_init(&ri, SPF_CLI_MAX_OUT);
		spf_resinfo(s, &ri);
		buf_append_str(&out, "{\"result\":");
		jstr(&out, spf_result_str(spf_result(s)));
		buf_append_str(&out, ",\"identity\":");
		jstr(&out, c.identity == SPF_ID_HELO ? "helo" : "mailfrom");
		buf_append_str(&out, ",\"domain\":");
		jstr(&out, spf_domain(s));
		buf_append_str(&out, ",\"domain_ascii\":");
		jstr(&out, spf_domain_ascii(s));
		buf_append_str(&out, ",\"sender\":");
		jstr(&out, spf_sender(s));
		buf_append_str(&out, ",\"ip\":");
		jstr(&out, c.ip);
		buf_append_str(&out, ",\"explanation\":");
		jstr(&out, spf_explanation(s));
		buf_append_str(&out, ",\"problem\":");
		jstr(&out, spf_problem(s));
		buf_printf(&out, ",\"dns_terms\":%d", spf_dns_terms(s));
		buf_append_str(&out, ",\"resinfo\":");
		jstr(&out, buf_cstr(&ri));
		buf_append_str(&out, ",\"received_spf\":");
		jstr(&out, buf_cstr(&hdr));
		buf_append_str(&out, "}\n");
		buf_fini(&ri);
	} else {
		spf_resinfo(s, &out);
		buf_append(&out, "\n", 1);
		if (spf_explanation(s) != NULL)
			buf_printf(&out, "explanation: %s\n",
			    spf_explanation(s));
		if (spf_problem(s) != NULL)
			buf_printf(&out, "problem: %s\n", spf_problem(s));
		if (c.header)
			buf_printf(&out, "%s\n", buf_cstr(&hdr));
	}
	fwrite(buf_data(&out), 1, buf_size(&out), stdout);
	buf_fini(&out);
	buf_fini(&hdr);
	spf_free(s);
	dns_resolver_free(r);
	return 0;
}
