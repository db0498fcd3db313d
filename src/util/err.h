/*
 * util/err.h - the project's error codes.
 *
 * Functions return 0 on success or one of these negative codes; results go
 * through out-parameters.  err_str() names a code for logs and messages.
 */
#ifndef UTIL_ERR_H
#define UTIL_ERR_H

enum err {
	E_OK = 0,
	E_NOMEM = -1,	/* only where allocation failure is recoverable */
	E_LIMIT = -2,	/* a capped buffer or count was reached */
	E_SYNTAX = -3,	/* input does not follow its grammar */
	E_IO = -4,	/* read, write, fsync, rename failed (errno kept) */
	E_NOSPACE = -5,	/* disk full or quota */
	E_NOTFOUND = -6,
	E_CORRUPT = -7,	/* stored data fails its checksum or framing */
	E_AGAIN = -8,	/* try again later (would block, temporary) */
	E_INVAL = -9,	/* bad argument or configuration */
	E_TLS = -10,
	E_DNS = -11,
	E_TIMEOUT = -12,
	E_DENIED = -13,
};

const char *err_str(int e);

#endif
