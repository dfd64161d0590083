/* tools/cmd_track.c - `vssm track`: follow one object through a sequence folder (or every
 * sequence of a dataset) with the training-free Siamese tracker of heads/track.c on a VMamba
 * or a Vision Mamba, and write the standard results file (one integer box x,y,w,h per frame). */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "vssm/backbone.h"
#include "vssm/track.h"

static const char *usage =
    "usage: vssm track --weights FILE --seq DIR [--init x,y,w,h] --out FILE [options]\n"
    "       vssm track --weights FILE --dataset ROOT --format otb|lasot|got10k --results DIR [options]\n"
    "Tracks one object through a sequence of frames with a training-free correlation tracker.\n"
    "example: vssm track --weights weights/fashion_mnist/vmamba_fashion.safetensors \\\n"
    "           --seq tests/data/track/otb/fmnist-01 --out fmnist-01.txt\n"
    "\n"
    "Tracks the object given by --init (default: the first box of DIR's groundtruth_rect.txt\n"
    "or groundtruth.txt) through the frames of DIR/img (or DIR), and writes one box per frame\n"
    "(frame 0 = the init box) to --out, or DIR/<seq>.txt per sequence with --dataset.\n"
    "\n"
    "  --video-out DIR      also write every frame with the box drawn, DIR/00000001.png ...\n"
    "  --quiet              no progress bar (it is drawn on stderr only on a terminal)\n"
    "tracker (defaults in parentheses, see vssm/track.h):\n"
    "  --stage S (0; a Vision Mamba has one: its stride-16 token grid)  --template-size N (128)  --search-size N (256)\n"
    "  --template-factor F (2.0)  --search-factor F (4.0)  --scales N (3)  --scale-step F (1.0375)\n"
    "  --scale-penalty F (0.9745)  --scale-lr F (0.59)  --window F (0.3)  --pos-lr F (1.0)\n"
    "model:\n"
    "  --weights FILE  --arch NAME  --key model|model_ema  --device cpu|cuda  --threads T  --tf32\n"
    "  --max-pixels N  refuse frames over N pixels (default 178956970, PIL's; 0: no limit)\n"
    "exit: 0 ok, 1 some frames or sequences failed (named on stderr), 2 usage or unusable weights\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int opt_double(int argc, char **argv, int *i, const char *opt, double *out, int *bad) {
    const char *s = NULL;
    if (!cli_opt_str(argc, argv, i, opt, &s, bad)) return 0;
    if (*bad) return 1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_error("option %s needs a number, got '%s'", opt, s);
        *bad = 1;
    } else {
        *out = v;
    }
    return 1;
}

static int parse_box(const char *s, vssm_box *b) {
    double v[4];
    const char *p = s;
    for (int k = 0; k < 4; k++) {
        char *end;
        v[k] = strtod(p, &end);
        if (end == p || !isfinite(v[k])) return 0;
        p = end;
        if (k < 3) {
            if (*p != ',') return 0;
            p++;
        }
    }
    if (*p) return 0;
    *b = (vssm_box){v[0], v[1], v[2], v[3]};
    return 1;
}

static void progress(const char *name, int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int width = 30, fill = total ? (int)((double)done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    fprintf(stderr, "\r%.24s [%s] %d/%d %.1f frames/s ETA %.0fs ", name, bar, done, total, rate,
            rate > 0 ? (total - done) / rate : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static int make_dir(const char *d) {
    if (mkdir(d, 0777) == 0 || errno == EEXIST) return 0;
    return -1;
}

typedef struct track_job {
    vssm_tracker *trk;
    const char *name, *seq_dir, *out, *video_out;
    int have_init;
    vssm_box init;
    int show_progress;
    const vssm_image_limits *limits;   /* --max-pixels */
} track_job;

/* Tracks one sequence. Returns 0 ok, 1 input problems (named), -1 the model failed. */
static int track_one(const track_job *j, int *frames_done, double *secs) {
    vssm_err err = {0};
    char **frames = NULL;
    int nf = 0, failed = 0;
    *frames_done = 0;
    *secs = 0;
    if (vssm_seq_frames(j->seq_dir, &frames, &nf, &err) != VSSM_OK) { cli_error("%s", err.msg); return 1; }
    if (nf == 0) {
        cli_error("%s: no frames (expected images in %s/img or %s)", j->seq_dir, j->seq_dir, j->seq_dir);
        vssm_seq_list_free(frames, nf);
        return 1;
    }
    vssm_box init = j->init;
    const vssm_box *gt = NULL;
    vssm_box *gtv = NULL;
    int n_gt = 0;
    {   /* ground truth: the init box when none was given, drawn in --video-out */
        const char *names[2] = {"groundtruth_rect.txt", "groundtruth.txt"};
        char p[4096] = "";
        int *lines = NULL;
        for (int k = 0; k < 2 && !gtv; k++) {
            int len = snprintf(p, sizeof p, "%s/%s", j->seq_dir, names[k]);
            if (len < 0 || (size_t)len >= sizeof p) { cli_error("%s: path too long", j->seq_dir); vssm_seq_list_free(frames, nf); return 1; }
            struct stat sb;
            if (stat(p, &sb) != 0) continue;
            if (vssm_boxes_read_lines(p, &gtv, &lines, &n_gt, &err) != VSSM_OK) {
                if (!j->have_init) { cli_error("%s", err.msg); vssm_seq_list_free(frames, nf); return 1; }
                gtv = NULL;
                n_gt = 0;
            }
        }
        gt = gtv;
        if (!j->have_init) {
            if (!gt || n_gt < 1) {
                cli_error("%s: no --init box and no groundtruth_rect.txt / groundtruth.txt to take it from", j->seq_dir);
                vssm_seq_list_free(frames, nf);
                free(gtv);
                free(lines);
                return 1;
            }
            init = gt[0];
            /* a box no tracker can start from is the GT file's fault: name its line */
            if (!(isfinite(init.x) && isfinite(init.y) && isfinite(init.w) && isfinite(init.h) && init.w > 0 && init.h > 0)) {
                cli_error("%s:%d: the first box (%g, %g, %g, %g) cannot start a tracker (finite, w and h > 0 needed)", p, lines[0],
                          init.x, init.y, init.w, init.h);
                vssm_seq_list_free(frames, nf);
                free(gtv);
                free(lines);
                return 1;
            }
        }
        free(lines);
    }
    vssm_box *res = calloc((size_t)nf, sizeof *res);
    if (!res) { cli_error("out of memory"); vssm_seq_list_free(frames, nf); free(gtv); return 1; }
    double t0 = now_s();
    vssm_image im = {0};
    int rc = 0, started = 0;
    for (int i = 0; i < nf; i++) {
        vssm_image_free(&im);
        if (vssm_image_load(&im, frames[i], j->limits, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            failed++;
            if (!started) { rc = 1; break; }       /* no first frame: nothing to track */
            res[i] = res[i - 1];                   /* a lost frame keeps the last box */
            continue;
        }
        vssm_status st;
        if (!started) {
            st = vssm_tracker_init(j->trk, &im, init, &err);
            res[i] = init;
            if (st != VSSM_OK) {
                cli_error("%s: %s", frames[i], err.msg);
                rc = st == VSSM_ERR_INVALID_ARG ? 1 : -1;
                break;
            }
            started = 1;
        } else {
            float score;
            st = vssm_tracker_update(j->trk, &im, &res[i], &score, &err);
            if (st != VSSM_OK) {
                cli_error("%s: %s", frames[i], err.msg);
                rc = -1;
                break;
            }
        }
        if (j->video_out) {
            static const uint8_t green[3] = {0, 255, 0}, white[3] = {255, 255, 255};
            if (gt && i < n_gt) vssm_image_draw_box(&im, gt[i], white, 1);
            vssm_image_draw_box(&im, res[i], green, 2);
            char p[4096];
            int len = snprintf(p, sizeof p, "%s/%08d.png", j->video_out, i + 1);
            if (len < 0 || (size_t)len >= sizeof p) { cli_error("%s: --video-out path too long", j->video_out); failed++; }
            else if (vssm_image_write_png(p, &im, &err) != VSSM_OK) { cli_error("%s", err.msg); failed++; }
        }
        *frames_done = i + 1;
        if (j->show_progress && (i % 4 == 3 || i + 1 == nf)) progress(j->name, i + 1, nf, t0);
    }
    vssm_image_free(&im);
    *secs = now_s() - t0;
    if (rc == 0) {
        if (vssm_boxes_write(j->out, res, nf, &err) != VSSM_OK) { cli_error("%s", err.msg); rc = 1; }
        else if (failed) rc = 1;
    }
    free(res);
    free(gtv);
    vssm_seq_list_free(frames, nf);
    return rc;
}

VSSM_VERB(track) {
    model_opts mo;
    model_opts_init(&mo);
    vssm_tracker_config tc = vssm_tracker_config_default();
    const char *seq = NULL, *out = NULL, *init_s = NULL, *video = NULL, *dataset = NULL, *results = NULL, *fmt_s = "otb";
    int bad = 0, quiet = 0, help = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (model_opts_parse(&mo, argc, argv, &i, &bad) || cli_opt_str(argc, argv, &i, "--seq", &seq, &bad) ||
            cli_opt_str(argc, argv, &i, "--out", &out, &bad) || cli_opt_str(argc, argv, &i, "--init", &init_s, &bad) ||
            cli_opt_str(argc, argv, &i, "--video-out", &video, &bad) || cli_opt_str(argc, argv, &i, "--dataset", &dataset, &bad) ||
            cli_opt_str(argc, argv, &i, "--results", &results, &bad) || cli_opt_str(argc, argv, &i, "--format", &fmt_s, &bad) ||
            cli_opt_int(argc, argv, &i, "--stage", &tc.stage, &bad) ||
            cli_opt_int(argc, argv, &i, "--template-size", &tc.template_size, &bad) ||
            cli_opt_int(argc, argv, &i, "--search-size", &tc.search_size, &bad) ||
            cli_opt_int(argc, argv, &i, "--scales", &tc.n_scales, &bad) ||
            opt_double(argc, argv, &i, "--template-factor", &tc.template_factor, &bad) ||
            opt_double(argc, argv, &i, "--search-factor", &tc.search_factor, &bad) ||
            opt_double(argc, argv, &i, "--scale-step", &tc.scale_step, &bad) ||
            opt_double(argc, argv, &i, "--scale-penalty", &tc.scale_penalty, &bad) ||
            opt_double(argc, argv, &i, "--scale-lr", &tc.scale_lr, &bad) ||
            opt_double(argc, argv, &i, "--window", &tc.window_influence, &bad) ||
            opt_double(argc, argv, &i, "--pos-lr", &tc.pos_lr, &bad) || cli_opt_flag(argv, i, "--quiet", &quiet) ||
            cli_opt_flag(argv, i, "--help", &help) || cli_opt_flag(argv, i, "-h", &help))
            continue;
        cli_bad_arg("track", argv[i]);
        bad = 1;
    }
    if (help) { fputs(usage, stdout); return VSSM_EXIT_OK; }
    if (bad) { fputs(usage, stderr); return VSSM_EXIT_USAGE; }
    if (!mo.weights) { cli_error("track: --weights FILE is required"); fputs(usage, stderr); return VSSM_EXIT_USAGE; }
    if (!!seq == !!dataset) { cli_error("track: give either --seq DIR (with --out FILE) or --dataset ROOT (with --results DIR)"); return VSSM_EXIT_USAGE; }
    if (seq && !out) { cli_error("track: --out FILE is required with --seq"); return VSSM_EXIT_USAGE; }
    if (dataset && !results) { cli_error("track: --results DIR is required with --dataset"); return VSSM_EXIT_USAGE; }
    if (dataset && init_s) { cli_error("track: --init applies to one --seq, not to --dataset"); return VSSM_EXIT_USAGE; }
    int fmt = vssm_seq_format_from_name(fmt_s);
    if (fmt < 0) { cli_error("track: --format takes otb, lasot or got10k, got '%s'", fmt_s); return VSSM_EXIT_USAGE; }
    vssm_box init = {0};
    if (init_s) {
        if (!parse_box(init_s, &init)) { cli_error("track: --init needs x,y,w,h numbers, got '%s'", init_s); return VSSM_EXIT_USAGE; }
        if (!(init.w > 0 && init.h > 0)) {
            cli_error("track: --init box %s has zero or negative size (w and h must be > 0)", init_s);
            return VSSM_EXIT_USAGE;
        }
    }
    vssm_err err = {0};
    if (vssm_tracker_config_validate(&tc, &err) != VSSM_OK) { cli_error("%s", err.msg); return VSSM_EXIT_USAGE; }

    /* the backbone alone, with the file's mean/std */
    vssm_ctx_opts co;
    if (cli_ctx_opts(mo.device, mo.threads, mo.tf32, &co)) return VSSM_EXIT_USAGE;
    vssm_ctx *ctx = NULL;
    vssm_backbone_opts bo = {mo.arch, mo.key, -1, {0}, 0};   /* a Vim: its final token grid */
    vssm_backbone *bb = NULL;
    vssm_preprocess_params pp;
    vssm_tracker *trk = NULL;
    int load_bad = vssm_ctx_new(&ctx, &co, &err) != VSSM_OK ||
                   vssm_backbone_load_file(&bb, ctx, mo.weights, &bo, &pp, &err) != VSSM_OK;
    if (!load_bad && vssm_tracker_new_backbone(&trk, bb, &pp, &tc, &err) != VSSM_OK) {
        vssm_err_prefix(&err, "%s", mo.weights);
        load_bad = 1;
    }
    if (shard_agree(load_bad)) {   /* under mpirun: every rank loaded, or none goes on */
        cli_error("%s", load_bad ? err.msg : "another rank could not load the model");
        vssm_tracker_free(trk);
        vssm_backbone_free(bb);
        vssm_ctx_free(ctx);
        return VSSM_EXIT_USAGE;
    }
    if (shard_agree(video && make_dir(video) != 0)) {
        cli_error("%s: cannot create the folder (%s)", video, strerror(errno));
        vssm_tracker_free(trk);
        vssm_backbone_free(bb);
        vssm_ctx_free(ctx);
        return VSSM_EXIT_USAGE;
    }
    int show = !quiet && isatty(2), failed = 0, total_frames = 0, n_seq = 0, fatal = 0;
    double total_s = 0;
    if (seq && !shard_is_root()) {
        /* one sequence: rank 0 tracks it, the others wait for its exit code */
    } else if (seq) {
        track_job j = {trk, seq, seq, out, video, init_s != NULL, init, show, &mo.limits};
        int fd;
        double s;
        int rc = track_one(&j, &fd, &s);
        fatal = rc < 0;
        failed = rc != 0;
        total_frames = fd;
        total_s = s;
        n_seq = 1;
    } else {
        char **dirs = NULL;
        int nd = 0;
        if (shard_agree(vssm_seq_list(dataset, (vssm_seq_format)fmt, &dirs, &nd, &err) != VSSM_OK || make_dir(results) != 0)) {
            cli_error("%s", err.msg[0] ? err.msg : "cannot create the --results folder");
            vssm_tracker_free(trk);
            vssm_backbone_free(bb);
            vssm_ctx_free(ctx);
            return VSSM_EXIT_USAGE;
        }
        int64_t k0, k1;   /* under mpirun: this rank's sequences, each written to its own file */
        shard_range(nd, &k0, &k1);
        for (int k = (int)k0; k < (int)k1 && !fatal; k++) {
            const char *name = strrchr(dirs[k], '/') ? strrchr(dirs[k], '/') + 1 : dirs[k];
            char op[4096], vd[4096];
            int lo = snprintf(op, sizeof op, "%s/%s.txt", results, name), lv = video ? snprintf(vd, sizeof vd, "%s/%s", video, name) : 0;
            if (lo < 0 || (size_t)lo >= sizeof op || lv < 0 || (size_t)lv >= sizeof vd) {   /* never a truncated name */
                cli_error("%s: the output path for sequence %s is too long", lo < 0 || (size_t)lo >= sizeof op ? results : video, name);
                failed++;
                continue;
            }
            if (video && make_dir(vd) != 0) { cli_error("%s: cannot create the folder", vd); failed++; continue; }
            track_job j = {trk, name, dirs[k], op, video ? vd : NULL, 0, init, show, &mo.limits};
            int fd;
            double s;
            int rc = track_one(&j, &fd, &s);
            fatal = rc < 0;
            failed += rc != 0;
            total_frames += fd;
            total_s += s;
            n_seq++;
        }
        vssm_seq_list_free(dirs, nd);
    }
    if (shard_size() > 1) {   /* totals over ranks for rank 0's summary line */
        int64_t t[5] = {failed, total_frames, n_seq, fatal, (int64_t)(total_s * 1e6)};
        if (shard_sum_i64(t, 5) != 0) shard_abort(VSSM_EXIT_USAGE, "track: reducing the ranks' counts failed");
        if (shard_is_root()) failed = (int)t[0], total_frames = (int)t[1], n_seq = (int)t[2], fatal = t[3] > 0, total_s = 1e-6 * (double)t[4];
    }
    if (shard_is_root())   /* frames/s: per rank (the ranks' tracking time summed) */
        fprintf(stderr, "vssm: tracked %d frames in %d sequence%s, %.1f frames/s (%s)%s\n", total_frames, n_seq, n_seq == 1 ? "" : "s",
                total_s > 0 ? total_frames / total_s : 0.0, vssm_ctx_describe(ctx), failed ? ", with failures" : "");
    vssm_tracker_free(trk);
    vssm_backbone_free(bb);
    vssm_ctx_free(ctx);
    return fatal ? VSSM_EXIT_USAGE : failed ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}
