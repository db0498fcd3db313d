/*
 * dns/table.c - the in-memory table back end of dns.h.
 *
 * Tests and conformance suites that ship their own zone data load it here
 * and run the same code the daemon runs over libunbound.  Lookups are
 * linear: tables hold a suite's few hundred records, not a zone.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns/dns_int.h"
#include "util/xmalloc.h"

/* The most CNAMEs followed for one query, as resolvers bound chains. */
#define TABLE_MAX_CNAME	8

/* norm_name - lower-case copy without a trailing dot */
static char *
norm_name(const char *name)
{
	char *n = xstrdup(name);
	size_t len = strlen(n), i;

	if (len > 0 && n[len - 1] == '.')
		n[--len] = '\0';
	for (i = 0; i < len; i++)
		if (n[i] >= 'A' && n[i] <= 'Z')
			n[i] = (char)(n[i] - 'A' + 'a');
	return n;
}

/* add - append one record for name */
static struct dns_rr *
add(struct dns_resolver *r, const char *name, uint16_t type)
{
	struct dns_trec *t;

	r->recs = xrealloc(r->recs, (r->nrecs + 1) * sizeof(*r->recs));
	t = &r->recs[r->nrecs++];
	memset(t, 0, sizeof(*t));
	t->name = norm_name(name);
	t->rr.type = type;
	t->rr.ttl = 300;
	return &t->rr;
}

/* tname - the flags of name, created on first use */
static struct dns_tname *
tname(struct dns_resolver *r, const char *name)
{
	char *n = norm_name(name);
	size_t i;

	for (i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i].name, n) == 0) {
			free(n);
			return &r->names[i];
		}
	r->names = xrealloc(r->names, (r->nnames + 1) * sizeof(*r->names));
	memset(&r->names[r->nnames], 0, sizeof(r->names[0]));
	r->names[r->nnames].name = n;
	return &r->names[r->nnames++];
}

/* find_tname - the flags of name if it has any */
static const struct dns_tname *
find_tname(const struct dns_resolver *r, const char *n)
{
	size_t i;

	for (i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i].name, n) == 0)
			return &r->names[i];
	return NULL;
}

/* dns_resolver_new_table - an empty in-memory table resolver */
struct dns_resolver *
dns_resolver_new_table(void)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));

	r->table = true;
	r->timeout_ms = 5000;
	return r;
}

/* dns_table_add_txt_len - add a TXT record of strings with lengths */
void
dns_table_add_txt_len(struct dns_resolver *r, const char *name,
    const char *const *strings, const size_t *lens, size_t nstrings)
{
	struct dns_rr *rr = add(r, name, DNS_T_TXT);
	size_t i, len = 0, o = 0;

	for (i = 0; i < nstrings; i++)
		len += lens[i];
	rr->txt = xmalloc(len + 1);
	rr->parts = xcalloc(nstrings ? nstrings : 1, sizeof(size_t));
	rr->nparts = nstrings;
	for (i = 0; i < nstrings; i++) {
		memcpy(rr->txt + o, strings[i], lens[i]);
		rr->parts[i] = lens[i];
		o += lens[i];
	}
	rr->txt[len] = '\0';
	rr->txt_len = len;
}

/* dns_table_add_txt - add a TXT record of NUL-terminated strings */
void
dns_table_add_txt(struct dns_resolver *r, const char *name,
    const char *const *strings, size_t nstrings)
{
	size_t *lens = xcalloc(nstrings ? nstrings : 1, sizeof(size_t));
	size_t i;

	for (i = 0; i < nstrings; i++)
		lens[i] = strlen(strings[i]);
	dns_table_add_txt_len(r, name, strings, lens, nstrings);
	free(lens);
}

/* dns_table_add_addr - add an A or AAAA record */
void
dns_table_add_addr(struct dns_resolver *r, const char *name, int family,
    const void *addr)
{
	struct dns_rr *rr = add(r, name, family == AF_INET6 ? DNS_T_AAAA :
	    DNS_T_A);

	memcpy(rr->addr, addr, family == AF_INET6 ? 16 : 4);
}

/* dns_table_add_mx - add an MX record */
void
dns_table_add_mx(struct dns_resolver *r, const char *name, uint16_t pref,
    const char *exchange)
{
	struct dns_rr *rr = add(r, name, DNS_T_MX);

	rr->pref = pref;
	rr->name = norm_name(exchange);
}

/* dns_table_add_name - add a PTR, CNAME or NS record */
void
dns_table_add_name(struct dns_resolver *r, const char *name,
    enum dns_type type, const char *target)
{
	struct dns_rr *rr = add(r, name, (uint16_t)type);

	rr->name = norm_name(target);
}

/* dns_table_set_timeout - every query for name times out */
void
dns_table_set_timeout(struct dns_resolver *r, const char *name)
{
	tname(r, name)->timeout = true;
}

/* dns_table_set_timeout_empty - types without records at name time out */
void
dns_table_set_timeout_empty(struct dns_resolver *r, const char *name)
{
	tname(r, name)->timeout_empty = true;
}

/* dns_table_set_exists - name exists even without records */
void
dns_table_set_exists(struct dns_resolver *r, const char *name)
{
	tname(r, name)->exists = true;
}

/* name_exists - a record, an exists mark or a name below it (an empty
   non-terminal exists too, RFC 8020) */
static bool
name_exists(const struct dns_resolver *r, const char *n)
{
	const struct dns_tname *t = find_tname(r, n);
	size_t i, nl = strlen(n);

	if (t != NULL && t->exists)
		return true;
	for (i = 0; i < r->nrecs; i++) {
		const char *x = r->recs[i].name;
		size_t xl = strlen(x);

		if (strcmp(x, n) == 0)
			return true;
		if (xl > nl && x[xl - nl - 1] == '.' &&
		    strcmp(x + xl - nl, n) == 0)
			return true;
	}
	return false;
}

/* collect - copy the records of name/type into ans; their number */
static size_t
collect(const struct dns_resolver *r, const char *n, uint16_t type,
    struct dns_answer *ans)
{
	size_t i, k = 0;

	for (i = 0; i < r->nrecs; i++)
		if (r->recs[i].rr.type == type && strcmp(r->recs[i].name, n) == 0)
			k++;
	if (k == 0)
		return 0;
	ans->rrs = xcalloc(k, sizeof(*ans->rrs));
	for (i = 0; i < r->nrecs; i++)
		if (r->recs[i].rr.type == type &&
		    strcmp(r->recs[i].name, n) == 0)
			dns_rr_copy(&ans->rrs[ans->nrrs++], &r->recs[i].rr);
	return k;
}

/* find_cname - the CNAME target of n, or NULL */
static const char *
find_cname(const struct dns_resolver *r, const char *n)
{
	size_t i;

	for (i = 0; i < r->nrecs; i++)
		if (r->recs[i].rr.type == DNS_T_CNAME &&
		    strcmp(r->recs[i].name, n) == 0)
			return r->recs[i].rr.name;
	return NULL;
}

/* dns_table_answer - answer one query from the table */
void
dns_table_answer(struct dns_resolver *r, struct dns_q *q)
{
	const struct dns_tname *t;
	const char *target;
	char *n = norm_name(q->name);
	int hops;

	memset(&q->ans, 0, sizeof(q->ans));
	for (hops = 0; hops <= TABLE_MAX_CNAME; hops++) {
		t = find_tname(r, n);
		if (t != NULL && t->timeout) {
			q->ans.status = DNS_TIMEOUT;
			goto out;
		}
		if (collect(r, n, (uint16_t)q->type, &q->ans) > 0) {
			q->ans.status = DNS_OK;
			goto out;
		}
		if (t != NULL && t->timeout_empty) {
			q->ans.status = DNS_TIMEOUT;
			goto out;
		}
		if (q->type == DNS_T_CNAME || (target = find_cname(r, n)) ==
		    NULL)
			break;
		free(n);
		n = xstrdup(target);
	}
	q->ans.status = hops > TABLE_MAX_CNAME ? DNS_SERVFAIL :
	    name_exists(r, n) ? DNS_NODATA : DNS_NXDOMAIN;
out:
	free(n);
}

/* dns_table_free - release the records and name flags */
void
dns_table_free(struct dns_resolver *r)
{
	size_t i;

	for (i = 0; i < r->nrecs; i++) {
		free(r->recs[i].name);
		dns_rr_fini(&r->recs[i].rr);
	}
	free(r->recs);
	for (i = 0; i < r->nnames; i++)
		free(r->names[i].name);
	free(r->names);
	r->recs = NULL;
	r->names = NULL;
	r->nrecs = r->nnames = 0;
}
