/* tools/cli.h - what the `vssm` verbs share: the verb signature and small helpers.
 * Each verb lives in tools/cmd_<verb>.c and defines int vssm_cmd_<verb>(int argc, char **argv)
 * where argv[0] is the verb. Exit codes: 0 success, 1 some inputs failed, 2 usage or
 * unusable weights. Only tools/ prints and exits. */
#ifndef VSSM_TOOLS_CLI_H
#define VSSM_TOOLS_CLI_H

#include "vssm/common.h"

enum { VSSM_EXIT_OK = 0, VSSM_EXIT_INPUT = 1, VSSM_EXIT_USAGE = 2 };

#define VSSM_VERB(name) int vssm_cmd_##name(int argc, char **argv)

/* Option helpers: return 1 when argv[*i] is OPT (consuming its value into *out),
 * 0 when it is another argument; on a missing or malformed value they print an
 * error naming the option and set *bad. */
int cli_opt_str(int argc, char **argv, int *i, const char *opt, const char **out, int *bad);
int cli_opt_int(int argc, char **argv, int *i, const char *opt, int *out, int *bad);
int cli_opt_flag(char **argv, int i, const char *opt, int *out);
/* Parses "HxW" or "N" (square). */
int cli_parse_size(const char *s, int *h, int *w);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one wording, in every verb, for an argument it does not take: "vssm: VERB: unknown
 * option '--x' (vssm VERB --help lists the options)", or "unexpected argument 'x'" for a
 * word that is not an option. */
void cli_bad_arg(const char *verb, const char *arg);

#endif
