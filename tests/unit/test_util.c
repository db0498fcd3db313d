/* test_util - buffers with caps, base64, log escaping, fanout */
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fanout.h"
#include "util/log.h"

static void
test_buf(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK_INT(buf_append(&b, "abcd", 4), 0, "append within cap");
	CHECK_INT(buf_append(&b, "efgh", 4), 0, "append up to cap");
	CHECK_INT(buf_append(&b, "i", 1), E_LIMIT, "append past cap refused");
	CHECK_INT(buf_size(&b), 8, "nothing added past cap");
	buf_consume(&b, 3);
	CHECK_STR(buf_cstr(&b), "defgh", "consume drops the front");
	CHECK_INT(buf_append(&b, "xyz", 3), 0, "consumed space is reusable");
	CHECK_STR(buf_cstr(&b), "defghxyz", "contents after reuse");
	buf_reset(&b);
	CHECK_INT(buf_printf(&b, "%d-%s", 42, "ok"), 0, "printf within cap");
	CHECK_STR(buf_cstr(&b), "42-ok", "printf result");
	CHECK_INT(buf_printf(&b, "%s", "too long"), E_LIMIT, "printf past cap");
	buf_fini(&b);
}

static void
test_base64(void)
{
	static const struct {
		const char *plain, *enc;
	} cases[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const char *bad[] = { "Zg=", "Z", "Zm9v!", "Zg==Zg==", "Z===",
		"Zm 9v", "*" };
	char enc[64], dec[64];
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base64_encode(enc, cases[i].plain, strlen(cases[i].plain));
		CHECK_STR(enc, cases[i].enc, "base64 encode RFC 4648 vector");
		CHECK_INT(base64_decode(dec, &n, cases[i].enc,
		    strlen(cases[i].enc), false), 0, "base64 decode vector");
		dec[n] = '\0';
		CHECK_STR(dec, cases[i].plain, "base64 round trip");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(base64_decode(dec, &n, bad[i], strlen(bad[i]), false),
		    E_SYNTAX, bad[i]);
	CHECK_INT(base64_decode(dec, &n, "Zm 9v\r\n", 7, true), 0,
	    "whitespace skipped when asked");
}

static void
test_log_escape(void)
{
	char out[32];

	CHECK_STR(log_escape(out, sizeof(out), "a\r\nb", 4), "a\\x0d\\x0ab",
	    "CR LF escaped");
	CHECK_STR(log_escape(out, sizeof(out), "k=v\"", 4), "k\\x3dv\\x22",
	    "= and quote escaped");
	CHECK_STR(log_escape(out, 12, "0123456789abcdef", 16), "01234567...",
	    "long text truncated");
}

/* fanout: every item runs exactly once, from several callers at once,
   and in a child after fork() */
#define FAN_ITEMS 97
#define FAN_CALLERS 4
#define FAN_ROUNDS 300

struct fan_arg {
	int hits[FAN_ITEMS];
};

static void
fan_item(void *arg, size_t i)
{
	struct fan_arg *a = arg;

	__atomic_fetch_add(&a->hits[i], 1, __ATOMIC_RELAXED);
}

static void *
fan_caller(void *arg)
{
	int *bad = arg, k;
	size_t i, n;

	for (k = 0; k < FAN_ROUNDS; k++) {
		struct fan_arg a;

		memset(&a, 0, sizeof(a));
		n = 1 + (size_t)(k % FAN_ITEMS);
		fanout_run(fan_item, &a, n);
		for (i = 0; i < FAN_ITEMS; i++)
			if (a.hits[i] != (i < n ? 1 : 0))
				(*bad)++;
	}
	return NULL;
}

static void
test_fanout(void)
{
	pthread_t t[FAN_CALLERS];
	int bad[FAN_CALLERS] = { 0 }, k, st = -1, total = 0;
	pid_t pid;

	for (k = 0; k < FAN_CALLERS; k++)
		pthread_create(&t[k], NULL, fan_caller, &bad[k]);
	for (k = 0; k < FAN_CALLERS; k++) {
		pthread_join(t[k], NULL);
		total += bad[k];
	}
	CHECK_INT(total, 0, "fanout: every item once, 4 callers at once");
	fanout_run(fan_item, &(struct fan_arg){ { 0 } }, 0);
	CHECK(1, "fanout: an empty batch returns");

	/* A child has none of the parent's threads: it gets its own pool. */
	pid = fork();
	if (pid == 0) {
		int b = 0;

		fan_caller(&b);
		_exit(b == 0 ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "fanout: works in a forked child");
}

int
main(void)
{
	test_buf();
	test_base64();
	test_log_escape();
	test_fanout();
	return test_done();
}
