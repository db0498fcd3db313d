/*
 * smtpsd - the mail transfer agent: receives mail over SMTP with STARTTLS
 * and implicit TLS, authenticates submitters, spools durably, delivers.
 *
 *	smtpsd [-c FILE] [--foreground] [--resolver ADDRESS[@PORT]]
 *	smtpsd [-c FILE] --check-config
 *	smtpsd [-c FILE] --queue
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon/daemon.h"
#include "daemon/master.h"
#include "queue/qmgr.h"
#include "sasl/passwd.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define DEFAULT_CONFIG "/etc/smtpsd/smtpsd.conf"
#define VERSION "0.1.0"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: smtpsd [-c FILE] [--foreground] [--resolver ADDRESS[@PORT]]\n"
	    "       smtpsd [-c FILE] --check-config\n"
	    "       smtpsd [-c FILE] --queue\n"
	    "       smtpsd --print-default-config\n"
	    "       smtpsd --hash-password < password\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "  -f, --foreground      stay in the foreground, log to stderr\n"
	    "  -n, --check-config    validate the configuration, certificates\n"
	    "                        and passwords, print the effective\n"
	    "                        settings, exit\n"
	    "  --resolver ADDR[@PORT] DNS server to ask (overrides the file)\n"
	    "  --queue               list the messages in the queue\n"
	    "  -v, --verbose         log debug messages\n",
	    DEFAULT_CONFIG);
}

/* hash_password - read a password from stdin, print its yescrypt hash */
static int
hash_password(void)
{
	char line[1024];
	size_t n;
	char *h;

	if (fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "smtpsd: no password on standard input\n");
		return 1;
	}
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if ((h = passwd_hash(line)) == NULL) {
		fprintf(stderr, "smtpsd: cannot hash the password\n");
		return 1;
	}
	explicit_bzero(line, sizeof(line));
	printf("%s\n", h);
	free(h);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "queue", no_argument, NULL, 'q' },
		{ "print-default-config", no_argument, NULL, 'P' },
		{ "hash-password", no_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = DEFAULT_CONFIG, *resolver = NULL;
	bool foreground = false, check = false, queue = false;
	struct daemon_ctx d;
	char *err = NULL;
	int c;

	setvbuf(stderr, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "c:fnvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'f': foreground = true; break;
		case 'n': check = true; break;
		case 'r': resolver = optarg; break;
		case 'q': queue = true; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'P': fputs(config_default_text(), stdout); return 0;
		case 'H': return hash_password();
		case 'V': printf("smtpsd %s\n", VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "smtpsd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}

	memset(&d, 0, sizeof(d));
	d.qmgr_wake_fd = -1;
	if (config_load(&d.cfg, file, &err) < 0) {
		fprintf(stderr, "smtpsd: %s\n", err);
		free(err);
		return 1;
	}
	if (resolver != NULL) {
		/* static: lives as long as the process, like the flag */
		static char *normal;

		if (config_resolver_normal(resolver, &normal) < 0) {
			fprintf(stderr, "smtpsd: --resolver: bad address "
			    "'%s' (want ADDRESS[@PORT], e.g. 127.0.0.1@5353)\n",
			    resolver);
			config_free(d.cfg);
			return 1;
		}
		d.resolver_flag = normal;
		free(d.cfg->resolver);
		d.cfg->resolver = xstrdup(normal);
	}
	if (queue) {
		struct spool *sp;

		if (spool_open(&sp, d.cfg->spool_dir) < 0) {
			fprintf(stderr, "smtpsd: %s: cannot open spool\n",
			    d.cfg->spool_dir);
			return 1;
		}
		c = qmgr_list(sp, stdout) < 0;
		spool_close(sp);
		config_free(d.cfg);
		return c;
	}
	if (check) {
		/* everything start-up would load, nothing it would create */
		if (tls_store_load(&d.tls, d.cfg, &err) < 0 ||
		    (d.cfg->passwd_file != NULL &&
		    passwd_db_load(&d.passwd, d.cfg->passwd_file, &err) < 0)) {
			fprintf(stderr, "smtpsd: %s\n", err ? err : "error");
			free(err);
			return 1;
		}
		config_print(d.cfg, stdout);
		tls_store_free(d.tls);
		passwd_db_free(d.passwd);
		config_free(d.cfg);
		return 0;
	}
	if (master_prepare(&d, &err) < 0) {
		fprintf(stderr, "smtpsd: %s\n", err ? err : "startup failed");
		free(err);
		return 1;
	}
	if (!foreground && daemon(1, 1) < 0) {
		fprintf(stderr, "smtpsd: cannot detach: %m\n");
		return 1;
	}
	c = master_run(&d, true);
	/* a clean exit leaves nothing behind for LeakSanitizer to report */
	spool_close(d.spool);
	tls_store_free(d.tls);
	passwd_db_free(d.passwd);
	config_free(d.cfg);
	return c;
}
