/* tools/vssm.c - the `vssm` command: dispatches to one verb per file (tools/cmd_*.c).
 * Verbs are weak symbols so a verb not built yet says so instead of breaking the link. */
#include <stdio.h>
#include <string.h>
#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/vssm.h"

#define WEAK_VERB(name) int vssm_cmd_##name(int argc, char **argv) __attribute__((weak));
WEAK_VERB(classify)
WEAK_VERB(convert)
WEAK_VERB(eval)
WEAK_VERB(bench)
WEAK_VERB(info)
WEAK_VERB(segment)
WEAK_VERB(track)
WEAK_VERB(reid)

static const struct {
    const char *name;
    const char *help;
} verbs[] = {
#define V(n, h) {#n, h}
    V(classify, "classify images or folders of images"),
    V(eval, "evaluate a model on a dataset (classify | seg | track | reid | attributes)"),
    V(bench, "time a model's forward pass"),
    V(convert, "convert an official .pth checkpoint to safetensors"),
    V(info, "show what a weights file holds"),
    V(segment, "segment images"),
    V(track, "track an object through a sequence"),
    V(reid, "re-identification: extract embeddings"),
#undef V
};

typedef int (*verb_fn)(int, char **);
static verb_fn verb_lookup(const char *n) {
    if (!strcmp(n, "classify")) return vssm_cmd_classify;
    if (!strcmp(n, "eval")) return vssm_cmd_eval;
    if (!strcmp(n, "bench")) return vssm_cmd_bench;
    if (!strcmp(n, "convert")) return vssm_cmd_convert;
    if (!strcmp(n, "info")) return vssm_cmd_info;
    if (!strcmp(n, "segment")) return vssm_cmd_segment;
    if (!strcmp(n, "track")) return vssm_cmd_track;
    if (!strcmp(n, "reid")) return vssm_cmd_reid;
    return NULL;
}

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
    fprintf(f, "usage: vssm VERB [options]   (vssm VERB --help for a verb's options)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        int built = verb_lookup(verbs[i].name) != NULL;
        fprintf(f, "  %-10s %s%s\n", verbs[i].name, verbs[i].help, built ? "" : " (not in this build)");
    }
    fputs(exit_policy, f);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? VSSM_EXIT_USAGE : VSSM_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vssm %s\n", VSSM_VERSION_STRING);
        return 0;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) known |= !strcmp(verbs[i].name, argv[1]);
    if (!known) {
        cli_error("unknown verb '%s'", argv[1]);
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    verb_fn fn = verb_lookup(argv[1]);
    if (!fn) {
        cli_error("verb '%s' is not available in this build yet", argv[1]);
        return VSSM_EXIT_USAGE;
    }
    /* under mpirun: every rank runs the verb on its share; the exit code is the max */
    shard_init(&argc, &argv);
    int rc = shard_agree(fn(argc - 1, argv + 1));
    shard_finalize();
    return rc;
}
