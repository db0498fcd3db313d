/* test_inbound_spool - a DMARC quarantine travels through the spool to the
   queue manager's folder hook: written, loaded, rewritten */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "queue/qmgr.h"
#include "queue/spool.h"
#include "util/xmalloc.h"
#include "testlib.h"

static const struct {
	const char *name;
	bool quarantine;
	const char *folder;	/* the hook's answer */
} cases[] = {
	{ "accepted message goes to the inbox", false, NULL },
	{ "quarantined message goes to Junk", true, "Junk" },
};

/* write_one - write and publish one message; its id into id */
static int
write_one(struct spool *sp, bool quarantine, char id[32])
{
	struct spool_envelope env;
	struct spool_entry e, *ep = &e;
	char *rcpts[2] = { "demo@example.test", "x@example.test" };
	const char *msg = "From: a@b.example\r\n\r\nhello\r\n";
	const void *parts[1] = { msg };
	size_t lens[1] = { strlen(msg) };
	int r;

	memset(&env, 0, sizeof(env));
	env.mail_from = "a@b.example";
	env.rcpts = rcpts;
	env.nrcpts = 2;
	env.helo = "client.example";
	env.client_ip = "192.0.2.1";
	env.protocol = "ESMTP";
	env.arrival = 1700000000;
	env.quarantine = quarantine;
	if ((r = spool_write(sp, &env, parts, lens, 1, &e)) < 0)
		return r;
	if ((r = spool_sync(&e)) < 0)
		return r;
	if ((r = spool_publish(sp, &ep, 1)) < 0)
		return r;
	snprintf(id, 32, "%s", e.id);
	return 0;
}

int
main(void)
{
	char dir[] = "/tmp/test_inbound_spool.XXXXXX", id[32], *cmd;
	struct spool *sp = NULL;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (spool_open(&sp, dir) != 0) {
		fprintf(stderr, "cannot open a spool in %s\n", dir);
		return 1;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spool_message m, m2;
		const char *f;

		memset(&m, 0, sizeof(m));
		memset(&m2, 0, sizeof(m2));
		CHECK_INT(write_one(sp, cases[i].quarantine, id), 0,
		    cases[i].name);
		CHECK_INT(spool_load(sp, id, &m), 0, cases[i].name);
		CHECK_INT(!!(m.flags & SPOOL_F_QUARANTINE),
		    cases[i].quarantine, cases[i].name);
		CHECK_INT(m.env.quarantine, cases[i].quarantine,
		    cases[i].name);
		f = qmgr_config_folder(NULL, &m, 0);
		CHECK_STR(f, cases[i].folder, cases[i].name);
		/* A rewrite (one recipient done) keeps the flag. */
		m.env.nrcpts = 1;
		m.flags |= SPOOL_F_LOCAL_DONE;
		CHECK_INT(spool_rewrite(sp, &m), 0, cases[i].name);
		m.env.nrcpts = 2;
		CHECK_INT(spool_load(sp, id, &m2), 0, cases[i].name);
		CHECK_INT(!!(m2.flags & SPOOL_F_QUARANTINE),
		    cases[i].quarantine, "after rewrite");
		CHECK_STR(qmgr_config_folder(NULL, &m2, 0), cases[i].folder,
		    "after rewrite");
		spool_message_fini(&m);
		spool_message_fini(&m2);
	}
	spool_close(sp);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	return test_done();
}
