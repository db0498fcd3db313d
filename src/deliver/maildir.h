/*
 * deliver/maildir.h - durable delivery into Maildir (and Maildir++ folders).
 *
 * maildir_deliver() writes the message into ROOT/DOMAIN/LOCAL/[.FOLDER/]tmp,
 * fsyncs it, links it into new/ and fsyncs new/.  The file name is derived
 * from the queue id and the recipient index, so a delivery repeated after a
 * crash finds the file already there and succeeds without a duplicate.
 * Missing directories (cur, new, tmp) are created.  The local part and
 * domain are validated (no '/', no leading '.', no control characters).
 */
#ifndef DELIVER_MAILDIR_H
#define DELIVER_MAILDIR_H

#include <stddef.h>

/* maildir_deliver - folder is NULL for the inbox, "Junk" for .Junk */
int maildir_deliver(const char *root, const char *address, const char *folder,
    const char *queue_id, unsigned rcpt_index, const char *msg, size_t len);

#endif
