/*
 * queue/crc32c.h - CRC-32C (Castagnoli), the spool's END checksum.
 *
 * The polynomial is 0x1EDC6F41 (reflected 0x82F63B78), as used by iSCSI
 * (RFC 3720 B.4), ext4 and btrfs metadata.  A pure function; the spool
 * computes it over every byte of a file before the END record.
 */
#ifndef QUEUE_CRC32C_H
#define QUEUE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c - extend crc (0 to start) over n bytes at p */
uint32_t
crc32c(uint32_t crc, const void *p, size_t n);

#endif
