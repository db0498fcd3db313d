#include "util/base64.h"

#include "util/err.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
base64_encode(char *out, const void *in, size_t n)
{
	const unsigned char *s = in;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = alphabet[s[i] >> 2];
		out[o++] = alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		out[o++] = alphabet[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		out[o++] = alphabet[s[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = alphabet[s[i] >> 2];
		if (i + 1 < n) {
			out[o++] = alphabet[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
			out[o++] = alphabet[(s[i + 1] & 15) << 2];
		} else {
			out[o++] = alphabet[(s[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int
value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
base64_decode(void *out, size_t *outlen, const char *in, size_t n,
    bool skip_ws)
{
	unsigned char *d = out;
	unsigned int acc = 0;
	size_t i, o = 0, q = 0, pad = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (skip_ws && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		if (c == '=') {
			pad++;
			if (pad > 2)
				return E_SYNTAX;
			q++;
			acc <<= 6;
			if (q == 4) {
				if (pad == 1) {
					d[o++] = (unsigned char)(acc >> 16);
					d[o++] = (unsigned char)(acc >> 8);
				} else {
					d[o++] = (unsigned char)(acc >> 16);
				}
				q = 0;
				acc = 0;
			}
			continue;
		}
		if (pad > 0 || (v = value(c)) < 0)
			return E_SYNTAX;
		acc = (acc << 6) | (unsigned int)v;
		if (++q == 4) {
			d[o++] = (unsigned char)(acc >> 16);
			d[o++] = (unsigned char)(acc >> 8);
			d[o++] = (unsigned char)acc;
			q = 0;
			acc = 0;
		}
	}
	if (q != 0 || (pad > 0 && o == 0 && n > 0 && pad != 0 && q != 0))
		return E_SYNTAX;
	*outlen = o;
	return 0;
}
