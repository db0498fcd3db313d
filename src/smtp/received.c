/*
 * smtp/received.c - the Received header (RFC 5321 4.4, RFC 3848), in the
 * exact format of docs/RECEIVED.md.
 */
#include "smtp/received.h"

#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

/* Longest HELO text copied into the header. */
#define HELO_MAX	255

/*
 * put_clean - append peer or foreign text reduced to printable ASCII
 * without space and without the characters "()[];\" that delimit the
 * header's clauses; each other octet becomes '_'.  Empty text becomes
 * "unknown".
 */
static int
put_clean(struct buf *out, const char *s, size_t max)
{
	char tmp[HELO_MAX + 1];
	size_t i;

	if (s == NULL || s[0] == '\0')
		return buf_append_str(out, "unknown");
	for (i = 0; s[i] != '\0' && i < max && i < HELO_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		tmp[i] = (c <= 0x20 || c >= 0x7f ||
		    strchr("()[];\\", c) != NULL) ? '_' : (char)c;
	}
	return buf_append(out, tmp, i);
}

/* put_date - RFC 5322 3.3 date-time in UTC, independent of the locale */
static int
put_date(struct buf *out, time_t when)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
		"Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL)
		return E_INVAL;
	return buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* is_ipv6 - does the client address need the "IPv6:" tag? */
static bool
is_ipv6(const char *ip)
{
	return ip != NULL && strchr(ip, ':') != NULL;
}

/*
 * plain_address - can the address go into the "for" clause as it is?  It
 * passed the RFC 5321 grammar (no controls), but a quoted local part may
 * hold delimiters; such an address is left out rather than altered.
 */
static bool
plain_address(const char *a)
{
	size_t i;

	for (i = 0; a[i] != '\0'; i++)
		if ((unsigned char)a[i] <= 0x20 || a[i] == 0x7f ||
		    strchr("()[];\\\"<>", a[i]) != NULL)
			return false;
	return i > 0;
}

int
smtp_received_header(struct buf *out, const struct smtp_envelope *env,
    const char *client_ip, const char *client_name, const char *hostname,
    const char *queue_id, time_t when)
{
	int r = 0;

	r |= buf_append_str(out, "Received: from ");
	r |= put_clean(out, env->helo, HELO_MAX);
	r |= buf_append_str(out, " (");
	r |= put_clean(out, client_name, HELO_MAX);
	/* RFC 5321 4.1.3: an IPv6 address-literal carries its tag */
	r |= buf_append_str(out, is_ipv6(client_ip) ? " [IPv6:" : " [");
	r |= put_clean(out, client_ip, HELO_MAX);
	r |= buf_append_str(out, "])\r\n\tby ");
	r |= put_clean(out, hostname, HELO_MAX);
	r |= buf_append_str(out, " (smtpsd) with ");
	r |= put_clean(out, env->protocol ? env->protocol : "ESMTP", 16);
	r |= buf_append_str(out, " id ");
	r |= put_clean(out, queue_id, HELO_MAX);
	if (env->tls != NULL) {
		r |= buf_append_str(out, "\r\n\t(version=");
		r |= put_clean(out, env->tls->version,
		    sizeof(env->tls->version));
		r |= buf_append_str(out, " cipher=");
		r |= put_clean(out, env->tls->cipher,
		    sizeof(env->tls->cipher));
		r |= buf_printf(out, " bits=%d)", env->tls->bits);
	}
	if (env->nrcpts == 1 && plain_address(env->rcpts[0])) {
		r |= buf_append_str(out, "\r\n\tfor <");
		r |= buf_append_str(out, env->rcpts[0]);
		r |= buf_append_str(out, ">");
	}
	r |= buf_append_str(out, "; ");
	r |= put_date(out, when);
	r |= buf_append_str(out, "\r\n");
	return r < 0 ? E_LIMIT : 0;
}
