/*
 * sasl/passwd.h - credentials from a passwd-file, as Dovecot reads them.
 *
 * Lines are "user:hash[:...]"; '#' comments and blank lines are skipped;
 * a hash may carry a Dovecot scheme prefix ("{CRYPT}", "{BLF-CRYPT}",
 * "{SHA512-CRYPT}") which is stripped.  Hashes are checked with libxcrypt
 * (yescrypt $y$, bcrypt $2b$, sha512-crypt $6$); anything else never
 * matches.  Comparison is constant-time; unknown users still cost a hash.
 */
#ifndef SASL_PASSWD_H
#define SASL_PASSWD_H

#include <stdbool.h>

struct passwd_db;

/* passwd_db_load - read FILE; on error *err names file:line */
int passwd_db_load(struct passwd_db **out, const char *file, char **err);
void passwd_db_free(struct passwd_db *db);
/* passwd_db_verify - user and password match (blocking: run on a thread) */
bool passwd_db_verify(const struct passwd_db *db, const char *user,
    const char *pass);
/* passwd_hash - a new yescrypt hash of pass (for make run's demo user) */
char *passwd_hash(const char *pass);

#endif
