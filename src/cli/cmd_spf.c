/* cli/cmd_spf.c - smtpsctl spf (being built; see issue 3) */
#include <stdio.h>

#include "cli/commands.h"

int
cmd_spf(int argc, char **argv)
{
	fprintf(stderr, "smtpsctl spf: not built yet\n");
	return 3;
}
