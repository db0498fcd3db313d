/*
 * dns/dns.c - the entry points of dns.h, the libunbound back end and the
 * wire-format parser.
 *
 * libunbound runs in the caller's thread through its pluggable event
 * API: its sockets sit in one epoll descriptor (dns_resolver_fd()), its
 * timers in a heap, and dns_resolver_process() runs its handlers, which
 * only parse an answer into its query, keep a copy in the resolver's
 * answer cache when it may be kept, and move the query from the in-flight
 * list to the finished list.  A query the answer cache knows goes straight
 * to the finished list.  The user's callbacks run afterwards, from
 * deliver(), in the order the queries finished, so a callback may start
 * new queries or free its own state without reentering libunbound.  Both
 * lists make every step O(1) per query, so thousands can wait at once.
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
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unbound.h>
#include <unbound-event.h>
#include <unistd.h>

#include "dns/dns_int.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* The default per-query deadline: generous for a resolver that has to
   recurse, short enough that a session does not hang on a dead server. */
#define DNS_DEFAULT_TIMEOUT_MS	5000

/* RFC 1035 4.1.4: a compression pointer chain longer than this is a loop */
#define DNS_MAX_POINTERS	64

/* The answer cache: the longest any answer is kept, and how long a
   negative answer without an SOA is (seconds) */
#define DNS_CACHE_MAX_TTL	3600
#define DNS_CACHE_NEG_TTL	60
#define DNS_T_SOA		6

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

/* ---- the answer cache ---- */

/* norm_key - name lower-cased without a trailing dot into buf (at least
   256 bytes; dns_name_ok() has bounded it); its FNV-1a hash with type */
static uint32_t
norm_key(const char *name, enum dns_type type, char *buf)
{
	uint32_t h = 2166136261u;
	size_t i, len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		buf[i] = c;
		h = (h ^ (uint8_t)c) * 16777619u;
	}
	buf[len] = '\0';
	h = (h ^ (uint32_t)type) * 16777619u;
	return (h ^ (uint32_t)type >> 8) * 16777619u;
}

/* lru_unlink - take e off the LRU list */
static void
lru_unlink(struct dns_cache *c, struct dns_centry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		c->lru_head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		c->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

/* lru_front - put e first on the LRU list */
static void
lru_front(struct dns_cache *c, struct dns_centry *e)
{
	e->lprev = NULL;
	e->lnext = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->lprev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
}

/* cache_drop - remove e from the table and the list, and free it */
static void
cache_drop(struct dns_cache *c, struct dns_centry *e)
{
	struct dns_centry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	dns_answer_fini(&e->ans);
	free(e->name);
	free(e);
	c->n--;
}

/* cache_clear - drop every entry and the table */
static void
cache_clear(struct dns_cache *c)
{
	while (c->lru_head != NULL)
		cache_drop(c, c->lru_head);
	free(c->buckets);
	c->buckets = NULL;
	c->nbuckets = 0;
}

/* cache_find - the live entry for key, or NULL (an expired one is
   dropped on the way) */
static struct dns_centry *
cache_find(struct dns_cache *c, const char *key, enum dns_type type,
    uint32_t hash, int64_t now)
{
	struct dns_centry *e;

	if (c->nbuckets == 0)
		return NULL;
	for (e = c->buckets[hash & (c->nbuckets - 1)]; e != NULL;
	    e = e->hnext)
		if (e->hash == hash && e->type == type &&
		    strcmp(e->name, key) == 0)
			break;
	if (e != NULL && e->expire_ms <= now) {
		cache_drop(c, e);
		return NULL;
	}
	return e;
}

/* cache_put - keep a copy of ans for ttl seconds under key */
static void
cache_put(struct dns_cache *c, const char *key, enum dns_type type,
    uint32_t hash, const struct dns_answer *ans, uint32_t ttl, int64_t now)
{
	struct dns_centry *e;
	size_t i, nb;

	if (c->cap == 0 || ttl == 0)
		return;
	if (c->nbuckets == 0) {
		for (nb = 16; nb < c->cap; nb *= 2)
			;
		c->buckets = xcalloc(nb, sizeof(*c->buckets));
		c->nbuckets = nb;
	}
	/* a second answer for the same key (two queries were in flight)
	   replaces the first */
	if ((e = cache_find(c, key, type, hash, now)) != NULL)
		cache_drop(c, e);
	while (c->n >= c->cap)
		cache_drop(c, c->lru_tail);
	e = xcalloc(1, sizeof(*e));
	e->hash = hash;
	e->type = type;
	e->name = xstrdup(key);
	e->expire_ms = now + (int64_t)ttl * 1000;
	e->ans.status = ans->status;
	e->ans.secure = ans->secure;
	if (ans->nrrs > 0) {
		e->ans.rrs = xcalloc(ans->nrrs, sizeof(*e->ans.rrs));
		for (i = 0; i < ans->nrrs; i++)
			dns_rr_copy(&e->ans.rrs[i], &ans->rrs[i]);
		e->ans.nrrs = ans->nrrs;
	}
	e->hnext = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	lru_front(c, e);
	c->n++;
}

/* cache_answer - fill out from e: a deep copy whose TTLs count the time
   left */
static void
cache_answer(const struct dns_centry *e, struct dns_answer *out,
    int64_t now)
{
	uint32_t left = (uint32_t)((e->expire_ms - now + 999) / 1000);
	size_t i;

	memset(out, 0, sizeof(*out));
	out->status = e->ans.status;
	out->secure = e->ans.secure;
	if (e->ans.nrrs == 0)
		return;
	out->rrs = xcalloc(e->ans.nrrs, sizeof(*out->rrs));
	for (i = 0; i < e->ans.nrrs; i++) {
		dns_rr_copy(&out->rrs[i], &e->ans.rrs[i]);
		if (out->rrs[i].ttl > left)
			out->rrs[i].ttl = left;
	}
	out->nrrs = e->ans.nrrs;
}

/* dns_set_cache_size - most entries in the answer cache (0: none) */
void
dns_set_cache_size(struct dns_resolver *r, size_t entries)
{
	cache_clear(&r->cache);
	r->cache.cap = r->table ? 0 : entries;
}

/* dns_cache_entries - answers in the cache */
size_t
dns_cache_entries(const struct dns_resolver *r)
{
	return r->cache.n;
}

/* skip_name - advance *off past the (possibly compressed) name there */
static bool
skip_name(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t p = *off;

	while (p < len) {
		uint8_t l = pkt[p];

		if ((l & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return false;
			*off = p + 2;
			return true;
		}
		if ((l & 0xc0) != 0)
			return false;
		p += 1 + (size_t)l;
		if (l == 0) {
			if (p > len)
				return false;
			*off = p;
			return true;
		}
	}
	return false;
}

/*
 * packet_ttl - how long an answer of status st in this message may be
 * kept: the smallest TTL in the answer section (CNAMEs included) for
 * DNS_OK; for NXDOMAIN and NODATA the smaller of the SOA's TTL and its
 * MINIMUM field in the authority section (RFC 2308 5), or
 * DNS_CACHE_NEG_TTL without one.  At most DNS_CACHE_MAX_TTL; 0 for any
 * other status or a message it cannot walk.
 */
static uint32_t
packet_ttl(const uint8_t *pkt, size_t len, enum dns_status st)
{
	size_t off = 12, i;
	uint32_t ttl = DNS_CACHE_MAX_TTL, t;
	unsigned qd, an, ns;
	bool neg = st == DNS_NXDOMAIN || st == DNS_NODATA, soa = false;

	if ((st != DNS_OK && !neg) || len < 12)
		return 0;
	qd = get16(pkt + 4);
	an = get16(pkt + 6);
	ns = get16(pkt + 8);
	for (i = 0; i < qd; i++) {
		if (!skip_name(pkt, len, &off) || off + 4 > len)
			return 0;
		off += 4;
	}
	for (i = 0; i < (size_t)an + ns; i++) {
		uint16_t type, rdlen;

		if (!skip_name(pkt, len, &off) || off + 10 > len)
			return 0;
		type = get16(pkt + off);
		t = get32(pkt + off + 4);
		if (t > INT32_MAX)
			t = 0;		/* RFC 2181 8 */
		rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len)
			return 0;
		if (i < an && !neg && t < ttl)
			ttl = t;
		if (i >= an && neg && type == DNS_T_SOA && rdlen >= 20) {
			uint32_t min = get32(pkt + off + rdlen - 4);

			if (min > INT32_MAX)
				min = 0;

			if (t < ttl)
				ttl = t;
			if (min < ttl)
				ttl = min;
			soa = true;
		}
		off += rdlen;
	}
	if (neg && !soa)
		ttl = DNS_CACHE_NEG_TTL;
	if (st == DNS_OK && an == 0)
		return 0;
	return ttl > DNS_CACHE_MAX_TTL ? DNS_CACHE_MAX_TTL : ttl;
}

/* ---- libunbound's events, in this thread, on one epoll descriptor ---- */

/*
 * libunbound's pluggable event API (unbound-event.h) lets it run in the
 * caller's thread: it asks us to watch its sockets and timers, and we
 * call its handlers from dns_resolver_process().  All its sockets go into
 * one epoll descriptor, which is what dns_resolver_fd() hands the event
 * loop (an epoll descriptor is readable while any descriptor in it is);
 * its timers sit in a heap whose earliest deadline counts in
 * dns_resolver_timeout_ms().  An event freed while a batch of readiness
 * is being handled is kept until the batch ends, so a stale entry in the
 * batch never points at freed memory.
 */

#define EV_BATCH	64
/* timers run per dns_resolver_process(); more wait for the next call */
#define EV_MAX_TIMERS	1024

struct dns_ev {
	struct ub_event super;
	struct dns_evbase *base;
	int fd;
	short bits;			/* UB_EV_READ, _WRITE, _PERSIST */
	void (*cb)(int, short, void *);
	void *arg;
	bool in_epoll;
	bool dead;			/* freed during a batch */
	int64_t tv_us;			/* add()'s timeout, -1: none */
	int64_t when_us;		/* timer deadline */
	size_t heap_at;			/* SIZE_MAX: no timer */
	struct dns_ev *dead_next;
};

struct dns_evbase {
	struct ub_event_base super;
	int epfd;
	struct dns_ev **heap;		/* timers, earliest first */
	size_t nheap, capheap;
	int running;
	struct dns_ev *dead;
};

/* now_us - CLOCK_MONOTONIC in microseconds */
static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* heap_set - put ev at slot i */
static void
heap_set(struct dns_evbase *b, size_t i, struct dns_ev *ev)
{
	b->heap[i] = ev;
	ev->heap_at = i;
}

/* heap_sift - restore the heap order around slot i */
static void
heap_sift(struct dns_evbase *b, size_t i)
{
	struct dns_ev *ev = b->heap[i];

	while (i > 0 && b->heap[(i - 1) / 2]->when_us > ev->when_us) {
		heap_set(b, i, b->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= b->nheap)
			break;
		if (c + 1 < b->nheap &&
		    b->heap[c + 1]->when_us < b->heap[c]->when_us)
			c++;
		if (b->heap[c]->when_us >= ev->when_us)
			break;
		heap_set(b, i, b->heap[c]);
		i = c;
	}
	heap_set(b, i, ev);
}

/* timer_clear - ev has no deadline */
static void
timer_clear(struct dns_ev *ev)
{
	struct dns_evbase *b = ev->base;
	size_t i = ev->heap_at;

	if (i == SIZE_MAX)
		return;
	ev->heap_at = SIZE_MAX;
	if (--b->nheap == i)
		return;
	heap_set(b, i, b->heap[b->nheap]);
	heap_sift(b, i);
}

/* timer_set - ev's deadline is now + us */
static void
timer_set(struct dns_ev *ev, int64_t us)
{
	struct dns_evbase *b = ev->base;

	timer_clear(ev);
	ev->when_us = now_us() + us;
	if (b->nheap == b->capheap) {
		b->capheap = b->capheap ? b->capheap * 2 : 16;
		b->heap = xrealloc(b->heap, b->capheap * sizeof(*b->heap));
	}
	heap_set(b, b->nheap++, ev);
	heap_sift(b, ev->heap_at);
}

static int64_t
tv_us(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static void
ev_add_bits(struct ub_event *u, short bits)
{
	((struct dns_ev *)u)->bits |= bits;
}

static void
ev_del_bits(struct ub_event *u, short bits)
{
	((struct dns_ev *)u)->bits &= (short)~bits;
}

static void
ev_set_fd(struct ub_event *u, int fd)
{
	((struct dns_ev *)u)->fd = fd;
}

/* ev_del - stop watching the descriptor and the timeout */
static int
ev_del(struct ub_event *u)
{
	struct dns_ev *ev = (struct dns_ev *)u;

	if (ev->in_epoll) {
		/* fails harmlessly if libunbound closed the socket first */
		(void)epoll_ctl(ev->base->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
		ev->in_epoll = false;
	}
	timer_clear(ev);
	return 0;
}

/* ev_add - watch the descriptor for the event's bits, and the timeout */
static int
ev_add(struct ub_event *u, struct timeval *tv)
{
	struct dns_ev *ev = (struct dns_ev *)u;
	struct epoll_event ee;

	if (ev->fd >= 0 && (ev->bits & (UB_EV_READ | UB_EV_WRITE))) {
		memset(&ee, 0, sizeof(ee));
		ee.events = ((ev->bits & UB_EV_READ) ? EPOLLIN : 0) |
		    ((ev->bits & UB_EV_WRITE) ? EPOLLOUT : 0);
		ee.data.ptr = ev;
		if (epoll_ctl(ev->base->epfd, ev->in_epoll ? EPOLL_CTL_MOD :
		    EPOLL_CTL_ADD, ev->fd, &ee) != 0)
			return -1;
		ev->in_epoll = true;
	}
	ev->tv_us = -1;
	timer_clear(ev);
	if (tv != NULL) {
		ev->tv_us = tv_us(tv);
		timer_set(ev, ev->tv_us);
	}
	return 0;
}

/* ev_free - release ev, later if a batch may still name it */
static void
ev_free(struct ub_event *u)
{
	struct dns_ev *ev = (struct dns_ev *)u;

	ev_del(u);
	if (ev->base->running > 0) {
		ev->dead = true;
		ev->dead_next = ev->base->dead;
		ev->base->dead = ev;
	} else
		free(ev);
}

static int
ev_add_timer(struct ub_event *u, struct ub_event_base *base,
    void (*cb)(int, short, void *), void *arg, struct timeval *tv)
{
	struct dns_ev *ev = (struct dns_ev *)u;

	(void)base;
	ev->cb = cb;
	ev->arg = arg;
	ev->tv_us = -1;
	if (tv != NULL)
		timer_set(ev, tv_us(tv));
	return 0;
}

static int
ev_del_timer(struct ub_event *u)
{
	timer_clear((struct dns_ev *)u);
	return 0;
}

/* ev_unused - what libunbound never calls on a resolver's events */
static int
ev_unused(struct ub_event *u, struct timeval *tv)
{
	(void)u;
	(void)tv;
	return -1;
}

static int
ev_unused_del(struct ub_event *u)
{
	(void)u;
	return -1;
}

static void
ev_unused_void(struct ub_event *u)
{
	(void)u;
}

static void
ev_unused_wouldblock(struct ub_event *u, int bits)
{
	(void)u;
	(void)bits;
}

static struct ub_event_vmt ev_vmt = {
	ev_add_bits, ev_del_bits, ev_set_fd, ev_free, ev_add, ev_del,
	ev_add_timer, ev_del_timer, ev_unused, ev_unused_del,
	ev_unused_void, ev_unused_wouldblock,
};

static struct ub_event *
evb_new_event(struct ub_event_base *u, int fd, short bits,
    void (*cb)(int, short, void *), void *arg)
{
	struct dns_ev *ev = xcalloc(1, sizeof(*ev));

	ev->super.magic = UB_EVENT_MAGIC;
	ev->super.vmt = &ev_vmt;
	ev->base = (struct dns_evbase *)u;
	ev->fd = fd;
	ev->bits = bits;
	ev->cb = cb;
	ev->arg = arg;
	ev->tv_us = -1;
	ev->heap_at = SIZE_MAX;
	return &ev->super;
}

static struct ub_event *
evb_new_signal(struct ub_event_base *u, int fd,
    void (*cb)(int, short, void *), void *arg)
{
	(void)u;
	(void)fd;
	(void)cb;
	(void)arg;
	return NULL;
}

static struct ub_event *
evb_new_wsaevent(struct ub_event_base *u, void *wsa,
    void (*cb)(int, short, void *), void *arg)
{
	(void)u;
	(void)wsa;
	(void)cb;
	(void)arg;
	return NULL;
}

static void
evb_free_unused(struct ub_event_base *u)
{
	(void)u;
}

static int
evb_dispatch_unused(struct ub_event_base *u)
{
	(void)u;
	return -1;
}

static int
evb_loopexit(struct ub_event_base *u, struct timeval *tv)
{
	(void)u;
	(void)tv;
	return 0;
}

static struct ub_event_base_vmt evb_vmt = {
	evb_free_unused, evb_dispatch_unused, evb_loopexit, evb_new_event,
	evb_new_signal, evb_new_wsaevent,
};

/* evb_new - an event base on a fresh epoll descriptor, or NULL */
static struct dns_evbase *
evb_new(void)
{
	struct dns_evbase *b = xcalloc(1, sizeof(*b));

	b->super.magic = UB_EVENT_MAGIC;
	b->super.vmt = &evb_vmt;
	if ((b->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

/* evb_free - after ub_ctx_delete(), which frees libunbound's events */
static void
evb_free(struct dns_evbase *b)
{
	if (b == NULL)
		return;
	close(b->epfd);
	free(b->heap);
	free(b);
}

/* evb_timeout_ms - until the earliest libunbound timer (-1: none) */
static int
evb_timeout_ms(const struct dns_evbase *b)
{
	int64_t d;

	if (b == NULL || b->nheap == 0)
		return -1;
	d = b->heap[0]->when_us - now_us();
	if (d <= 0)
		return 0;
	d = (d + 999) / 1000;
	return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* evb_run - call libunbound's handlers for ready sockets and due timers */
static void
evb_run(struct dns_evbase *b)
{
	struct epoll_event ee[EV_BATCH];
	struct dns_ev *ev;
	int64_t now;
	int n, i;

	b->running++;
	n = epoll_wait(b->epfd, ee, EV_BATCH, 0);
	for (i = 0; i < n; i++) {
		short what = 0;

		ev = ee[i].data.ptr;
		if (ev->dead || !ev->in_epoll)
			continue;
		if ((ee[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    (ev->bits & UB_EV_READ))
			what |= UB_EV_READ;
		if ((ee[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
		    (ev->bits & UB_EV_WRITE))
			what |= UB_EV_WRITE;
		if (what == 0)
			continue;
		if (!(ev->bits & UB_EV_PERSIST))
			ev_del(&ev->super);
		else if (ev->tv_us >= 0)
			timer_set(ev, ev->tv_us);
		ev->cb(ev->fd, what, ev->arg);
	}
	now = b->nheap > 0 ? now_us() : 0;
	for (i = 0; i < EV_MAX_TIMERS && b->nheap > 0 &&
	    b->heap[0]->when_us <= now; i++) {
		ev = b->heap[0];
		timer_clear(ev);
		if (ev->fd >= 0 && ev->tv_us >= 0) {
			/* an I/O event's timeout (libevent's rules) */
			if (!(ev->bits & UB_EV_PERSIST))
				ev_del(&ev->super);
			else
				timer_set(ev, ev->tv_us);
		}
		ev->cb(ev->fd, UB_EV_TIMEOUT, ev->arg);
	}
	if (--b->running == 0)
		while ((ev = b->dead) != NULL) {
			b->dead = ev->dead_next;
			free(ev);
		}
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

static void direct_setup(struct dns_resolver *r, const char *server);

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
	r->cache.cap = DNS_CACHE_DEFAULT_ENTRIES;
	/* libunbound in this thread, on our events: no thread, no pipe */
	if ((r->evb = evb_new()) == NULL ||
	    (r->ctx = ub_ctx_create_ub_event(&r->evb->super)) == NULL) {
		if (err)
			*err = xstrdup("cannot create a libunbound context");
		evb_free(r->evb);
		free(r);
		return E_DNS;
	}
	/* No trust anchor is configured, so the validator passes answers
	   through as insecure; /etc/hosts is never read (no ub_ctx_hosts).
	   Forwarded queries carry RD=1, so the forwarder recurses. */
	if (server != NULL) {
		direct_setup(r, server);
		e = ub_ctx_set_fwd(r->ctx, server);
		if (e == 0)
			e = forward_everything(r->ctx);
	} else
		e = ub_ctx_resolvconf(r->ctx, NULL);
	if (e != 0) {
		if (err)
			*err = xasprintf("libunbound: %s", ub_strerror(e));
		ub_ctx_delete(r->ctx);
		evb_free(r->evb);
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
	/* answers under an anchor are validated: libunbound asks them all */
	r->direct.usable = false;
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
	/* Deleting the context cancels what is still in flight (its
	   handlers may still move queries to the finished list), then the
	   event base it used can go. */
	if (r->ctx != NULL)
		ub_ctx_delete(r->ctx);
	if (r->direct.ev != NULL) {
		ev_free(&r->direct.ev->super);
		close(r->direct.fd);
		free(r->direct.rbuf);
	}
	evb_free(r->evb);
	cache_clear(&r->cache);
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

/*
 * finish - a query has its answer (pkt may be NULL): parse it into the
 * query, keep a copy in our cache if it may be kept, and queue the query
 * for deliver().  sec: 0 insecure, 1 bogus, 2 secure.
 */
static void
finish(struct dns_resolver *r, struct dns_q *q, int rcode, const void *pkt,
    int len, int sec)
{
	char key[256 + 4];
	uint32_t ttl = 0, hash;

	fly_remove(r, q);
	done_append(r, q);
	memset(&q->ans, 0, sizeof(q->ans));
	if (pkt != NULL && len > 0)
		dns_parse_packet(pkt, (size_t)len, q->type, &q->ans);
	else
		q->ans.status = rcode == 3 ? DNS_NXDOMAIN : DNS_SERVFAIL;
	/* libunbound knows better than the packet about some outcomes. */
	if (sec == 1) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_SERVFAIL;
		q->ans.bogus = true;
	} else if (rcode == 3 && q->ans.status != DNS_NXDOMAIN) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_NXDOMAIN;
	} else if (rcode != 0 && rcode != 3 && q->ans.status != DNS_ERROR &&
	    q->ans.status != DNS_SERVFAIL) {
		dns_answer_fini(&q->ans);
		q->ans.status = DNS_SERVFAIL;
	}
	q->ans.secure = sec == 2;
	if (r->cache.cap == 0 || q->ans.bogus || pkt == NULL || len <= 0)
		return;
	if ((ttl = packet_ttl(pkt, (size_t)len, q->ans.status)) > 0) {
		hash = norm_key(q->name, q->type, key);
		cache_put(&r->cache, key, q->type, hash, &q->ans, ttl,
		    now_ms());
	}
}

/*
 * ub_answer - libunbound finished a query (from evb_run(), or inside
 * ub_resolve_event() when it answers from its cache).
 */
static void
ub_answer(void *arg, int rcode, void *pkt, int len, int sec,
    char *why_bogus, int was_ratelimited)
{
	struct dns_q *q = arg;

	(void)why_bogus;
	(void)was_ratelimited;
	q->in_ub = false;
	finish(q->r, q, rcode, pkt, len, sec);
}

/* ub_start - hand q (on the in-flight list) to libunbound; 0 or E_DNS
   (q still in flight, not answered) */
static int
ub_start(struct dns_resolver *r, struct dns_q *q)
{
	int e;

	/* libunbound may answer from its own cache inside the call, and
	   ub_answer() moves q along */
	e = ub_resolve_event(r->ctx, q->name, (int)q->type, 1, q, ub_answer,
	    &q->async_id);
	if (e != 0 && !q->done)
		return E_DNS;
	q->in_ub = !q->done;
	return 0;
}

/* ---- the direct path to a loopback forwarder ---- */

/*
 * With a forwarder on the loopback interface and no trust anchor,
 * libunbound's work on a query is a stub query plus a fresh socket for
 * it (socket, bind, connect, two epoll_ctl, close: most of the cost of
 * a query here).  Then queries go out on one connected UDP socket
 * instead, RD set, EDNS0, a random id each.  A random source port per
 * query defends against answers forged off the path; nothing off the
 * host can send from a loopback address, so the one port costs nothing
 * there, and a connected socket takes datagrams from the forwarder only.
 * NOERROR and NXDOMAIN answers to our exact question, their answer
 * section one CNAME chain from it, are used; anything else (truncated,
 * another shape of answer, SERVFAIL, REFUSED, FORMERR, no answer within
 * DNS_DIRECT_HANDOVER_MS, a send that fails, a name with escapes) hands
 * the query to libunbound, which asks again its own way (TCP,
 * retransmissions, the other servers).
 */

#define DNS_DIRECT_HANDOVER_MS	1000
/* most queries in flight on the direct path; more go to libunbound */
#define DNS_DIRECT_MAX		4096
/* RFC 6891 payload size we offer (the DNS flag day 2020 value) */
#define DNS_DIRECT_EDNS		1232
/* datagrams read per recvmmsg(), and the room for each (a bigger one
   comes back truncated, so it goes to libunbound) */
#define DNS_DIRECT_BATCH	16
#define DNS_DIRECT_RBUF		2048
#define DNS_T_OPT		41

static struct ub_event *evb_new_event(struct ub_event_base *u, int fd,
    short bits, void (*cb)(int, short, void *), void *arg);
static int ev_add(struct ub_event *u, struct timeval *tv);
static void ev_free(struct ub_event *u);

/* direct_setup - use the direct path if server ("ADDRESS[@PORT]", checked
   by parse_server) is a loopback address */
static void
direct_setup(struct dns_resolver *r, const char *server)
{
	struct dns_direct *d = &r->direct;
	struct sockaddr_in *sin = (struct sockaddr_in *)&d->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&d->addr;
	char addr[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(server, '@');
	size_t alen = at ? (size_t)(at - server) : strlen(server);
	unsigned port = at ? (unsigned)strtoul(at + 1, NULL, 10) : 53;

	d->usable = false;
	if (alen >= sizeof(addr) || port < 1 || port > 65535)
		return;
	memcpy(addr, server, alen);
	addr[alen] = '\0';
	memset(&d->addr, 0, sizeof(d->addr));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			return;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		d->addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		d->addrlen = sizeof(*sin6);
	} else
		return;
	d->usable = true;
}

static void direct_readable(int fd, short what, void *arg);

/* direct_open - the connected socket in our epoll descriptor, opened at
   the first query; false (and the direct path off) when it cannot be */
static bool
direct_open(struct dns_resolver *r)
{
	struct dns_direct *d = &r->direct;
	struct ub_event *ev;
	int fd;

	if (d->ev != NULL)
		return true;
	d->usable = false;
	fd = socket(d->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&d->addr, d->addrlen) != 0 ||
	    (ev = evb_new_event(&r->evb->super, fd, UB_EV_READ |
	    UB_EV_PERSIST, direct_readable, r)) == NULL) {
		close(fd);
		return false;
	}
	if (ev_add(ev, NULL) != 0) {
		ev_free(ev);
		close(fd);
		return false;
	}
	d->rbuf = xmalloc(DNS_DIRECT_BATCH * DNS_DIRECT_RBUF);
	d->rnd_used = sizeof(d->rnd);
	d->fd = fd;
	d->ev = (struct dns_ev *)ev;
	d->usable = true;
	return true;
}

/* direct_find - the direct query with this id, or NULL */
static struct dns_q *
direct_find(struct dns_direct *d, uint16_t id)
{
	struct dns_q *q;

	for (q = d->ids[id & (DNS_DIRECT_BUCKETS - 1)]; q != NULL;
	    q = q->hnext)
		if (q->id == id)
			return q;
	return NULL;
}

/* direct_id - a random query id (RFC 5452 9.2), from getrandom() octets
   fetched a few hundred at a time; false if there are none */
static bool
direct_id(struct dns_direct *d, uint16_t *id)
{
	if (d->rnd_used + 2 > sizeof(d->rnd)) {
		if (getrandom(d->rnd, sizeof(d->rnd), 0) !=
		    (ssize_t)sizeof(d->rnd))
			return false;
		d->rnd_used = 0;
	}
	*id = (uint16_t)(d->rnd[d->rnd_used] << 8 | d->rnd[d->rnd_used + 1]);
	d->rnd_used += 2;
	return true;
}

/* direct_remove - take q off the direct path */
static void
direct_remove(struct dns_direct *d, struct dns_q *q)
{
	struct dns_q **pp = &d->ids[q->id & (DNS_DIRECT_BUCKETS - 1)];

	while (*pp != q)
		pp = &(*pp)->hnext;
	*pp = q->hnext;
	if (q->dprev != NULL)
		q->dprev->dnext = q->dnext;
	else
		d->head = q->dnext;
	if (q->dnext != NULL)
		q->dnext->dprev = q->dprev;
	else
		d->tail = q->dprev;
	q->hnext = q->dnext = q->dprev = NULL;
	q->direct = false;
	d->n--;
}

/* qwire_encode - q's question in wire form (labels, type, class IN);
   false for a name with escapes, which libunbound reads its own way */
static bool
qwire_encode(struct dns_q *q)
{
	const char *n = q->name;
	size_t len = strlen(n), lab = 0, o = 1, i;

	if (len > 0 && n[len - 1] == '.')
		len--;
	/* dns_name_ok(): labels of 1 to 63, 253 in all */
	if (memchr(n, '\\', len) != NULL)
		return false;
	for (i = 0; i < len; i++) {
		if (n[i] == '.') {
			q->qwire[lab] = (uint8_t)(o - lab - 1);
			lab = o++;
			continue;
		}
		q->qwire[o++] = (uint8_t)n[i];
	}
	q->qwire[lab] = (uint8_t)(o - lab - 1);
	q->qwire[o++] = 0;
	q->qwire[o++] = (uint8_t)(q->type >> 8);
	q->qwire[o++] = (uint8_t)q->type;
	q->qwire[o++] = 0;
	q->qwire[o++] = 1;
	q->qwire_len = o;
	return true;
}

/* direct_send - send q (on the in-flight list) on the direct path; false
   when libunbound should take it */
static bool
direct_send(struct dns_resolver *r, struct dns_q *q, int64_t now)
{
	struct dns_direct *d = &r->direct;
	uint8_t pkt[12 + DNS_QWIRE_MAX + 11];
	size_t o;

	if (!d->usable || d->n >= DNS_DIRECT_MAX || !qwire_encode(q) ||
	    !direct_open(r))
		return false;
	do
		if (!direct_id(d, &q->id))
			return false;
	while (direct_find(d, q->id) != NULL);
	memset(pkt, 0, 12);
	pkt[0] = (uint8_t)(q->id >> 8);
	pkt[1] = (uint8_t)q->id;
	pkt[2] = 0x01;			/* RD */
	pkt[5] = 1;			/* QDCOUNT */
	pkt[11] = 1;			/* ARCOUNT: the OPT record */
	memcpy(pkt + 12, q->qwire, q->qwire_len);
	o = 12 + q->qwire_len;
	/* RFC 6891 6.1.2: root owner, OPT, payload size, TTL 0, no rdata */
	pkt[o++] = 0;
	pkt[o++] = 0;
	pkt[o++] = DNS_T_OPT;
	pkt[o++] = (uint8_t)(DNS_DIRECT_EDNS >> 8);
	pkt[o++] = (uint8_t)(DNS_DIRECT_EDNS & 0xff);
	memset(pkt + o, 0, 6);
	o += 6;
	if (send(d->fd, pkt, o, 0) != (ssize_t)o)
		return false;
	q->direct = true;
	q->handover_ms = now + DNS_DIRECT_HANDOVER_MS;
	q->hnext = d->ids[q->id & (DNS_DIRECT_BUCKETS - 1)];
	d->ids[q->id & (DNS_DIRECT_BUCKETS - 1)] = q;
	q->dnext = NULL;
	q->dprev = d->tail;
	if (d->tail != NULL)
		d->tail->dnext = q;
	else
		d->head = q;
	d->tail = q;
	d->n++;
	return true;
}

/* direct_handover - q leaves the direct path for libunbound */
static void
direct_handover(struct dns_resolver *r, struct dns_q *q)
{
	direct_remove(&r->direct, q);
	if (ub_start(r, q) != 0)
		finish(r, q, 2, NULL, 0, 0);	/* SERVFAIL */
}

/* same_question - the question at p (n bytes left) is q's own: the name
   in any case, the same type and class */
static bool
same_question(const uint8_t *p, size_t n, const struct dns_q *q)
{
	size_t i;

	if (n < q->qwire_len)
		return false;
	for (i = 0; i < q->qwire_len; i++) {
		uint8_t a = p[i], b = q->qwire[i];

		/* length octets are below 64, never letters */
		if (a >= 'A' && a <= 'Z')
			a = (uint8_t)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (uint8_t)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/*
 * answer_chain_ok - every record of the answer section is owned by the
 * question's name or by the target of a CNAME met before it, as a
 * recursive server answers; anything else (a DNAME, unrelated records)
 * goes to libunbound, whose scrubber deals with it.
 */
static bool
answer_chain_ok(const uint8_t *pkt, size_t len)
{
	char cur[256 + 4], owner[256 + 4];
	size_t off = 12, p;
	unsigned an = get16(pkt + 6), i;
	uint16_t type, rdlen;

	if (!read_name(pkt, len, &off, cur, sizeof(cur)) || off + 4 > len)
		return false;
	off += 4;
	for (i = 0; i < an; i++) {
		if (!read_name(pkt, len, &off, owner, sizeof(owner)) ||
		    off + 10 > len)
			return false;
		type = get16(pkt + off);
		rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len || strcmp(owner, cur) != 0)
			return false;
		p = off;
		if (type == DNS_T_CNAME &&
		    !read_name(pkt, len, &p, cur, sizeof(cur)))
			return false;
		off += rdlen;
	}
	return true;
}

/* direct_readable - answers on the direct socket */
static void
direct_readable(int fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	struct dns_direct *d = &r->direct;
	struct mmsghdr mm[DNS_DIRECT_BATCH];
	struct iovec iov[DNS_DIRECT_BATCH];
	struct dns_q *q;
	const uint8_t *pkt;
	size_t len;
	int i, n, rcode;

	(void)what;
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < DNS_DIRECT_BATCH; i++) {
		iov[i].iov_base = d->rbuf + (size_t)i * DNS_DIRECT_RBUF;
		iov[i].iov_len = DNS_DIRECT_RBUF;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	/* one call for what is waiting (level-triggered: the rest, if
	   any, wakes the loop again) */
	while ((n = recvmmsg(fd, mm, DNS_DIRECT_BATCH, MSG_DONTWAIT,
	    NULL)) < 0 && errno == EINTR)
		;
	/* nobody listens (ICMP): libunbound decides what that means for
	   the queries waiting here */
	if (n < 0 && errno == ECONNREFUSED)
		while (d->head != NULL)
			direct_handover(r, d->head);
	for (i = 0; i < n; i++) {
		pkt = iov[i].iov_base;
		len = mm[i].msg_len;
		/* QR set, QUERY, one question, our id and question */
		if (len < 12 || (q = direct_find(d, get16(pkt))) == NULL ||
		    (pkt[2] & 0xf8) != 0x80 || get16(pkt + 4) != 1 ||
		    !same_question(pkt + 12, len - 12, q))
			continue;
		rcode = pkt[3] & 0x0f;
		if ((mm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 ||
		    (pkt[2] & 0x02) != 0 || (rcode != 0 && rcode != 3) ||
		    !answer_chain_ok(pkt, len)) {
			direct_handover(r, q);
			continue;
		}
		direct_remove(d, q);
		finish(r, q, rcode, pkt, (int)len, 0);
	}
}

/* dns_query - start a query; the answer comes by callback */
int
dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
    dns_callback *cb, void *arg)
{
	struct dns_centry *c = NULL;
	struct dns_q *q;
	char key[256 + 4];
	int64_t now;
	int e;

	if (name == NULL || !dns_name_ok(name))
		return E_INVAL;
	now = now_ms();
	if (r->cache.n > 0)
		c = cache_find(&r->cache, key, type, norm_key(name, type, key),
		    now);
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->name = xstrdup(name);
	q->type = type;
	q->deadline_ms = now + r->timeout_ms;
	if (c != NULL) {
		/* from our cache: delivered like any answer, never here */
		lru_unlink(&r->cache, c);
		lru_front(&r->cache, c);
		cache_answer(c, &q->ans, now);
		done_append(r, q);
	} else if (r->table) {
		dns_table_answer(r, q);
		done_append(r, q);
	} else {
		/* Listed first: libunbound answers from its own cache inside
		   ub_resolve_event(), and ub_answer() moves q along. */
		fly_insert(r, q);
		if (!direct_send(r, q, now) && (e = ub_start(r, q)) != 0) {
			fly_remove(r, q);
			free(q->name);
			free(q);
			return e;
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
	int64_t now;

	if (r->fly_head == NULL)
		return;
	now = now_ms();
	while ((q = r->fly_head) != NULL && q->deadline_ms <= now) {
		fly_remove(r, q);
		if (q->direct)
			direct_remove(&r->direct, q);
		else if (q->in_ub)
			ub_cancel(r->ctx, q->async_id);
		q->in_ub = false;
		memset(&q->ans, 0, sizeof(q->ans));
		q->ans.status = DNS_TIMEOUT;
		done_append(r, q);
	}
	while ((q = r->direct.head) != NULL && q->handover_ms <= now)
		direct_handover(r, q);
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
	return r->table ? -1 : r->evb->epfd;
}

/* dns_resolver_process - read answers, expire late queries, call back */
int
dns_resolver_process(struct dns_resolver *r)
{
	/* Answers from our cache with nothing in flight: libunbound has
	   nothing for us, spare the system call (the next round polls). */
	if (r->evb != NULL && (r->fly_head != NULL || r->done_head == NULL))
		evb_run(r->evb);
	expire(r);
	return deliver(r);
}

/* dns_resolver_timeout_ms - time until the earliest deadline (-1: none) */
int
dns_resolver_timeout_ms(const struct dns_resolver *r)
{
	int64_t now;
	int ms, ub;

	if (r->done_head != NULL)
		return 0;
	/* libunbound's own timers (retransmissions) wake the loop too */
	ub = evb_timeout_ms(r->evb);
	if (r->fly_head == NULL)
		return ub;
	now = now_ms();
	ms = r->fly_head->deadline_ms <= now ? 0 :
	    (int)(r->fly_head->deadline_ms - now);
	if (r->direct.head != NULL && r->direct.head->handover_ms -
	    now < ms)
		ms = r->direct.head->handover_ms <= now ? 0 :
		    (int)(r->direct.head->handover_ms - now);
	return ub >= 0 && ub < ms ? ub : ms;
}

/* dns_resolver_wait - block until no query is pending (tools, tests) */
int
dns_resolver_wait(struct dns_resolver *r)
{
	while (r->pending > 0) {
		int t = dns_resolver_timeout_ms(r);

		if (r->evb != NULL && t != 0) {
			struct pollfd pfd = { .fd = r->evb->epfd,
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

/* dns_reverse_name - see dns.h */
void
dns_reverse_name(const uint8_t *addr, size_t addrlen, char *out,
    size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	if (addrlen == 4) {
		snprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa", addr[3],
		    addr[2], addr[1], addr[0]);
		return;
	}
	for (i = 15; i >= 0 && o + 4 < outsz; i--) {
		out[o++] = hex[addr[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[addr[i] >> 4];
		out[o++] = '.';
	}
	snprintf(out + o, outsz - o, "ip6.arpa");
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
