/*
 * dns/dns_int.h - what the two back ends of dns/ share (private to dns/).
 *
 * One struct dns_resolver carries either back end; dns.c holds the
 * libunbound one and the entry points, table.c the in-memory table.
 * Both answer through a queue of finished queries that
 * dns_resolver_process() empties, so no callback runs inside dns_query().
 */
#ifndef DNS_DNS_INT_H
#define DNS_DNS_INT_H

#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns.h"

struct ub_ctx;
struct dns_evbase;
struct dns_ev;

/* the question of a query as it goes on the wire: name, type, class */
#define DNS_QWIRE_MAX	(255 + 4)
/* buckets of the direct path's id table (a power of two) */
#define DNS_DIRECT_BUCKETS	256

/* one cached answer (dns.c): in a hash chain and on the LRU list */
struct dns_centry {
	struct dns_centry *hnext;
	struct dns_centry *lprev, *lnext;
	uint32_t hash;
	enum dns_type type;
	char *name;		/* lower-case, no trailing dot */
	int64_t expire_ms;	/* CLOCK_MONOTONIC */
	struct dns_answer ans;	/* status, secure and a copy of the rrs */
};

/* the answer cache of one resolver (so of one thread: no locks) */
struct dns_cache {
	struct dns_centry **buckets;
	size_t nbuckets;	/* a power of two, 0 until the first insert */
	size_t n, cap;		/* entries, most entries (0: no cache) */
	struct dns_centry *lru_head, *lru_tail;	/* most recent first */
};

/* one query in flight */
struct dns_q {
	struct dns_q *next, *prev;
	struct dns_resolver *r;
	dns_callback *cb;
	void *arg;
	char *name;
	enum dns_type type;
	int async_id;		/* libunbound's id, when in_ub */
	bool in_ub;		/* handed to libunbound */
	/* the direct path (dns.c): id, when it goes to libunbound instead,
	   send order and the id table's chain */
	bool direct;
	uint16_t id;
	int64_t handover_ms;
	struct dns_q *dnext, *dprev, *hnext;
	uint8_t qwire[DNS_QWIRE_MAX];
	size_t qwire_len;
	int64_t deadline_ms;	/* CLOCK_MONOTONIC */
	bool done;		/* the answer is in ans, waiting delivery */
	struct dns_answer ans;
};

/*
 * The direct path (dns.c): with no trust anchor and a forwarder on the
 * loopback interface, queries go out on one connected UDP socket instead
 * of a fresh libunbound socket each; anything unusual goes to libunbound.
 */
struct dns_direct {
	int fd;			/* -1: not open (yet) */
	bool usable;		/* a loopback forwarder, no trust anchor */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct dns_ev *ev;	/* fd in the resolver's epoll descriptor */
	struct dns_q *head, *tail;	/* in flight here, in send order */
	struct dns_q *ids[DNS_DIRECT_BUCKETS];
	size_t n;
	uint8_t *rbuf;		/* receive buffers, one per datagram */
	uint8_t rnd[256];	/* random octets for ids, from getrandom() */
	size_t rnd_used;
};

/* one table record */
struct dns_trec {
	char *name;
	struct dns_rr rr;
};

/* per-name flags of the table */
struct dns_tname {
	char *name;
	bool timeout, timeout_empty, exists;
};

struct dns_resolver {
	bool table;
	int timeout_ms;
	/* in flight, in order of deadline; finished, in order of finishing */
	struct dns_q *fly_head, *fly_tail;
	struct dns_q *done_head, *done_tail;
	size_t pending;

	/* unbound, run in this thread on our own epoll descriptor */
	struct ub_ctx *ctx;
	struct dns_evbase *evb;
	struct dns_cache cache;
	struct dns_direct direct;

	/* table */
	struct dns_trec *recs;
	size_t nrecs;
	struct dns_tname *names;
	size_t nnames;
};

/* dns_table_answer - fill q->ans from the table (table.c) */
void dns_table_answer(struct dns_resolver *r, struct dns_q *q);
/* dns_table_free - release the table's records (table.c) */
void dns_table_free(struct dns_resolver *r);
/* dns_name_ok - can name be sent as a query? */
bool dns_name_ok(const char *name);
/* dns_rr_copy - deep copy of one record */
void dns_rr_copy(struct dns_rr *dst, const struct dns_rr *src);
void dns_rr_fini(struct dns_rr *rr);

#endif
