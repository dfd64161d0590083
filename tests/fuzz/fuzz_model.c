/* fuzz_model: the model loaders on a fuzzed weights file (safetensors or .pth, chosen by
 * content): the classifier (VMamba or Vim, config from metadata or tensor shapes), the
 * backbone loader the heads use, the segmenter (backbone + UPerNet/FPN head) and the re-ID
 * model. Whatever loads runs one small forward (32 x 32), so a config the loader accepted
 * but the tensors do not back shows up as a read out of bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/ctx.h"
#include "vssm/reid.h"
#include "vssm/segment.h"

#define SIDE 32

static vssm_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    vssm_err err = {0};
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = 1;
    if (vssm_ctx_new(&ctx, &o, &err) != VSSM_OK) {
        fprintf(stderr, "fuzz_model: %s\n", err.msg);
        abort();
    }
    return 0;
}

static float input[SIDE * SIDE * 3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path(0, "in.weights");
    fz_write(path, data, size);
    for (int i = 0; i < SIDE * SIDE * 3; i++) input[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;

    vssm_err err = {0};
    vssm_classifier *clf = NULL;
    if (vssm_classifier_load(&clf, ctx, path, NULL, &err) == VSSM_OK) {
        (void)vssm_classifier_macs(clf, SIDE, SIDE);
        (void)vssm_classifier_params(clf);
        int classes = vssm_classifier_classes(clf);
        if (classes > 0 && classes <= (1 << 20)) {
            for (int i = 0; i < classes; i++) (void)vssm_classifier_label(clf, i);
            float *logits = (float *)malloc((size_t)classes * sizeof(float));
            if (!logits) abort();
            (void)vssm_classifier_forward(clf, input, 1, SIDE, SIDE, logits, &err);
            free(logits);
        }
        vssm_classifier_free(clf);
    }

    vssm_backbone *bb = NULL;
    vssm_preprocess_params pp;
    if (vssm_backbone_load_file(&bb, ctx, path, NULL, &pp, &err) == VSSM_OK) {
        vssm_backbone_state *st = NULL;
        if (vssm_backbone_min_side(bb) <= SIDE && vssm_backbone_state_new(&st, bb, 1, SIDE, SIDE, &err) == VSSM_OK) {
            (void)vssm_backbone_forward(bb, st, input, &err);
            vssm_backbone_state_free(st);
        }
        vssm_backbone_free(bb);
    }

    vssm_segmenter *sg = NULL;
    if (vssm_segmenter_load(&sg, ctx, path, NULL, &err) == VSSM_OK) {
        int classes = vssm_segmenter_classes(sg);
        for (int i = 0; i < classes && i < 256; i++) (void)vssm_segmenter_class_name(sg, i);
        if (classes > 0 && classes <= 1024) {
            float *logits = (float *)malloc((size_t)SIDE * SIDE * classes * sizeof(float));
            if (!logits) abort();
            (void)vssm_segmenter_encode_decode(sg, input, SIDE, SIDE, logits, &err);
            free(logits);
        }
        vssm_segmenter_free(sg);
    }

    vssm_reid_model *rm = NULL;
    vssm_reid_model_opts ro = vssm_reid_model_default_opts();
    if (vssm_reid_model_load(&rm, ctx, path, &ro, &err) == VSSM_OK) {
        int dim = vssm_reid_model_dim(rm);
        if (dim > 0 && dim <= (1 << 20)) {
            float *emb = (float *)malloc((size_t)dim * sizeof(float));
            if (!emb) abort();
            (void)vssm_reid_model_forward(rm, input, 1, SIDE, SIDE, emb, &err);
            free(emb);
        }
        vssm_reid_model_free(rm);
    }
    return 0;
}
