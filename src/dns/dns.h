/*
 * dns/dns.h - asynchronous DNS for smtpsd and smtpsctl.
 *
 *	dns_query(resolver, name, type, callback, arg)
 *
 * Answers arrive by callback; no call blocks a worker.  Two back ends:
 *  - unbound: libunbound, forwarding to the system's resolvers or to the
 *    server given as "ADDRESS[@PORT]" (--resolver); DNSSEC status is
 *    reported (secure/bogus) when a trust anchor is configured.  A server
 *    given on a loopback address, with no trust anchor, is asked directly
 *    over one UDP socket first; libunbound takes whatever that path does
 *    not settle (truncation, errors, silence).
 *  - table: records added in memory (tests, and suites that ship their own
 *    zone data); a name marked as timing out answers DNS_TIMEOUT.
 * An event loop integrates with dns_resolver_fd() (readable: call
 * dns_resolver_process()); a command-line tool calls dns_resolver_wait().
 * The table back end calls callbacks from dns_resolver_process() or
 * dns_resolver_wait(), never from inside dns_query().
 */
#ifndef DNS_DNS_H
#define DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_PTR = 12,
	DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_SPF = 99,
	DNS_T_TLSA = 52,
};

/* How a query ended.  SPF and DMARC treat these differently (RFC 7208 5,
   RFC 7489 6.6.3), so they are never folded together. */
enum dns_status {
	DNS_OK,		/* NOERROR with at least one record of the type */
	DNS_NODATA,	/* NOERROR, no record of this type */
	DNS_NXDOMAIN,	/* the name does not exist */
	DNS_SERVFAIL,	/* server failure, refused, bogus DNSSEC */
	DNS_TIMEOUT,	/* no answer in time */
	DNS_ERROR,	/* malformed name or answer, local failure */
};

struct dns_rr {
	uint16_t type;
	uint32_t ttl;
	/* A: 4 bytes, AAAA: 16 bytes in addr */
	uint8_t addr[16];
	/* MX: preference; name holds the exchange.  PTR, CNAME, NS: name */
	uint16_t pref;
	char *name;		/* lower-case, no trailing dot */
	/* TXT/SPF: the character-strings concatenated (RFC 7208 3.3), and
	   each string's length in parts */
	char *txt;
	size_t txt_len;
	size_t *parts;
	size_t nparts;
	/* TLSA and anything else: raw rdata */
	uint8_t *rdata;
	size_t rdata_len;
};

struct dns_answer {
	enum dns_status status;
	bool secure;		/* DNSSEC validated */
	bool bogus;		/* DNSSEC validation failed */
	struct dns_rr *rrs;
	size_t nrrs;
	const char *qname;
	enum dns_type qtype;
};

/* dns_callback - the answer is valid only during the call */
typedef void dns_callback(void *arg, const struct dns_answer *ans);

struct dns_resolver;

/* dns_resolver_new - server is NULL (system) or "ADDRESS[@PORT]" */
int dns_resolver_new(struct dns_resolver **out, const char *server,
    char **err);
/*
 * dns_resolver_add_trust_anchor - validate answers under a zone with this
 * DS or DNSKEY record (zone-file text, e.g. "example. DNSKEY 257 3 13
 * ..."); call before the first query.  Without one, nothing is validated
 * and every answer is insecure.  0, or E_INVAL with *err set (a table
 * resolver has no DNSSEC and refuses).
 */
int dns_resolver_add_trust_anchor(struct dns_resolver *r, const char *rr,
    char **err);
/* dns_resolver_new_table - an empty in-memory table */
struct dns_resolver *dns_resolver_new_table(void);
void dns_resolver_free(struct dns_resolver *r);

/* dns_table_add_* - add a record to a table resolver */
void dns_table_add_txt(struct dns_resolver *r, const char *name,
    const char *const *strings, size_t nstrings);
/* dns_table_add_txt_len - the same with explicit lengths (strings may hold
   any byte, NUL included) */
void dns_table_add_txt_len(struct dns_resolver *r, const char *name,
    const char *const *strings, const size_t *lens, size_t nstrings);
void dns_table_add_addr(struct dns_resolver *r, const char *name,
    int family, const void *addr);	/* AF_INET or AF_INET6 */
void dns_table_add_mx(struct dns_resolver *r, const char *name,
    uint16_t pref, const char *exchange);
void dns_table_add_name(struct dns_resolver *r, const char *name,
    enum dns_type type, const char *target);	/* PTR, CNAME, NS */
/* dns_table_set_timeout - queries for name (any type) time out */
void dns_table_set_timeout(struct dns_resolver *r, const char *name);
/* dns_table_set_exists - name exists (NODATA rather than NXDOMAIN) */
void dns_table_set_exists(struct dns_resolver *r, const char *name);
/* dns_table_set_timeout_empty - queries for name time out for every type
   that has no record there; the others are answered (the SPF suite's
   TIMEOUT entries) */
void dns_table_set_timeout_empty(struct dns_resolver *r, const char *name);

/* dns_set_timeout - per query, milliseconds */
void dns_set_timeout(struct dns_resolver *r, int ms);

/*
 * dns_set_cache_size - the most answers the resolver keeps in its own
 * cache (default DNS_CACHE_DEFAULT_ENTRIES; 0 turns the cache off); the
 * cache is emptied.  The libunbound back end answers a name and type it
 * has in this cache without asking libunbound: positive answers for the
 * smallest TTL of their records, NXDOMAIN and NODATA for the negative TTL
 * of the SOA in the authority section (RFC 2308 5; 60 s without one),
 * never longer than an hour; SERVFAIL, timeouts, errors and bogus answers
 * are never kept.  The least recently used entry makes room.  The table
 * back end has no cache.
 */
#define DNS_CACHE_DEFAULT_ENTRIES	4096
void dns_set_cache_size(struct dns_resolver *r, size_t entries);
/* dns_cache_entries - answers in the cache now (tests, statistics) */
size_t dns_cache_entries(const struct dns_resolver *r);

/* dns_query - start a query; the callback is always called exactly once
   unless dns_resolver_free() comes first */
int dns_query(struct dns_resolver *r, const char *name, enum dns_type type,
    dns_callback *cb, void *arg);

/* dns_resolver_fd - readable when answers are waiting (-1 for a table) */
int dns_resolver_fd(struct dns_resolver *r);
/* dns_resolver_process - deliver the waiting answers to their callbacks */
int dns_resolver_process(struct dns_resolver *r);
/* dns_resolver_wait - block until no query is outstanding */
int dns_resolver_wait(struct dns_resolver *r);
/* dns_resolver_pending - queries not yet answered */
size_t dns_resolver_pending(const struct dns_resolver *r);
/* dns_resolver_timeout_ms - milliseconds until the earliest query deadline
   (-1: none).  An event loop arms a timer for it and then calls
   dns_resolver_process(), which answers expired queries DNS_TIMEOUT. */
int dns_resolver_timeout_ms(const struct dns_resolver *r);

/*
 * dns_parse_packet - the records of type qtype in the answer section of a
 * DNS message (wire format, RFC 1035 4.1), with names decompressed; the
 * status follows the RCODE.  CNAME records met on the way are skipped
 * unless qtype is CNAME.  Returns 0, or E_SYNTAX (out->status DNS_ERROR)
 * for a malformed message.  Free with dns_answer_fini().
 */
int dns_parse_packet(const uint8_t *pkt, size_t len, enum dns_type qtype,
    struct dns_answer *out);
void dns_answer_fini(struct dns_answer *a);

const char *dns_status_str(enum dns_status s);
/* dns_reverse_name - the in-addr.arpa (addrlen 4) or ip6.arpa (16) name
   of an address, for a PTR query; out needs 74 bytes */
void dns_reverse_name(const uint8_t *addr, size_t addrlen, char *out,
    size_t outsz);

#endif
