/* tools/cli.h - what the `vssm` verbs share: the verb signature and small helpers.
 * Each verb lives in tools/cmd_<verb>.c and defines int vssm_cmd_<verb>(int argc, char **argv)
 * where argv[0] is the verb. Exit codes: 0 success, 1 some inputs failed, 2 usage or
 * unusable weights. Only tools/ prints and exits. */
#ifndef VSSM_TOOLS_CLI_H
#define VSSM_TOOLS_CLI_H

#include <stdarg.h>
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
void cli_verror(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* A control byte of a name as its C escape (\n, \t, ..., \x1b) into out (NUL-ended); returns
 * its length, or 0 for a byte that stands as it is. cli_error and text output use it. */
int cli_escape_byte(unsigned char c, char out[5]);
/* Between these, cli_error keeps its lines instead of writing them; cli_defer_end returns
 * them (malloc'ed, NULL when none; the caller frees). For a step every rank runs under
 * mpirun (loading the model): shard_agree_say then has one rank say why, not every rank. */
void cli_defer_begin(void);
char *cli_defer_end(void);
/* The one wording, in every verb, for an argument it does not take: "vssm: VERB: unknown
 * option '--x' (vssm VERB --help lists the options)", or "unexpected argument 'x'" for a
 * word that is not an option. */
void cli_bad_arg(const char *verb, const char *arg);

/* ---- outputs ----
 * Ctrl-C (or SIGTERM, SIGHUP, SIGPIPE) during a write would leave the writer's temp file (PATH.XXXXXX,
 * vssm/outfile.h) beside the last good output. cli_signals_install (once, from main) installs
 * a handler that, while a write is under way (between cli_write_begin and cli_write_end,
 * which nest and may come from several threads), only records the signal; the last
 * cli_write_end lets it act (the default action) once the file is renamed into place. Outside
 * writes a signal acts at once. sigprocmask alone would not do: the signal goes to any thread
 * that does not block it, and OpenMP's workers do not. A signal the shell set to be ignored
 * stays ignored. SIGXFSZ is ignored: past `ulimit -f` a write fails (EFBIG), reported. */
void cli_signals_install(void);
void cli_write_begin(void);
void cli_write_end(void);
/* An output file the run will write (the verb's name and the option for the message): a
 * file name (not a folder) whose folder exists and takes a new file (probed with the
 * writer's own PATH.XXXXXX, then removed); checked before any work. 0, or 2 (printed). */
int cli_check_out_file(const char *verb, const char *path, const char *opt);
/* 1 when a and b are the same existing file or folder (device and inode: links, ./ and
 * ../ spellings alike), else 0. */
int cli_same_file(const char *a, const char *b);
/* 1 when path (existing or not: its nearest existing ancestor is resolved) is dir or lies
 * under it, dir an existing folder; else 0. */
int cli_path_inside(const char *path, const char *dir);
/* The checks an output file of a verb needs before any work: cli_check_out_file, then not
 * the same file as any of the n inputs (files) and not inside any of the n_dirs input
 * folders (NULL entries skipped). 0, or 2 with the reason printed. */
int cli_check_output(const char *verb, const char *path, const char *opt, const char *const *inputs, int n,
                     const char *const *dirs, int n_dirs);

#endif
