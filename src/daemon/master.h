/*
 * daemon/master.h - the master process (see daemon.h for the map).
 */
#ifndef DAEMON_MASTER_H
#define DAEMON_MASTER_H

#include <stdbool.h>

#include "daemon/daemon.h"

/* master_prepare - load certificates and passwords, open and recover the
   spool, create the mail directory; *err explains a failure */
int master_prepare(struct daemon_ctx *d, char **err);
/* master_run - bind, fork the children, supervise until SIGTERM/SIGINT */
int master_run(struct daemon_ctx *d, bool print_banner);

#endif
