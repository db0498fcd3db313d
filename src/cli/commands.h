/*
 * cli/commands.h - the smtpsctl subcommands, one file each (cli/cmd_*.c).
 *
 * Each gets argc/argv starting at its own name and returns the process
 * exit status.  Usage errors print "smtpsctl NAME: problem" and return 2
 * unless the command documents otherwise.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

int cmd_spf(int argc, char **argv);
int cmd_dkim(int argc, char **argv);
int cmd_dmarc(int argc, char **argv);
int cmd_headers(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
