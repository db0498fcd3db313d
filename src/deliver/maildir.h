/*
 * deliver/maildir.h - durable delivery into Maildir (and Maildir++ folders).
 *
 * maildir_deliver() writes the message into ROOT/DOMAIN/LOCAL/[.FOLDER/]tmp,
 * fsyncs it, links it into new/ and fsyncs new/.  The file name is derived
 * from the queue id and the recipient index, so a delivery repeated after a
 * crash finds the file already there and succeeds without a duplicate.
 * Missing directories (cur, new, tmp) are created.  The local part and
 * domain are validated (no '/', no leading '.', no control characters).
 *
 * Both the domain and the local part are lower-cased (ASCII only) to make
 * the path, so "Demo@Example.TEST" lands in ROOT/example.test/demo/.  The
 * message is stored with LF line ends (CRLF in the spool becomes LF), as
 * Maildir readers expect.  The name in new/ is
 *	<arrival>.<queueid>_<index>.<host>,S=<bytes on disk>,W=<bytes as CRLF>
 * where <arrival> is the time inside the queue id (spool_id_time; 0 for an
 * id of another shape) and <host> is gethostname() with '/' and ':'
 * written as \057 and \072.
 *
 * Called by the queue manager only.  maildir_batch_* let it deliver many
 * messages and then fsync each touched new/ directory once.
 */
#ifndef DELIVER_MAILDIR_H
#define DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>

/* maildir_deliver - folder is NULL for the inbox, "Junk" for .Junk */
int maildir_deliver(const char *root, const char *address, const char *folder,
    const char *queue_id, unsigned rcpt_index, const char *msg, size_t len);

struct maildir_batch;

/* maildir_batch_new - deliveries into root whose new/ dirs are synced
   together by maildir_batch_commit */
struct maildir_batch *
maildir_batch_new(const char *root);
void
maildir_batch_free(struct maildir_batch *b);
/* maildir_batch_deliver - write, fdatasync and link one message into
   new/; not durable until maildir_batch_commit() returns 0.  E_INVAL for
   an address or folder that cannot be a path (permanent), E_NOSPACE or
   E_IO for a file system failure (temporary). */
int
maildir_batch_deliver(struct maildir_batch *b, const char *address,
    const char *folder, const char *queue_id, unsigned rcpt_index,
    const char *msg, size_t len);
/* maildir_batch_add - queue one delivery: validate, write the file into
   tmp/ (no fdatasync yet) and give a ticket; maildir_batch_commit() then
   fdatasyncs every queued file at once (on several threads, so the file
   system commits them together), links them into new/ and fsyncs each
   new/ directory once.  Returns E_INVAL (permanent), E_NOSPACE or E_IO if
   it failed already; the ticket's result says the same after commit. */
int
maildir_batch_add(struct maildir_batch *b, const char *address,
    const char *folder, const char *queue_id, unsigned rcpt_index,
    const char *msg, size_t len, size_t *ticket);
/* maildir_batch_result - a ticket's outcome after maildir_batch_commit():
   0 when durable, else E_INVAL, E_NOSPACE or E_IO.  Tickets stay valid
   until the next maildir_batch_add(). */
int
maildir_batch_result(const struct maildir_batch *b, size_t ticket);
/* maildir_batch_recheck - with on, later deliveries first look in cur/
   for a copy with the same name (a mail reader moves new/NAME to
   cur/NAME:2,FLAGS) and count it as delivered.  It costs a readdir of
   cur/, so the queue manager turns it on only for a message that may
   have been delivered before (queued before it started, or retried). */
void
maildir_batch_recheck(struct maildir_batch *b, bool on);
/* maildir_batch_commit - sync and link the queued deliveries, fsync every
   new/ directory touched since the last commit; 0 when all the batch's
   deliveries are durable, else the first error (see the tickets) */
int
maildir_batch_commit(struct maildir_batch *b);

/* maildir_path - the Maildir directory for address (and folder), or
   E_INVAL if either would escape the root or is not a valid name */
int
maildir_path(const char *root, const char *address, const char *folder,
    char *out, size_t outsz);

#endif
