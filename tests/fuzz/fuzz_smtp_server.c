/*
 * fuzz_smtp_server - drive the SMTP session machine with arbitrary bytes.
 *
 * Input: one configuration octet (role, STARTTLS offered, small limits),
 * then records of one length octet and that many client bytes, each fed
 * as one write.  The fake caller's answers (accept or refuse MAIL, RCPT,
 * AUTH, COMMIT) are derived from a running hash of the input, so a case
 * replays the same way every time.  Invariants checked on every action:
 * addresses obey the grammar, envelopes hold no CR, LF or NUL, committed
 * messages are clean CRLF text within the size limit, and every reply
 * line is "DDD" followed by a space or hyphen and ends in CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/address.h"
#include "smtp/server.h"

/* check - abort (a crash libFuzzer reports) when an invariant breaks */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* clean_field - no CR, LF or NUL, and NUL-terminated */
static void
clean_field(const char *s)
{
	check(s != NULL);
	check(strpbrk(s, "\r\n") == NULL);
}

/* check_addr - the machine only hands over valid addresses */
static void
check_addr(const char *a, int mail)
{
	check(a != NULL);
	if (a[0] == '\0') {
		check(mail);
		return;
	}
	if (!mail && strcasecmp(a, "postmaster") == 0)
		return;
	check(smtp_address_mailbox(a, strlen(a), NULL) == 0);
}

/* check_message - CRLF lines only, no NUL, no bare CR or LF */
static void
check_message(const struct smtp_envelope *env, size_t max)
{
	size_t i;

	check(env->msg_len <= max);
	for (i = 0; i < env->msg_len; i++) {
		char c = env->msg[i];

		check(c != '\0');
		if (c == '\r')
			check(i + 1 < env->msg_len && env->msg[i + 1] == '\n');
		if (c == '\n')
			check(i > 0 && env->msg[i - 1] == '\r');
	}
	clean_field(env->mail_from);
	clean_field(env->helo);
	for (i = 0; i < env->nrcpts; i++) {
		clean_field(env->rcpts[i]);
		check_addr(env->rcpts[i], 0);
	}
	check(env->nrcpts > 0);
}

/* check_output - well-formed reply lines, then drop them */
static void
check_output(struct smtp_server *s)
{
	size_t n, i, start = 0;
	const char *p = smtp_server_output(s, &n);

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			check(i > start && p[i - 1] == '\r');
			check(i - start >= 5);
			check(p[start] >= '2' && p[start] <= '5');
			check(p[start + 3] == ' ' || p[start + 3] == '-');
			start = i + 1;
		} else if (p[i] == '\r') {
			check(i + 1 < n && p[i + 1] == '\n');
		}
	}
	check(start == n);
	smtp_server_output_consume(s, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_tls_info tls = { "TLSv1.3",
		"TLS_AES_256_GCM_SHA384", 256, "" };
	struct smtp_server_params p;
	struct smtp_server *s;
	struct smtp_out out;
	size_t i = 1;
	uint32_t h = 2166136261u;
	int closed = 0;

	if (size < 1)
		return 0;
	memset(&p, 0, sizeof(p));
	p.role = (enum smtp_role)(data[0] % 3);
	p.hostname = "mx.example.test";
	p.client_ip = "127.0.0.1";
	p.tls_offered = (data[0] & 4) != 0;
	smtp_limits_default(&p.limits);
	if (data[0] & 8) {
		p.limits.cmd_line = 64;
		p.limits.text_line = 80;
		p.limits.auth_line = 128;
		p.limits.header_size = 200;
		p.limits.message_size = 1000;
		p.limits.rcpts = 3;
		p.limits.errors = 5;
		p.limits.auth_failures = 2;
	}
	if (p.role == SMTP_ROLE_SUBMISSIONS)
		p.tls = &tls;
	s = smtp_server_new(&p);
	check_output(s);
	while (i < size && !closed) {
		size_t k = data[i++], j, guard;

		if (k > size - i)
			k = size - i;
		for (j = 0; j < k; j++)
			h = (h ^ data[i + j]) * 16777619u;
		check(smtp_server_feed(s, data + i, k) == 0);
		i += k;
		for (guard = 0; guard < 100000; guard++) {
			enum smtp_action a = smtp_server_next(s, &out);
			struct smtp_envelope env;
			int yes = (h >> (guard % 24)) & 1;

			if (a == SMTP_ACT_READ)
				break;
			if (a == SMTP_ACT_CLOSE) {
				closed = 1;
				break;
			}
			switch (a) {
			case SMTP_ACT_STARTTLS:
				smtp_server_tls_started(s, &tls);
				break;
			case SMTP_ACT_AUTH:
				check(out.user != NULL && out.pass != NULL);
				check(out.user[0] != '\0');
				clean_field(out.user);
				smtp_server_auth_result(s, yes);
				break;
			case SMTP_ACT_MAIL:
				check_addr(out.addr, 1);
				if (yes)
					smtp_server_verdict(s, 250, "2.1.0", "Ok");
				else
					smtp_server_verdict(s, 550, "5.7.1",
					    "no\r\nINJECTED");
				break;
			case SMTP_ACT_RCPT:
				check_addr(out.addr, 0);
				smtp_server_verdict(s, yes ? 250 : 554,
				    yes ? "2.1.5" : "5.7.1", "verdict");
				break;
			case SMTP_ACT_COMMIT:
				smtp_server_envelope(s, &env);
				check_message(&env, p.limits.message_size);
				smtp_server_verdict(s, yes ? 250 : 452,
				    yes ? "2.0.0" : "4.3.1", "done");
				break;
			default:
				break;
			}
		}
		check(guard < 100000);
		check_output(s);
		check(smtp_server_footprint(s) < (size_t)64 << 20);
		if (smtp_server_idle(s))
			smtp_server_release_buffers(s);
	}
	smtp_server_free(s);
	return 0;
}
