/*
 * smtp/received.h - the Received header smtpsd adds to each message.
 *
 * Format (docs/RECEIVED.md is the reference; tools parse it):
 *
 *   Received: from HELO (RDNS [IP])\r\n
 *   \tby HOSTNAME (smtpsd) with PROTO id QID\r\n
 *   \t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256)\r\n
 *   \tfor <RCPT>; DATE\r\n
 *
 * RDNS is the verified reverse name or "unknown"; the TLS clause is present
 * only when TLS was in use; "for <RCPT>" only with exactly one recipient;
 * DATE is RFC 5322 (e.g. "Sat, 28 Nov 2026 01:02:03 +0000").  Peer-supplied
 * text (HELO) is reduced to printable ASCII without "()[];\\" so it cannot
 * forge a clause.
 */
#ifndef SMTP_RECEIVED_H
#define SMTP_RECEIVED_H

#include <time.h>

#include "smtp/server.h"
#include "util/buf.h"

int smtp_received_header(struct buf *out, const struct smtp_envelope *env,
    const char *client_ip, const char *client_name, const char *hostname,
    const char *queue_id, time_t when);

#endif
