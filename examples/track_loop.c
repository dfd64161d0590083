/* examples/track_loop.c - embedding the vssm tracker in your own frame loop.
 *
 *     example_track_loop WEIGHTS FRAMES_DIR x,y,w,h [template_size search_size]
 *
 * Loads a backbone, VMamba or Vision Mamba (and its mean/std), from a weights file, starts
 * the training-free tracker of vssm/track.h on the first frame of FRAMES_DIR (its sorted image files, or
 * those of FRAMES_DIR/img) with the given box, then feeds it one frame at a time and
 * prints "frame x y w h score" per frame. A real pipeline would hand its own decoded
 * frames (vssm_image, RGB u8) to vssm_tracker_update instead of reading files.
 * Only the public API is used: vssm/backbone.h (loading), vssm/image.h, vssm/track.h. */
#include <stdio.h>
#include <stdlib.h>

#include "vssm/backbone.h"
#include "vssm/track.h"

int main(int argc, char **argv) {
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s WEIGHTS FRAMES_DIR x,y,w,h [template_size search_size]\n", argv[0]);
        return 2;
    }
    vssm_box box;
    if (sscanf(argv[3], "%lf,%lf,%lf,%lf", &box.x, &box.y, &box.w, &box.h) != 4) {
        fprintf(stderr, "bad box '%s' (x,y,w,h)\n", argv[3]);
        return 2;
    }
    vssm_err err = {0};
    vssm_ctx_opts co = vssm_ctx_default_opts();
    vssm_ctx *ctx = NULL;
    vssm_backbone *backbone = NULL;
    vssm_preprocess_params pp;
    vssm_tracker *trk = NULL;
    char **frames = NULL;
    int n = 0, rc = 1;

    vssm_tracker_config cfg = vssm_tracker_config_default();
    if (argc == 6) {
        cfg.template_size = atoi(argv[4]);
        cfg.search_size = atoi(argv[5]);
    }
    if (vssm_ctx_new(&ctx, &co, &err) != VSSM_OK ||
        vssm_backbone_load_file(&backbone, ctx, argv[1], NULL, &pp, &err) != VSSM_OK ||
        vssm_tracker_new_backbone(&trk, backbone, &pp, &cfg, &err) != VSSM_OK ||
        vssm_seq_frames(argv[2], &frames, &n, &err) != VSSM_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "error: %s: no frames\n", argv[2]);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        vssm_image frame = {0};
        if (vssm_image_load(&frame, frames[i], NULL, &err) != VSSM_OK) {
            fprintf(stderr, "error: %s\n", err.msg);
            goto done;
        }
        float score = 1.0f;
        vssm_status st = i == 0 ? vssm_tracker_init(trk, &frame, box, &err)
                                : vssm_tracker_update(trk, &frame, &box, &score, &err);
        vssm_image_free(&frame);
        if (st != VSSM_OK) {
            fprintf(stderr, "error: %s: %s\n", frames[i], err.msg);
            goto done;
        }
        printf("%d %.1f %.1f %.1f %.1f %.3f\n", i + 1, box.x, box.y, box.w, box.h, score);
    }
    rc = 0;
done:
    vssm_seq_list_free(frames, n);
    vssm_tracker_free(trk); /* before the backbone it uses */
    vssm_backbone_free(backbone);
    vssm_ctx_free(ctx);
    return rc;
}
