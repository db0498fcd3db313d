#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

static enum log_level level = LOG_INFO;
static char prefix[32] = "smtpsd";

void
log_set_level(enum log_level l)
{
	level = l;
}

void
log_set_prefix(const char *process)
{
	snprintf(prefix, sizeof(prefix), "%s", process);
}

void
log_msg(enum log_level l, const char *id, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;

	if (l > level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ %s[%s]: %s%s",
	    (int)(tv.tv_usec / 1000), prefix, names[l], id ? id : "",
	    id ? " " : "");
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	line[sizeof(line) - 2] = '\0';
	n = strlen(line);
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

const char *
log_escape(char *out, size_t outsz, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t o = 0, i;

	if (outsz == 0)
		return out;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		size_t need = (c >= 0x20 && c < 0x7f && c != '\\' && c != '"' &&
		    c != '=') ? 1 : 4;

		if (o + need + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}
