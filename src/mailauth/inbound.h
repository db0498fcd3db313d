/*
 * mailauth/inbound.h - SPF, DKIM and DMARC on one inbound message, and the
 * Authentication-Results and Received-SPF fields that report them.
 *
 * One struct inbound per message.  It owns the three machines (spf.h,
 * dkim.h, dmarc.h) and drives them over a dns.h resolver itself, so that
 * the caller can walk away at any time: inbound_free() with queries still
 * out only marks the object orphaned, and the last late answer frees it.
 * No callback ever reaches a caller that freed its inbound.
 *
 * The order is the receiver's: inbound_start_spf() when MAIL arrives (the
 * MAIL FROM identity; the null sender's check uses the HELO name, RFC 7208
 * 2.4; with check_helo also the HELO identity on its own, RFC 7208 2.3),
 * inbound_message() when the data is in (DKIM key lookups start at once,
 * side by side with SPF if that still runs), and DMARC as soon as
 * both are finished.  The done callback runs once, from the resolver's
 * answer delivery (or from inbound_message() when nothing needed DNS).
 *
 * Each check has a time budget.  Once a check's budget has run out, every
 * answer it receives and every query it would start is taken as a DNS
 * timeout, so the check ends in temperror at the latest one query timeout
 * after its budget.
 *
 * Both the daemon's worker and `smtpsctl dmarc` use this module, so the
 * fields they write for the same message, IP, HELO and sender are equal.
 * Runs in the worker process (event loop thread) and in smtpsctl.
 */
#ifndef MAILAUTH_INBOUND_H
#define MAILAUTH_INBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/dns.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/psl.h"
#include "mailauth/spf.h"

struct buf;

struct inbound_params {
	const char *ip;			/* client address text */
	const char *helo;		/* HELO/EHLO argument */
	const char *mail_from;		/* without <>; "" for the null sender */
	const char *authserv_id;	/* ours, for the fields */
	long long now;			/* seconds since the epoch */
	unsigned sample;		/* pct= draw, 0 to 99 */
	enum dmarc_discovery discovery;
	const struct pubsuffix *psl;	/* for DMARC_DISCOVERY_PSL */
	/* Budgets in milliseconds, 0 for none. */
	int spf_budget_ms;
	int dkim_budget_ms;
	int dmarc_budget_ms;
	/* Also check the HELO identity on its own (RFC 7208 2.3), reported
	   as a second spf resinfo with smtp.helo=; not for the null sender,
	   whose MAIL FROM check is already the HELO one. */
	bool check_helo;
};

struct inbound;

/* inbound_done_cb - every check has its verdict */
typedef void inbound_done_cb(void *arg, struct inbound *ib);

/* inbound_new - E_INVAL if p->ip is not an IP address */
int
inbound_new(struct inbound **out, const struct inbound_params *p);
/* inbound_free - forget ib; NULL does nothing.  With queries out it is
   freed when their answers arrive, and calls nobody. */
void
inbound_free(struct inbound *ib);

/* inbound_start_spf - start the SPF check on r (once) */
void
inbound_start_spf(struct inbound *ib, struct dns_resolver *r);
/*
 * inbound_message - the whole message (CRLF line ends, as received,
 * without our own fields): parse its DKIM signatures and start the key
 * lookups on r, start SPF if not started yet, and call cb when DMARC has
 * its verdict.  msg need not outlive the call.
 */
void
inbound_message(struct inbound *ib, struct dns_resolver *r, const char *msg,
    size_t n, inbound_done_cb *cb, void *arg);
/* inbound_finished - all three verdicts are in */
bool
inbound_finished(const struct inbound *ib);

/* The machines, for callers that print more (smtpsctl --json). */
const struct spf *
inbound_spf(const struct inbound *ib);
/* inbound_spf_helo - the HELO check, NULL when none was made */
const struct spf *
inbound_spf_helo(const struct inbound *ib);
const struct dkim_verify *
inbound_dkim(const struct inbound *ib);
const struct dmarc_verdict *
inbound_dmarc(const struct inbound *ib);

/*
 * inbound_authres - append the Authentication-Results field (name through
 * the final CRLF): spf (then spf smtp.helo= with check_helo), one dkim per
 * signature (or dkim=none), dmarc with
 * (p= sp= dis=) and policy.dmarc=.  override, when not NULL, is a local
 * policy override (RFC 7489 7.2 PolicyOverride: "trusted_forwarder",
 * "local_policy") written as policy.override= on the dmarc resinfo.
 */
int
inbound_authres(const struct inbound *ib, const char *override,
    struct buf *out);
/* inbound_received_spf - append the Received-SPF field (RFC 7208 9.1) */
int
inbound_received_spf(const struct inbound *ib, struct buf *out);

/*
 * inbound_strip_authres - copy msg to out without the
 * Authentication-Results fields whose authserv-id equals ours (case
 * insensitive, RFC 8601 5).  Fields that do not parse are kept.  Sets
 * *nstripped.  E_LIMIT if out's cap is reached.
 */
int
inbound_strip_authres(const char *msg, size_t n, const char *authserv_id,
    struct buf *out, size_t *nstripped);

#endif
