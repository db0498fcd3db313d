/*
 * mailauth/dmarc_run.c - drive a DMARC machine over a dns.h resolver.
 *
 * The machine (dmarc.c) is pure; this is the few lines of glue a worker's
 * event loop or smtpsctl uses: ask, wait for the callback, answer, ask
 * again.  A session that ends while a query is out cancels the runner,
 * so the late answer frees the runner and touches nothing else.
 */
#include <stdlib.h>

#include "dns/dns.h"
#include "mailauth/dmarc.h"
#include "util/xmalloc.h"

struct dmarc_runner {
	struct dmarc_eval *e;
	struct dns_resolver *r;
	dmarc_done_cb *cb;
	void *arg;
	bool cancelled;
};

static bool runner_step(struct dmarc_runner *run);

/* runner_answer - feed one answer (its TXT strings) and go on */
static void
runner_answer(void *arg, const struct dns_answer *ans)
{
	struct dmarc_runner *run = arg;
	const char **txt;
	size_t *len, i, n = 0;

	if (run->cancelled) {
		free(run);
		return;
	}
	txt = xcalloc(ans->nrrs + 1, sizeof(*txt));
	len = xcalloc(ans->nrrs + 1, sizeof(*len));
	for (i = 0; i < ans->nrrs; i++) {
		if (ans->rrs[i].type != DNS_T_TXT || ans->rrs[i].txt == NULL)
			continue;
		txt[n] = ans->rrs[i].txt;
		len[n++] = ans->rrs[i].txt_len;
	}
	(void)dmarc_eval_answer(run->e, ans->status, txt, len, n);
	free(txt);
	free(len);
	if (runner_step(run))
		free(run);
}

/* runner_step - ask until a query is out (false) or done (true) */
static bool
runner_step(struct dmarc_runner *run)
{
	struct dmarc_query q;

	while (dmarc_eval_next(run->e, &q) == DMARC_NEED_DNS) {
		if (dns_query(run->r, q.name, q.type, runner_answer, run) == 0)
			return false;
		/* The query could not even start: answer it as an error. */
		(void)dmarc_eval_answer(run->e, DNS_ERROR, NULL, NULL, 0);
	}
	run->cb(run->arg, run->e);
	return true;
}

/* dmarc_run - start driving e; NULL if it finished at once */
struct dmarc_runner *
dmarc_run(struct dmarc_eval *e, struct dns_resolver *r, dmarc_done_cb *cb,
    void *arg)
{
	struct dmarc_runner *run = xcalloc(1, sizeof(*run));

	run->e = e;
	run->r = r;
	run->cb = cb;
	run->arg = arg;
	if (runner_step(run)) {
		free(run);
		return NULL;
	}
	return run;
}

/* dmarc_run_cancel - forget the machine; the late answer frees run */
void
dmarc_run_cancel(struct dmarc_runner *run)
{
	if (run != NULL)
		run->cancelled = true;
}
