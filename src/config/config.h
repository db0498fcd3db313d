/*
 * config/config.h - the smtpsd configuration: parse, validate, defaults.
 *
 * The file is line-oriented: "keyword arguments..." with '#' comments.
 * docs/CONFIG.md describes every keyword.  config_load() returns E_SYNTAX
 * or E_INVAL with err set to "FILE:LINE: problem"; nothing is bound or
 * opened before the whole file has parsed.  The embedded default used by
 * `make run` is config_default_text().
 *
 * Owned by the master; workers and the queue manager get a copy by fork.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "smtp/server.h"

struct config_listen {
	char *address;		/* "127.0.0.1", "::1", "0.0.0.0" */
	int port;
	enum smtp_role role;
	int line;		/* where it was declared, for errors */
};

struct config_cert {
	char *cert_file;	/* PEM chain */
	char *key_file;		/* PEM private key (RSA or ECDSA) */
	int line;
};

/* config_grant - an authenticated user may use these senders */
struct config_grant {
	char *user;		/* login name as in the passwd-file */
	char **patterns;	/* "addr@domain" exact, "@domain" whole domain */
	size_t npatterns;
};

struct config_mailbox {
	char *address;		/* "demo@example.test" (lower-cased) */
};

/* config_cidr - an address block (trusted-forwarder) */
struct config_cidr {
	unsigned char addr[16];	/* network order; 4 bytes used for IPv4 */
	int family;		/* AF_INET or AF_INET6 */
	int bits;		/* prefix length */
};

enum config_sched {
	CONFIG_SCHED_BATCH,	/* children run SCHED_BATCH (default) */
	CONFIG_SCHED_NORMAL,	/* SCHED_OTHER */
	CONFIG_SCHED_INHERIT	/* whatever the master was started with */
};

struct config {
	char *file;		/* where it came from ("(default)" if embedded) */
	char *hostname;		/* "mx.example.test" */
	char *spool_dir;	/* the durable queue */
	char *mail_dir;		/* Maildir root: MAILDIR/DOMAIN/USER/ */
	char *passwd_file;	/* user:hash lines, may be NULL */
	char *user;		/* drop to this user after binding (root) */
	char *resolver;		/* "ADDRESS[@PORT]" or NULL for the system's */
	int workers;		/* 0: one per core */
	enum config_sched sched;	/* scheduling batch|normal|inherit */

	struct config_listen *listens;
	size_t nlistens;
	struct config_cert *certs;
	size_t ncerts;
	char **local_domains;	/* lower-cased */
	size_t nlocal_domains;
	/* local recipients; when none is listed any local part of a local
	   domain is accepted */
	struct config_mailbox *mailboxes;
	size_t nmailboxes;
	struct config_grant *grants;
	size_t ngrants;

	struct smtp_limits limits;
	int timeout_command;	/* seconds waiting for a command */
	int timeout_data;	/* seconds for the whole DATA phase */
	int min_data_rate;	/* bytes/s averaged, after the first 30 s */
	int max_conn_per_ip;	/* concurrent connections per client IP */
	int max_connections;	/* per worker */
	int auth_delay_ms;	/* first failed AUTH delay; doubles each time */

	/* Inbound SPF, DKIM and DMARC on the mx role (docs/INBOUND.md). */
	bool inbound_checks;	/* inbound-checks on|off */
	char *authserv_id;	/* NULL: the hostname */
	bool dmarc_enforce;	/* reject/quarantine as the domain asks */
	bool spf_reject_without_dmarc;	/* SPF fail, no DMARC record: 550 */
	bool spf_helo_check;	/* also SPF for the HELO identity */
	bool temperror_defer;	/* temperror-action defer: 451 */
	bool dmarc_discovery_psl;	/* dmarc-discovery psl (else treewalk) */
	struct config_cidr *trusted_forwarders;
	size_t ntrusted_forwarders;
	char **dmarc_opt_outs;	/* lower-cased recipient domains */
	size_t ndmarc_opt_outs;
	int check_timeout_spf;	/* seconds, per check */
	int check_timeout_dkim;
	int check_timeout_dmarc;
};

/* config_load - parse FILE; on error *err is "FILE:LINE: problem" */
int config_load(struct config **out, const char *file, char **err);
/* ADDRESS[@PORT] as the resolver keyword wants it, normalised; E_INVAL */
int config_resolver_normal(const char *in, char **out);
/* config_load_text - parse text as if it came from name */
int config_load_text(struct config **out, const char *name, const char *text,
    char **err);
void config_free(struct config *c);
/* config_print - the effective settings, in the file's own syntax */
void config_print(const struct config *c, FILE *f);
/* config_default_text - the embedded default (the make run one); the
   caller substitutes nothing: paths are relative to the working dir */
const char *config_default_text(void);

/* config_is_local_domain - domain (any case) is one of ours */
const char *config_sched_name(enum config_sched s);
bool config_is_local_domain(const struct config *c, const char *domain);
/* config_mailbox_exists - local recipient address accepted: its domain is
   local and it is listed (compared without case), or no mailbox is listed
   at all, or its local part is "postmaster" (RFC 5321 4.5.1) */
bool config_mailbox_exists(const struct config *c, const char *address);
/* config_sender_allowed - user may send as address (envelope or From:):
   the grant whose user equals the login (without case) holds either the
   exact address (local part case-sensitive, domain without case) or
   "@domain"; the null sender "" is never allowed.  For From: pass the
   address msg_from_extract() (msg/from.h) found, and refuse the message
   when it found none. */
bool config_sender_allowed(const struct config *c, const char *user,
    const char *address);

/* config_is_trusted_forwarder - addr (4 or 16 bytes) lies in one of the
   trusted-forwarder blocks */
bool config_is_trusted_forwarder(const struct config *c, const void *addr,
    size_t len);
/* config_dmarc_opted_out - recipient domain (any case) asked for no
   DMARC enforcement */
bool config_dmarc_opted_out(const struct config *c, const char *domain);
/* config_authserv_id - authserv-id, or the hostname when unset */
const char *config_authserv_id(const struct config *c);

#endif
