/* test_config - the configuration file: keywords, validation, print, lookups */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "testlib.h"
#include "util/err.h"

static char cwd[PATH_MAX];

/* abs - cwd + "/" + rel (static buffer, one at a time) */
static const char *
abs_of(const char *rel)
{
	static char out[PATH_MAX + 64];

	snprintf(out, sizeof(out), "%s/%s", cwd, rel);
	return out;
}

static const char full_text[] =
    "# every keyword once\n"
    "hostname mx.example.test\n"
    "spool-dir var/spool\n"
    "mail-dir ./var/mail/   # Maildir root\n"
    "passwd-file /etc/smtpsd/passwd\n"
    "user smtpsd\n"
    "workers 2\n"
    "resolver 127.0.0.1@5353\n"
    "listen 127.0.0.1:10025 mx\n"
    "listen [::1]:10465 submissions\n"
    "listen 0.0.0.0:587 submission\n"
    "certificate var/tls/cert.pem var/tls/key.pem\n"
    "certificate \"/etc/tls dir/ec.pem\" /etc/tls/ec.key\n"
    "local-domain localhost Example.TEST\n"
    "local-domain example.org\n"
    "\tmailbox Demo@example.test   postmaster@localhost\n"
    "mailbox x@example.org\n"
    "grant demo demo@example.test @example.org\n"
    "grant Alice@Example.Test alice@EXAMPLE.test\r\n"
    "limit command-line 1024\n"
    "limit text-line 2000\n"
    "limit auth-line 20000\n"
    "limit header-size 100000\n"
    "limit message-size 1000000\n"
    "limit recipients 250\n"
    "limit errors 5\n"
    "limit auth-failures 4\n"
    "timeout command 60\n"
    "timeout data 120\n"
    "min-data-rate 0\n"
    "max-connections-per-ip 7\n"
    "max-connections 900\n"
    "auth-delay-ms 250\n"
    "scheduling normal\n";

static void
test_every_keyword(void)
{
	struct config *c = NULL;
	char *err = NULL;
	char want[PATH_MAX + 64];

	CHECK_INT(config_load_text(&c, "full.conf", full_text, &err), 0,
	    "full config loads");
	CHECK_STR(err, NULL, "no error text");
	if (c == NULL)
		return;
	CHECK_STR(c->file, "full.conf", "file name kept");
	CHECK_STR(c->hostname, "mx.example.test", "hostname");
	CHECK_STR(c->spool_dir, abs_of("var/spool"), "spool-dir made absolute");
	CHECK_STR(c->mail_dir, abs_of("var/mail"),
	    "mail-dir: ./ and trailing / dropped");
	CHECK_STR(c->passwd_file, "/etc/smtpsd/passwd", "passwd-file absolute");
	CHECK_STR(c->user, "smtpsd", "user");
	CHECK_INT(c->workers, 2, "workers");
	CHECK_INT(c->sched, CONFIG_SCHED_NORMAL, "scheduling normal");
	CHECK_STR(c->resolver, "127.0.0.1@5353", "resolver");
	CHECK_INT(c->nlistens, 3, "three listens");
	if (c->nlistens == 3) {
		CHECK_STR(c->listens[0].address, "127.0.0.1", "listen 1 addr");
		CHECK_INT(c->listens[0].port, 10025, "listen 1 port");
		CHECK_INT(c->listens[0].role, SMTP_ROLE_MX, "listen 1 role");
		CHECK_INT(c->listens[0].line, 9, "listen 1 line");
		CHECK_STR(c->listens[1].address, "::1", "listen 2 IPv6 addr");
		CHECK_INT(c->listens[1].port, 10465, "listen 2 port");
		CHECK_INT(c->listens[1].role, SMTP_ROLE_SUBMISSIONS,
		    "listen 2 role");
		CHECK_STR(c->listens[2].address, "0.0.0.0", "listen 3 addr");
		CHECK_INT(c->listens[2].role, SMTP_ROLE_SUBMISSION,
		    "listen 3 role");
	}
	CHECK_INT(c->ncerts, 2, "two certificates");
	if (c->ncerts == 2) {
		snprintf(want, sizeof(want), "%s", abs_of("var/tls/cert.pem"));
		CHECK_STR(c->certs[0].cert_file, want, "cert file absolute");
		CHECK_STR(c->certs[0].key_file, abs_of("var/tls/key.pem"),
		    "key file absolute");
		CHECK_INT(c->certs[0].line, 12, "cert line");
		CHECK_STR(c->certs[1].cert_file, "/etc/tls dir/ec.pem",
		    "quoted argument with a blank");
		CHECK_STR(c->certs[1].key_file, "/etc/tls/ec.key", "second key");
	}
	CHECK_INT(c->nlocal_domains, 3, "local domains over two lines");
	if (c->nlocal_domains == 3) {
		CHECK_STR(c->local_domains[0], "localhost", "local-domain 1");
		CHECK_STR(c->local_domains[1], "example.test",
		    "local-domain lower-cased");
		CHECK_STR(c->local_domains[2], "example.org", "local-domain 3");
	}
	CHECK_INT(c->nmailboxes, 3, "mailboxes");
	if (c->nmailboxes == 3)
		CHECK_STR(c->mailboxes[0].address, "demo@example.test",
		    "mailbox lower-cased");
	CHECK_INT(c->ngrants, 2, "grants");
	if (c->ngrants == 2) {
		CHECK_STR(c->grants[0].user, "demo", "grant user");
		CHECK_INT(c->grants[0].npatterns, 2, "grant patterns");
		CHECK_STR(c->grants[0].patterns[1], "@example.org",
		    "domain pattern");
		CHECK_STR(c->grants[1].user, "Alice@Example.Test",
		    "grant user kept as written");
		CHECK_STR(c->grants[1].patterns[0], "alice@example.test",
		    "pattern domain lower-cased");
	}
	CHECK_INT(c->limits.cmd_line, 1024, "limit command-line");
	CHECK_INT(c->limits.text_line, 2000, "limit text-line");
	CHECK_INT(c->limits.auth_line, 20000, "limit auth-line");
	CHECK_INT(c->limits.header_size, 100000, "limit header-size");
	CHECK_INT(c->limits.message_size, 1000000, "limit message-size");
	CHECK_INT(c->limits.rcpts, 250, "limit recipients");
	CHECK_INT(c->limits.errors, 5, "limit errors");
	CHECK_INT(c->limits.auth_failures, 4, "limit auth-failures");
	CHECK_INT(c->timeout_command, 60, "timeout command");
	CHECK_INT(c->timeout_data, 120, "timeout data");
	CHECK_INT(c->min_data_rate, 0, "min-data-rate");
	CHECK_INT(c->max_conn_per_ip, 7, "max-connections-per-ip");
	CHECK_INT(c->max_connections, 900, "max-connections");
	CHECK_INT(c->auth_delay_ms, 250, "auth-delay-ms");
	config_free(c);
	config_free(NULL);
}

static void
test_defaults(void)
{
	struct config *c = NULL;
	char *err = NULL;

	CHECK_INT(config_load_text(&c, "min.conf",
	    "listen 127.0.0.1:25 mx\n", &err), 0, "minimal config loads");
	if (c == NULL)
		return;
	CHECK(c->hostname != NULL && c->hostname[0] != '\0',
	    "default hostname");
	CHECK_STR(c->spool_dir, "/var/spool/smtpsd", "default spool-dir");
	CHECK_STR(c->mail_dir, "/var/mail/vhosts", "default mail-dir");
	CHECK_STR(c->passwd_file, NULL, "no default passwd-file");
	CHECK_STR(c->user, NULL, "no default user");
	CHECK_STR(c->resolver, NULL, "no default resolver");
	CHECK_INT(c->workers, 0, "default workers");
	CHECK_INT(c->sched, CONFIG_SCHED_BATCH, "default scheduling batch");
	CHECK_INT(c->ncerts, 0, "no default certificate");
	CHECK_INT(c->limits.cmd_line, 512, "default command-line");
	CHECK_INT(c->limits.text_line, 1000, "default text-line");
	CHECK_INT(c->limits.auth_line, 12288, "default auth-line");
	CHECK_INT(c->limits.header_size, 262144, "default header-size");
	CHECK_INT(c->limits.message_size, 26214400, "default message-size");
	CHECK_INT(c->limits.rcpts, 100, "default recipients");
	CHECK_INT(c->limits.errors, 10, "default errors");
	CHECK_INT(c->limits.auth_failures, 3, "default auth-failures");
	CHECK_INT(c->timeout_command, 300, "default timeout command");
	CHECK_INT(c->timeout_data, 600, "default timeout data");
	CHECK_INT(c->min_data_rate, 100, "default min-data-rate");
	CHECK_INT(c->max_conn_per_ip, 20, "default max-connections-per-ip");
	CHECK_INT(c->max_connections, 20000, "default max-connections");
	CHECK_INT(c->auth_delay_ms, 1000, "default auth-delay-ms");
	config_free(c);
}

#define L25 "listen 127.0.0.1:25 mx\n"
#define TLS "certificate c.pem k.pem\n"

static const struct {
	const char *name, *text, *err;
	int rc;
} bad[] = {
	{ "unknown keyword", L25 "\nfoo bar\n",
	    "t.conf:3: unknown keyword \"foo\"", E_SYNTAX },
	{ "keyword is case-sensitive", "Hostname x.test\n" L25,
	    "t.conf:1: unknown keyword \"Hostname\"", E_SYNTAX },
	{ "hostname without argument", L25 "hostname\n",
	    "t.conf:2: wrong number of arguments for hostname (usage: "
	    "hostname NAME)", E_SYNTAX },
	{ "hostname with two arguments", "hostname a.test b.test\n",
	    "t.conf:1: wrong number of arguments for hostname (usage: "
	    "hostname NAME)", E_SYNTAX },
	{ "listen with one argument", "listen 127.0.0.1:25\n",
	    "t.conf:1: wrong number of arguments for listen (usage: listen "
	    "ADDRESS:PORT ROLE)", E_SYNTAX },
	{ "certificate with one file", L25 "certificate c.pem\n",
	    "t.conf:2: wrong number of arguments for certificate (usage: "
	    "certificate CERT-FILE KEY-FILE)", E_SYNTAX },
	{ "certificate with an empty key", L25 "certificate c.pem \"\"\n",
	    "t.conf:2: certificate: empty file name", E_INVAL },
	{ "local-domain without argument", L25 "local-domain\n",
	    "t.conf:2: wrong number of arguments for local-domain (usage: "
	    "local-domain DOMAIN...)", E_SYNTAX },
	{ "grant without pattern", L25 "grant demo\n",
	    "t.conf:2: wrong number of arguments for grant (usage: grant "
	    "USER PATTERN...)", E_SYNTAX },
	{ "limit without value", L25 "limit recipients\n",
	    "t.conf:2: wrong number of arguments for limit (usage: limit "
	    "NAME N)", E_SYNTAX },
	{ "timeout with three arguments", L25 "timeout data 1 2\n",
	    "t.conf:2: wrong number of arguments for timeout (usage: timeout "
	    "command|data SECONDS)", E_SYNTAX },
	{ "unterminated quote", L25 "spool-dir \"/var/spool\n",
	    "t.conf:2: unterminated quoted string", E_SYNTAX },
	{ "control character", L25 "hostname a\x01.test\n",
	    "t.conf:2: control character in line", E_SYNTAX },
	{ "recipients below RFC 5321 minimum", L25 "limit recipients 99\n",
	    "t.conf:2: limit recipients: bad value \"99\" (want a number from "
	    "100 to 1000000)", E_INVAL },
	{ "command-line below 512", L25 "limit command-line 511\n",
	    "t.conf:2: limit command-line: bad value \"511\" (want a number "
	    "from 512 to 65536)", E_INVAL },
	{ "text-line below 1000", L25 "limit text-line 998\n",
	    "t.conf:2: limit text-line: bad value \"998\" (want a number from "
	    "1000 to 1048576)", E_INVAL },
	{ "auth-line below RFC 4954", L25 "limit auth-line 12287\n",
	    "t.conf:2: limit auth-line: bad value \"12287\" (want a number "
	    "from 12288 to 1048576)", E_INVAL },
	{ "negative number", L25 "limit errors -1\n",
	    "t.conf:2: limit errors: bad value \"-1\" (want a number from 1 "
	    "to 1000)", E_INVAL },
	{ "number with a suffix", L25 "limit message-size 10M\n",
	    "t.conf:2: limit message-size: bad value \"10M\" (want a number "
	    "from 65536 to 2147483647)", E_INVAL },
	{ "huge number", L25 "limit header-size 99999999999999999999999\n",
	    "t.conf:2: limit header-size: bad value \"99999999999999999999999\""
	    " (want a number from 1000 to 67108864)", E_INVAL },
	{ "unknown limit", L25 "limit colours 3\n",
	    "t.conf:2: unknown limit \"colours\"", E_INVAL },
	{ "unknown timeout", L25 "timeout quit 3\n",
	    "t.conf:2: unknown timeout \"quit\"", E_INVAL },
	{ "timeout zero", L25 "timeout command 0\n",
	    "t.conf:2: timeout command: bad value \"0\" (want a number from 1 "
	    "to 86400)", E_INVAL },
	{ "workers out of range", L25 "workers 1000\n",
	    "t.conf:2: workers: bad value \"1000\" (want a number from 0 to "
	    "256)", E_INVAL },
	{ "max-connections zero", L25 "max-connections 0\n",
	    "t.conf:2: max-connections: bad value \"0\" (want a number from 1 "
	    "to 1000000)", E_INVAL },
	{ "max-connections-per-ip text", L25 "max-connections-per-ip many\n",
	    "t.conf:2: max-connections-per-ip: bad value \"many\" (want a "
	    "number from 1 to 1000000)", E_INVAL },
	{ "auth-delay-ms too long", L25 "auth-delay-ms 60001\n",
	    "t.conf:2: auth-delay-ms: bad value \"60001\" (want a number from "
	    "0 to 60000)", E_INVAL },
	{ "min-data-rate negative", L25 "min-data-rate -5\n",
	    "t.conf:2: min-data-rate: bad value \"-5\" (want a number from 0 "
	    "to 1000000000)", E_INVAL },
	{ "duplicate hostname", "hostname a.test\n" L25 "hostname b.test\n",
	    "t.conf:3: hostname already set on line 1", E_INVAL },
	{ "duplicate limit", L25 "limit errors 5\nlimit errors 6\n",
	    "t.conf:3: limit errors already set on line 2", E_INVAL },
	{ "bad listen address", "listen 127.0.0.256:25 mx\n",
	    "t.conf:1: listen: bad address \"127.0.0.256:25\" (want "
	    "ADDRESS:PORT, [IPV6]:PORT)", E_INVAL },
	{ "listen host name", "listen localhost:25 mx\n",
	    "t.conf:1: listen: bad address \"localhost:25\" (want "
	    "ADDRESS:PORT, [IPV6]:PORT)", E_INVAL },
	{ "listen IPv6 without brackets", "listen ::1:25 mx\n",
	    "t.conf:1: listen: bad address \"::1:25\" (want ADDRESS:PORT, "
	    "[IPV6]:PORT)", E_INVAL },
	{ "listen without port", "listen 127.0.0.1 mx\n",
	    "t.conf:1: listen: bad address \"127.0.0.1\" (want ADDRESS:PORT, "
	    "[IPV6]:PORT)", E_INVAL },
	{ "listen port zero", "listen 127.0.0.1:0 mx\n",
	    "t.conf:1: listen: bad port in \"127.0.0.1:0\" (want 1 to 65535)",
	    E_INVAL },
	{ "listen port too big", "listen [::1]:65536 mx\n",
	    "t.conf:1: listen: bad port in \"[::1]:65536\" (want 1 to 65535)",
	    E_INVAL },
	{ "listen unknown role", "listen 127.0.0.1:25 smtp\n",
	    "t.conf:1: listen: unknown role \"smtp\" (want mx, submission or "
	    "submissions)", E_INVAL },
	{ "duplicate listen", L25 "# x\nlisten 127.0.0.1:25 submission\n",
	    "t.conf:3: listen: 127.0.0.1:25 already declared on line 1",
	    E_INVAL },
	{ "duplicate IPv6 listen written differently",
	    "listen [::1]:25 mx\nlisten [0:0::1]:25 mx\n",
	    "t.conf:2: listen: [0:0::1]:25 already declared on line 1",
	    E_INVAL },
	{ "submissions without certificate",
	    "passwd-file p\n" L25 "listen 127.0.0.1:465 submissions\n",
	    "t.conf:3: listen 127.0.0.1:465 submissions needs a certificate "
	    "(implicit TLS)", E_INVAL },
	{ "submission without passwd-file",
	    TLS "listen [::1]:587 submission\n",
	    "t.conf:2: listen [::1]:587 submission needs a passwd-file (AUTH "
	    "is required there)", E_INVAL },
	{ "submissions without passwd-file",
	    TLS L25 "listen 127.0.0.1:465 submissions\n",
	    "t.conf:3: listen 127.0.0.1:465 submissions needs a passwd-file "
	    "(AUTH is required there)", E_INVAL },
	{ "no listen", "hostname a.test\n# nothing else\n",
	    "t.conf:2: no listen directive", E_INVAL },
	{ "empty file", "", "t.conf:1: no listen directive", E_INVAL },
	{ "bad hostname", L25 "hostname -bad.test\n",
	    "t.conf:2: hostname: \"-bad.test\" is not a valid domain name",
	    E_INVAL },
	{ "hostname with underscore", "hostname a_b.test\n",
	    "t.conf:1: hostname: \"a_b.test\" is not a valid domain name",
	    E_INVAL },
	{ "bad local-domain", L25 "local-domain good.test bad..test\n",
	    "t.conf:2: local-domain: \"bad..test\" is not a valid domain name",
	    E_INVAL },
	{ "local-domain is an IP address", L25 "local-domain 192.0.2.1\n",
	    "t.conf:2: local-domain: \"192.0.2.1\" is not a valid domain name",
	    E_INVAL },
	{ "local-domain label too long", L25 "local-domain "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".test\n",
	    "t.conf:2: local-domain: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa.test\" is not a valid domain name",
	    E_INVAL },
	{ "bad mailbox", L25 "local-domain a.test\nmailbox nobody\n",
	    "t.conf:3: mailbox: \"nobody\" is not a valid address", E_INVAL },
	{ "mailbox with a bad domain", L25 "mailbox x@a..test\n",
	    "t.conf:2: mailbox: \"x@a..test\" is not a valid address",
	    E_INVAL },
	{ "mailbox outside the local domains",
	    L25 "mailbox x@a.test\nlocal-domain b.test\n",
	    "t.conf:2: mailbox x@a.test is not in a local domain (add "
	    "local-domain a.test)", E_INVAL },
	{ "grant with a bad pattern", L25 "grant demo demo@example.test x\n",
	    "t.conf:2: grant: bad sender pattern \"x\" (want user@domain or "
	    "@domain)", E_INVAL },
	{ "grant with a bad pattern domain", L25 "grant demo @ex_ample.test\n",
	    "t.conf:2: grant: bad sender pattern \"@ex_ample.test\" (want "
	    "user@domain or @domain)", E_INVAL },
	{ "grant with an empty domain", L25 "grant demo demo@\n",
	    "t.conf:2: grant: bad sender pattern \"demo@\" (want user@domain "
	    "or @domain)", E_INVAL },
	{ "grant for a user twice",
	    L25 "grant demo @a.test\ngrant Demo @b.test\n",
	    "t.conf:3: grant: user Demo already granted on line 2", E_INVAL },
	{ "grant user with a colon", L25 "grant de:mo @a.test\n",
	    "t.conf:2: grant: \"de:mo\" is not a valid user name", E_INVAL },
	{ "bad unix user", L25 "user -x\n",
	    "t.conf:2: user: \"-x\" is not a valid user name", E_INVAL },
	{ "bad resolver", L25 "resolver dns.example@53\n",
	    "t.conf:2: resolver: bad address \"dns.example@53\" (want "
	    "ADDRESS[@PORT])", E_INVAL },
	{ "bad resolver port", L25 "resolver ::1@0\n",
	    "t.conf:2: resolver: bad address \"::1@0\" (want ADDRESS[@PORT])",
	    E_INVAL },
	{ "empty spool-dir", L25 "spool-dir \"\"\n",
	    "t.conf:2: spool-dir: empty path", E_INVAL },
	{ "scheduling unknown", L25 "scheduling fifo\n",
	    "t.conf:2: scheduling: bad value \"fifo\" (want batch, normal or "
	    "inherit)",
	    E_INVAL },
	{ "scheduling twice", L25 "scheduling batch\nscheduling normal\n",
	    "t.conf:3: scheduling already set on line 2", E_INVAL },
	{ "scheduling without a value", L25 "scheduling\n",
	    "t.conf:2: wrong number of arguments for scheduling (usage: "
	    "scheduling batch|normal|inherit)", E_SYNTAX },
	{ "inbound-checks neither on nor off", L25 "inbound-checks maybe\n",
	    "t.conf:2: inbound-checks: bad value \"maybe\" (want yes or no)",
	    E_INVAL },
	{ "inbound-checks twice", L25 "inbound-checks on\ninbound-checks off\n",
	    "t.conf:3: inbound-checks already set on line 2", E_INVAL },
	{ "dmarc-enforce bad", L25 "dmarc-enforce 1\n",
	    "t.conf:2: dmarc-enforce: bad value \"1\" (want yes or no)",
	    E_INVAL },
	{ "spf-reject-without-dmarc bad", L25 "spf-reject-without-dmarc x\n",
	    "t.conf:2: spf-reject-without-dmarc: bad value \"x\" (want yes "
	    "or no)", E_INVAL },
	{ "spf-helo-check bad", L25 "spf-helo-check always\n",
	    "t.conf:2: spf-helo-check: bad value \"always\" (want yes or no)",
	    E_INVAL },
	{ "temperror-action bad", L25 "temperror-action reject\n",
	    "t.conf:2: temperror-action: bad value \"reject\" (want accept "
	    "or defer)", E_INVAL },
	{ "dmarc-discovery bad", L25 "dmarc-discovery dns\n",
	    "t.conf:2: dmarc-discovery: bad value \"dns\" (want treewalk or "
	    "psl)", E_INVAL },
	{ "authserv-id not a name", L25 "authserv-id a_b\n",
	    "t.conf:2: authserv-id: \"a_b\" is not a valid domain name",
	    E_INVAL },
	{ "trusted-forwarder not an address", L25
	    "trusted-forwarder 10.0.0.0/8 relay.example\n",
	    "t.conf:2: trusted-forwarder: \"relay.example\" is not an address "
	    "or ADDRESS/BITS", E_INVAL },
	{ "trusted-forwarder prefix too long", L25
	    "trusted-forwarder 10.0.0.0/33\n",
	    "t.conf:2: trusted-forwarder: \"10.0.0.0/33\" is not an address "
	    "or ADDRESS/BITS", E_INVAL },
	{ "dmarc-opt-out not a domain", L25 "dmarc-opt-out 1.2.3.4\n",
	    "t.conf:2: dmarc-opt-out: \"1.2.3.4\" is not a valid domain name",
	    E_INVAL },
	{ "check-timeout unknown check", L25 "check-timeout arc 5\n",
	    "t.conf:2: unknown check-timeout \"arc\"", E_INVAL },
	{ "check-timeout zero", L25 "check-timeout spf 0\n",
	    "t.conf:2: check-timeout spf: bad value \"0\" (want a number from "
	    "1 to 600)", E_INVAL },
	{ "check-timeout twice", L25
	    "check-timeout dkim 5\ncheck-timeout dkim 6\n",
	    "t.conf:3: check-timeout dkim already set on line 2", E_INVAL },
};

/* test_inbound_keywords - the issue-4 settings and their lookups */
static void
test_inbound_keywords(void)
{
	static const struct {
		const char *name, *ip;
		unsigned char addr[16];
		size_t len;
		bool want;
	} fwd[] = {
		{ "inside 192.0.2.0/24", "192.0.2.77", { 192, 0, 2, 77 }, 4,
		    true },
		{ "outside 192.0.2.0/24", "192.0.3.1", { 192, 0, 3, 1 }, 4,
		    false },
		{ "single address /32", "198.51.100.9", { 198, 51, 100, 9 },
		    4, true },
		{ "neighbour of the /32", "198.51.100.8", { 198, 51, 100, 8 },
		    4, false },
		{ "inside 10.128.0.0/9", "10.200.0.1", { 10, 200, 0, 1 }, 4,
		    true },
		{ "outside 10.128.0.0/9", "10.127.0.1", { 10, 127, 0, 1 }, 4,
		    false },
		{ "IPv6 inside 2001:db8::/32", "2001:db8:1::1", { 0x20, 0x01,
		    0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 16, true },
		{ "IPv6 outside", "2001:db9::1", { 0x20, 0x01, 0x0d, 0xb9, 0, 0,
		    0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 16, false },
	};
	struct config *c = NULL;
	char *err = NULL, *p = NULL;
	size_t n = 0, i;
	FILE *f;

	CHECK_INT(config_load_text(&c, "in.conf", L25
	    "hostname mx.example.test\n"
	    "inbound-checks off\n"
	    "authserv-id Auth.Example.Test\n"
	    "dmarc-enforce no\n"
	    "spf-reject-without-dmarc yes\n"
	    "spf-helo-check yes\n"
	    "temperror-action defer\n"
	    "dmarc-discovery psl\n"
	    "trusted-forwarder 192.0.2.0/24 198.51.100.9\n"
	    "trusted-forwarder 10.128.0.0/9 2001:db8::/32\n"
	    "dmarc-opt-out Lists.Example.Test\n"
	    "check-timeout spf 15\n"
	    "check-timeout dkim 4\n"
	    "check-timeout dmarc 3\n", &err), 0, "inbound keywords load");
	if (c == NULL) {
		free(err);
		return;
	}
	CHECK(!c->inbound_checks, "inbound-checks off");
	CHECK_STR(config_authserv_id(c), "auth.example.test",
	    "authserv-id lower-cased");
	CHECK(!c->dmarc_enforce, "dmarc-enforce no");
	CHECK(c->spf_reject_without_dmarc, "spf-reject-without-dmarc yes");
	CHECK(c->temperror_defer, "temperror-action defer");
	CHECK(c->spf_helo_check, "spf-helo-check yes");
	CHECK(c->dmarc_discovery_psl, "dmarc-discovery psl");
	CHECK_INT(c->ntrusted_forwarders, 4, "forwarders over two lines");
	CHECK_INT(c->check_timeout_spf, 15, "check-timeout spf");
	CHECK_INT(c->check_timeout_dkim, 4, "check-timeout dkim");
	CHECK_INT(c->check_timeout_dmarc, 3, "check-timeout dmarc");
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		CHECK_INT(config_is_trusted_forwarder(c, fwd[i].addr,
		    fwd[i].len), fwd[i].want, fwd[i].name);
	CHECK(config_dmarc_opted_out(c, "lists.EXAMPLE.test"),
	    "opt-out without case");
	CHECK(!config_dmarc_opted_out(c, "example.test"),
	    "parent of an opt-out is not opted out");
	f = open_memstream(&p, &n);
	if (f != NULL) {
		config_print(c, f);
		fclose(f);
		CHECK(p && strstr(p, "\ntrusted-forwarder 192.0.2.0/24 "
		    "198.51.100.9/32 10.128.0.0/9 2001:db8::/32\n") != NULL,
		    "print: trusted-forwarder");
		CHECK(p && strstr(p, "\ninbound-checks off\n") != NULL,
		    "print: inbound-checks");
		CHECK(p && strstr(p, "\nauthserv-id auth.example.test\n") !=
		    NULL, "print: authserv-id");
		CHECK(p && strstr(p, "\ntemperror-action defer\n") != NULL,
		    "print: temperror-action");
		CHECK(p && strstr(p, "\ndmarc-opt-out lists.example.test\n") !=
		    NULL, "print: dmarc-opt-out");
		CHECK(p && strstr(p, "\ncheck-timeout dmarc 3\n") != NULL,
		    "print: check-timeout");
		free(p);
	}
	config_free(c);
	c = NULL;
	CHECK_INT(config_load_text(&c, "d.conf", L25 "hostname h.example\n",
	    &err), 0, "defaults load");
	if (c != NULL) {
		CHECK(c->inbound_checks, "default inbound-checks on");
		CHECK_STR(config_authserv_id(c), "h.example",
		    "default authserv-id is the hostname");
		CHECK(c->dmarc_enforce, "default dmarc-enforce yes");
		CHECK(!c->spf_reject_without_dmarc,
		    "default spf-reject-without-dmarc no");
		CHECK(!c->temperror_defer, "default temperror-action accept");
		CHECK(!c->spf_helo_check, "default spf-helo-check no");
		CHECK_INT(c->check_timeout_spf, 20,
		    "default SPF budget (RFC 7208 4.6.4)");
	}
	config_free(c);
}

static char *print_text(const struct config *c);

/* test_scheduling - each value loads and prints back */
static void
test_scheduling(void)
{
	static const struct {
		const char *v;
		enum config_sched want;
	} vals[] = {
		{ "batch", CONFIG_SCHED_BATCH },
		{ "normal", CONFIG_SCHED_NORMAL },
		{ "inherit", CONFIG_SCHED_INHERIT },
	};
	struct config *c;
	char *err, *p, text[128], line[64];
	size_t i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		c = NULL;
		err = NULL;
		snprintf(text, sizeof(text), "listen 127.0.0.1:25 mx\n"
		    "scheduling %s\n", vals[i].v);
		CHECK_INT(config_load_text(&c, "s.conf", text, &err), 0,
		    vals[i].v);
		free(err);
		if (c == NULL)
			continue;
		CHECK_INT(c->sched, vals[i].want, vals[i].v);
		p = print_text(c);
		snprintf(line, sizeof(line), "\nscheduling %s\n", vals[i].v);
		CHECK(p != NULL && strstr(p, line) != NULL, line);
		free(p);
		config_free(c);
	}
}

static void
test_errors(void)
{
	struct config *c;
	char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = NULL;
		err = NULL;
		CHECK_INT(config_load_text(&c, "t.conf", bad[i].text, &err),
		    bad[i].rc, bad[i].name);
		CHECK_STR(err, bad[i].err, bad[i].name);
		CHECK(c == NULL, bad[i].name);
		free(err);
		config_free(c);
	}
}

/* print_text - config_print into a new string */
static char *
print_text(const struct config *c)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);

	if (f == NULL)
		return NULL;
	config_print(c, f);
	fclose(f);
	return p;
}

static void
test_print_round_trip(void)
{
	static const char *texts[] = { full_text, NULL,
		"listen 127.0.0.1:25 mx\nlocal-domain x.test\n"
		"spool-dir \"var/my spool\"\n"
		"mailbox \"a#b@x.test\"\n"
		"grant \"u#\\\"1\" \"c#d@x.test\" @x.test\n" };
	struct config *a = NULL, *b = NULL;
	char *pa, *pb, *err = NULL;
	size_t i;

	texts[1] = config_default_text();
	/* quoting: '#', '"' and blanks survive print and load */
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		a = b = NULL;
		CHECK_INT(config_load_text(&a, "a.conf", texts[i], &err), 0,
		    "round trip: first load");
		if (a == NULL)
			continue;
		pa = print_text(a);
		CHECK_INT(config_load_text(&b, "b.conf", pa, &err), 0,
		    "round trip: printed text loads");
		pb = b ? print_text(b) : NULL;
		CHECK_STR(pb, pa, "round trip: same effective settings");
		CHECK(strstr(pa, abs_of("var/")) != NULL,
		    "print shows absolute paths");
		free(pa);
		free(pb);
		config_free(a);
		config_free(b);
	}
	/* the printed form of the full config, exactly */
	a = NULL;
	config_load_text(&a, "full.conf", full_text, &err);
	pa = a ? print_text(a) : NULL;
	if (pa) {
		char *want = NULL;

		if (asprintf(&want,
		    "hostname mx.example.test\n"
		    "spool-dir %s/var/spool\n"
		    "mail-dir %s/var/mail\n"
		    "passwd-file /etc/smtpsd/passwd\n"
		    "user smtpsd\n"
		    "workers 2\n"
		    "scheduling normal\n"
		    "resolver 127.0.0.1@5353\n"
		    "listen 127.0.0.1:10025 mx\n"
		    "listen [::1]:10465 submissions\n"
		    "listen 0.0.0.0:587 submission\n"
		    "certificate %s/var/tls/cert.pem %s/var/tls/key.pem\n"
		    "certificate \"/etc/tls dir/ec.pem\" /etc/tls/ec.key\n"
		    "local-domain localhost example.test example.org\n"
		    "mailbox demo@example.test\n"
		    "mailbox postmaster@localhost\n"
		    "mailbox x@example.org\n"
		    "grant demo demo@example.test @example.org\n"
		    "grant Alice@Example.Test alice@example.test\n"
		    "limit command-line 1024\n"
		    "limit text-line 2000\n"
		    "limit auth-line 20000\n"
		    "limit header-size 100000\n"
		    "limit message-size 1000000\n"
		    "limit recipients 250\n"
		    "limit errors 5\n"
		    "limit auth-failures 4\n"
		    "timeout command 60\n"
		    "timeout data 120\n"
		    "min-data-rate 0\n"
		    "max-connections-per-ip 7\n"
		    "max-connections 900\n"
		    "auth-delay-ms 250\n"
		    "inbound-checks on\n"
		    "dmarc-enforce yes\n"
		    "spf-reject-without-dmarc no\n"
		    "spf-helo-check no\n"
		    "temperror-action accept\n"
		    "dmarc-discovery treewalk\n"
		    "check-timeout spf 20\n"
		    "check-timeout dkim 5\n"
		    "check-timeout dmarc 5\n", cwd, cwd, cwd, cwd) < 0)
			want = NULL;
		CHECK_STR(pa, want, "config_print of the full config");
		free(want);
	}
	free(pa);
	config_free(a);
}

static void
test_default_text(void)
{
	struct config *c = NULL;
	char *err = NULL;
	size_t i;
	int roles[3] = { 0, 0, 0 };

	CHECK_INT(config_load_text(&c, "(default)", config_default_text(),
	    &err), 0, "default text loads");
	CHECK_STR(err, NULL, "default text has no error");
	if (c == NULL)
		return;
	CHECK_STR(c->hostname, "mx.example.test", "default hostname");
	CHECK_STR(c->spool_dir, abs_of("var/spool"), "default spool");
	CHECK_STR(c->mail_dir, abs_of("var/mail"), "default mail-dir");
	CHECK_STR(c->passwd_file, abs_of("var/passwd"), "default passwd");
	CHECK_INT(c->nlistens, 4, "default listens");
	for (i = 0; i < c->nlistens; i++) {
		CHECK_STR(c->listens[i].address, "127.0.0.1",
		    "default listens on loopback");
		roles[c->listens[i].role]++;
	}
	if (c->nlistens == 4) {
		CHECK_INT(c->listens[0].port, 10025, "mx on 10025");
		CHECK_INT(c->listens[0].role, SMTP_ROLE_MX, "10025 is mx");
		CHECK_INT(c->listens[1].port, 10465, "submissions on 10465");
		CHECK_INT(c->listens[1].role, SMTP_ROLE_SUBMISSIONS,
		    "10465 is submissions");
		CHECK_INT(c->listens[2].port, 10587, "submission on 10587");
		CHECK_INT(c->listens[3].port, 2525, "submission on 2525");
		CHECK_INT(c->listens[3].role, SMTP_ROLE_SUBMISSION,
		    "2525 is submission");
	}
	CHECK_INT(roles[SMTP_ROLE_MX], 1, "one mx listener");
	CHECK_INT(roles[SMTP_ROLE_SUBMISSIONS], 1, "one submissions listener");
	CHECK_INT(roles[SMTP_ROLE_SUBMISSION], 2, "two submission listeners");
	CHECK_INT(c->ncerts, 1, "default certificate");
	CHECK(config_is_local_domain(c, "localhost"), "localhost is local");
	CHECK(config_is_local_domain(c, "EXAMPLE.test"), "example.test local");
	CHECK(!config_is_local_domain(c, "example.org"), "example.org not");
	CHECK(config_mailbox_exists(c, "demo@example.test"), "demo exists");
	CHECK(config_mailbox_exists(c, "postmaster@localhost"),
	    "postmaster@localhost exists");
	CHECK(!config_mailbox_exists(c, "nobody@example.test"),
	    "unlisted mailbox refused");
	CHECK(config_sender_allowed(c, "demo@example.test",
	    "demo@example.test"), "demo@example.test login sends as itself");
	CHECK(config_sender_allowed(c, "demo", "demo@example.test"),
	    "demo login sends as demo@example.test");
	CHECK(!config_sender_allowed(c, "demo", "postmaster@example.test"),
	    "demo may not send as postmaster");
	config_free(c);
}

static void
test_predicates(void)
{
	static const char text[] =
	    "listen 127.0.0.1:25 mx\n"
	    "local-domain example.test Example.ORG\n"
	    "mailbox Demo@example.test info@example.org\n"
	    "grant demo demo@example.test @example.org\n"
	    "grant ceo@example.test ceo@example.test\n";
	static const struct {
		const char *name, *user, *addr;
		bool ok;
	} senders[] = {
		{ "exact grant", "demo", "demo@example.test", true },
		{ "exact grant, domain any case", "demo", "demo@EXAMPLE.Test",
		    true },
		{ "exact grant, local part case differs", "demo",
		    "Demo@example.test", false },
		{ "domain grant, any local part", "demo", "x.y@example.org",
		    true },
		{ "domain grant, domain case", "demo", "x@EXAMPLE.org", true },
		{ "domain grant does not cover subdomains", "demo",
		    "x@sub.example.org", false },
		{ "other address in the exact domain", "demo",
		    "ceo@example.test", false },
		{ "foreign domain", "demo", "demo@evil.test", false },
		{ "suffix trick", "demo", "demo@example.test.evil.test", false },
		{ "login name compares without case", "DEMO",
		    "demo@example.test", true },
		{ "full-address login", "ceo@example.test", "ceo@example.test",
		    true },
		{ "full-address login, other address", "ceo@example.test",
		    "demo@example.test", false },
		{ "user without a grant", "mallory", "mallory@example.test",
		    false },
		{ "NULL user", NULL, "demo@example.test", false },
		{ "null sender", "demo", "", false },
		{ "no domain", "demo", "demo", false },
		{ "empty local part", "demo", "@example.org", false },
	};
	static const struct {
		const char *name, *addr;
		bool ok;
	} boxes[] = {
		{ "listed mailbox", "demo@example.test", true },
		{ "listed mailbox, other case", "DEMO@Example.Test", true },
		{ "listed in the second domain", "info@example.org", true },
		{ "unlisted local part", "other@example.test", false },
		{ "postmaster always exists", "Postmaster@example.org", true },
		{ "not a local domain", "demo@example.com", false },
		{ "no domain", "demo", false },
		{ "empty local part", "@example.test", false },
	};
	struct config *c = NULL, *any = NULL;
	char *err = NULL;
	size_t i;

	CHECK_INT(config_load_text(&c, "p.conf", text, &err), 0,
	    "predicate config loads");
	if (c == NULL)
		return;
	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
		CHECK_INT(config_sender_allowed(c, senders[i].user,
		    senders[i].addr), senders[i].ok, senders[i].name);
	for (i = 0; i < sizeof(boxes) / sizeof(boxes[0]); i++)
		CHECK_INT(config_mailbox_exists(c, boxes[i].addr), boxes[i].ok,
		    boxes[i].name);
	CHECK(config_is_local_domain(c, "example.org"),
	    "local domain stored lower-cased");
	CHECK(!config_is_local_domain(c, "sub.example.org"),
	    "subdomain is not local");
	CHECK(!config_is_local_domain(c, ""), "empty domain");
	config_free(c);

	CHECK_INT(config_load_text(&any, "q.conf",
	    "listen 127.0.0.1:25 mx\nlocal-domain a.test\n", &err), 0,
	    "config without mailboxes loads");
	if (any) {
		CHECK(config_mailbox_exists(any, "whoever@a.test"),
		    "no mailbox list: any local part");
		CHECK(!config_mailbox_exists(any, "whoever@b.test"),
		    "no mailbox list: still only local domains");
		CHECK(!config_sender_allowed(any, "demo", "demo@a.test"),
		    "no grants: nothing allowed");
	}
	config_free(any);
}

static void
test_files(void)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char path[PATH_MAX], want[PATH_MAX + 64];
	struct config *c = NULL;
	char *err = NULL;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	CHECK_INT(config_load(&c, path, &err), E_IO, "missing file");
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK_STR(err, want, "missing file is named");
	free(err);
	err = NULL;

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	if ((f = fopen(path, "w")) != NULL) {
		fwrite("# a\nlisten 127.0.0.1:25 mx\nhost\0name x\n", 1, 39, f);
		fclose(f);
	}
	CHECK_INT(config_load(&c, path, &err), E_SYNTAX, "NUL byte in file");
	snprintf(want, sizeof(want), "%s:3: NUL byte in line", path);
	CHECK_STR(err, want, "NUL byte names the line");
	free(err);
	err = NULL;
	unlink(path);

	snprintf(path, sizeof(path), "%s/good.conf", dir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("listen 127.0.0.1:25 mx\nspool-dir spool\nlimit errors x\n",
		    f);
		fclose(f);
	}
	CHECK_INT(config_load(&c, path, &err), E_INVAL, "bad file");
	snprintf(want, sizeof(want), "%s:3: limit errors: bad value \"x\" "
	    "(want a number from 1 to 1000)", path);
	CHECK_STR(err, want, "file error names file and line");
	free(err);
	err = NULL;
	if ((f = fopen(path, "w")) != NULL) {
		fputs("listen 127.0.0.1:25 mx\nspool-dir spool\n", f);
		fclose(f);
	}
	/* relative paths resolve against the working directory at load */
	if (chdir(dir) == 0) {
		CHECK_INT(config_load(&c, path, &err), 0, "good file loads");
		snprintf(want, sizeof(want), "%s/spool", dir);
		CHECK_STR(c ? c->spool_dir : NULL, want,
		    "relative path resolved against the working directory");
		CHECK_STR(c ? c->file : NULL, path, "file recorded");
		config_free(c);
		if (chdir(cwd) != 0)
			CHECK(0, "chdir back");
	}
	unlink(path);
	rmdir(dir);
}

/* the sample production config in etc/ must stay valid (run from the
   repository root, as tests/run.py does) */
static void
test_sample_file(void)
{
	struct config *c = NULL;
	char *err = NULL;
	int ports[] = { 25, 465, 587, 2525 };
	int roles[] = { SMTP_ROLE_MX, SMTP_ROLE_SUBMISSIONS,
		SMTP_ROLE_SUBMISSION, SMTP_ROLE_SUBMISSION };
	size_t i;

	CHECK_INT(config_load(&c, "etc/smtpsd.conf", &err), 0,
	    "etc/smtpsd.conf loads");
	CHECK_STR(err, NULL, "etc/smtpsd.conf has no error");
	if (c == NULL)
		return;
	CHECK_STR(c->user, "smtpsd", "sample drops to smtpsd");
	CHECK_STR(c->spool_dir, "/var/spool/smtpsd", "sample spool");
	CHECK_STR(c->mail_dir, "/var/mail/vhosts", "sample mail-dir");
	CHECK_STR(c->passwd_file, "/etc/smtpsd/passwd", "sample passwd");
	CHECK_INT(c->nlistens, 4, "sample listens");
	for (i = 0; i < 4 && i < c->nlistens; i++) {
		CHECK_STR(c->listens[i].address, "0.0.0.0", "sample address");
		CHECK_INT(c->listens[i].port, ports[i], "sample port");
		CHECK_INT(c->listens[i].role, roles[i], "sample role");
	}
	for (i = 0; i < c->ncerts; i++)
		CHECK(strncmp(c->certs[i].cert_file, "/etc/smtpsd/tls/", 16)
		    == 0 && strncmp(c->certs[i].key_file, "/etc/smtpsd/tls/",
		    16) == 0, "sample certificates under /etc/smtpsd/tls");
	CHECK(c->ncerts >= 1, "sample has certificates");
	config_free(c);
}

int
main(void)
{
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return 1;
	test_every_keyword();
	test_defaults();
	test_errors();
	test_scheduling();
	test_inbound_keywords();
	test_print_round_trip();
	test_default_text();
	test_predicates();
	test_files();
	test_sample_file();
	return test_done();
}
