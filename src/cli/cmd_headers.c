/* cli/cmd_headers.c - smtpsctl headers (being built; see issue 5) */
#include <stdio.h>

#include "cli/commands.h"

int
cmd_headers(int argc, char **argv)
{
	fprintf(stderr, "smtpsctl headers: not built yet\n");
	return 3;
}
