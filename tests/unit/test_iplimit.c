/* test_iplimit - the per-client-IP connection table shared by workers */
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "testlib.h"

static const unsigned char ip_a[4] = { 127, 0, 0, 1 };
static const unsigned char ip_b[4] = { 127, 0, 0, 2 };
static const unsigned char ip6[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 1 };

int
main(void)
{
	struct iplimit *il = iplimit_new();
	int i, ok = 0;
	pid_t pid;

	CHECK(il != NULL, "table maps");
	for (i = 0; i < 3; i++)
		ok += iplimit_acquire(il, 0, ip_a, 4, 3);
	CHECK_INT(ok, 3, "three connections up to the limit");
	CHECK(!iplimit_acquire(il, 1, ip_a, 4, 3),
	    "fourth refused, even from another worker");
	CHECK(iplimit_acquire(il, 1, ip_b, 4, 3), "another IP unaffected");
	CHECK(iplimit_acquire(il, 1, ip6, 16, 3), "IPv6 counted apart");
	iplimit_release(il, 0, ip_a, 4);
	CHECK(iplimit_acquire(il, 1, ip_a, 4, 3), "released slot reusable");
	CHECK(!iplimit_acquire(il, 0, ip_a, 4, 3), "and full again");
	iplimit_clear_slot(il, 1);
	CHECK(iplimit_acquire(il, 0, ip_a, 4, 3),
	    "a dead worker's counts are forgotten");

	/* the table is shared across fork: a child's count is seen here */
	iplimit_clear_slot(il, 0);
	pid = fork();
	if (pid == 0)
		_exit(iplimit_acquire(il, 2, ip_b, 4, 1) ? 0 : 1);
	waitpid(pid, &i, 0);
	CHECK(WIFEXITED(i) && WEXITSTATUS(i) == 0, "child acquired");
	iplimit_clear_slot(il, 1);
	CHECK(!iplimit_acquire(il, 0, ip_b, 4, 1),
	    "parent sees the child's connection");
	return test_done();
}
