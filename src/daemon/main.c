/* smtpsd - the daemon (being built) */
#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "smtpsd: not built yet\n");
	return 1;
}
