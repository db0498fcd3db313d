/*
 * smtpsctl - the smtpsd command-line tool: sender authentication checks,
 * DKIM keys, message and domain inspection.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct command {
	const char *name;
	int (*run)(int, char **);
	const char *usage;
} commands[] = {
	{ "spf", cmd_spf, "spf --ip IP --helo NAME --mail-from ADDR" },
	{ "dkim", cmd_dkim, "dkim keygen|sign|verify ..." },
	{ "dmarc", cmd_dmarc, "dmarc --ip IP --helo NAME --mail-from ADDR [FILE]" },
	{ "headers", cmd_headers, "headers [--json] [--verify [--ip IP]] [FILE]" },
	{ "check", cmd_check, "check [--json] [--selector S]... [--port N] [--submission HOST] [--resolver ADDRESS[@PORT]] [--ca-file FILE] [--timeout SECS] DOMAIN" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: smtpsctl COMMAND [--resolver ADDRESS[@PORT]] ...\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  smtpsctl %s\n", commands[i].usage);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smtpsctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
