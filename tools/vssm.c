/* tools/vssm.c - the `vssm` command: one table of verbs, each in its own file
 * (tools/cmd_<verb>.c defines vssm_cmd_<verb> with VSSM_VERB). A new verb is one line in
 * VSSM_VERBS and its file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/vssm.h"

/* X(name, summary): the verbs in the order --help lists them */
#define VSSM_VERBS(X)                                                                     \
    X(classify, "classify images or folders of images")                                   \
    X(eval, "evaluate a model on a dataset (classify | seg | track | reid | attributes)") \
    X(bench, "time a model's forward pass")                                               \
    X(convert, "convert an official .pth checkpoint to safetensors")                      \
    X(info, "show what a weights file holds")                                             \
    X(segment, "segment images")                                                          \
    X(track, "track an object through a sequence")                                        \
    X(reid, "re-identification: extract embeddings")                                      \
    X(train, "train or fine-tune a VMamba classifier on an ImageFolder")

#define DECLARE(n, h) VSSM_VERB(n);
VSSM_VERBS(DECLARE)
#undef DECLARE

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} verbs[] = {
#define ENTRY(n, h) {#n, vssm_cmd_##n, h},
    VSSM_VERBS(ENTRY)
#undef ENTRY
};

/* One policy for every verb (tests/test_cli_* check each verb keeps to it). */
static const char exit_policy[] =
    "\nexit codes (every verb):\n"
    "  0  success: every input was read and processed\n"
    "  1  some inputs failed: each is named on stderr with what is wrong (an image, sequence,\n"
    "     results, ground-truth or CSV row that cannot be read, is truncated, malformed or out\n"
    "     of range); the rest were processed and the outputs written. Also 1 when inputs were\n"
    "     given but none could be used (nothing evaluated).\n"
    "  2  nothing was done: a usage error, or a file the whole run depends on is unusable\n"
    "     (weights, a features file, a dataset root), named on stderr with the reason\n"
    "files from others are parsed, never executed (.pth pickles go through an allow-list);\n"
    "every size in them is checked before use. Outputs appear whole or not at all: each is\n"
    "written under a unique temporary name beside it, then renamed into place.\n";

static void usage(FILE *f) {
    fprintf(f, "usage: vssm VERB [options]   (vssm VERB --help for a verb's options; vssm --version)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
    fputs(exit_policy, f);
}

/* 0, or 1 (said on stderr) when what went to stdout did not all arrive (a full disk, /dev/full):
 * results cut short are a failure, not an exit 0 (gnulib's close_stdout) */
static int stdout_written(void) {
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    cli_error("standard output: write error (%s): the results printed are incomplete", strerror(errno));
    return VSSM_EXIT_INPUT;
}

int main(int argc, char **argv) {
    /* what is decided before MPI starts is the same on every rank: rank 0 alone says it */
    const int quiet = shard_launcher_rank() > 0;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (!quiet) usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? VSSM_EXIT_USAGE : stdout_written();
    }
    if (!strcmp(argv[1], "--version")) {
        if (!quiet) printf("vssm %s\n", vssm_version());
        return stdout_written();
    }
    int (*fn)(int, char **) = NULL;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verbs[i].name, argv[1])) fn = verbs[i].fn;
    if (!fn) {
        if (!quiet) cli_error("unknown verb '%s'", argv[1]);
        if (!quiet) usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    /* under mpirun: every rank runs the verb on its share; the exit code is the max */
    shard_init(&argc, &argv);
    cli_signals_install(); /* Ctrl-C waits for an output being written (tools/cli.h) */
    int rc = fn(argc - 1, argv + 1);
    const int out = stdout_written();
    int rc2 = shard_agree(out > rc ? out : rc);
    shard_finalize();
    return rc2;
}
