#include "util/err.h"

const char *
err_str(int e)
{
	switch (e) {
	case E_OK: return "ok";
	case E_NOMEM: return "out of memory";
	case E_LIMIT: return "limit reached";
	case E_SYNTAX: return "syntax error";
	case E_IO: return "I/O error";
	case E_NOSPACE: return "no space left";
	case E_NOTFOUND: return "not found";
	case E_CORRUPT: return "corrupt data";
	case E_AGAIN: return "try again";
	case E_INVAL: return "invalid argument";
	case E_TLS: return "TLS error";
	case E_DNS: return "DNS error";
	case E_TIMEOUT: return "timeout";
	case E_DENIED: return "denied";
	}
	return "unknown error";
}
