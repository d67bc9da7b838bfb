/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the program-side files share (opts.c, log.c, daemon.c, main.c): how a
 * filesystem behaves as a command. Not installed.
 */
#ifndef RF_CLI_H
#define RF_CLI_H

/* From now on the default log sink is syslog (daemon.c, once detached). */
void rf__log_to_syslog(const char *ident);

#endif /* RF_CLI_H */
