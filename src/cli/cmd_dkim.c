/* cli/cmd_dkim.c - smtpsctl dkim (being built; see issue 3) */
#include <stdio.h>

#include "cli/commands.h"

int
cmd_dkim(int argc, char **argv)
{
	fprintf(stderr, "smtpsctl dkim: not built yet\n");
	return 3;
}
