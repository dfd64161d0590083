/* tools/cmd_eval.c - `vssm eval TASK ...`: dispatches to one evaluator per task.
 * Tasks not built yet are weak symbols and say so. */
#include <stdio.h>
#include <string.h>
#include "tools/cli.h"

int vssm_eval_classify(int argc, char **argv);
int vssm_eval_attributes(int argc, char **argv);
int vssm_eval_seg(int argc, char **argv) __attribute__((weak));
int vssm_eval_track(int argc, char **argv) __attribute__((weak));
int vssm_eval_reid(int argc, char **argv) __attribute__((weak));

VSSM_VERB(eval) {
    const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *help;
    } tasks[] = {
        {"classify", vssm_eval_classify, "top-1/top-5, per-class accuracy, confusion matrix (ImageFolder)"},
        {"attributes", vssm_eval_attributes, "multi-label attribute mA and instance metrics"},
        {"seg", vssm_eval_seg, "semantic segmentation mIoU (mmseg conventions)"},
        {"track", vssm_eval_track, "single-object tracking AUC / precision (pytracking, got10k)"},
        {"reid", vssm_eval_reid, "re-identification CMC / mAP (torchreid)"},
    };
    const int n = (int)(sizeof tasks / sizeof tasks[0]);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: vssm eval TASK [options]   (vssm eval TASK --help)\n"
                   "Scores a model or its outputs against ground truth, with the reference toolkits' conventions.\n"
                   "example: vssm eval classify --weights weights/fashion_mnist/vmamba_fashion.safetensors \\\n"
                   "           weights/fashion_mnist/sample\n\ntasks:\n");
        for (int i = 0; i < n; i++)
            fprintf(f, "  %-11s %s%s\n", tasks[i].name, tasks[i].help, tasks[i].fn ? "" : " (not in this build)");
        return argc < 2 ? VSSM_EXIT_USAGE : VSSM_EXIT_OK;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[1], tasks[i].name) != 0) continue;
        if (!tasks[i].fn) {
            cli_error("eval %s is not available in this build yet", argv[1]);
            return VSSM_EXIT_USAGE;
        }
        return tasks[i].fn(argc - 1, argv + 1);
    }
    cli_error("eval: unknown task '%s'", argv[1]);
    return VSSM_EXIT_USAGE;
}
