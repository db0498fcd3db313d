/* cli/cmd_dmarc.c - smtpsctl dmarc (being built; see issue 3) */
#include <stdio.h>

#include "cli/commands.h"

int
cmd_dmarc(int argc, char **argv)
{
	fprintf(stderr, "smtpsctl dmarc: not built yet\n");
	return 3;
}
