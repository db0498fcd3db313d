/*
 * mailauth/spf.c - Sender Policy Framework (RFC 7208) check_host().
 *
 * The evaluation is written as plain recursive code over a lookup()
 * primitive.  lookup() answers from the answers the caller has handed in
 * so far; when an answer is missing it records the query and the whole
 * evaluation unwinds with NEED.  spf_next() then reports that query, and
 * after spf_answer() the evaluation is replayed from the start.  Replaying
 * is deterministic (same record text, same answers) and cheap next to a
 * DNS round trip, and it keeps the code as readable as the RFC's own
 * description of check_host() while the machine stays free of I/O.
 */
#include "mailauth/spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util/err.h"
#include "util/idna.h"
#include "util/xmalloc.h"

/* The evaluation needs a DNS answer it does not have yet. */
#define NEED	100

/*
 * A bound on the answers one evaluation may collect.  The RFC 7208 4.6.4
 * limits already keep it near 130 (10 terms, each up to 10 MX or PTR
 * names, plus %{p} and exp=); this only guards against a mistake of ours.
 */
#define SPF_MAX_ANSWERS	512

/* A guard on include/redirect nesting; the DNS term limit ends loops long
   before this. */
#define SPF_MAX_DEPTH	(SPF_MAX_DNS_TERMS + 2)

enum mech {
	M_ALL, M_INCLUDE, M_A, M_MX, M_PTR, M_IP4, M_IP6, M_EXISTS,
};

static const struct mech_def {
	const char *name;
	size_t len;		/* strlen(name) */
	enum mech mech;
	bool spec;		/* takes ":domain-spec" */
	bool spec_required;
	bool cidr;		/* takes a dual-cidr-length */
} mech_defs[] = {
	{ "all", 3, M_ALL, false, false, false },
	{ "include", 7, M_INCLUDE, true, true, false },
	{ "a", 1, M_A, true, false, true },
	{ "mx", 2, M_MX, true, false, true },
	{ "ptr", 3, M_PTR, true, false, false },
	{ "ip4", 3, M_IP4, false, false, false },
	{ "ip6", 3, M_IP6, false, false, false },
	{ "exists", 6, M_EXISTS, true, true, false },
};

struct term {
	enum mech mech;
	enum spf_result qual;
	const char *spec;	/* domain-spec, NULL when absent */
	size_t spec_len;
	int cidr4, cidr6;
	uint8_t net[16];	/* ip4/ip6 network */
};

struct record {
	struct term *terms;
	size_t nterms;
	const char *redirect, *exp;
	size_t redirect_len, exp_len;
};

/*
 * A few parsed records per thread, keyed by the exact record text: the
 * evaluation is replayed from the start after every answer, and the same
 * senders come back message after message, so most records would
 * otherwise be parsed again and again.  Fixed-size slots in thread-local
 * storage (nothing to free); a record too long or with too many terms
 * for a slot is parsed each time.  Only records that parsed cleanly are
 * kept, so a bad one is re-parsed to give its reason.  A slot in use by
 * a check_host() frame is pinned: nested includes never evict the record
 * an outer frame is walking.
 */
#define SPF_MEMO_SLOTS	8
#define SPF_MEMO_TXT	1024
#define SPF_MEMO_TERMS	32

struct rec_memo {
	size_t tlen;		/* 0: empty slot */
	char txt[SPF_MEMO_TXT];
	struct term terms[SPF_MEMO_TERMS];
	struct record rec;	/* points into txt and terms above */
	unsigned long long used;
	int pins;		/* check_host() frames using rec */
};

static __thread struct rec_memo rec_memo[SPF_MEMO_SLOTS];
static __thread unsigned long long rec_memo_clock;

struct cached {
	char *name;		/* lower case, no trailing dot */
	size_t len;		/* strlen(name) */
	enum dns_type type;
	struct dns_answer ans;
};

struct spf {
	/* the request */
	int family;		/* AF_INET (also for v4-mapped v6) or AF_INET6 */
	uint8_t addr[16];
	/* What the evaluation uses: U-labels converted to A-labels
	   (RFC 8616 4), so %{s} %{o} %{d} %{h} and every query see them. */
	char *sender, *local, *sender_domain, *domain, *helo, *receiver;
	/* What the output shows: the domain and address as received (UTF-8
	   is legal in the header fields of an SMTPUTF8 message). */
	char *shown_sender, *shown_domain, *shown_helo;
	bool idn_ok;		/* the domain's A-label form exists */
	char *idn_problem;	/* why it does not */
	int64_t now;
	enum spf_identity identity;

	/* answers collected so far */
	struct cached *cache;
	size_t ncache;
	char *want_name;
	enum dns_type want_type;

	/* per replay */
	int dns_terms, voids;
	char *problem;
	bool have_p;
	char *p_name;

	/* the verdict */
	bool done;
	enum spf_result result;
	char *explanation;
	char *final_problem;
};

/* ---- small helpers ---- */

static void set_problem(struct spf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* set_problem - remember why the result is an error (first reason wins) */
static void
set_problem(struct spf *s, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];

	if (s->problem != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	s->problem = xstrdup(tmp);
}

/* lower - lower-case a string in place */
static void
lower(char *p)
{
	for (; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* is_alnum - ASCII letter or digit, whatever the locale */
static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* is_alpha - ASCII letter, whatever the locale */
static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * name_is_valid - can this be sent as a DNS query name?  Labels of 1 to 63
 * octets (RFC 1035 2.3.4), 253 octets in all; one trailing dot allowed.
 * multi asks for at least two labels (RFC 7208 4.3).
 */
static bool
name_is_valid_len(const char *n, size_t len, bool multi)
{
	size_t lab = 0, labels = 0, i;

	if (len > 0 && n[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_MAX_DOMAIN_LEN)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || n[i] == '.') {
			if (lab == 0 || lab > 63)
				return false;
			labels++;
			lab = 0;
			continue;
		}
		/* A query name is ASCII: U-labels are converted before
		   (RFC 8616 4), so a byte >= 0x80 here came from a macro
		   such as %{l} with a UTF-8 local part. */
		if ((unsigned char)n[i] < 0x20 || (unsigned char)n[i] >= 0x7f)
			return false;
		lab++;
	}
	return !multi || labels >= 2;
}

static bool
name_is_valid(const char *n, bool multi)
{
	return name_is_valid_len(n, strlen(n), multi);
}

/* strip_dot - drop one trailing dot (RFC 7208 7.3: it is ignored) */
static void
strip_dot(char *n)
{
	size_t len = strlen(n);

	if (len > 0 && n[len - 1] == '.')
		n[len - 1] = '\0';
}

/* lower_eq - n[0..len) equals the lower-case lc[0..len), ASCII case
   aside */
static bool
lower_eq(const char *lc, const char *n, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = n[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lc[i])
			return false;
	}
	return true;
}

/*
 * is_checkable_domain - RFC 7208 4.3: a domain check_host() can look up:
 * a multi-label name, not a domain literal ("[192.0.2.1]") and not an
 * address (a numeric top label, RFC 1123 2.1).
 */
static bool
is_checkable_domain(const char *d)
{
	const char *top;
	size_t len = strlen(d), i;

	if (d[0] == '[' || !name_is_valid(d, true))
		return false;
	if (len > 0 && d[len - 1] == '.')
		len--;
	for (i = len; i > 0 && d[i - 1] != '.'; i--)
		;
	top = d + i;
	for (i = 0; top + i < d + len; i++)
		if (!(top[i] >= '0' && top[i] <= '9'))
			return true;
	return false;
}

/* ---- answers ---- */

/* copy_answer - deep copy of an answer into the cache */
static void
copy_answer(struct dns_answer *dst, const struct dns_answer *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->status = src->status;
	dst->secure = src->secure;
	dst->bogus = src->bogus;
	if (src->nrrs == 0)
		return;
	dst->rrs = xcalloc(src->nrrs, sizeof(*dst->rrs));
	dst->nrrs = src->nrrs;
	for (i = 0; i < src->nrrs; i++) {
		const struct dns_rr *a = &src->rrs[i];
		struct dns_rr *b = &dst->rrs[i];

		*b = *a;
		b->name = a->name ? xstrdup(a->name) : NULL;
		b->txt = NULL;
		if (a->txt) {
			b->txt = xmalloc(a->txt_len + 1);
			memcpy(b->txt, a->txt, a->txt_len);
			b->txt[a->txt_len] = '\0';
		}
		b->parts = NULL;
		if (a->nparts) {
			b->parts = xcalloc(a->nparts, sizeof(size_t));
			memcpy(b->parts, a->parts, a->nparts * sizeof(size_t));
		}
		b->rdata = NULL;
		if (a->rdata_len) {
			b->rdata = xmalloc(a->rdata_len);
			memcpy(b->rdata, a->rdata, a->rdata_len);
		}
	}
}

/* free_answer - release a cached copy of an answer */
static void
free_answer(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->nrrs; i++) {
		free(a->rrs[i].name);
		free(a->rrs[i].txt);
		free(a->rrs[i].parts);
		free(a->rrs[i].rdata);
	}
	free(a->rrs);
	memset(a, 0, sizeof(*a));
}

/*
 * lookup - the answer for name/type, or NEED after noting the query.  A
 * name that cannot be queried answers DNS_ERROR without a query.
 */
static int
lookup(struct spf *s, const char *name, enum dns_type type,
    const struct dns_answer **out)
{
	static const struct dns_answer invalid = { .status = DNS_ERROR };
	size_t i, len = strlen(name), n;

	/* Cached names are valid, lower case and without the trailing dot,
	   so a name equal to one (case and one trailing dot aside) is valid
	   too: the check waits for a miss. */
	n = len > 0 && name[len - 1] == '.' ? len - 1 : len;
	for (i = 0; i < s->ncache; i++)
		if (s->cache[i].len == n && s->cache[i].type == type &&
		    lower_eq(s->cache[i].name, name, n)) {
			*out = &s->cache[i].ans;
			return 0;
		}
	if (!name_is_valid_len(name, len, false) ||
	    s->ncache >= SPF_MAX_ANSWERS) {
		*out = &invalid;
		return 0;
	}
	free(s->want_name);
	s->want_name = xstrndup(name, n);
	lower(s->want_name);
	s->want_type = type;
	return NEED;
}

/* is_temp - an answer that means "try again later" (RFC 7208 5) */
static bool
is_temp(const struct dns_answer *a)
{
	return a->status == DNS_SERVFAIL || a->status == DNS_TIMEOUT;
}

/* count_void - RFC 7208 4.6.4: NXDOMAIN or no records; false past limit */
static bool
count_void(struct spf *s, const struct dns_answer *a)
{
	if (a->status != DNS_NXDOMAIN && a->status != DNS_NODATA &&
	    !(a->status == DNS_OK && a->nrrs == 0))
		return true;
	if (++s->voids > SPF_MAX_VOID_LOOKUPS) {
		set_problem(s, "too many void DNS lookups");
		return false;
	}
	return true;
}

/* count_term - RFC 7208 4.6.4: false past the DNS-querying term limit */
static bool
count_term(struct spf *s)
{
	if (++s->dns_terms > SPF_MAX_DNS_TERMS) {
		set_problem(s, "more than 10 DNS-querying terms");
		return false;
	}
	return true;
}

/* ---- addresses ---- */

/* addr_matches - does the client address fall in net/bits? */
static bool
addr_matches(const uint8_t *a, const uint8_t *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* rr_matches - does an A/AAAA record hold the client within the cidr? */
static bool
rr_matches(const struct spf *s, const struct dns_rr *rr, int cidr4,
    int cidr6)
{
	if (s->family == AF_INET && rr->type == DNS_T_A)
		return addr_matches(s->addr, rr->addr, cidr4);
	if (s->family == AF_INET6 && rr->type == DNS_T_AAAA)
		return addr_matches(s->addr, rr->addr, cidr6);
	return false;
}

/* addr_type - A or AAAA, as the client address asks */
static enum dns_type
addr_type(const struct spf *s)
{
	return s->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* reverse_name - in-addr.arpa or ip6.arpa name of the client */
static void
reverse_name(const struct spf *s, char *out, size_t outsz)
{
	dns_reverse_name(s->addr, s->family == AF_INET ? 4 : 16, out, outsz);
}

/*
 * validated_names - RFC 7208 5.5: the PTR names of the client whose own
 * A/AAAA records hold the client address (first SPF_MAX_PTR_NAMES only).
 * Returns 0 (names in *out, possibly none), NEED, or 1 when the PTR
 * lookup itself did not answer with names.
 */
static int
validated_names(struct spf *s, char ***out, size_t *nout)
{
	const struct dns_answer *ptr, *a;
	char rev[80];
	size_t i, j, n = 0, used = 0;
	char **names;
	int r;

	*out = NULL;
	*nout = 0;
	reverse_name(s, rev, sizeof(rev));
	if ((r = lookup(s, rev, DNS_T_PTR, &ptr)) != 0)
		return r;
	if (ptr->status != DNS_OK)
		return 1;
	names = xcalloc(ptr->nrrs + 1, sizeof(char *));
	for (i = 0; i < ptr->nrrs && used < SPF_MAX_PTR_NAMES; i++) {
		if (ptr->rrs[i].type != DNS_T_PTR || ptr->rrs[i].name == NULL)
			continue;
		used++;
		if ((r = lookup(s, ptr->rrs[i].name, addr_type(s), &a)) != 0) {
			if (r == NEED)
				goto need;
			continue;
		}
		/* RFC 7208 5.5: a name whose lookup fails is skipped. */
		if (a->status != DNS_OK)
			continue;
		for (j = 0; j < a->nrrs; j++)
			if (rr_matches(s, &a->rrs[j], 32, 128)) {
				names[n++] = ptr->rrs[i].name;
				break;
			}
	}
	*out = names;
	*nout = n;
	return 0;
need:
	free(names);
	return NEED;
}

/* name_under - is name equal to domain or a subdomain of it? */
static bool
name_under(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);

	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl == dl)
		return strncasecmp(name, domain, dl) == 0;
	if (nl > dl && name[nl - dl - 1] == '.')
		return strncasecmp(name + nl - dl, domain, dl) == 0;
	return false;
}

/*
 * p_macro - RFC 7208 7.3: the validated name for %{p}: the domain itself,
 * else a subdomain of it, else any validated name, else "unknown".
 */
static int
p_macro(struct spf *s, const char *domain, const char **out)
{
	char **names;
	size_t n, i;
	const char *pick = NULL;
	int r;

	if (s->have_p) {
		*out = s->p_name;
		return 0;
	}
	r = validated_names(s, &names, &n);
	if (r == NEED)
		return NEED;
	for (i = 0; i < n && pick == NULL; i++)
		if (strcasecmp(names[i], domain) == 0)
			pick = names[i];
	for (i = 0; i < n && pick == NULL; i++)
		if (name_under(names[i], domain))
			pick = names[i];
	if (pick == NULL && n > 0)
		pick = names[0];
	s->p_name = xstrdup(pick ? pick : "unknown");
	strip_dot(s->p_name);
	s->have_p = true;
	free(names);
	*out = s->p_name;
	return 0;
}

/* ---- macros (RFC 7208 7) ---- */

/* is_delim - one of the macro delimiters of RFC 7208 7.1 */
static bool
is_delim(int c)
{
	return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' ||
	    c == '_' || c == '=';
}

/* url_escape_into - RFC 7208 7.3: upper-case macros are URL-escaped */
static int
url_escape_into(struct buf *out, const char *p, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_alnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~')
			r = buf_append(out, &p[i], 1);
		else
			r = buf_printf(out, "%%%02X", c);
	}
	return r;
}

/* macro_value - the raw value of one macro letter, or NULL if unknown */
static int
macro_value(struct spf *s, int letter, const char *domain, bool is_exp,
    char *tmp, size_t tmpsz, const char **val)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i, r;

	*val = NULL;
	switch (tolower(letter)) {
	case 's':
		*val = s->sender;
		break;
	case 'l':
		*val = s->local;
		break;
	case 'o':
		*val = s->sender_domain;
		break;
	case 'd':
		*val = domain;
		break;
	case 'i':
		if (s->family == AF_INET) {
			snprintf(tmp, tmpsz, "%u.%u.%u.%u", s->addr[0],
			    s->addr[1], s->addr[2], s->addr[3]);
		} else {
			for (i = 0; i < 16 && o + 4 < tmpsz; i++) {
				tmp[o++] = hex[s->addr[i] >> 4];
				tmp[o++] = '.';
				tmp[o++] = hex[s->addr[i] & 0xf];
				tmp[o++] = '.';
			}
			tmp[o > 0 ? o - 1 : 0] = '\0';
		}
		*val = tmp;
		break;
	case 'p':
		if ((r = p_macro(s, domain, val)) != 0)
			return r;
		break;
	case 'v':
		*val = s->family == AF_INET ? "in-addr" : "ip6";
		break;
	case 'h':
		*val = s->helo;
		break;
	case 'c':
		if (!is_exp)
			return E_SYNTAX;
		inet_ntop(s->family, s->addr, tmp, (socklen_t)tmpsz);
		*val = tmp;
		break;
	case 'r':
		if (!is_exp)
			return E_SYNTAX;
		*val = s->receiver;
		break;
	case 't':
		if (!is_exp)
			return E_SYNTAX;
		snprintf(tmp, tmpsz, "%" PRId64, s->now);
		*val = tmp;
		break;
	default:
		return E_SYNTAX;
	}
	return 0;
}

/*
 * transform - RFC 7208 7.3: split value on the delimiters, optionally
 * reverse, keep the rightmost n parts (0 = all), join with dots.
 */
static int
transform(struct buf *out, const char *val, size_t n, bool rev,
    const char *delims, size_t ndelims, bool escape)
{
	size_t len = strlen(val), nparts = 1, i, k, first;
	size_t *start, *plen;
	int r = 0;

	for (i = 0; i < len; i++)
		if (ndelims ? memchr(delims, val[i], ndelims) != NULL :
		    val[i] == '.')
			nparts++;
	start = xcalloc(nparts, sizeof(size_t));
	plen = xcalloc(nparts, sizeof(size_t));
	k = 0;
	start[0] = 0;
	for (i = 0; i <= len; i++) {
		if (i == len || (ndelims ?
		    memchr(delims, val[i], ndelims) != NULL : val[i] == '.')) {
			plen[k] = i - start[k];
			if (++k < nparts)
				start[k] = i + 1;
		}
	}
	first = n == 0 || n >= nparts ? 0 : nparts - n;
	for (i = first; i < nparts && r == 0; i++) {
		/* position i of the list after the optional reversal */
		size_t idx = rev ? nparts - 1 - i : i;

		if (i > first)
			r = buf_append(out, ".", 1);
		if (r == 0)
			r = escape ? url_escape_into(out, val + start[idx],
			    plen[idx]) : buf_append(out, val + start[idx],
			    plen[idx]);
	}
	free(start);
	free(plen);
	return r;
}

/*
 * expand - expand a macro-string (RFC 7208 7.1).  s may have no DNS
 * behind it (spf_expand): then %{p} has already been set to "unknown".
 * Returns 0, E_SYNTAX, E_LIMIT (output cap) or NEED.
 */
static int
expand(struct spf *s, const char *domain, const char *spec, size_t len,
    bool is_exp, struct buf *out)
{
	char tmp[INET6_ADDRSTRLEN + 64];
	size_t i = 0;
	int r;

	while (i < len) {
		unsigned char c = (unsigned char)spec[i];

		if (c != '%') {
			/* macro-literal = %x21-24 / %x26-7E; exp text also
			   holds spaces (explanation-string, 6.2) */
			if (c < 0x20 || c > 0x7e || (c == ' ' && !is_exp))
				return E_SYNTAX;
			if ((r = buf_append(out, &spec[i], 1)) < 0)
				return r;
			i++;
			continue;
		}
		if (i + 1 >= len)
			return E_SYNTAX;
		switch (spec[i + 1]) {
		case '%':
			r = buf_append(out, "%", 1);
			i += 2;
			break;
		case '_':
			r = buf_append(out, " ", 1);
			i += 2;
			break;
		case '-':
			r = buf_append(out, "%20", 3);
			i += 2;
			break;
		case '{': {
			size_t j = i + 2, n = 0, ndig = 0, dstart;
			bool rev = false;
			int letter;
			const char *val;

			if (j >= len)
				return E_SYNTAX;
			letter = (unsigned char)spec[j++];
			if (!is_alpha(letter))
				return E_SYNTAX;
			while (j < len && spec[j] >= '0' && spec[j] <= '9') {
				/* a number past 128 parts keeps all parts */
				if (n < 1000)
					n = n * 10 + (size_t)(spec[j] - '0');
				ndig++;
				j++;
			}
			/* RFC 7208 7.1: a DIGIT transformer is nonzero */
			if (ndig > 0 && n == 0)
				return E_SYNTAX;
			if (j < len && (spec[j] == 'r' || spec[j] == 'R')) {
				rev = true;
				j++;
			}
			dstart = j;
			while (j < len && is_delim((unsigned char)spec[j]))
				j++;
			if (j >= len || spec[j] != '}')
				return E_SYNTAX;
			r = macro_value(s, letter, domain, is_exp, tmp,
			    sizeof(tmp), &val);
			if (r != 0)
				return r;
			r = transform(out, val ? val : "", n, rev,
			    spec + dstart, j - dstart,
			    letter >= 'A' && letter <= 'Z');
			i = j + 1;
			break;
		}
		default:
			return E_SYNTAX;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * expand_domain - expand a domain-spec for a query: drop a trailing dot
 * and, RFC 7208 7.3, labels from the left until it fits 253 octets.
 */
static int
expand_domain(struct spf *s, const char *domain, const char *spec,
    size_t len, char **out)
{
	struct buf b;
	const char *p;
	char *name;
	size_t i;
	int r;

	*out = NULL;
	/* no '%': the expansion is the text itself (what expand() would
	   copy one literal at a time) */
	for (i = 0; i < len; i++)
		if (spec[i] == '%' || (unsigned char)spec[i] < 0x21 ||
		    (unsigned char)spec[i] > 0x7e)
			break;
	if (i == len)
		name = xstrndup(spec, len);
	else {
		buf_init(&b, 4 * SPF_MAX_RECORD_LEN);
		if ((r = expand(s, domain, spec, len, false, &b)) != 0) {
			buf_fini(&b);
			return r == NEED ? NEED : E_SYNTAX;
		}
		name = xstrdup(buf_cstr(&b));
		buf_fini(&b);
	}
	strip_dot(name);
	p = name;
	while (strlen(p) > SPF_MAX_DOMAIN_LEN) {
		const char *dot = strchr(p, '.');

		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (p != name)
		memmove(name, p, strlen(p) + 1);
	*out = name;
	return 0;
}

/* ---- record syntax (RFC 7208 4.5, 5, 6, 12) ---- */

/* is_toplabel - toplabel = ( *alphanum ALPHA *alphanum ) /
   ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool
is_toplabel(const char *p, size_t n)
{
	bool alpha = false, dash = false;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (is_alpha((unsigned char)p[i]))
			alpha = true;
		else if (p[i] == '-')
			dash = true;
		else if (!is_alnum((unsigned char)p[i]))
			return false;
	}
	if (dash)
		return is_alnum((unsigned char)p[0]) &&
		    is_alnum((unsigned char)p[n - 1]);
	return alpha;
}

/* check_macro_string - the macro syntax of spec (without expanding) */
static bool
check_macro_string(const char *spec, size_t len, bool is_exp,
    size_t *last_macro_end)
{
	size_t i = 0;

	*last_macro_end = 0;
	while (i < len) {
		unsigned char c = (unsigned char)spec[i];

		if (c != '%') {
			if (c < 0x21 || c > 0x7e)
				return false;
			i++;
			continue;
		}
		if (i + 1 >= len)
			return false;
		if (spec[i + 1] == '%' || spec[i + 1] == '_' ||
		    spec[i + 1] == '-') {
			i += 2;
			*last_macro_end = i;
			continue;
		}
		if (spec[i + 1] != '{' || i + 2 >= len)
			return false;
		i += 2;
		switch (tolower((unsigned char)spec[i])) {
		case 's': case 'l': case 'o': case 'd': case 'i': case 'p':
		case 'v': case 'h':
			break;
		case 'c': case 'r': case 't':
			if (!is_exp)
				return false;
			break;
		default:
			return false;
		}
		i++;
		{
			size_t ndig = 0, n = 0;

			while (i < len && spec[i] >= '0' && spec[i] <= '9') {
				if (n < 1000)
					n = n * 10 + (size_t)(spec[i] - '0');
				ndig++;
				i++;
			}
			if (ndig > 0 && n == 0)
				return false;
		}
		if (i < len && (spec[i] == 'r' || spec[i] == 'R'))
			i++;
		while (i < len && is_delim((unsigned char)spec[i]))
			i++;
		if (i >= len || spec[i] != '}')
			return false;
		i++;
		*last_macro_end = i;
	}
	return true;
}

/*
 * check_domain_spec - domain-spec = macro-string domain-end, where
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand.
 */
static bool
check_domain_spec(const char *spec, size_t len)
{
	size_t end, tail, i;

	if (len == 0 || !check_macro_string(spec, len, false, &end))
		return false;
	if (end == len)
		return true;	/* ends in a macro-expand */
	tail = len;
	if (spec[tail - 1] == '.')
		tail--;
	for (i = tail; i > end; i--)
		if (spec[i - 1] == '.')
			break;
	if (i <= end || i - 1 < end)
		return false;	/* no "." before the toplabel */
	return is_toplabel(spec + i, tail - i);
}

/* parse_cidr - "/" digits with no leading zero, at most max */
static bool
parse_cidr(const char *p, size_t n, int max, int *out)
{
	int v = 0;
	size_t i;

	if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/*
 * split_dual_cidr - take a trailing dual-cidr-length off [p, p+*len):
 * [ "/" ip4-cidr ] [ "//" ip6-cidr ].  Returns false on a bad length.
 */
static bool
split_dual_cidr(const char *p, size_t *len, int *c4, int *c6)
{
	size_t n = *len, i;

	*c4 = 32;
	*c6 = 128;
	/* "//" ip6-cidr-length at the very end */
	for (i = n; i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9'; i--)
		;
	if (i >= 2 && i < n && p[i - 1] == '/' && p[i - 2] == '/') {
		if (!parse_cidr(p + i, n - i, 128, c6))
			return false;
		n = i - 2;
	}
	for (i = n; i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9'; i--)
		;
	if (i >= 1 && i < n && p[i - 1] == '/' &&
	    (i < 2 || p[i - 2] != '/')) {
		if (!parse_cidr(p + i, n - i, 32, c4))
			return false;
		n = i - 1;
	}
	*len = n;
	return true;
}

/* parse_ip4 - dotted quad per RFC 7208 12 (dec-octet, no leading zero) */
static bool
parse_ip4(const char *p, size_t n, uint8_t *out)
{
	char tmp[16];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET, tmp, out) == 1;
}

static bool
parse_ip6(const char *p, size_t n, uint8_t *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* parse_mechanism - one directive (without its qualifier) */
static bool
parse_mechanism(const char *p, size_t n, struct term *t)
{
	const struct mech_def *d = NULL;
	size_t nl, i, rest;
	const char *arg;

	for (nl = 0; nl < n && p[nl] != ':' && p[nl] != '/'; nl++)
		;
	for (i = 0; i < sizeof(mech_defs) / sizeof(mech_defs[0]); i++)
		if (mech_defs[i].len == nl && lower_eq(mech_defs[i].name, p,
		    nl)) {
			d = &mech_defs[i];
			break;
		}
	if (d == NULL)
		return false;
	t->mech = d->mech;
	t->spec = NULL;
	t->spec_len = 0;
	t->cidr4 = 32;
	t->cidr6 = 128;
	arg = p + nl;
	rest = n - nl;
	if (d->mech == M_IP4 || d->mech == M_IP6) {
		size_t alen;
		int max = d->mech == M_IP4 ? 32 : 128;
		int *c = d->mech == M_IP4 ? &t->cidr4 : &t->cidr6;

		if (rest < 2 || arg[0] != ':')
			return false;
		arg++;
		rest--;
		for (alen = rest; alen > 0 && arg[alen - 1] != '/'; alen--)
			;
		if (alen > 0) {
			if (!parse_cidr(arg + alen, rest - alen, max, c))
				return false;
			rest = alen - 1;
		}
		memset(t->net, 0, sizeof(t->net));
		return d->mech == M_IP4 ? parse_ip4(arg, rest, t->net) :
		    parse_ip6(arg, rest, t->net);
	}
	if (d->cidr && !split_dual_cidr(arg, &rest, &t->cidr4, &t->cidr6))
		return false;
	if (rest == 0)
		return !d->spec_required;
	if (!d->spec || arg[0] != ':')
		return false;
	t->spec = arg + 1;
	t->spec_len = rest - 1;
	return check_domain_spec(t->spec, t->spec_len);
}

/*
 * parse_record - the terms after "v=spf1" (RFC 7208 4.6, 12).  Any syntax
 * error anywhere in the record is a permerror before anything is
 * evaluated (4.6).
 */
static int
parse_record(struct spf *s, const char *rec, size_t len, struct record *out)
{
	size_t i = 6, cap = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		size_t start, n, nl;
		const char *p;
		struct term t;

		while (i < len && rec[i] == ' ')
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && rec[i] != ' ')
			i++;
		p = rec + start;
		n = i - start;
		/* modifier: name "=" with name = ALPHA *( ALPHA / DIGIT / "-"
		   / "_" / "." ) (RFC 7208 12) */
		for (nl = 0; nl < n && (is_alnum((unsigned char)p[nl]) ||
		    p[nl] == '-' || p[nl] == '_' || p[nl] == '.'); nl++)
			;
		if (nl < n && p[nl] == '=') {
			const char *v = p + nl + 1;
			size_t vl = n - nl - 1, dummy;

			if (nl == 0 || !is_alpha((unsigned char)p[0])) {
				set_problem(s, "bad modifier name");
				goto bad;
			}
			if (nl == 8 && strncasecmp(p, "redirect", 8) == 0) {
				if (out->redirect != NULL ||
				    !check_domain_spec(v, vl)) {
					set_problem(s, "bad or second redirect=");
					goto bad;
				}
				out->redirect = v;
				out->redirect_len = vl;
			} else if (nl == 3 && strncasecmp(p, "exp", 3) == 0) {
				if (out->exp != NULL ||
				    !check_domain_spec(v, vl)) {
					set_problem(s, "bad or second exp=");
					goto bad;
				}
				out->exp = v;
				out->exp_len = vl;
			} else if (!check_macro_string(v, vl, false, &dummy)) {
				set_problem(s, "bad macro in a modifier");
				goto bad;
			}
			continue;
		}
		t.qual = SPF_PASS;
		switch (p[0]) {
		case '+':
			t.qual = SPF_PASS;
			break;
		case '-':
			t.qual = SPF_FAIL;
			break;
		case '~':
			t.qual = SPF_SOFTFAIL;
			break;
		case '?':
			t.qual = SPF_NEUTRAL;
			break;
		}
		if (p[0] == '+' || p[0] == '-' || p[0] == '~' || p[0] == '?') {
			p++;
			n--;
		}
		if (n == 0 || !parse_mechanism(p, n, &t)) {
			char term[64];

			snprintf(term, sizeof(term), "%.*s",
			    (int)(i - start > 40 ? 40 : i - start),
			    rec + start);
			set_problem(s, "bad term '%s'", term);
			goto bad;
		}
		if (out->nterms == cap) {
			cap = cap ? cap * 2 : 8;
			out->terms = xrealloc(out->terms,
			    cap * sizeof(*out->terms));
		}
		out->terms[out->nterms++] = t;
	}
	return 0;
bad:
	free(out->terms);
	memset(out, 0, sizeof(*out));
	return E_SYNTAX;
}

/* is_spf_record - "v=spf1" then a space or the end (RFC 7208 4.5) */
static bool
is_spf_record(const char *txt, size_t len)
{
	return len >= 6 && strncasecmp(txt, "v=spf1", 6) == 0 &&
	    (len == 6 || txt[6] == ' ');
}

/* ---- evaluation (RFC 7208 4, 5, 6) ---- */

static int check_host(struct spf *s, const char *domain, int depth,
    char **exp);

/* mech_a - a and the second half of mx: any A/AAAA of name in cidr */
static int
match_addrs(struct spf *s, const struct dns_answer *a, const struct term *t)
{
	size_t i;

	for (i = 0; i < a->nrrs; i++)
		if (rr_matches(s, &a->rrs[i], t->cidr4, t->cidr6))
			return 1;
	return 0;
}

/*
 * eval_term - 1 if the term matches, 0 if not, NEED, or an spf_result
 * + 1000 for an error that ends the evaluation (temperror/permerror).
 */
#define ERR(r)	(1000 + (r))
/* eval_term - evaluate one mechanism (RFC 7208 5) */
static int
eval_term(struct spf *s, const struct term *t, const char *domain, int depth)
{
	const struct dns_answer *a, *b;
	char *target = NULL, **names;
	size_t i, n;
	int r, ret = 0;

	if (t->mech == M_ALL)
		return 1;
	if (t->mech == M_IP4)
		return s->family == AF_INET &&
		    addr_matches(s->addr, t->net, t->cidr4);
	if (t->mech == M_IP6)
		return s->family == AF_INET6 &&
		    addr_matches(s->addr, t->net, t->cidr6);

	if (!count_term(s))
		return ERR(SPF_PERMERROR);
	if (t->spec != NULL) {
		r = expand_domain(s, domain, t->spec, t->spec_len, &target);
		if (r == NEED)
			return NEED;
		if (r != 0) {
			set_problem(s, "macro expansion failed");
			return ERR(SPF_PERMERROR);
		}
	} else
		target = xstrdup(domain);
	/* RFC 8616 4: a term whose %{s} or %{l} brings in a non-ASCII
	   local part matches nothing (such a name cannot be looked up);
	   every other macro expands to ASCII (A-labels). */
	if (!idna_is_ascii(target)) {
		free(target);
		return 0;
	}

	switch (t->mech) {
	case M_INCLUDE: {
		char *sub_exp = NULL;

		/* RFC 7208 5.2: none or permerror below is permerror here;
		   the included record's exp= is not ours. */
		r = check_host(s, target, depth + 1, &sub_exp);
		free(sub_exp);
		if (r == NEED)
			ret = NEED;
		else if (r == SPF_PASS)
			ret = 1;
		else if (r == SPF_TEMPERROR)
			ret = ERR(SPF_TEMPERROR);
		else if (r == SPF_PERMERROR || r == SPF_NONE) {
			set_problem(s, "include:%s has no usable record",
			    target);
			ret = ERR(SPF_PERMERROR);
		} else
			ret = 0;
		break;
	}
	case M_A:
	case M_EXISTS:
		/* A target that cannot be a DNS name matches nothing: lookup()
		   answers it DNS_ERROR, which is neither void nor a match. */
		r = lookup(s, target, t->mech == M_EXISTS ? DNS_T_A :
		    addr_type(s), &a);
		if (r != 0) {
			ret = r;
			break;
		}
		if (is_temp(a)) {
			set_problem(s, "DNS failure for %s", target);
			ret = ERR(SPF_TEMPERROR);
			break;
		}
		if (!count_void(s, a)) {
			ret = ERR(SPF_PERMERROR);
			break;
		}
		if (a->status != DNS_OK)
			break;
		if (t->mech == M_EXISTS)
			ret = a->nrrs > 0;
		else
			ret = match_addrs(s, a, t);
		break;
	case M_MX:
		if ((r = lookup(s, target, DNS_T_MX, &a)) != 0) {
			ret = r;
			break;
		}
		if (is_temp(a)) {
			set_problem(s, "DNS failure for %s", target);
			ret = ERR(SPF_TEMPERROR);
			break;
		}
		if (!count_void(s, a)) {
			ret = ERR(SPF_PERMERROR);
			break;
		}
		if (a->status != DNS_OK)
			break;
		for (i = 0, n = 0; i < a->nrrs; i++)
			if (a->rrs[i].type == DNS_T_MX)
				n++;
		if (n > SPF_MAX_MX_NAMES) {
			set_problem(s, "more than 10 MX names at %s", target);
			ret = ERR(SPF_PERMERROR);
			break;
		}
		for (i = 0; i < a->nrrs && ret == 0; i++) {
			const char *x = a->rrs[i].name;

			/* RFC 7505 null MX: "." names no host */
			if (a->rrs[i].type != DNS_T_MX || x == NULL ||
			    x[0] == '\0' || strcmp(x, ".") == 0)
				continue;
			if ((r = lookup(s, x, addr_type(s), &b)) != 0) {
				ret = r;
				break;
			}
			if (is_temp(b)) {
				set_problem(s, "DNS failure for %s", x);
				ret = ERR(SPF_TEMPERROR);
				break;
			}
			if (b->status == DNS_OK)
				ret = match_addrs(s, b, t);
		}
		break;
	case M_PTR:
		r = validated_names(s, &names, &n);
		if (r == NEED) {
			ret = NEED;
			break;
		}
		/* The PTR query is this term's lookup; an empty answer is a
		   void lookup (4.6.4), a failure is simply no match (5.5). */
		if (r == 1) {
			char rev[80];

			reverse_name(s, rev, sizeof(rev));
			if (lookup(s, rev, DNS_T_PTR, &a) == 0 &&
			    !count_void(s, a))
				ret = ERR(SPF_PERMERROR);
			break;
		}
		for (i = 0; i < n && ret == 0; i++)
			if (name_under(names[i], target))
				ret = 1;
		free(names);
		break;
	default:
		break;
	}
	free(target);
	return ret;
}

/*
 * explain - RFC 7208 6.2: the exp= text, or NULL when there is none: no
 * single TXT record, a DNS error, or a syntax error all give no text.
 */
static int
explain(struct spf *s, const struct record *rec, const char *domain,
    char **out)
{
	const struct dns_answer *a;
	char *name = NULL;
	struct buf b;
	size_t i;
	int r;

	*out = NULL;
	if (rec->exp == NULL)
		return 0;
	r = expand_domain(s, domain, rec->exp, rec->exp_len, &name);
	if (r != 0)
		return r == NEED ? NEED : 0;
	r = lookup(s, name, DNS_T_TXT, &a);
	free(name);
	if (r != 0)
		return r;
	if (a->status != DNS_OK || a->nrrs != 1 || a->rrs[0].txt == NULL)
		return 0;
	for (i = 0; i < a->rrs[0].txt_len; i++)
		if ((unsigned char)a->rrs[0].txt[i] > 0x7e ||
		    (unsigned char)a->rrs[0].txt[i] < 0x20)
			return 0;
	buf_init(&b, SPF_MAX_EXPLANATION_LEN);
	r = expand(s, domain, a->rrs[0].txt, a->rrs[0].txt_len, true, &b);
	if (r == NEED) {
		buf_fini(&b);
		return NEED;
	}
	if (r == 0)
		*out = xstrdup(buf_cstr(&b));
	buf_fini(&b);
	return 0;
}

/* rec_memo_find - the pinned slot holding this exact record, or NULL */
static struct rec_memo *
rec_memo_find(const char *txt, size_t len)
{
	struct rec_memo *m;
	size_t i;

	for (i = 0; i < SPF_MEMO_SLOTS; i++) {
		m = &rec_memo[i];
		if (m->tlen == len && memcmp(m->txt, txt, len) == 0) {
			m->used = ++rec_memo_clock;
			m->pins++;
			return m;
		}
	}
	return NULL;
}

/* rec_memo_put - keep a cleanly parsed record in the least recently used
   unpinned slot and return that slot pinned; NULL when it does not fit
   or every slot is pinned (the caller keeps its own copy) */
static struct rec_memo *
rec_memo_put(const char *txt, size_t len, const struct record *rec)
{
	struct rec_memo *m = NULL;
	size_t i;

	if (len == 0 || len > SPF_MEMO_TXT || rec->nterms > SPF_MEMO_TERMS)
		return NULL;
	for (i = 0; i < SPF_MEMO_SLOTS; i++)
		if (rec_memo[i].pins == 0 &&
		    (m == NULL || rec_memo[i].used < m->used))
			m = &rec_memo[i];
	if (m == NULL)
		return NULL;
	memcpy(m->txt, txt, len);
	m->tlen = len;
	memset(&m->rec, 0, sizeof(m->rec));
	for (i = 0; i < rec->nterms; i++) {
		m->terms[i] = rec->terms[i];
		if (rec->terms[i].spec != NULL)
			m->terms[i].spec = m->txt + (rec->terms[i].spec - txt);
	}
	m->rec.terms = m->terms;
	m->rec.nterms = rec->nterms;
	if (rec->redirect != NULL)
		m->rec.redirect = m->txt + (rec->redirect - txt);
	m->rec.redirect_len = rec->redirect_len;
	if (rec->exp != NULL)
		m->rec.exp = m->txt + (rec->exp - txt);
	m->rec.exp_len = rec->exp_len;
	m->used = ++rec_memo_clock;
	m->pins = 1;
	return m;
}

/*
 * check_host - RFC 7208 4: the result for domain, or NEED.  On fail, *exp
 * receives the explanation of the record that failed (or NULL).
 */
static int
check_host(struct spf *s, const char *domain_in, int depth, char **exp)
{
	const struct dns_answer *a;
	const char *txt = NULL;
	const struct record *rec;
	struct record own;
	struct rec_memo *memo;
	char *domain;
	size_t i, ntxt = 0, txt_len = 0;
	int r, result = SPF_NEUTRAL;

	*exp = NULL;
	if (depth > SPF_MAX_DEPTH) {
		set_problem(s, "include/redirect too deep");
		return SPF_PERMERROR;
	}
	domain = xstrdup(domain_in);
	strip_dot(domain);
	/* RFC 7208 4.3: a malformed or single-label domain gives none. */
	if (!is_checkable_domain(domain)) {
		free(domain);
		return SPF_NONE;
	}
	if ((r = lookup(s, domain, DNS_T_TXT, &a)) != 0) {
		free(domain);
		return r;
	}
	/* RFC 7208 4.4: NXDOMAIN is none; other failures are temperror. */
	if (a->status == DNS_NXDOMAIN || a->status == DNS_NODATA) {
		free(domain);
		return SPF_NONE;
	}
	if (a->status != DNS_OK) {
		set_problem(s, "DNS failure looking up the SPF record of %s",
		    domain);
		free(domain);
		return a->status == DNS_ERROR ? SPF_NONE : SPF_TEMPERROR;
	}
	for (i = 0; i < a->nrrs; i++)
		if (a->rrs[i].txt != NULL &&
		    is_spf_record(a->rrs[i].txt, a->rrs[i].txt_len)) {
			txt = a->rrs[i].txt;
			txt_len = a->rrs[i].txt_len;
			ntxt++;
		}
	/* RFC 7208 4.5: no record is none, more than one is permerror. */
	if (ntxt == 0) {
		free(domain);
		return SPF_NONE;
	}
	if (ntxt > 1) {
		set_problem(s, "more than one SPF record at %s", domain);
		free(domain);
		return SPF_PERMERROR;
	}
	if (txt_len > SPF_MAX_RECORD_LEN) {
		set_problem(s, "SPF record of %s too long", domain);
		free(domain);
		return SPF_PERMERROR;
	}
	/* A record in the memo has passed the checks below already. */
	memset(&own, 0, sizeof(own));
	if ((memo = rec_memo_find(txt, txt_len)) == NULL) {
		/* RFC 7208 3.1: the record is 7-bit ASCII. */
		for (i = 0; i < txt_len; i++)
			if ((unsigned char)txt[i] < 0x20 ||
			    (unsigned char)txt[i] > 0x7e) {
				set_problem(s, "non-ASCII byte in the SPF "
				    "record of %s", domain);
				free(domain);
				return SPF_PERMERROR;
			}
		if (parse_record(s, txt, txt_len, &own) != 0) {
			free(domain);
			return SPF_PERMERROR;
		}
		if ((memo = rec_memo_put(txt, txt_len, &own)) != NULL) {
			free(own.terms);
			memset(&own, 0, sizeof(own));
		}
	}
	rec = memo != NULL ? &memo->rec : &own;

	for (i = 0; i < rec->nterms; i++) {
		r = eval_term(s, &rec->terms[i], domain, depth);
		if (r == 0)
			continue;
		if (r == NEED)
			goto out;
		if (r >= 1000) {
			r -= 1000;
			goto out;
		}
		result = rec->terms[i].qual;
		goto matched;
	}
	if (rec->redirect != NULL) {
		char *target = NULL;

		/* RFC 7208 6.1: redirect counts as a DNS term; none at the
		   target is permerror; the target's exp= applies. */
		if (!count_term(s)) {
			r = SPF_PERMERROR;
			goto out;
		}
		r = expand_domain(s, domain, rec->redirect, rec->redirect_len,
		    &target);
		if (r != 0) {
			if (r != NEED) {
				set_problem(s, "bad redirect=");
				r = SPF_PERMERROR;
			}
			goto out;
		}
		r = check_host(s, target, depth + 1, exp);
		if (r == SPF_NONE) {
			set_problem(s, "redirect=%s has no SPF record", target);
			r = SPF_PERMERROR;
		}
		free(target);
		goto out;
	}
	r = SPF_NEUTRAL;
	goto out;

matched:
	r = result;
	if (result == SPF_FAIL) {
		int e = explain(s, rec, domain, exp);

		if (e == NEED)
			r = NEED;
	}
out:
	if (r == NEED || (r != SPF_FAIL && exp != NULL)) {
		free(*exp);
		*exp = NULL;
	}
	if (memo != NULL)
		memo->pins--;
	free(own.terms);
	free(domain);
	return r;
}

/* ---- the machine ---- */

/* reset_replay - forget what the last replay worked out */
static void
reset_replay(struct spf *s)
{
	s->dns_terms = 0;
	s->voids = 0;
	free(s->problem);
	s->problem = NULL;
	free(s->p_name);
	s->p_name = NULL;
	s->have_p = false;
}

/* parse_ip - the client address; v4-mapped v6 counts as IPv4 (RFC 7208
   5 and the suite's cidr6-ip4) */
static bool
parse_ip(struct spf *s, const char *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint8_t a6[16];

	memset(s->addr, 0, sizeof(s->addr));
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, s->addr) == 1) {
		s->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, ip, a6) != 1)
		return false;
	if (memcmp(a6, mapped, 12) == 0) {
		s->family = AF_INET;
		memcpy(s->addr, a6 + 12, 4);
	} else {
		s->family = AF_INET6;
		memcpy(s->addr, a6, 16);
	}
	return true;
}

/*
 * to_alabel - d in A-label form (RFC 8616 4: SPF looks up, and expands
 * macros with, the A-label form of a U-label domain).  ASCII is kept as
 * it is.  NULL when d cannot be converted; *why then says why.
 */
static char *
to_alabel(const char *d, const char **why)
{
	char a[IDNA_DOMAIN_MAX + 2];
	int r;

	*why = NULL;
	if (idna_is_ascii(d))
		return xstrdup(d);
	if ((r = idna_to_ascii(d, a, sizeof(a))) != 0) {
		*why = idna_strerror(r);
		return NULL;
	}
	return xstrdup(a);
}

/*
 * setup - identity, sender and the domain to check (RFC 7208 4.1, 2.4).
 * A domain with U-labels is checked by its A-label form.  One that has
 * none (invalid UTF-8, a disallowed code point, a label too long) is
 * not a domain: RFC 7208 4.3 says a malformed <domain> makes
 * check_host() return "none" at once, and RFC 7208 4.3 / RFC 8616 4
 * require IDNs to be A-labels for the lookup, which this one cannot be.
 */
static void
setup(struct spf *s, const struct spf_params *p)
{
	const char *from = p->mail_from ? p->mail_from : "";
	const char *at, *why;
	char *a;

	s->helo = xstrdup(p->helo ? p->helo : "");
	s->receiver = xstrdup(p->receiver && *p->receiver ? p->receiver :
	    "unknown");
	s->now = p->now;
	s->identity = p->identity;
	if (p->identity == SPF_ID_HELO || from[0] == '\0') {
		/* RFC 7208 2.4: the null sender is checked as
		   postmaster@HELO; so is the HELO identity itself. */
		s->local = xstrdup("postmaster");
		s->sender_domain = xstrdup(s->helo);
	} else if ((at = strrchr(from, '@')) != NULL) {
		/* RFC 7208 4.3: an empty local-part is "postmaster" */
		s->local = at == from ? xstrdup("postmaster") :
		    xstrndup(from, (size_t)(at - from));
		s->sender_domain = xstrdup(at + 1);
	} else {
		s->local = xstrdup("postmaster");
		s->sender_domain = xstrdup(from);
	}
	s->shown_sender = xasprintf("%s@%s", s->local, s->sender_domain);
	s->shown_domain = xstrdup(s->sender_domain);
	strip_dot(s->shown_domain);
	s->shown_helo = s->helo;
	/* %{h}: the HELO name's A-label form when it has one; otherwise it
	   stays as given and a name built from it matches nothing. */
	if ((a = to_alabel(s->helo, &why)) != NULL)
		s->helo = a;
	else
		s->helo = xstrdup(s->shown_helo);
	if ((a = to_alabel(s->sender_domain, &why)) != NULL) {
		free(s->sender_domain);
		s->sender_domain = a;
		s->idn_ok = true;
	} else {
		s->idn_problem = xasprintf("%s is not a valid internationalised "
		    "domain name: %s", s->identity == SPF_ID_HELO ?
		    "the HELO name" : "the MAIL FROM domain", why);
		free(s->sender_domain);
		s->sender_domain = xstrdup("");
	}
	s->sender = xasprintf("%s@%s", s->local, s->sender_domain);
	s->domain = xstrdup(s->sender_domain);
	strip_dot(s->domain);
}

/* spf_new - start an evaluation for one client and identity */
int
spf_new(struct spf **out, const struct spf_params *p)
{
	struct spf *s;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	if (!parse_ip(s, p->ip)) {
		free(s);
		return E_SYNTAX;
	}
	setup(s, p);
	*out = s;
	return 0;
}

/* spf_free - release an evaluation and everything it returned */
void
spf_free(struct spf *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ncache; i++) {
		free(s->cache[i].name);
		free_answer(&s->cache[i].ans);
	}
	free(s->cache);
	free(s->want_name);
	free(s->sender);
	free(s->local);
	free(s->sender_domain);
	free(s->domain);
	free(s->helo);
	free(s->shown_sender);
	free(s->shown_domain);
	free(s->shown_helo);
	free(s->idn_problem);
	free(s->receiver);
	free(s->problem);
	free(s->p_name);
	free(s->explanation);
	free(s->final_problem);
	free(s);
}

/* spf_next - replay the evaluation; report the missing query or finish */
enum spf_step
spf_next(struct spf *s, struct spf_query *q)
{
	char *exp = NULL;
	int r;

	if (s->done)
		return SPF_STEP_DONE;
	reset_replay(s);
	r = check_host(s, s->domain, 0, &exp);
	if (r == NEED) {
		free(exp);
		q->name = s->want_name;
		q->type = s->want_type;
		return SPF_STEP_QUERY;
	}
	s->done = true;
	s->result = (enum spf_result)r;
	if (!s->idn_ok && s->idn_problem != NULL) {
		/* "none", and why: the domain has no A-label form */
		s->final_problem = s->idn_problem;
		s->idn_problem = NULL;
	}
	s->explanation = r == SPF_FAIL ? exp : NULL;
	if (r != SPF_FAIL)
		free(exp);
	if (r == SPF_PERMERROR || r == SPF_TEMPERROR) {
		s->final_problem = s->problem;
		s->problem = NULL;
	}
	return SPF_STEP_DONE;
}

/* spf_answer - store the answer to the query spf_next() asked for */
void
spf_answer(struct spf *s, const struct dns_answer *ans)
{
	struct cached *c;

	if (s->done || s->want_name == NULL)
		return;
	s->cache = xrealloc(s->cache, (s->ncache + 1) * sizeof(*s->cache));
	c = &s->cache[s->ncache++];
	c->name = s->want_name;
	c->len = strlen(c->name);
	c->type = s->want_type;
	s->want_name = NULL;
	copy_answer(&c->ans, ans);
}

/* spf_result - the verdict (temperror while not finished) */
enum spf_result
spf_result(const struct spf *s)
{
	return s->done ? s->result : SPF_TEMPERROR;
}

/* spf_explanation - the exp= text of a fail, or NULL */
const char *
spf_explanation(const struct spf *s)
{
	return s->explanation;
}

/* spf_domain - the domain checked, as received */
const char *
spf_domain(const struct spf *s)
{
	return s->shown_domain;
}

/* spf_domain_ascii - the domain checked, in A-label form, or NULL */
const char *
spf_domain_ascii(const struct spf *s)
{
	return s->idn_ok ? s->domain : NULL;
}

/* spf_sender - the <sender> of check_host(), as received */
const char *
spf_sender(const struct spf *s)
{
	return s->shown_sender;
}

/* spf_problem - why the result is permerror/temperror */
const char *
spf_problem(const struct spf *s)
{
	return s->final_problem;
}

/* spf_dns_terms - the RFC 7208 4.6.4 counter of the last replay */
int
spf_dns_terms(const struct spf *s)
{
	return s->dns_terms;
}

/* spf_result_str - the result as Authentication-Results writes it */
const char *
spf_result_str(enum spf_result r)
{
	static const char *names[] = {
		[SPF_NONE] = "none", [SPF_NEUTRAL] = "neutral",
		[SPF_PASS] = "pass", [SPF_FAIL] = "fail",
		[SPF_SOFTFAIL] = "softfail", [SPF_TEMPERROR] = "temperror",
		[SPF_PERMERROR] = "permerror",
	};

	if ((unsigned)r >= sizeof(names) / sizeof(names[0]))
		return "temperror";
	return names[r];
}

/*
 * is_dot_atom_text - can v go out unquoted as an RFC 5322 dot-atom?  RFC
 * 6532 3.2 adds UTF-8 (valid sequences only) to atext: a U-label domain
 * is written as it was received.
 */
static bool
is_dot_atom_text(const char *v)
{
	const char *specials = "!#$%&'*+-/=?^_`{|}~.";
	size_t n = strlen(v), k;

	if (*v == '\0' || *v == '.')
		return false;
	while (*v) {
		if ((unsigned char)*v >= 0x80) {
			if ((k = idna_utf8_len(v, n)) == 0)
				return false;
			v += k;
			n -= k;
			continue;
		}
		if (!is_alnum((unsigned char)*v) && strchr(specials, *v) == NULL)
			return false;
		v++;
		n--;
	}
	return true;
}

/*
 * append_text - v with control characters dropped (they could split the
 * header), bytes that are not valid UTF-8 shown as '?', valid UTF-8 kept
 * (RFC 6532 3.2, 3.3; RFC 8601 2.3 for Authentication-Results), and the
 * characters in esc preceded by a backslash, or dropped when drop_esc.
 */
static int
append_text(struct buf *out, const char *v, const char *esc, bool drop_esc)
{
	size_t n = strlen(v), k;
	int r = 0;

	while (*v && r == 0) {
		unsigned char c = (unsigned char)*v;

		if (c >= 0x80) {
			if ((k = idna_utf8_len(v, n)) == 0) {
				r = buf_append(out, "?", 1);
				k = 1;
			} else
				r = buf_append(out, v, k);
			v += k;
			n -= k;
			continue;
		}
		if (c >= 0x20 && c != 0x7f) {
			if (strchr(esc, c) == NULL)
				r = buf_append(out, v, 1);
			else if (!drop_esc) {
				r = buf_append(out, "\\", 1);
				if (r == 0)
					r = buf_append(out, v, 1);
			}
		}
		v++;
		n--;
	}
	return r;
}

/* append_value - a key=value value: dot-atom, else a quoted-string */
static int
append_value(struct buf *out, const char *v)
{
	int r;

	if (is_dot_atom_text(v))
		return buf_append_str(out, v);
	if ((r = buf_append(out, "\"", 1)) < 0)
		return r;
	r = append_text(out, v, "\"\\", false);
	return r ? r : buf_append(out, "\"", 1);
}

/* append_clean - comment text without ( ) \ */
static int
append_clean(struct buf *out, const char *v)
{
	return append_text(out, v, "()\\", true);
}

/* spf_resinfo - append "spf=RESULT smtp.mailfrom|smtp.helo=DOMAIN" */
int
spf_resinfo(const struct spf *s, struct buf *out)
{
	int r;

	r = buf_printf(out, "spf=%s %s=", spf_result_str(spf_result(s)),
	    s->identity == SPF_ID_HELO ? "smtp.helo" : "smtp.mailfrom");
	if (r == 0)
		r = append_value(out, s->shown_domain);
	return r;
}

/* spf_received_header - append a Received-SPF field (RFC 7208 9.1) */
/*
 * fold - copy a header field to out, folded (RFC 5322 2.2.3) before a
 * space wherever the next word would take the line past 78 characters.
 */
static int
fold(struct buf *out, const char *p, size_t n)
{
	size_t i = 0, col = 0;
	int r = 0;

	while (i < n && r == 0) {
		size_t w = i + 1;

		if (p[i] != ' ') {
			r = buf_append(out, &p[i], 1);
			col++;
			i++;
			continue;
		}
		while (w < n && p[w] != ' ')
			w++;
		if (col > 0 && col + (w - i) > 78) {
			r = buf_append(out, "\r\n", 2);
			col = 0;
		}
		if (r == 0)
			r = buf_append(out, " ", 1);
		col++;
		i++;
	}
	return r;
}

int
spf_received_header(const struct spf *s, struct buf *out)
{
	char ip[INET6_ADDRSTRLEN];
	enum spf_result res = spf_result(s);
	const char *what;
	struct buf flat, *line = &flat;
	int r;

	inet_ntop(s->family, s->addr, ip, sizeof(ip));
	switch (res) {
	case SPF_PASS:
		what = "designates";
		break;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
		what = "does not designate";
		break;
	case SPF_NEUTRAL:
		what = "neither permits nor denies";
		break;
	case SPF_NONE:
		what = "publishes no SPF policy covering";
		break;
	default:
		what = "could not be checked for";
		break;
	}
	/* RFC 7208 9.1: result (comment) key=value; ...  Built on one line,
	   then folded.  The values are capped (SMTP limits the HELO and the
	   address; ours the problem text), so the line is too. */
	buf_init(&flat, 8192);
	r = buf_printf(line, "Received-SPF: %s (", spf_result_str(res));
	if (r == 0)
		r = append_clean(line, s->receiver);
	if (r == 0)
		r = buf_append_str(line, ": domain of ");
	if (r == 0)
		r = append_clean(line, s->shown_sender);
	if (r == 0)
		r = buf_append(line, " ", 1);
	if (r == 0)
		r = buf_printf(line, "%s %s%s", what, ip,
		    res == SPF_PASS || res == SPF_FAIL || res == SPF_SOFTFAIL ?
		    " as permitted sender" : "");
	if (r == 0)
		r = buf_printf(line, ") client-ip=%s; envelope-from=", ip);
	if (r == 0)
		r = append_value(line, s->shown_sender);
	if (r == 0)
		r = buf_append_str(line, "; helo=");
	if (r == 0)
		r = append_value(line, s->shown_helo);
	if (r == 0)
		r = buf_printf(line, "; identity=%s; receiver=",
		    s->identity == SPF_ID_HELO ? "helo" : "mailfrom");
	if (r == 0)
		r = append_value(line, s->receiver);
	if (r == 0 && s->final_problem != NULL) {
		r = buf_append_str(line, "; problem=");
		if (r == 0)
			r = append_value(line, s->final_problem);
	}
	if (r == 0)
		r = buf_append(line, ";", 1);
	if (r == 0)
		r = fold(out, buf_data(line), buf_size(line));
	buf_fini(&flat);
	return r;
}

/* spf_expand - expand a macro-string with no DNS behind it */
int
spf_expand(const struct spf_params *p, const char *domain, const char *spec,
    size_t len, bool is_exp, struct buf *out)
{
	struct spf *s;
	int r;

	if ((r = spf_new(&s, p)) != 0)
		return r;
	s->have_p = true;
	s->p_name = xstrdup("unknown");
	r = expand(s, domain, spec, len, is_exp, out);
	spf_free(s);
	return r == NEED ? E_SYNTAX : r;
}

/* spf_record_check - syntax-check one record (tests, fuzzing, tools) */
int
spf_record_check(const char *rec, size_t len)
{
	struct spf s;
	struct record r;
	size_t i;
	int ret;

	if (!is_spf_record(rec, len) || len > SPF_MAX_RECORD_LEN)
		return E_SYNTAX;
	for (i = 0; i < len; i++)
		if ((unsigned char)rec[i] < 0x20 ||
		    (unsigned char)rec[i] > 0x7e)
			return E_SYNTAX;
	memset(&s, 0, sizeof(s));
	ret = parse_record(&s, rec, len, &r);
	free(r.terms);
	free(s.problem);
	return ret;
}

/* ---- driving a machine over a resolver ---- */

struct spf_runner {
	struct spf *s;
	struct dns_resolver *r;
	spf_done_cb *cb;
	void *arg;
};

static void runner_step(struct spf_runner *run);

/* runner_answer - a DNS answer arrived: feed it and take the next step */
static void
runner_answer(void *arg, const struct dns_answer *ans)
{
	struct spf_runner *run = arg;

	spf_answer(run->s, ans);
	runner_step(run);
}

/* runner_step - run the machine until it needs DNS or is done */
static void
runner_step(struct spf_runner *run)
{
	struct spf_query q;

	while (spf_next(run->s, &q) == SPF_STEP_QUERY) {
		if (dns_query(run->r, q.name, q.type, runner_answer, run) == 0)
			return;
		/* The query could not even start: answer it as an error. */
		{
			struct dns_answer a = { .status = DNS_ERROR };

			spf_answer(run->s, &a);
		}
	}
	run->cb(run->arg, run->s);
	free(run);
}

/* spf_run - drive an evaluation over a resolver; cb once at the end */
int
spf_run(struct spf *s, struct dns_resolver *r, spf_done_cb *cb, void *arg)
{
	struct spf_runner *run = xcalloc(1, sizeof(*run));

	run->s = s;
	run->r = r;
	run->cb = cb;
	run->arg = arg;
	runner_step(run);
	return 0;
}
