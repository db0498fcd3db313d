/*
 * util/base64.h - strict base64 (RFC 4648 section 4), as AUTH and DKIM use.
 */
#ifndef UTIL_BASE64_H
#define UTIL_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* base64_encoded_len - bytes base64_encode writes for n input bytes */
size_t base64_encoded_len(size_t n);
/* base64_encode - encode n bytes into out (base64_encoded_len(n)+1 bytes) */
void base64_encode(char *out, const void *in, size_t n);
/*
 * base64_decode - decode n characters into out (room for n*3/4 bytes),
 * length to *outlen.  skip_ws ignores spaces, tabs, CR and LF (DKIM tags);
 * otherwise any character outside the alphabet, bad padding or a length
 * that is not a multiple of 4 is E_SYNTAX.
 */
int base64_decode(void *out, size_t *outlen, const char *in, size_t n,
    bool skip_ws);

#endif
