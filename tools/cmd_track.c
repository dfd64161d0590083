/* tools/cmd_track.c - `vssm track`: follow one object through a video file or camera, a
 * sequence folder, or every sequence of a dataset, with the training-free Siamese tracker of
 * heads/track.c on a VMamba or a Vision Mamba, and write the standard results file (one
 * integer box x,y,w,h per frame), JSON lines, and the frames with the box drawn. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "vssm/backbone.h"
#include "vssm/track.h"
#include "vssm/video.h"
#include "vssm/weights.h"

static const char *usage =
    "usage: vssm track --weights FILE --video FILE|/dev/videoN (--init x,y,w,h | --init-file F) [--out FILE] "
    "[options]\n"
    "       vssm track --weights FILE --seq DIR [--init x,y,w,h] --out FILE [options]\n"
    "       vssm track --weights FILE --dataset ROOT --format otb|lasot|got10k --results DIR [options]\n"
    "Tracks one object through a video or a sequence of frames with a training-free correlation tracker.\n"
    "example: vssm track --weights weights/fashion_mnist/vmamba_fashion.safetensors \\\n"
    "           --video walk.mp4 --init 300,200,40,90 --out walk.txt --out-video walk_boxes.mp4\n"
    "\n"
    "--video reads any file FFmpeg reads, or a V4L2 camera (/dev/video0; Ctrl-C ends the run and\n"
    "writes what was tracked), decoding on a thread of its own. --seq reads the frames of DIR/img\n"
    "(or DIR), and takes --init by default from the first box of DIR's groundtruth_rect.txt or\n"
    "groundtruth.txt. Either writes one box per frame (frame 0 = the init box) to --out; --dataset\n"
    "writes RESULTS/<seq>.txt per sequence. A weights file that holds a trained OSTrack-style head\n"
    "(track_head metadata, e.g. weights/track_demo/vmamba_track_demo.safetensors) is tracked with it\n"
    "instead, with the file's template and search settings (the tracker options below are ignored).\n"
    "\n"
    "  --init-file F        the init box from the first line of F (x,y,w,h; commas, tabs or spaces)\n"
    "  --json               one JSON line per frame on stdout: frame index, time (s, video), box, score\n"
    "  --frames N           stop after N frames\n"
    "  --out-video FILE     write the frames with the box and score drawn, as a video (.mp4 .mkv .avi ...:\n"
    "                       H.264 where FFmpeg has it, else MPEG-4 part 2, else MJPEG)\n"
    "  --show-every N       --out-video keeps every Nth frame (a time-lapse of a long video; default 1)\n"
    "  --out-frames DIR     write every frame with the box drawn, DIR/00000001.png ... (also --video-out)\n"
    "  --quiet              no progress bar (it is drawn on stderr only on a terminal)\n"
    "outputs are checked before any work (exit 2): each one's folder must exist and take a file,\n"
    "--out-video's extension must name a container this FFmpeg writes, and no output may be an input\n"
    "(the video, the weights, --init-file, the sequence's ground truth and label files, a frame) or lie in\n"
    "DIR/img. Writing beside them is fine (--seq DIR --out DIR/result.txt), except an image file among\n"
    "frames kept in DIR itself. Files are written under a temp name and renamed when complete; Ctrl-C\n"
    "(SIGINT, SIGTERM, SIGHUP) during a video or sequence run removes the partial --out-video and writes\n"
    "no --out (a camera run instead stops and writes what was tracked).\n"
    "A video frame the decoder reports damaged (errors it concealed, data it refused or the demuxer marked\n"
    "corrupt before it, or predicted from such a frame until the next key frame) is still tracked and\n"
    "written; each is named on stderr (the first 10, then a count) and the run exits 1.\n"
    "tracker (defaults in parentheses, see vssm/track.h):\n"
    "  --stage S (0; a Vision Mamba has one: its stride-16 token grid)  --template-size N (128)  --search-size N "
    "(256)\n"
    "  --template-factor F (2.0)  --search-factor F (4.0)  --scales N (3)  --scale-step F (1.0375)\n"
    "  --scale-penalty F (0.9745)  --scale-lr F (0.59)  --window F (0.3)  --pos-lr F (1.0)\n"
    "trained head's hybrid decoding (the head's centre, the size from the scale search above run at it;\n"
    "defaults: the file's track_scale_* metadata, see vssm/track.h; each option overrides one):\n"
    "  --hybrid 0|1  --hybrid-factor F (2.0)  --hybrid-size N (128)  --hybrid-scales N (3)\n"
    "  --hybrid-step F (1.0375)  --hybrid-lr F (0.59)  --hybrid-radius N (2)  --hybrid-pos-lr F (1)\n"
    "  --hybrid-aspect-lr F (0)  --hybrid-stage S (0)\n"
    "model:\n"
    "  --weights FILE  --arch NAME  --key model|model_ema  --device cpu|cuda  --threads T (0: all cores)  --tf32\n"
    "  --max-pixels N  refuse frames over N pixels (default 178956970, PIL's; 0: no limit)\n"
    "exit: 0 ok, 1 some frames or sequences failed or were damaged (named on stderr; the rest tracked and\n"
    "written), 2 usage, an unusable output or unusable weights (nothing done)\n";

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

/* total < 0: a stream of unknown length (a camera): count and rate only */
static void progress(const char *name, int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    if (total < 0) {
        fprintf(stderr, "\r%.24s %d frames %.1f frames/s ", name, done, rate);
        fflush(stderr);
        return;
    }
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

/* ---- stopping signals during a run that writes as it goes
 * cli.c's handler holds a signal only while an output is being renamed into place, then acts:
 * right for files written whole, wrong for --out-video, which is encoded frame by frame into
 * its temp name for the whole run (holding signals that long would make Ctrl-C wait for the
 * end). While such a run goes, this handler takes SIGINT / SIGTERM / SIGHUP instead and only
 * records it; the loop stops, the writer is aborted (its temp file removed), and the signal is
 * raised again under the handler that was there before (cli.c's), which ends the process as
 * the signal would. A camera run stops and writes what was tracked instead. A second signal
 * acts at once. */
static volatile sig_atomic_t interrupted;                           /* the signal, 0 while none came */
static const int stop_sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE}; /* SIGPIPE: `| head` went away */
static struct sigaction stop_prev[4];
static int stop_held[4];

static void on_stop(int sig) {
    if (interrupted) { /* the second: no more waiting */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = sig;
}

static void stop_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    for (int k = 0; k < 4; k++) {
        struct sigaction old;
        stop_held[k] = sigaction(stop_sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN &&
                       sigaction(stop_sigs[k], &sa, &stop_prev[k]) == 0;
    }
}

/* the handlers before, back; a signal that came meanwhile acts now unless keep (a camera run) */
static void stop_signals_restore(int keep) {
    for (int k = 0; k < 4; k++)
        if (stop_held[k]) sigaction(stop_sigs[k], &stop_prev[k], NULL), stop_held[k] = 0;
    if (interrupted && !keep) raise(interrupted);
}

/* ================================================================ per-frame outputs */

typedef struct frame_sink {
    const char *png_dir;    /* --out-frames */
    const char *video_path; /* --out-video */
    vssm_video_writer *vw;  /* opened at the first frame (its size) */
    int show_every, fps_num, fps_den;
    int json;
    const char *name; /* the sequence or video, for JSON */
    int failed;       /* frames that could not be written */
    int vw_w, vw_h;   /* the video's size (its first frame's); frames of another size are scaled to it */
    int scaled;       /* frames scaled so (said once) */
} frame_sink;

static void json_line(const frame_sink *s, int i, double t, vssm_box b, float score, int has_score) {
    printf("{\"name\": \"");
    for (const char *c = s->name; *c; c++) { /* paths: escape what JSON must */
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    printf("\", \"frame\": %d, ", i);
    if (t >= 0)
        printf("\"time\": %.6f, ", t);
    else
        printf("\"time\": null, ");
    printf("\"box\": [%.3f, %.3f, %.3f, %.3f], ", b.x, b.y, b.w, b.h);
    if (has_score)
        printf("\"score\": %.4f}\n", score);
    else
        printf("\"score\": null}\n");
    fflush(stdout);
}

/* the label over the box: frame, time, score */
static void annotate(vssm_image *im, int i, double t, vssm_box b, const vssm_box *gt, float score, int has_score) {
    static const uint8_t green[3] = {0, 255, 0}, white[3] = {255, 255, 255};
    if (gt) vssm_image_draw_box(im, *gt, white, 1);
    vssm_image_draw_box(im, b, green, 2);
    int scale = im->h >= 720 ? 3 : im->h >= 360 ? 2 : 1;
    char text[96];
    if (t >= 0)
        snprintf(text, sizeof text, "frame %d  %.2f s", i, t);
    else
        snprintf(text, sizeof text, "frame %d", i);
    vssm_image_draw_text(im, 4 * scale, 4 * scale, text, white, scale);
    if (has_score)
        snprintf(text, sizeof text, "%.2f", score);
    else
        snprintf(text, sizeof text, "init");
    int ty = (int)floor(b.y) - 13 * scale;
    vssm_image_draw_text(im, (int)floor(b.x) + scale, ty < 0 ? (int)ceil(b.y + b.h) + 2 * scale : ty, text, green,
                         scale);
}

/* JSON, then the drawn frame to the PNG folder and the video. Returns -1 when the video
 * cannot be written at all (the run stops), else 0. */
static int sink_frame(frame_sink *s, vssm_image *im, int i, double t, vssm_box b, const vssm_box *gt, float score,
                      int has_score) {
    vssm_err err = {0};
    if (s->json) json_line(s, i, t, b, score, has_score);
    if (!s->png_dir && !s->video_path) return 0;
    annotate(im, i, t, b, gt, score, has_score);
    if (s->png_dir) {
        char p[4096];
        int len = snprintf(p, sizeof p, "%s/%08d.png", s->png_dir, i + 1);
        if (len < 0 || (size_t)len >= sizeof p) {
            cli_error("%s: --out-frames path too long", s->png_dir);
            s->failed++;
        } else {
            cli_write_begin(); /* a signal waits for the rename (tools/cli.h) */
            vssm_status st = vssm_image_write_png(p, im, &err);
            cli_write_end();
            if (st != VSSM_OK) {
                cli_error("%s", err.msg);
                s->failed++;
            }
        }
    }
    if (!s->video_path || i % s->show_every) return 0;
    if (!s->vw) {
        vssm_video_writer_opts o = {s->fps_num, s->fps_den, NULL, 0};
        if (vssm_video_writer_open(&s->vw, s->video_path, im->w, im->h, &o, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            return -1;
        }
        s->vw_w = im->w, s->vw_h = im->h;
    }
    vssm_image fit = {0}; /* a frame of another size (a sequence whose frames change size): scaled to the video's,
                             where it stopped the run and lost --out */
    if ((im->w != s->vw_w || im->h != s->vw_h) && im->c == 3) {
        if (vssm_image_resize(im, s->vw_w, s->vw_h, VSSM_INTERP_BILINEAR, &fit, &err) != VSSM_OK) {
            cli_error("%s (frame %d)", err.msg, i);
            s->failed++;
            return 0;
        }
        if (!s->scaled++)
            fprintf(stderr, "vssm: frame %d is %dx%d: scaled to the video's %dx%d (and any other such frame)\n", i,
                    im->w, im->h, s->vw_w, s->vw_h);
        im = &fit;
    }
    const vssm_status ws = vssm_video_write(s->vw, im, &err);
    vssm_image_free(&fit);
    if (ws != VSSM_OK) {
        cli_error("%s (frame %d)", err.msg, i);
        vssm_video_writer_abort(s->vw);
        s->vw = NULL;
        return -1;
    }
    return 0;
}

/* closes the video: 0 written (or none asked), 1 failed */
static int sink_close(frame_sink *s, int ok) {
    if (!s->vw) return 0;
    vssm_err err = {0};
    char codec[32];
    snprintf(codec, sizeof codec, "%s", vssm_video_writer_codec(s->vw));
    int bad = 0;
    cli_write_begin(); /* the trailer and the rename: a signal waits for them */
    vssm_status st = ok ? vssm_video_writer_close(s->vw, &err) : VSSM_OK;
    if (!ok) vssm_video_writer_abort(s->vw);
    cli_write_end();
    if (ok && st != VSSM_OK) {
        cli_error("%s", err.msg);
        bad = 1;
    } else if (ok)
        fprintf(stderr, "vssm: wrote %s (%s)\n", s->video_path, codec);
    s->vw = NULL;
    return bad;
}

/* ================================================================ tracking one stream */

typedef struct track_job {
    vssm_tracker *trk;
    const char *name, *seq_dir, *out;
    int have_init;
    vssm_box init;
    int show_progress, max_frames;
    const vssm_image_limits *limits; /* --max-pixels */
    frame_sink sink;
    vssm_track_head *head; /* the trained tracker, when the file has one (trk is then NULL) */
} track_job;

/* one tracker step: init on frame 0, update after. 0 ok, 1 the init box is unusable, -1 the model failed */
static int track_frame(const track_job *j, const vssm_image *im, int i, vssm_box init, vssm_box *box, float *score,
                       const char *what) {
    vssm_err err = {0};
    vssm_status st;
    if (j->head)
        st = i == 0 ? vssm_track_head_init(j->head, im, init, &err)
                    : vssm_track_head_update(j->head, im, box, score, &err);
    else
        st = i == 0 ? vssm_tracker_init(j->trk, im, init, &err) : vssm_tracker_update(j->trk, im, box, score, &err);
    if (i == 0) *box = init;
    if (st == VSSM_OK) return 0;
    cli_error("%s: %s", what, err.msg);
    return i == 0 && st == VSSM_ERR_INVALID_ARG ? 1 : -1;
}

/* the results file (one box a line), a signal waiting for its rename; 0 or 1 (named) */
static int results_write(const char *path, const vssm_box *b, int n) {
    vssm_err err = {0};
    cli_write_begin();
    vssm_status st = vssm_boxes_write(path, b, n, &err);
    cli_write_end();
    if (st == VSSM_OK) return 0;
    cli_error("%s", err.msg);
    return 1;
}

/* growable results */
typedef struct box_list {
    vssm_box *b;
    int n, cap;
} box_list;

static int box_push(box_list *l, vssm_box b) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        vssm_box *nb = realloc(l->b, (size_t)cap * sizeof *nb);
        if (!nb) return -1;
        l->b = nb;
        l->cap = cap;
    }
    l->b[l->n++] = b;
    return 0;
}

/* the ground truth of a sequence folder (NULL when it has none) and the init box: --init,
 * else its first box. Returns 0, or 1 with the reason printed. */
static int seq_init_box(const track_job *j, vssm_box *init, vssm_box **gt, int *n_gt) {
    static const char *const names[2] = {"groundtruth_rect.txt", "groundtruth.txt"};
    vssm_err err = {0};
    char p[4096] = "";
    int *lines = NULL;
    *gt = NULL;
    *n_gt = 0;
    *init = j->init;
    for (int k = 0; k < 2 && !*gt; k++) {
        int len = snprintf(p, sizeof p, "%s/%s", j->seq_dir, names[k]);
        if (len < 0 || (size_t)len >= sizeof p) {
            cli_error("%s: path too long", j->seq_dir);
            return 1;
        }
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        if (vssm_boxes_read_lines(p, gt, &lines, n_gt, &err) != VSSM_OK) {
            if (!j->have_init) {
                cli_error("%s", err.msg);
                return 1;
            }
            *gt = NULL; /* only drawn in the frames: an unreadable one is left out */
            *n_gt = 0;
        }
    }
    int rc = 0;
    if (!j->have_init && *n_gt < 1) {
        cli_error("%s: no --init box and no groundtruth_rect.txt / groundtruth.txt to take it from", j->seq_dir);
        rc = 1;
    } else if (!j->have_init) {
        *init = (*gt)[0]; /* a box no tracker can start from is the GT file's fault: name its line */
        if (!(isfinite(init->x) && isfinite(init->y) && isfinite(init->w) && isfinite(init->h) && init->w > 0 &&
              init->h > 0)) {
            cli_error("%s:%d: the first box (%g, %g, %g, %g) cannot start a tracker (finite, w and h > 0 needed)", p,
                      lines[0], init->x, init->y, init->w, init->h);
            rc = 1;
        }
    }
    free(lines);
    if (rc) {
        free(*gt);
        *gt = NULL;
    }
    return rc;
}

/* Tracks one sequence folder. Returns 0 ok, 1 input problems (named), -1 the model failed. */
static int track_seq(track_job *j, int *frames_done, double *secs) {
    vssm_err err = {0};
    char **frames = NULL;
    int nf = 0, n_listed = 0, failed = 0, rc = 0, n_gt = 0;
    *frames_done = 0;
    *secs = 0;
    if (vssm_seq_frames(j->seq_dir, &frames, &nf, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return 1;
    }
    n_listed = nf; /* --frames: the first max_frames of them */
    if (j->max_frames > 0 && nf > j->max_frames) nf = j->max_frames;
    vssm_box init, *gt = NULL, *res = NULL;
    if (nf == 0)
        cli_error("%s: no frames (expected images in %s/img or %s)", j->seq_dir, j->seq_dir, j->seq_dir);
    else if (seq_init_box(j, &init, &gt, &n_gt) == 0 && !(res = calloc((size_t)nf, sizeof *res)))
        cli_error("out of memory");
    if (!res) {
        vssm_seq_list_free(frames, n_listed);
        free(gt);
        return 1;
    }
    double t0 = now_s();
    vssm_image im = {0};
    const int own_signals = j->sink.video_path != NULL; /* written as it goes: a signal stops the loop */
    if (own_signals) stop_signals_install();
    for (int i = 0; i < nf && rc == 0 && !interrupted; i++) {
        vssm_image_free(&im);
        float score = 0;
        if (vssm_image_load(&im, frames[i], j->limits, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            failed++;
            if (i == 0)
                rc = 1; /* no first frame: nothing to track */
            else
                res[i] = res[i - 1]; /* a lost frame keeps the last box */
            continue;
        }
        if ((rc = track_frame(j, &im, i, init, &res[i], &score, frames[i])) != 0) break;
        if (sink_frame(&j->sink, &im, i, -1, res[i], gt && i < n_gt ? &gt[i] : NULL, score, i > 0) < 0) rc = 1;
        *frames_done = i + 1;
        if (j->show_progress && (i % 4 == 3 || i + 1 == nf)) progress(j->name, i + 1, nf, t0);
    }
    vssm_image_free(&im);
    *secs = now_s() - t0;
    failed += sink_close(&j->sink, rc == 0 && !interrupted) + j->sink.failed;
    if (rc == 0 && !interrupted && results_write(j->out, res, nf)) rc = 1;
    free(res);
    free(gt);
    vssm_seq_list_free(frames, n_listed);
    if (own_signals) stop_signals_restore(0); /* interrupted: ends here, as the signal would */
    return rc ? rc : failed ? 1 : 0;
}

/* ================================================================ video: decoded on a thread of its own */

#define QUEUE_SLOTS 4

typedef struct frame_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vssm_video_reader *r;
    vssm_video_frame slot[QUEUE_SLOTS];
    int head, count; /* the consumer owns slot[head] while count > 0 */
    int done, stop;  /* producer: no more frames (end, error or max); consumer: stop now */
    int max_frames;  /* 0: all */
    vssm_err err;    /* why the producer stopped, when it failed */
} frame_queue;

static void *produce(void *arg) {
    frame_queue *q = arg;
    for (int n = 0;; n++) {
        pthread_mutex_lock(&q->mu);
        while (q->count == QUEUE_SLOTS && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        int k = (q->head + q->count) % QUEUE_SLOTS, stop = q->stop || (q->max_frames > 0 && n >= q->max_frames);
        pthread_mutex_unlock(&q->mu);
        int got = 0;
        vssm_err err = {0};
        vssm_status st = stop || interrupted ? VSSM_OK : vssm_video_read(q->r, &q->slot[k], &got, &err);
        pthread_mutex_lock(&q->mu);
        if (got)
            q->count++;
        else
            q->done = 1, q->err = err, q->err.status = st;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        if (!got) return NULL;
    }
}

/* the next decoded frame (owned until queue_release), or NULL at the end */
static vssm_video_frame *queue_take(frame_queue *q) {
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->done) pthread_cond_wait(&q->cv, &q->mu);
    vssm_video_frame *f = q->count ? &q->slot[q->head] : NULL;
    pthread_mutex_unlock(&q->mu);
    return f;
}

static void queue_release(frame_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->head = (q->head + 1) % QUEUE_SLOTS;
    q->count--;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void queue_stop(frame_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* frames the decoder reported damaged: the first DAMAGE_NAMED named as they come, then counted */
#define DAMAGE_NAMED 10
typedef struct damage_log {
    int n;
    int64_t first, last;
} damage_log;

static void damage_note(damage_log *d, const char *name, int64_t i, unsigned dmg) {
    if (!dmg) return;
    if (d->n++ == 0) d->first = i;
    d->last = i;
    if (d->n > DAMAGE_NAMED) return;
    cli_error("%s: frame %lld is damaged: %s%s%s%s; tracked, its box may be wrong", name, (long long)i,
              dmg & VSSM_VIDEO_DAMAGE_CONCEALED ? "the decoder concealed errors in it" : "",
              (dmg & VSSM_VIDEO_DAMAGE_CONCEALED) && (dmg & ~(unsigned)VSSM_VIDEO_DAMAGE_CONCEALED) ? ", " : "",
              dmg & VSSM_VIDEO_DAMAGE_DATA ? "data before it was refused or corrupt (frames may be missing)" : "",
              dmg & VSSM_VIDEO_DAMAGE_REFERENCE ? (dmg & VSSM_VIDEO_DAMAGE_DATA ? ", predicted from a damaged frame"
                                                                                : "predicted from a damaged frame")
                                                : "");
}

/* the tracking loop over the queue; rc as track_video's */
static int video_loop(track_job *j, frame_queue *q, box_list *res, int total, int *frames_done, damage_log *dmg) {
    char what[4200];
    int rc = 0;
    double t0 = now_s();
    vssm_video_frame *f;
    while (rc == 0 && !interrupted && (f = queue_take(q))) {
        int i = (int)f->index;
        damage_note(dmg, j->seq_dir, f->index, f->damage);
        vssm_box box = i ? res->b[i - 1] : j->init;
        float score = 0;
        snprintf(what, sizeof what, "%s: frame %d", j->name, i);
        if ((rc = track_frame(j, &f->image, i, j->init, &box, &score, what)) == 0) {
            if (box_push(res, box) != 0) {
                cli_error("out of memory");
                rc = -1;
            } else if (sink_frame(&j->sink, &f->image, i, f->time_s, box, NULL, score, i > 0) < 0)
                rc = 1;
        }
        queue_release(q);
        *frames_done = res->n;
        if (j->show_progress && (i % 4 == 3 || i + 1 == total)) progress(j->name, i + 1, total, t0);
    }
    if (j->show_progress && total < 0) fputc('\n', stderr);
    return rc;
}

/* Tracks one video file or camera. Returns 0 ok, 1 input problems (named), -1 the model failed. */
static int track_video(track_job *j, int *frames_done, double *secs) {
    vssm_err err = {0};
    *frames_done = 0;
    *secs = 0;
    frame_queue q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .max_frames = j->max_frames};
    vssm_video_opts vo = {*j->limits, 1, NULL};
    if (vssm_video_open(&q.r, j->seq_dir, &vo, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return 1;
    }
    const vssm_video_info *in = vssm_video_get_info(q.r);
    j->sink.fps_num = in->fps_num;
    j->sink.fps_den = in->fps_den;
    int total = in->n_frames > 0 ? (int)in->n_frames : -1;
    if (total > 0 && j->max_frames > 0 && total > j->max_frames) total = j->max_frames;
    const int live = in->live, own_signals = live || j->sink.video_path; /* a signal stops the loop */
    if (own_signals) stop_signals_install();
    box_list res = {0};
    damage_log dmg = {0};
    double t0 = now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, produce, &q) != 0) {
        cli_error("%s: cannot start the decoding thread", j->seq_dir);
        vssm_video_close(q.r);
        if (own_signals) stop_signals_restore(0);
        return -1;
    }
    int rc = video_loop(j, &q, &res, total, frames_done, &dmg);
    queue_stop(&q);
    pthread_join(th, NULL);
    *secs = now_s() - t0;
    const int stopped = interrupted && !live; /* a file run a signal stopped: no output, then the signal */
    if (q.err.status != VSSM_OK && !stopped) cli_error("%s", q.err.msg); /* frames up to here are kept */
    if (dmg.n > DAMAGE_NAMED)
        cli_error("%s: %d damaged frames in all (frames %lld .. %lld; the first %d named above)", j->seq_dir, dmg.n,
                  (long long)dmg.first, (long long)dmg.last, DAMAGE_NAMED);
    else if (dmg.n > 1)
        cli_error("%s: %d damaged frames (named above)", j->seq_dir, dmg.n);
    int failed = (q.err.status != VSSM_OK) + sink_close(&j->sink, rc == 0 && res.n > 0 && !stopped) + j->sink.failed +
                 (dmg.n > 0);
    if (rc == 0 && res.n == 0 && !stopped) {
        cli_error("%s: no frames", j->seq_dir);
        rc = 1;
    }
    if (rc == 0 && j->out && !stopped && results_write(j->out, res.b, res.n)) rc = 1;
    for (int k = 0; k < QUEUE_SLOTS; k++) vssm_image_free(&q.slot[k].image);
    vssm_video_close(q.r);
    free(res.b);
    if (own_signals) stop_signals_restore(live); /* a file run stopped by a signal ends here, as the signal would */
    return rc ? rc : failed ? 1 : 0;
}

/* ================================================================ the verb */

typedef struct track_args {
    model_opts mo;
    vssm_tracker_config tc;
    int hy_on, hy_size, hy_n, hy_radius, hy_stage;             /* --hybrid*: -1 when not given */
    double hy_factor, hy_step, hy_lr, hy_pos_lr, hy_aspect_lr; /* NAN when not given */
    const char *seq, *video, *dataset, *out, *results, *init_s, *init_file, *fmt_s, *png_dir, *out_video;
    int quiet, help, json, max_frames, show_every, fmt, have_init;
    vssm_box init;
} track_args;

/* -1: go on; else the exit code */
static int parse_args(track_args *a, int argc, char **argv) {
    int bad = 0;
    vssm_tracker_config *tc = &a->tc;
    for (int i = 1; i < argc && !bad; i++) {
        if (model_opts_parse(&a->mo, argc, argv, &i, &bad) || cli_opt_str(argc, argv, &i, "--seq", &a->seq, &bad) ||
            cli_opt_str(argc, argv, &i, "--video", &a->video, &bad) ||
            cli_opt_str(argc, argv, &i, "--out", &a->out, &bad) ||
            cli_opt_str(argc, argv, &i, "--init", &a->init_s, &bad) ||
            cli_opt_str(argc, argv, &i, "--init-file", &a->init_file, &bad) ||
            cli_opt_str(argc, argv, &i, "--out-frames", &a->png_dir, &bad) ||
            cli_opt_str(argc, argv, &i, "--video-out", &a->png_dir, &bad) ||
            cli_opt_str(argc, argv, &i, "--out-video", &a->out_video, &bad) ||
            cli_opt_int(argc, argv, &i, "--show-every", &a->show_every, &bad) ||
            cli_opt_int(argc, argv, &i, "--frames", &a->max_frames, &bad) ||
            cli_opt_str(argc, argv, &i, "--dataset", &a->dataset, &bad) ||
            cli_opt_str(argc, argv, &i, "--results", &a->results, &bad) ||
            cli_opt_str(argc, argv, &i, "--format", &a->fmt_s, &bad) ||
            cli_opt_int(argc, argv, &i, "--stage", &tc->stage, &bad) ||
            cli_opt_int(argc, argv, &i, "--template-size", &tc->template_size, &bad) ||
            cli_opt_int(argc, argv, &i, "--search-size", &tc->search_size, &bad) ||
            cli_opt_int(argc, argv, &i, "--scales", &tc->n_scales, &bad) ||
            opt_double(argc, argv, &i, "--template-factor", &tc->template_factor, &bad) ||
            opt_double(argc, argv, &i, "--search-factor", &tc->search_factor, &bad) ||
            opt_double(argc, argv, &i, "--scale-step", &tc->scale_step, &bad) ||
            opt_double(argc, argv, &i, "--scale-penalty", &tc->scale_penalty, &bad) ||
            opt_double(argc, argv, &i, "--scale-lr", &tc->scale_lr, &bad) ||
            opt_double(argc, argv, &i, "--window", &tc->window_influence, &bad) ||
            opt_double(argc, argv, &i, "--pos-lr", &tc->pos_lr, &bad) ||
            cli_opt_int(argc, argv, &i, "--hybrid", &a->hy_on, &bad) ||
            cli_opt_int(argc, argv, &i, "--hybrid-size", &a->hy_size, &bad) ||
            cli_opt_int(argc, argv, &i, "--hybrid-scales", &a->hy_n, &bad) ||
            cli_opt_int(argc, argv, &i, "--hybrid-radius", &a->hy_radius, &bad) ||
            cli_opt_int(argc, argv, &i, "--hybrid-stage", &a->hy_stage, &bad) ||
            opt_double(argc, argv, &i, "--hybrid-factor", &a->hy_factor, &bad) ||
            opt_double(argc, argv, &i, "--hybrid-step", &a->hy_step, &bad) ||
            opt_double(argc, argv, &i, "--hybrid-lr", &a->hy_lr, &bad) ||
            opt_double(argc, argv, &i, "--hybrid-pos-lr", &a->hy_pos_lr, &bad) ||
            opt_double(argc, argv, &i, "--hybrid-aspect-lr", &a->hy_aspect_lr, &bad) ||
            cli_opt_flag(argv, i, "--quiet", &a->quiet) || cli_opt_flag(argv, i, "--json", &a->json) ||
            cli_opt_flag(argv, i, "--help", &a->help) || cli_opt_flag(argv, i, "-h", &a->help))
            continue;
        cli_bad_arg("track", argv[i]);
        bad = 1;
    }
    if (a->help) {
        fputs(usage, stdout);
        return VSSM_EXIT_OK;
    }
    if (bad) {
        fputs(usage, stderr);
        return VSSM_EXIT_USAGE;
    }
    return -1;
}

/* --init or --init-file into a->init; -1 go on, else the exit code */
static int read_init(track_args *a) {
    vssm_box *boxes = NULL;
    int n = 0;
    vssm_err err = {0};
    if (a->init_s && a->init_file) {
        cli_error("track: give --init or --init-file, not both");
        return VSSM_EXIT_USAGE;
    }
    if (a->init_s && !parse_box(a->init_s, &a->init)) {
        cli_error("track: --init needs x,y,w,h numbers, got '%s'", a->init_s);
        return VSSM_EXIT_USAGE;
    }
    if (a->init_file) {
        if (vssm_boxes_read(a->init_file, &boxes, &n, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            return VSSM_EXIT_USAGE;
        }
        if (n < 1) {
            cli_error("%s: no box in the --init-file", a->init_file);
            free(boxes);
            return VSSM_EXIT_USAGE;
        }
        a->init = boxes[0];
        free(boxes);
    }
    a->have_init = a->init_s || a->init_file;
    const vssm_box *b = &a->init;
    if (a->have_init &&
        !(isfinite(b->x) && isfinite(b->y) && b->w > 0 && b->h > 0 && isfinite(b->w) && isfinite(b->h))) {
        cli_error(
            "track: the init box %g,%g,%g,%g%s%s has zero or negative size, or is not finite (w and h must be > 0)",
            b->x, b->y, b->w, b->h, a->init_file ? " from " : "", a->init_file ? a->init_file : "");
        return VSSM_EXIT_USAGE;
    }
    return -1;
}

/* ---- outputs, checked before any work */

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int has_image_ext(const char *p) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm"};
    const char *dot = strrchr(p, '.'), *slash = strrchr(p, '/');
    if (!dot || (slash && dot < slash)) return 0;
    for (size_t k = 0; k < sizeof ext / sizeof *ext; k++)
        if (!strcasecmp(dot, ext[k])) return 1;
    return 0;
}

/* 1 when out's folder is dir (both existing) */
static int parent_is(const char *out, const char *dir) {
    char d[4096];
    const char *slash = strrchr(out, '/');
    snprintf(d, sizeof d, "%.*s", slash ? (slash == out ? 1 : (int)(slash - out)) : 1, slash ? out : ".");
    return cli_same_file(d, dir);
}

/* An output (opt's path out) that would destroy an input of the run: the same file as the video,
 * the weights or --init-file; in --seq DIR, a ground-truth or label file of DIR, anything in its
 * frame folder DIR/img, or an image file beside frames kept in DIR itself. 0, or 2 (printed). */
static int out_clobbers(const track_args *a, const char *out, const char *opt, int folder) {
    static const char *const seq_files[] = {"groundtruth_rect.txt", "groundtruth.txt",    "absence.label",
                                            "cover.label",          "cut_by_image.label", "meta_info.ini",
                                            "full_occlusion.txt",   "out_of_view.txt",    "nlp.txt"};
    const char *ins[3] = {a->video, a->mo.weights, a->init_file},
               *what[3] = {"the --video input", "--weights", "--init-file"};
    for (int k = 0; k < 3; k++)
        if (ins[k] && cli_same_file(out, ins[k])) {
            cli_error("track: %s %s is %s (%s): refusing to overwrite an input", opt, out, what[k], ins[k]);
            return VSSM_EXIT_USAGE;
        }
    if (!a->seq) return 0;
    char p[4096];
    for (size_t k = 0; k < sizeof seq_files / sizeof *seq_files; k++) {
        snprintf(p, sizeof p, "%s/%s", a->seq, seq_files[k]);
        if (cli_same_file(out, p)) {
            cli_error("track: %s %s is the sequence's %s: refusing to overwrite an input", opt, out, p);
            return VSSM_EXIT_USAGE;
        }
    }
    snprintf(p, sizeof p, "%s/img", a->seq);
    if (is_dir(p) ? cli_path_inside(out, p)
                  : (folder ? cli_same_file(out, a->seq) : parent_is(out, a->seq) && has_image_ext(out))) {
        cli_error("track: %s %s lies among the frames of %s (%s): refusing to write into the input", opt, out, a->seq,
                  is_dir(p) ? p : "image files in the sequence folder would become frames");
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

/* every output: writable where it goes, of a kind that can be written, over no input; -1 go on, else 2 */
static int check_outputs(const track_args *a) {
    vssm_err err = {0};
    if (a->out && (cli_check_out_file("track", a->out, "--out") || out_clobbers(a, a->out, "--out", 0)))
        return VSSM_EXIT_USAGE;
    if (a->out_video) {
        if (cli_check_out_file("track", a->out_video, "--out-video") || out_clobbers(a, a->out_video, "--out-video", 0))
            return VSSM_EXIT_USAGE;
        if (vssm_video_writer_check(a->out_video, NULL, &err) != VSSM_OK) {
            cli_error("track: --out-video %s", err.msg);
            return VSSM_EXIT_USAGE;
        }
        if (a->out && (!strcmp(a->out, a->out_video) || cli_same_file(a->out, a->out_video))) {
            cli_error("track: --out and --out-video are the same file (%s)", a->out);
            return VSSM_EXIT_USAGE;
        }
    }
    if (a->png_dir && out_clobbers(a, a->png_dir, "--out-frames", 1)) return VSSM_EXIT_USAGE;
    if (a->results) { /* created when absent: its folder must exist; present: a writable folder */
        struct stat sb;
        if (stat(a->results, &sb) != 0) {
            if (cli_check_out_file("track", a->results, "--results")) return VSSM_EXIT_USAGE;
        } else if (!S_ISDIR(sb.st_mode) || access(a->results, W_OK | X_OK) != 0) {
            cli_error("track: --results %s: %s", a->results,
                      S_ISDIR(sb.st_mode) ? "cannot write in the folder" : "exists and is not a folder");
            return VSSM_EXIT_USAGE;
        }
    }
    return -1;
}

/* the combinations; -1 go on, else the exit code */
static int check_args(track_args *a) {
    vssm_err err = {0};
    const char *one = a->seq ? "--seq" : "--video";
    if (!a->mo.weights) {
        cli_error("track: --weights FILE is required");
        fputs(usage, stderr);
        return VSSM_EXIT_USAGE;
    }
    if (!!a->seq + !!a->video + !!a->dataset != 1) {
        cli_error(
            "track: give one of --video FILE, --seq DIR (with --out FILE) or --dataset ROOT (with --results DIR)");
        return VSSM_EXIT_USAGE;
    }
    if (a->seq && !a->out) {
        cli_error("track: --out FILE is required with --seq");
        return VSSM_EXIT_USAGE;
    }
    if (a->video && !a->out && !a->json && !a->out_video && !a->png_dir) {
        cli_error("track: --video needs an output: --out FILE, --json, --out-video FILE or --out-frames DIR");
        return VSSM_EXIT_USAGE;
    }
    if (a->dataset && !a->results) {
        cli_error("track: --results DIR is required with --dataset");
        return VSSM_EXIT_USAGE;
    }
    if (a->dataset && (a->init_s || a->init_file || a->out_video || a->out)) {
        cli_error("track: %s applies to one --seq or --video, not to --dataset",
                  a->out_video ? "--out-video"
                  : a->out     ? "--out (--dataset writes RESULTS/<seq>.txt)"
                               : "--init");
        return VSSM_EXIT_USAGE;
    }
    if (!a->dataset && a->results) {
        cli_error("track: --results DIR goes with --dataset; %s writes --out FILE", one);
        return VSSM_EXIT_USAGE;
    }
    if (a->mo.threads < 0) {
        cli_error("track: --threads must be >= 0 (0: all cores), got %d", a->mo.threads);
        return VSSM_EXIT_USAGE;
    }
    if (a->show_every < 1 || a->max_frames < 0) {
        cli_error("track: %s must be %s", a->show_every < 1 ? "--show-every" : "--frames",
                  a->show_every < 1 ? ">= 1" : ">= 0");
        return VSSM_EXIT_USAGE;
    }
    if ((a->fmt = vssm_seq_format_from_name(a->fmt_s)) < 0) {
        cli_error("track: --format takes otb, lasot or got10k, got '%s'", a->fmt_s);
        return VSSM_EXIT_USAGE;
    }
    int rc = read_init(a);
    if (rc >= 0) return rc;
    if (a->video && !a->have_init) {
        cli_error("track: --video needs --init x,y,w,h or --init-file FILE");
        return VSSM_EXIT_USAGE;
    }
    if (vssm_tracker_config_validate(&a->tc, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    return check_outputs(a);
}

typedef struct track_model {
    vssm_ctx *ctx;
    vssm_backbone *bb;
    vssm_tracker *trk;
    vssm_track_head *head;
} track_model;

static void model_free(track_model *m) {
    vssm_track_head_free(m->head);
    vssm_tracker_free(m->trk);
    vssm_backbone_free(m->bb);
    vssm_ctx_free(m->ctx);
}

static int hybrid_given(const track_args *a) {
    return a->hy_on >= 0 || a->hy_size >= 0 || a->hy_n >= 0 || a->hy_radius >= 0 || a->hy_stage >= 0 ||
           !isnan(a->hy_factor) || !isnan(a->hy_step) || !isnan(a->hy_lr) || !isnan(a->hy_pos_lr) ||
           !isnan(a->hy_aspect_lr);
}

/* the backbone alone, with the file's mean/std, and the tracker on it; -1 go on, else the exit code */
static int load_model(const track_args *a, track_model *m) {
    vssm_err err = {0};
    vssm_ctx_opts co;
    if (model_opts_ctx(&a->mo, &co)) return VSSM_EXIT_USAGE;
    vssm_backbone_opts bo = {a->mo.arch, a->mo.key, -1, {0}, 0}; /* a Vim: its final token grid */
    vssm_preprocess_params pp;
    int load_bad = vssm_ctx_new(&m->ctx, &co, &err) != VSSM_OK ||
                   vssm_backbone_load_file(&m->bb, m->ctx, a->mo.weights, &bo, &pp, &err) != VSSM_OK;
    vssm_weights *w = NULL; /* the trained head when the file has one, else the correlation tracker */
    vssm_weights_opts wo = {a->mo.key};
    if (!load_bad && (load_bad = vssm_weights_open(&w, a->mo.weights, &wo, &err) != VSSM_OK) == 0 &&
        vssm_track_head_present(vssm_weights_source(w)) &&
        (load_bad = vssm_track_head_new(&m->head, m->bb, &pp, vssm_weights_source(w), &err) != VSSM_OK))
        vssm_err_prefix(&err, "%s", a->mo.weights);
    vssm_weights_close(w);
    if (!load_bad && m->head && hybrid_given(a)) { /* --hybrid*: over the file's settings */
        vssm_track_scale_config c = vssm_track_head_get_info(m->head).scale;
        if (a->hy_on >= 0) c.on = a->hy_on;
        if (a->hy_size >= 0) c.size = a->hy_size;
        if (a->hy_n >= 0) c.n_scales = a->hy_n;
        if (a->hy_radius >= 0) c.radius = a->hy_radius;
        if (a->hy_stage >= 0) c.stage = a->hy_stage;
        if (!isnan(a->hy_factor)) c.factor = a->hy_factor;
        if (!isnan(a->hy_step)) c.step = a->hy_step;
        if (!isnan(a->hy_lr)) c.lr = a->hy_lr;
        if (!isnan(a->hy_pos_lr)) c.pos_lr = a->hy_pos_lr;
        if (!isnan(a->hy_aspect_lr)) c.aspect_lr = a->hy_aspect_lr;
        if ((load_bad = vssm_track_head_set_scale(m->head, &c, &err) != VSSM_OK)) vssm_err_prefix(&err, "--hybrid");
    } else if (!load_bad && !m->head && hybrid_given(a)) {
        vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "--hybrid options need a file with a trained tracker head");
        load_bad = 1;
    }
    if (!load_bad && !m->head && vssm_tracker_new_backbone(&m->trk, m->bb, &pp, &a->tc, &err) != VSSM_OK) {
        vssm_err_prefix(&err, "%s", a->mo.weights);
        load_bad = 1;
    }
    cli_defer_begin(); /* under mpirun: every rank loaded, or none goes on; one rank says why */
    if (load_bad) cli_error("%s", err.msg);
    if (shard_agree_say(load_bad, cli_defer_end())) return VSSM_EXIT_USAGE;
    cli_defer_begin();
    const int no_dir = a->png_dir && make_dir(a->png_dir) != 0;
    if (no_dir) cli_error("%s: cannot create the folder (%s)", a->png_dir, strerror(errno));
    if (shard_agree_say(no_dir, cli_defer_end())) return VSSM_EXIT_USAGE;
    return -1;
}

typedef struct track_totals {
    int failed, frames, n_seq, fatal;
    double secs;
} track_totals;

static void totals_add(track_totals *t, int rc, int frames, double secs) {
    t->fatal |= rc < 0;
    t->failed += rc != 0;
    t->frames += frames;
    t->secs += secs;
    t->n_seq++;
}

static track_job job_for(const track_args *a, const track_model *m, const char *name, const char *dir, const char *out,
                         const char *png_dir) {
    track_job j = {m->trk,        name,          dir, out,    a->have_init, a->init, !a->quiet && isatty(2),
                   a->max_frames, &a->mo.limits, {0}, m->head};
    j.sink = (frame_sink){png_dir, a->out_video, NULL, a->show_every, 0, 0, a->json, name, 0, 0, 0, 0};
    return j;
}

/* every sequence of --dataset, this rank's share; -1 go on, else the exit code */
static int run_dataset(const track_args *a, const track_model *m, track_totals *t) {
    vssm_err err = {0};
    char **dirs = NULL;
    int nd = 0;
    int listed = vssm_seq_list(a->dataset, (vssm_seq_format)a->fmt, &dirs, &nd, &err) != VSSM_OK ||
                 make_dir(a->results) != 0;
    if (listed && shard_is_root()) cli_error("%s", err.msg[0] ? err.msg : "cannot create the --results folder");
    uint64_t h = SHARD_HASH0; /* every rank tracks its share of one list: the same on every rank */
    for (int k = 0; k < nd; k++) h = shard_hash(h, dirs[k], strlen(dirs[k]) + 1);
    if (shard_same_inputs("sequences", listed ? VSSM_EXIT_USAGE : 0, h, nd)) {
        vssm_seq_list_free(dirs, nd);
        return VSSM_EXIT_USAGE;
    }
    for (int k = 0; k < nd; k++) /* outputs inside a sequence folder would mix with its frames and files */
        if (cli_path_inside(a->results, dirs[k]) || (a->png_dir && cli_path_inside(a->png_dir, dirs[k]))) {
            if (shard_is_root()) /* every rank finds the same: one says it */
                cli_error("track: %s %s lies inside the sequence folder %s: refusing to write into the input",
                          cli_path_inside(a->results, dirs[k]) ? "--results" : "--out-frames",
                          cli_path_inside(a->results, dirs[k]) ? a->results : a->png_dir, dirs[k]);
            vssm_seq_list_free(dirs, nd);
            return VSSM_EXIT_USAGE;
        }
    int64_t k0, k1; /* under mpirun: this rank's sequences, each written to its own file */
    shard_range(nd, &k0, &k1);
    for (int k = (int)k0; k < (int)k1 && !t->fatal; k++) {
        const char *name = strrchr(dirs[k], '/') ? strrchr(dirs[k], '/') + 1 : dirs[k];
        char op[4096], vd[4096];
        int lo = snprintf(op, sizeof op, "%s/%s.txt", a->results, name);
        int lv = a->png_dir ? snprintf(vd, sizeof vd, "%s/%s", a->png_dir, name) : 0;
        if (lo < 0 || (size_t)lo >= sizeof op || lv < 0 || (size_t)lv >= sizeof vd) { /* never a truncated name */
            cli_error("%s: the output path for sequence %s is too long",
                      lo < 0 || (size_t)lo >= sizeof op ? a->results : a->png_dir, name);
            t->failed++;
            continue;
        }
        if (a->png_dir && make_dir(vd) != 0) {
            cli_error("%s: cannot create the folder", vd);
            t->failed++;
            continue;
        }
        track_job j = job_for(a, m, name, dirs[k], op, a->png_dir ? vd : NULL);
        j.have_init = 0;
        int fd;
        double s;
        int rc = track_seq(&j, &fd, &s);
        totals_add(t, rc, fd, s);
    }
    vssm_seq_list_free(dirs, nd);
    return -1;
}

/* the summary line on rank 0 (frames/s: per rank, the ranks' tracking time summed) */
static void report(track_totals *t, vssm_ctx *ctx) {
    if (shard_size() > 1) { /* totals over ranks */
        int64_t v[5] = {t->failed, t->frames, t->n_seq, t->fatal, (int64_t)(t->secs * 1e6)};
        if (shard_sum_i64(v, 5) != 0) shard_abort(VSSM_EXIT_USAGE, "track: reducing the ranks' counts failed");
        if (shard_is_root())
            t->failed = (int)v[0], t->frames = (int)v[1], t->n_seq = (int)v[2], t->fatal = v[3] > 0,
            t->secs = 1e-6 * (double)v[4];
    }
    if (!shard_is_root()) return;
    if (t->frames == 0) /* no rate to give: say what happened */
        fprintf(stderr, "vssm: nothing tracked: %s\n",
                t->n_seq == 0   ? "no sequence to track"
                : t->n_seq == 1 ? "the input failed before its first frame was tracked (named above)"
                                : "every sequence failed before its first frame was tracked (named above)");
    else
        fprintf(stderr, "vssm: tracked %d frame%s in %d sequence%s, %.1f frames/s (%s)%s\n", t->frames,
                t->frames == 1 ? "" : "s", t->n_seq, t->n_seq == 1 ? "" : "s", t->secs > 0 ? t->frames / t->secs : 0.0,
                vssm_ctx_describe(ctx), t->failed ? ", with failures (named above)" : "");
}

VSSM_VERB(track) {
    track_args a = {.tc = vssm_tracker_config_default(),
                    .fmt_s = "otb",
                    .show_every = 1,
                    .hy_on = -1,
                    .hy_size = -1,
                    .hy_n = -1,
                    .hy_radius = -1,
                    .hy_stage = -1,
                    .hy_factor = NAN,
                    .hy_step = NAN,
                    .hy_lr = NAN,
                    .hy_pos_lr = NAN,
                    .hy_aspect_lr = NAN};
    model_opts_init(&a.mo);
    int rc = parse_args(&a, argc, argv);
    if (rc < 0) rc = check_args(&a);
    if (rc >= 0) return rc;
    track_model m = {0};
    track_totals t = {0};
    if ((rc = load_model(&a, &m)) >= 0) {
        model_free(&m);
        return rc;
    }
    if ((a.seq || a.video) && shard_is_root()) { /* one stream: rank 0 tracks it, the others wait */
        const char *src = a.seq ? a.seq : a.video, *base = strrchr(src, '/');
        track_job j = job_for(&a, &m, base && base[1] ? base + 1 : src, src, a.out, a.png_dir);
        int fd;
        double s;
        int r = a.seq ? track_seq(&j, &fd, &s) : track_video(&j, &fd, &s);
        totals_add(&t, r, fd, s);
    } else if (a.dataset) {
        rc = run_dataset(&a, &m, &t);
    }
    if (rc < 0) report(&t, m.ctx);
    model_free(&m);
    if (rc >= 0) return rc;
    return t.fatal ? VSSM_EXIT_USAGE : t.failed ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}
