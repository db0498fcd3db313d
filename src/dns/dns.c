/*
 * dns/dns.c - the entry points of dns.h, the libunbound back end and the
 * wire-format parser.
 *
 * libunbound resolves in a thread of its own and signals finished queries
 * on ub_fd(); ub_process() runs our ub_done(), which only parses the
 * answer into its query and moves it from the in-flight list to the
 * finished list.  The user's callbacks run afterwards, from deliver(), in
 * the order the queries finished, so a callback may start new queries or
 * free its own state without reentering libunbound.  Both lists make
 * every step O(1) per query, so thousands of queries can wait at once.
 * libunbound retries a silent server for a long time, so each query also
 * carries a deadline of our own (dns_set_timeout) on CLOCK_MONOTONIC; a
 * query past it is cancelled with ub_cancel() and answered DNS_TIMEOUT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>

#include "dns/dns_int.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* The default per-query deadline: generous for a resolver that has to
   recurse, short enough that a session does not hang on a dead server. */
#define DNS_DEFAULT_TIMEOUT_MS	5000

/* RFC 1035 4.1.4: a compression pointer chain longer than this is a loop */
#define DNS_MAX_POINTERS	64

/* now_ms - CLOCK_MONOTONIC in milliseconds */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dns_name_ok - can name go into a query (labels 1-63, 253 in all)? */
bool
dns_name_ok(const char *name)
{
	size_t len = strlen(name), lab = 0, i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (lab == 0 || lab > 63)
				return false;
			lab = 0;
			continue;
		}
		lab++;
	}
	return true;
}

/* dns_rr_copy - deep copy of one record */
void
dns_rr_copy(struct dns_rr *dst, const struct dns_rr *src)
{
	*dst = *src;
	dst->name = src->name ? xstrdup(src->name) : NULL;
	dst->txt = NULL;
	if (src->txt != NULL) {
		dst->txt = xmalloc(src->txt_len + 1);
		memcpy(dst->txt, src->txt, src->txt_len);
		dst->txt[src->txt_len] = '\0';
	}
	dst->parts = NULL;
	if (src->nparts > 0) {
		dst->parts = xcalloc(src->nparts, sizeof(size_t));
		memcpy(dst->parts, src->parts, src->nparts * sizeof(size_t));
	}
	dst->rdata = NULL;
	if (src->rdata_len > 0) {
		dst->rdata = xmalloc(src->rdata_len);
		memcpy(dst->rdata, src->rdata, src->rdata_len);
	}
}

/* dns_rr_fini - release what one record holds */
void
dns_rr_fini(struct dns_rr *rr)
{
	free(rr->name);
	free(rr->txt);
	free(rr->parts);
	free(rr->rdata);
	memset(rr, 0, sizeof(*rr));
}

/* dns_answer_fini - release the records of an answer */
void
dns_answer_fini(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->nrrs; i++)
		dns_rr_fini(&a->rrs[i]);
	free(a->rrs);
	a->rrs = NULL;
	a->nrrs = 0;
}

/* ---- wire format (RFC 1035 3, 4; RFC 3596; RFC 6698) ---- */

/*
 * read_name - decompress the name at *off into out (lower case, dotted,
 * no trailing dot; the root is "").  Advances *off past the name as it
 * sits in the message.  Returns false on a malformed name.
 */
static bool
read_name(const uint8_t *pkt, size_t len, size_t *off, char *out,
    size_t outsz)
{
	size_t p = *off, o = 0, end = 0;
	int jumps = 0;
	bool jumped = false;

	for (;;) {
		uint8_t l;

		if (p >= len)
			return false;
		l = pkt[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > DNS_MAX_POINTERS)
				return false;
			if (!jumped)
				end = p + 2;
			jumped = true;
			p = (size_t)((l & 0x3f) << 8 | pkt[p + 1]);
			continue;
		}
		if ((l & 0xc0) != 0)
			return false;	/* RFC 6891 extended labels: unused */
		p++;
		if (l == 0)
			break;
		if (p + l > len || o + l + 2 > outsz)
			return false;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)pkt[p + i];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			out[o++] = c;
		}
		p += l;
	}
	out[o] = '\0';
	*off = jumped ? end : p;
	return true;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* parse_rdata - fill rr from the rdata at [off, off+rdlen) */
static bool
parse_rdata(const uint8_t *pkt, size_t len, size_t off, size_t rdlen,
    struct dns_rr *rr)
{
	char name[256 + 4];
	size_t p = off, end = off + rdlen, n, o;

	switch (rr->type) {
	case DNS_T_A:
		if (rdlen != 4)
			return false;
		memcpy(rr->addr, pkt + off, 4);
		return true;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return false;
		memcpy(rr->addr, pkt + off, 16);
		return true;
	case DNS_T_MX:
		if (rdlen < 3)
			return false;
		rr->pref = get16(pkt + off);
		p += 2;
		/* FALLTHROUGH */
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		if (!read_name(pkt, len, &p, name, sizeof(name)) || p != end)
			return false;
		rr->name = xstrdup(name);
		return true;
	case DNS_T_TXT:
	case DNS_T_SPF:
		/* RFC 1035 3.3.14: one or more <character-string>s */
		if (rdlen == 0)
			return false;
		for (n = 0; p < end; n++) {
			if (p + 1 + pkt[p] > end)
				return false;
			p += 1 + pkt[p];
		}
		rr->txt = xmalloc(rdlen + 1);
		rr->parts = xcalloc(n, sizeof(size_t));
		rr->nparts = n;
		for (p = off, n = 0, o = 0; p < end; n++) {
			size_t l = pkt[p];

			memcpy(rr->txt + o, pkt + p + 1, l);
			rr->parts[n] = l;
			o += l;
			p += 1 + l;
		}
		rr->txt[o] = '\0';
		rr->txt_len = o;
		return true;
	default:
		/* TLSA (RFC 6698 2.1) and the rest: raw rdata */
		if (rr->type == DNS_T_TLSA && rdlen < 3)
			return false;
		if (rdlen > 0) {
			rr->rdata = xmalloc(rdlen);
			memcpy(rr->rdata, pkt + off, rdlen);
		}
		rr->rdata_len = rdlen;
		return true;
	}
}

/* dns_parse_packet - the answer records of type qtype in a DNS message */
int
dns_parse_packet(const uint8_t *pkt, size_t len, enum dns_type qtype,
    struct dns_answer *out)
{
	char name[256 + 4];
	size_t off = 12, i, cap = 0;
	uint16_t qd, an;
	int rcode;

	memset(out, 0, sizeof(*out));
	out->status = DNS_ERROR;
	if (len < 12)
		return E_SYNTAX;
	rcode = pkt[3] & 0x0f;
	qd = get16(pkt + 4);
	an = get16(pkt + 6);
	for (i = 0; i < qd; i++) {
		if (!read_name(pkt, len, &off, name, sizeof(name)) ||
		    off + 4 > len)
			goto bad;
		off += 4;
	}
	for (i = 0; i < an; i++) {
		struct dns_rr rr;
		uint16_t type, rdlen;

		if (!read_name(pkt, len, &off, name, sizeof(name)) ||
		    off + 10 > len)
			goto bad;
		type = get16(pkt + off);
		memset(&rr, 0, sizeof(rr));
		rr.type = type;
		rr.ttl = get32(pkt + off + 4);
		rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len)
			goto bad;
		if (type == qtype) {
			if (!parse_rdata(pkt, len, off, rdlen, &rr)) {
				dns_rr_fini(&rr);
				goto bad;
			}
			if (out->nrrs == cap) {
				cap = cap ? cap * 2 : 4;
				out->rrs = xrealloc(out->rrs,
				    cap * sizeof(*out->rrs));
			}
			out->rrs[out->nrrs++] = rr;
		}
		off += rdlen;
	}
	switch (rcode) {
	case 0:
		out->status = out->nrrs > 0 ? DNS_OK : DNS_NODATA;
		break;
	case 3:
		out->status = DNS_NXDOMAIN;
		break;
	case 1:		/* FORMERR: our query, or their parser */
	case 4:		/* NOTIMP */
		out->status = DNS_ERROR;
		break;
	default:	/* SERVFAIL, REFUSED and the rest */
		out->status = DNS_SERVFAIL;
		break;
	}
	return 0;
bad:
	dns_answer_fini(out);
	out->status = DNS_ERROR;
	return E_SYNTAX;
}

/* ---- resolvers ---- */

/* parse_server - "ADDRESS[@PORT]" as ub_ctx_set_fwd takes it */
static bool
parse_server(const char *server, char **err)
{
	char addr[INET6_ADDRSTRLEN + 1];
	uint8_t tmp[16];
	const char *at = strchr(server, '@');
	size_t alen = at ? (size_t)(at - server) : strlen(server);

	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, server, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, tmp) != 1 &&
	    inet_pton(AF_INET6, addr, tmp) != 1)
		goto bad;
	if (at != NULL) {
		const char *p = at + 1;
		long port = 0;

		if (*p == '\0' || strlen(p) > 5)
			goto bad;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			goto bad;
	}
	return true;
bad:
	if (err)
		*err = xasprintf("bad resolver address '%s' (want ADDRESS or "
		    "ADDRESS@PORT)", server);
	return false;
}

/*
 * forward_everything - with a chosen server, let it answer for the names
 * libunbound would otherwise answer itself (RFC 6303 private and RFC 5737
 * / RFC 3849 documentation reverse zones): the server is the authority
 * the operator picked, and the test zones live in those ranges.
 */
static int
forward_everything(struct ub_ctx *ctx)
{
	static const char *const zones[] = {
		"2.0.192.in-addr.arpa. nodefault",
		"100.51.198.in-addr.arpa. nodefault",
		"113.0.203.in-addr.arpa. nodefault",
		"8.b.d.0.1.0.0.2.ip6.arpa. nodefault",
	};
	size_t i;
	int e;

	if ((e = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0 ||
	    (e = ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes")) != 0)
		return e;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if ((e = ub_ctx_set_option(ctx, "local-zone:", zones[i])) != 0)
			return e;
	return 0;
}

/* dns_resolver_new - a libunbound resolver for the system or one server */
int
dns_resolver_new(struct dns_resolver **out, const char *server, char **err)
{
	struct dns_resolver *r;
	int e;

	*out = NULL;
	if (err)
		*err = NULL;
	if (server != NULL && !parse_server(server, err))
		return E_INVAL;
	r = xcalloc(1, sizeof(*r));
	r->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
	if ((r->ctx = ub_ctx_create()) == NULL) {
		if (err)
			*err = xstrdup("cannot create a libunbound context");
		free(r);
		return E_DNS;
	}
	/* No trust anchor is configured, so the validator passes answers
	   through as insecure; /etc/hosts is never read (no ub_ctx_hosts).
	   Forwarded queries carry RD=1, so the forwarder recurses. */
	if (server != NULL) {
		e = ub_ctx_set_fwd(r->ctx, server);
		if (e == 0)
			e = forward_everything(r->ctx);
	} else
		e = ub_ctx_resolvconf(r->ctx, NULL);
	if (e == 0)
		e = ub_ctx_async(r->ctx, 1);
	if (e != 0) {
		if (err)
			*err = xasprintf("libunbound: %s", ub_strerror(e));
		ub_ctx_delete(r->ctx);
		free(r);
		return E_DNS;
	}
	*out = r;
	return 0;
}

/* anchor_is_ds_or_dnskey - "owner [ttl] [class] DS|DNSKEY rdata..."; a
   first check, since libunbound parses the text only at the first query */
static bool
anchor_is_ds_or_dnskey(const char *rr)
{
	char tok[16];
	const char *p = rr;
	int i, n;

	for (i = 0; i < 4; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (n = 0; p[n] && p[n] != ' ' && p[n] != '\t'; n++)
			;
		if (n == 0)
			return false;
		if (i > 0 && n < (int)sizeof(tok)) {
			memcpy(tok, p, (size_t)n);
			tok[n] = '\0';
			if (strcasecmp(tok, "DS") == 0 ||
			    strcasecmp(tok, "DNSKEY") == 0) {
				p += n;
				while (*p == ' ' || *p == '\t')
					p++;
				return *p != '\0';
			}
		}
		p += n;
	}
	return false;
}

/* dns_resolver_add_trust_anchor - DNSSEC validation below one zone */
int
dns_resolver_add_trust_anchor(struct dns_resolver *r, const char *rr,
    char **err)
{
	int e;

	if (err)
		*err = NULL;
	if (r->ctx == NULL) {
		if (err)
			*err = xstrdup("a table resolver has no DNSSEC");
		return E_INVAL;
	}
	if (!anchor_is_ds_or_dnskey(rr)) {
		if (err)
			*err = xstrdup("trust anchor: want a DS or DNSKEY "
			    "record");
		return E_INVAL;
	}
	if ((e = ub_ctx_add_ta(r->ctx, rr)) != 0) {
		if (err)
			*err = xasprintf("trust anchor: %s", ub_strerror(e));
		return E_INVAL;
	}
	return 0;
}

/* dns_resolver_free - cancel what is in flight and release everything */
void
dns_resolver_free(struct dns_resolver *r)
{
	struct dns_q *q, *next;

	if (r == NULL)
		return;
	/* Deleting the context cancels what is still in flight. */
	if (r->ctx != NULL)
		ub_ctx_delete(r->ctx);
	for (q = r->fly_head; q != NULL; q = next) {
		next = q->next;
		free(q->name);
		free(q);
	}
	for (q = r->done_head; q != NULL; q = next) {
		next = q->next;
		dns_answer_fini(&q->ans);
		free(q->name);
		free(q);
	}
	dns_table_free(r);
	free(r);
}

/* dns_set_timeout - the per-query deadline in milliseconds */
void
dns_set_timeout(struct dns_resolver *r, int ms)
{
	r->timeout_ms = ms > 0 ? ms : DNS_DEFAULT_TIMEOUT_MS;
}

/* fly_insert - add q to the in-flight list, kept in deadline order (a
   new query usually has the latest deadline: the walk is short) */
static void
fly_insert(struct dns_resolver *r, struct dns_q *q)
{
	struct dns_q *after = r->fly_tail;

	while (after != NULL && after->deadline_ms > q->deadline_ms)
		after = after->prev;
	q->prev = after;
	q->next = after ? after->next : r->fly_head;
	if (q->next != NULL)
		q->next->prev = q;
	else
		r->fly_tail = q;
	if (after != NULL)
		after->next = q;
	else
		r->fly_head = q;
}

/* fly_remove - take q off the in-flight list */
static void
fly_remove(struct dns_resolver *r, struct dns_q *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		r->fly_head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		r->fly_tail = q->prev;
	q->next = q->prev = NULL;
}

/* done_append - q is finished: queue it for deliver() */
static void
done_append(struct dns_resolver *r, struct dns_q *q)
{
	q->done = true;
	q->next = NULL;
	if (r->done_tail != NULL)
		r->done_tail->next = q;
	else
		r->done_head = q;
	r->done_tail = q;
}

/* ub_done - libunbound finished a query: keep the answer for deliver() */
static void
ub_done(void *arg, int err, struct ub_result *res)
{
	struct dns_q *q = arg;

	fly_remove(q->r, q);
	done_append(q->r, q);
	memset(&q->ans, 0, sizeof(q->ans));
	if (err != 0 || res == NULL) {
		q->ans.status = DNS_SERVFAIL;
		goto out;
	}
	if (res->answer_packet != NULL && res->answer_len > 0)
		dns_parse_packet(res->answer_packet, (size_t)res->answer_len,
		    q->type, &q->ans);
	else
		q->ans.status = DNS_SERVFAIL;
	/* libunbound knows better than the packet about some outcomes. */
	if (res->bogus) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_SERVFAIL;
		q->ans.bogus = true;
	} else if (res->nxdomain || res->rcode == 3) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_NXDOMAIN;
	} else if (res->rcode != 0 && q->ans.status == DNS_OK) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_SERVFAIL;
	} else if (res->rcode == 0 && !res->havedata &&
	    q->ans.status == DNS_OK) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_NODATA;
	}
	q->ans.secure = res->secure != 0;
out:
	if (res != NULL)
		ub_resolve_free(res);
}

/* dns_query - start a query; the answer comes by callback */
int
dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
    dns_callback *cb, void *arg)
{
	struct dns_q *q;
	int e;

	if (name == NULL || !dns_name_ok(name))
		return E_INVAL;
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->type = type;
	q->deadline_ms = now_ms() + r->timeout_ms;
	if (r->table) {
		dns_table_answer(r, q);
		done_append(r, q);
	} else {
		/* Listed first: libunbound may answer from its cache at once
		   (ub_done runs only inside ub_process, but be safe). */
		fly_insert(r, q);
		e = ub_resolve_async(r->ctx, name, (int)type, 1, q, ub_done,
		    &q->async_id);
		if (e != 0) {
			fly_remove(r, q);
			free(q->name);
			free(q);
			return E_DNS;
		}
	}
	r->pending++;
	return 0;
}

/* expire - answer DNS_TIMEOUT for queries past their deadline */
static void
expire(struct dns_resolver *r)
{
	struct dns_q *q;
	int64_t now = now_ms();

	while ((q = r->fly_head) != NULL && q->deadline_ms <= now) {
		fly_remove(r, q);
		if (r->ctx != NULL)
			ub_cancel(r->ctx, q->async_id);
		memset(&q->ans, 0, sizeof(q->ans));
		q->ans.status = DNS_TIMEOUT;
		done_append(r, q);
	}
}

/*
 * deliver - call back the queries finished on entry; the ones callbacks
 * start wait for the next round.  Returns how many.
 */
static int
deliver(struct dns_resolver *r)
{
	struct dns_q *q, *ready = r->done_head;
	int n = 0;

	r->done_head = r->done_tail = NULL;
	while ((q = ready) != NULL) {
		ready = q->next;
		r->pending--;
		q->ans.qname = q->name;
		q->ans.qtype = q->type;
		q->cb(q->arg, &q->ans);
		dns_answer_fini(&q->ans);
		free(q->name);
		free(q);
		n++;
	}
	return n;
}

/* dns_resolver_fd - the descriptor an event loop watches (-1: table) */
int
dns_resolver_fd(struct dns_resolver *r)
{
	return r->table ? -1 : ub_fd(r->ctx);
}

/* dns_resolver_process - read answers, expire late queries, call back */
int
dns_resolver_process(struct dns_resolver *r)
{
	if (r->ctx != NULL && ub_poll(r->ctx))
		ub_process(r->ctx);
	expire(r);
	return deliver(r);
}

/* dns_resolver_timeout_ms - time until the earliest deadline (-1: none) */
int
dns_resolver_timeout_ms(const struct dns_resolver *r)
{
	int64_t now;

	if (r->done_head != NULL)
		return 0;
	if (r->fly_head == NULL)
		return -1;
	now = now_ms();
	return r->fly_head->deadline_ms <= now ? 0 :
	    (int)(r->fly_head->deadline_ms - now);
}

/* dns_resolver_wait - block until no query is pending (tools, tests) */
int
dns_resolver_wait(struct dns_resolver *r)
{
	while (r->pending > 0) {
		int t = dns_resolver_timeout_ms(r);

		if (r->ctx != NULL && t != 0) {
			struct pollfd pfd = { .fd = ub_fd(r->ctx),
			    .events = POLLIN };

			if (poll(&pfd, 1, t) < 0 && errno != EINTR)
				return E_IO;
		}
		dns_resolver_process(r);
	}
	return 0;
}

/* dns_resolver_pending - queries not yet answered */
size_t
dns_resolver_pending(const struct dns_resolver *r)
{
	return r->pending;
}

/* dns_status_str - a status as a short lower-case word */
const char *
dns_status_str(enum dns_status s)
{
	static const char *names[] = {
		[DNS_OK] = "ok", [DNS_NODATA] = "nodata",
		[DNS_NXDOMAIN] = "nxdomain", [DNS_SERVFAIL] = "servfail",
		[DNS_TIMEOUT] = "timeout", [DNS_ERROR] = "error",
	};

	if ((unsigned)s >= sizeof(names) / sizeof(names[0]))
		return "error";
	return names[s];
}
