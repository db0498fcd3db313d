/*
 * util/log.h - one line per event, key=value, with a session or queue id.
 *
 *	3f2a9c1e smtp accepted id=Q7H2K size=4211 rcpts=2 tls=TLSv1.3
 *
 * Lines go to stderr (the foreground and systemd's journal read it).
 * Peer text must pass through log_escape() first; passwords, AUTH data
 * and keys are never logged.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level l);
void log_set_prefix(const char *process);
/* log_msg - write "<process>: <id> <message>"; id may be NULL */
void log_msg(enum log_level l, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_err(id, ...) log_msg(LOG_ERR, id, __VA_ARGS__)
#define log_warn(id, ...) log_msg(LOG_WARN, id, __VA_ARGS__)
#define log_info(id, ...) log_msg(LOG_INFO, id, __VA_ARGS__)
#define log_debug(id, ...) log_msg(LOG_DEBUG, id, __VA_ARGS__)

/*
 * log_escape - copy peer text into out (size outsz, always NUL-terminated),
 * escaping everything outside printable ASCII and the characters \ " = as
 * \xHH, and truncating with "..." so one field cannot flood the log.
 */
const char *log_escape(char *out, size_t outsz, const void *p, size_t n);

#endif
