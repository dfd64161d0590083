/* fuzz_track: what `vssm eval track` reads and computes. The input is
 *     FORMAT RESULTS \x1e GROUNDTRUTH [\x1e LABEL_A [\x1e LABEL_B [\x1e META_INFO]]]
 * FORMAT (one byte, mod 3): OTB, LaSOT, GOT-10k. The parts become the files of one sequence
 * folder (OTB groundtruth_rect.txt; LaSOT groundtruth.txt, full_occlusion.txt,
 * out_of_view.txt; GOT-10k groundtruth.txt, absence.label, cover.label, meta_info.ini) and a
 * results file; then what `vssm eval track` runs on them: the sequence reader, the results
 * reader (vssm_boxes_read_lines), the ground-truth and results checks, the pytracking
 * metrics (OTB or LaSOT protocol) and the got10k toolkit's IoUs + summary (whatever the
 * checks say, the metrics must not misbehave on the input). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "vssm/track.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fmt = data[0] % 3;
    const uint8_t *part[5];
    size_t len[5];
    int k = fz_split(data + 1, size - 1, 0x1e, part, len, 5);

    const char *seq = fz_path(0, "seq");
    mkdir(seq, 0700);
    static const char *const names[3][4] = {
        {"groundtruth_rect.txt", NULL, NULL, NULL},
        {"groundtruth.txt", "full_occlusion.txt", "out_of_view.txt", NULL},
        {"groundtruth.txt", "absence.label", "cover.label", "meta_info.ini"},
    };
    char p[PATH_MAX];
    /* remove what an earlier input left (any format's names) */
    static const char *const all[] = {"groundtruth_rect.txt", "groundtruth.txt", "full_occlusion.txt",
                                      "out_of_view.txt",      "absence.label",   "cover.label",
                                      "meta_info.ini"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        snprintf(p, sizeof p, "%s/%s", seq, all[i]);
        unlink(p);
    }
    for (int i = 0; i < 4; i++) {
        if (!names[fmt][i] || 1 + i >= k) continue;
        snprintf(p, sizeof p, "%s/%s", seq, names[fmt][i]);
        fz_write(p, part[1 + i], len[1 + i]);
    }
    const char *res = fz_path(1, "result.txt");
    fz_write(res, part[0], len[0]);

    vssm_err err = {0};
    vssm_box *pred = NULL;
    int np = 0, *lines = NULL;
    vssm_status rs = vssm_boxes_read_lines(res, &pred, &lines, &np, &err);
    if (rs == VSSM_OK) {
        if (np < 0) abort();
        for (int i = 1; i < np; i++)
            if (lines[i] <= lines[i - 1]) abort(); /* lines are 1-based and increasing */
    }

    vssm_seq s;
    if (vssm_seq_load(&s, seq, (vssm_seq_format)fmt, &err) == VSSM_OK) {
        if (s.n_gt <= 0 || !s.gt) abort();
        int bad_gt = vssm_track_gt_check(s.gt, s.n_gt, &err);
        if (bad_gt < -1 || bad_gt >= s.n_gt) abort();
        if (rs == VSSM_OK) {
            int bad = vssm_track_results_check(pred, np, s.gt, s.visible, s.n_gt, (vssm_seq_format)fmt, &err);
            if (bad < -1 || bad >= np) abort();
            vssm_track_seq_metrics m;
            vssm_track_protocol proto = fmt == VSSM_SEQ_FORMAT_LASOT ? VSSM_TRACK_PROTOCOL_LASOT
                                                                     : VSSM_TRACK_PROTOCOL_OTB;
            if (vssm_track_seq_eval(pred, np, s.gt, s.visible, s.n_gt, proto, &m, &err) == VSSM_OK) {
                vssm_track_summary sum;
                vssm_track_summarize(&m, 1, &sum);
            }
            double *ious = (double *)malloc((size_t)s.n_gt * sizeof(double));
            if (!ious) abort();
            int n = 0;
            if (vssm_got10k_seq_ious(pred, np, s.gt, s.cover, s.n_gt, s.res_w, s.res_h, ious, &n, &err) == VSSM_OK) {
                if (n < 0 || n > s.n_gt) abort();
                vssm_got10k_metrics gm;
                vssm_got10k_eval(ious, n, &gm);
            }
            free(ious);
        }
        vssm_seq_free(&s);
    }
    free(pred);
    free(lines);
    return 0;
}
