/*
 * sasl/passwd.c - a Dovecot-style passwd-file, checked with libxcrypt.
 *
 * The file is read once into memory (a reload makes a new db and the
 * caller swaps it in).  User names compare case-insensitively, as
 * Dovecot's default auth_username_format (%Lu) lower-cases them.
 */
#include "sasl/passwd.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* a passwd-file bigger than this is a mistake, not a user list */
#define PASSWD_FILE_MAX (64 * 1024 * 1024)
/* the longest line we take; a crypt hash is under CRYPT_OUTPUT_SIZE */
#define PASSWD_LINE_MAX 4096

/*
 * An unknown user (or one whose hash we cannot check) still costs one
 * yescrypt computation at the default cost, so the answer's timing does
 * not tell which user names exist.
 */
static const char dummy_setting[] = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$";

struct passwd_entry {
	char *user;
	char *hash;		/* without the {SCHEME} prefix */
	bool usable;		/* a scheme we verify */
};

struct passwd_db {
	struct passwd_entry *entries;
	size_t n;
};

/* scheme_usable - the {SCHEME} prefix (may be empty) allows this hash */
static bool
scheme_usable(const char *scheme, size_t slen, const char *hash)
{
	static const struct {
		const char *scheme;	/* Dovecot's name, "" for none */
		const char *prefixes;	/* crypt prefixes it may hold */
	} schemes[] = {
		{ "", "$y$ $2b$ $2y$ $6$" },
		{ "CRYPT", "$y$ $2b$ $2y$ $6$" },
		{ "BLF-CRYPT", "$2b$ $2y$" },
		{ "SHA512-CRYPT", "$6$" },
	};
	size_t i, len;
	const char *p, *e;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strlen(schemes[i].scheme) != slen ||
		    strncasecmp(schemes[i].scheme, scheme, slen) != 0)
			continue;
		for (p = schemes[i].prefixes; *p; p = e) {
			e = strchr(p, ' ');
			if (e == NULL)
				e = p + strlen(p);
			len = (size_t)(e - p);
			if (strncmp(hash, p, len) == 0)
				return true;
			while (*e == ' ')
				e++;
		}
		return false;
	}
	return false;
}

/* ct_equal - compare two strings in time that depends only on lengths */
static bool
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = (unsigned char)(la != lb);

	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i < lb ? i : 0]);
	return d == 0;
}

/* add_line - parse one "user:hash[:...]" line */
static int
add_line(struct passwd_db *db, const char *file, int lineno, char *line,
    char **err)
{
	char *colon, *hash, *end, *scheme_end;
	struct passwd_entry *e;
	size_t i;

	if ((colon = strchr(line, ':')) == NULL) {
		*err = xasprintf("%s:%d: no ':' between user and password",
		    file, lineno);
		return E_SYNTAX;
	}
	*colon = '\0';
	if (line[0] == '\0') {
		*err = xasprintf("%s:%d: empty user name", file, lineno);
		return E_SYNTAX;
	}
	for (i = 0; line[i]; i++) {
		if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f) {
			*err = xasprintf("%s:%d: blank or control character "
			    "in the user name", file, lineno);
			return E_SYNTAX;
		}
	}
	hash = colon + 1;
	if ((end = strchr(hash, ':')) != NULL)
		*end = '\0';	/* uid, gid, ... extra fields: not ours */
	if (hash[0] == '\0') {
		*err = xasprintf("%s:%d: empty password for %s", file, lineno,
		    line);
		return E_SYNTAX;
	}
	for (i = 0; i < db->n; i++) {
		if (strcasecmp(db->entries[i].user, line) == 0) {
			*err = xasprintf("%s:%d: user %s listed twice", file,
			    lineno, line);
			return E_SYNTAX;
		}
	}
	db->entries = xrealloc(db->entries, (db->n + 1) * sizeof(*e));
	e = &db->entries[db->n++];
	e->user = xstrdup(line);
	if (hash[0] == '{' && (scheme_end = strchr(hash, '}')) != NULL) {
		e->hash = xstrdup(scheme_end + 1);
		e->usable = scheme_usable(hash + 1,
		    (size_t)(scheme_end - hash - 1), e->hash);
	} else {
		e->hash = xstrdup(hash);
		e->usable = scheme_usable("", 0, e->hash);
	}
	/* a setting libxcrypt itself rejects can never match */
	if (e->usable && crypt_checksalt(e->hash) != CRYPT_SALT_OK)
		e->usable = false;
	return 0;
}

/* parse - split text into lines and add each */
static int
parse(struct passwd_db *db, const char *file, char *text, size_t len,
    char **err)
{
	char *line, *nl;
	size_t ll;
	int lineno = 0, r;

	if (memchr(text, '\0', len) != NULL) {
		*err = xasprintf("%s: NUL byte in the file", file);
		return E_SYNTAX;
	}
	for (line = text; line < text + len; line = nl + 1) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(text + len - line));
		if (nl == NULL)
			nl = text + len;
		*nl = '\0';
		ll = (size_t)(nl - line);
		if (ll > 0 && line[ll - 1] == '\r')
			line[--ll] = '\0';
		if (ll > PASSWD_LINE_MAX) {
			*err = xasprintf("%s:%d: line too long", file, lineno);
			return E_SYNTAX;
		}
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if ((r = add_line(db, file, lineno, line, err)) < 0)
			return r;
	}
	return 0;
}

/* passwd_db_load - read FILE into a new db (a reload is a new load) */
int
passwd_db_load(struct passwd_db **out, const char *file, char **err)
{
	struct passwd_db *db;
	struct buf b;
	char chunk[8192];
	size_t n;
	FILE *f;
	int r = 0;

	*out = NULL;
	*err = NULL;
	if ((f = fopen(file, "re")) == NULL) {
		*err = xasprintf("%s: %s", file, strerror(errno));
		return E_IO;
	}
	buf_init(&b, PASSWD_FILE_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			*err = xasprintf("%s: file too large", file);
			r = E_LIMIT;
			goto out;
		}
	}
	if (ferror(f)) {
		*err = xasprintf("%s: read error: %s", file, strerror(errno));
		r = E_IO;
		goto out;
	}
	db = xcalloc(1, sizeof(*db));
	buf_cstr(&b);
	if ((r = parse(db, file, b.p ? b.p + b.off : chunk, buf_size(&b),
	    err)) < 0) {
		passwd_db_free(db);
		goto out;
	}
	*out = db;
out:
	/* the buffer held hashes: clear it before it goes back */
	if (b.p)
		explicit_bzero(b.p, b.cap);
	buf_fini(&b);
	fclose(f);
	return r;
}

/* passwd_db_free - release db, clearing the hashes; NULL does nothing */
void
passwd_db_free(struct passwd_db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < db->n; i++) {
		free(db->entries[i].user);
		explicit_bzero(db->entries[i].hash,
		    strlen(db->entries[i].hash));
		free(db->entries[i].hash);
	}
	free(db->entries);
	free(db);
}

/* passwd_db_verify - user and pass match; unknown users cost a hash too */
bool
passwd_db_verify(const struct passwd_db *db, const char *user,
    const char *pass)
{
	const struct passwd_entry *e = NULL;
	struct crypt_data *cd;
	const char *h;
	bool ok = false;
	size_t i;

	if (db == NULL || user == NULL || pass == NULL)
		return false;
	for (i = 0; i < db->n; i++) {
		if (strcasecmp(db->entries[i].user, user) == 0) {
			e = &db->entries[i];
			break;
		}
	}
	cd = xcalloc(1, sizeof(*cd));
	if (e != NULL && e->usable) {
		h = crypt_rn(pass, e->hash, cd, sizeof(*cd));
		ok = h != NULL && h[0] != '*' && ct_equal(h, e->hash);
	} else {
		/* spend the same kind of work, and answer no */
		(void)crypt_rn(pass, dummy_setting, cd, sizeof(*cd));
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* passwd_hash - a new yescrypt hash with a fresh salt, or NULL */
char *
passwd_hash(const char *pass)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	char *out = NULL;

	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    sizeof(setting)) == NULL)
		return NULL;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(pass, setting, cd, sizeof(*cd));
	if (h != NULL && h[0] != '*')
		out = xstrdup(h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}
