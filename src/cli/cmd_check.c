/* cli/cmd_check.c - smtpsctl check (being built; see issue 5) */
#include <stdio.h>

#include "cli/commands.h"

int
cmd_check(int argc, char **argv)
{
	fprintf(stderr, "smtpsctl check: not built yet\n");
	return 3;
}
