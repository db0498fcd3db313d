/* check/mta_sts.c - MTA-STS policy: parse (pure) and fetch (libcurl) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "check/check_int.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* mta_sts_mode_str - the mode as the policy writes it */
const char *
mta_sts_mode_str(enum mta_sts_mode m)
{
	switch (m) {
	case MTA_STS_MODE_ENFORCE:
		return "enforce";
	case MTA_STS_MODE_TESTING:
		return "testing";
	case MTA_STS_MODE_NONE:
		return "none";
	default:
		return "unset";
	}
}

/* is_space - RFC 8461 3.2 allows WSP around the value */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* same - does [p, p+n) equal the keyword s? */
static bool
same(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* is_mx_pattern - a domain name, optionally "*." first (RFC 8461 3.2) */
static bool
is_mx_pattern(const char *p, size_t n)
{
	size_t i, label = 0;

	if (n >= 2 && p[0] == '*' && p[1] == '.') {
		p += 2;
		n -= 2;
	}
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* parse_max_age - 1 to 10 digits, at most MTA_STS_MAX_AGE_MAX */
static long
parse_max_age(const char *p, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v > MTA_STS_MAX_AGE_MAX ? -1 : v;
}

/* mta_sts_policy_parse - RFC 8461 3.2: "key: value" lines */
int
mta_sts_policy_parse(struct mta_sts_policy *p, const char *txt, size_t n,
    const char **why)
{
	const char *line = txt, *end = txt + n, *problem = NULL;
	bool version = false, first = true;

	memset(p, 0, sizeof(*p));
	p->max_age = -1;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *next = eol ? eol + 1 : end, *colon, *k, *v, *ve;
		size_t kn;

		if (eol == NULL)
			eol = end;
		if (eol > line && eol[-1] == '\r')
			eol--;
		if (eol == line) {
			line = next;
			continue;
		}
		if (memchr(line, '\0', (size_t)(eol - line)) != NULL) {
			if (!problem)
				problem = "NUL byte in the policy";
			line = next;
			continue;
		}
		colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL) {
			if (!problem)
				problem = "a line without \"key: value\"";
			line = next;
			first = false;
			continue;
		}
		k = line;
		kn = (size_t)(colon - line);
		v = colon + 1;
		while (v < eol && is_space(*v))
			v++;
		ve = eol;
		while (ve > v && is_space(ve[-1]))
			ve--;
		if (same(k, kn, "version")) {
			if (!same(v, (size_t)(ve - v), "STSv1")) {
				if (!problem)
					problem = "version is not STSv1";
			} else if (!first) {
				if (!problem)
					problem = "version is not the first line";
				version = true;
			} else
				version = true;
		} else if (same(k, kn, "mode")) {
			if (p->mode != MTA_STS_MODE_UNSET && !problem)
				problem = "mode given twice";
			if (same(v, (size_t)(ve - v), "enforce"))
				p->mode = MTA_STS_MODE_ENFORCE;
			else if (same(v, (size_t)(ve - v), "testing"))
				p->mode = MTA_STS_MODE_TESTING;
			else if (same(v, (size_t)(ve - v), "none"))
				p->mode = MTA_STS_MODE_NONE;
			else if (!problem)
				problem = "mode is not enforce, testing or none";
		} else if (same(k, kn, "max_age")) {
			p->max_age = parse_max_age(v, (size_t)(ve - v));
			if (p->max_age < 0 && !problem)
				problem = "max_age is not 0 to 31557600";
		} else if (same(k, kn, "mx")) {
			if (!is_mx_pattern(v, (size_t)(ve - v))) {
				if (!problem)
					problem = "an mx line is not a domain "
					    "pattern";
			} else if (p->nmx == MTA_STS_MX_MAX)
				p->mx_truncated = true;
			else
				p->mx[p->nmx++] = xstrndup(v, (size_t)(ve - v));
		}
		first = false;
		line = next;
	}
	if (!problem && !version)
		problem = "no version: STSv1 line";
	if (!problem && p->mode == MTA_STS_MODE_UNSET)
		problem = "no mode line";
	if (!problem && p->max_age < 0)
		problem = "no max_age line";
	if (!problem && p->nmx == 0 && p->mode != MTA_STS_MODE_NONE)
		problem = "no mx line";
	if (why)
		*why = problem;
	return problem ? E_SYNTAX : 0;
}

/* mta_sts_policy_fini - free the mx patterns */
void
mta_sts_policy_fini(struct mta_sts_policy *p)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	p->nmx = 0;
}

/* mta_sts_mx_match - RFC 8461 4.1: a wildcard covers one label only */
bool
mta_sts_mx_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl;
	const char *dot;

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pattern[0] == '*' && pattern[1] == '.') {
		dot = memchr(host, '.', hl);
		if (dot == NULL || dot == host)
			return false;
		pl = strlen(pattern + 1);
		return (size_t)(host + hl - dot) == pl &&
		    strncasecmp(dot, pattern + 1, pl) == 0;
	}
	pl = strlen(pattern);
	return pl == hl && strncasecmp(pattern, host, hl) == 0;
}

/* on_body - curl's write callback: stop the transfer at the cap */
static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct ck_fetch *f = arg;
	size_t n = size * nmemb;

	if (buf_append(&f->body, p, n) != 0) {
		f->too_big = true;
		return 0;	/* curl ends the transfer with an error */
	}
	return n;
}

/* ck_fetch_policy - the policy over HTTPS; redirects are not followed
   (RFC 8461 3.3) and the certificate must match mta-sts.DOMAIN */
void
ck_fetch_policy(const struct check_opts *o, const char *addr,
    struct ck_fetch *f)
{
	static bool inited;
	struct curl_slist *pin = NULL;
	CURL *c = NULL;
	char *url = NULL, *resolve = NULL, *ct = NULL;
	long code = 0;
	CURLcode rc;
	int port = o->mta_sts_port > 0 ? o->mta_sts_port : 443;

	memset(f, 0, sizeof(*f));
	buf_init(&f->body, MTA_STS_POLICY_MAX);
	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	if ((c = curl_easy_init()) == NULL) {
		snprintf(f->error, sizeof(f->error), "curl_easy_init failed");
		goto out;
	}
	if (port == 443)
		url = xasprintf("https://mta-sts.%s/.well-known/mta-sts.txt",
		    o->domain);
	else
		url = xasprintf("https://mta-sts.%s:%d/.well-known/"
		    "mta-sts.txt", o->domain, port);
	/* The address comes from our resolver, so the name reaches the
	   server the domain's DNS names (and a test's DNS server works). */
	if (strchr(addr, ':') != NULL)
		resolve = xasprintf("mta-sts.%s:%d:[%s]", o->domain, port, addr);
	else
		resolve = xasprintf("mta-sts.%s:%d:%s", o->domain, port, addr);
	pin = curl_slist_append(NULL, resolve);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, pin);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)MTA_STS_POLICY_MAX);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "smtpsctl-check");
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	f->http_status = (int)code;
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
	    ct != NULL)
		f->content_type = xstrdup(ct);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		f->too_big = true;
	if (rc != CURLE_OK)
		snprintf(f->error, sizeof(f->error), "%s",
		    f->too_big ? "policy larger than 64 KiB" :
		    curl_easy_strerror(rc));
	else
		f->ok = true;
out:
	curl_slist_free_all(pin);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(url);
	free(resolve);
}

/* ck_fetch_fini - free what a fetch kept */
void
ck_fetch_fini(struct ck_fetch *f)
{
	buf_fini(&f->body);
	free(f->content_type);
	f->content_type = NULL;
}
