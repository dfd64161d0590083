/* examples/classify_one.c - the smallest program on the installed library: one image, one label.
 *
 *     example_classify_one WEIGHTS IMAGE
 *
 * Loads a classifier (weights, preprocessing and class names from the file), decodes and
 * preprocesses the image as the model was trained, and prints "LABEL SCORE" (the top-1
 * class and its logit). Only the public API: vssm/vssm.h, vssm/classifier.h. Built against
 * an install by tests/install_test.sh, through pkg-config and find_package (README, "Install
 * and link"). */
#include <stdio.h>
#include <stdlib.h>

#include "vssm/classifier.h"
#include "vssm/vssm.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s WEIGHTS IMAGE   (vssm %s)\n", argv[0], vssm_version());
        return 2;
    }
    vssm_err err = {0};
    vssm_ctx *ctx = NULL;
    vssm_classifier *clf = NULL;
    vssm_image im = {0};
    float *x = NULL, *logits = NULL;
    int rc = 1, w = 0, h = 0;

    if (vssm_ctx_new(&ctx, NULL, &err) != VSSM_OK || vssm_classifier_load(&clf, ctx, argv[1], NULL, &err) != VSSM_OK ||
        vssm_image_load(&im, argv[2], NULL, &err) != VSSM_OK)
        goto done;
    vssm_preprocess_params pp = vssm_classifier_preprocess(clf);
    if (vssm_preprocess_output_size(&pp, im.w, im.h, &w, &h, &err) != VSSM_OK) goto done;
    int classes = vssm_classifier_classes(clf);
    x = malloc((size_t)w * h * 3 * sizeof *x);
    logits = malloc((size_t)classes * sizeof *logits);
    if (!x || !logits) {
        vssm_err_set(&err, VSSM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (vssm_preprocess(&im, &pp, x, &err) != VSSM_OK ||
        vssm_classifier_forward(clf, x, 1, h, w, logits, &err) != VSSM_OK)
        goto done;
    int best = 0;
    for (int i = 1; i < classes; i++)
        if (logits[i] > logits[best]) best = i;
    printf("%s %.4f\n", vssm_classifier_label(clf, best), logits[best]);
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", err.msg);
    free(x);
    free(logits);
    vssm_image_free(&im);
    vssm_classifier_free(clf);
    vssm_ctx_free(ctx);
    return rc;
}
