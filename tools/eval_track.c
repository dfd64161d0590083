/* tools/eval_track.c - `vssm eval track`: pytracking (OTB, LaSOT) and got10k-toolkit
 * (GOT-10k) metrics of a results folder against a dataset's ground truth, a per-sequence
 * table, JSON, and success / precision plots. The rules are in vssm/track.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#include "tools/cli.h"
#include "tools/mpi_shard.h"
#include "vssm/plot.h"
#include "vssm/track.h"

static const char *usage =
    "usage: vssm eval track --results DIR --gt ROOT --format otb|lasot|got10k [--json] [--plot FILE]\n"
    "                       [--name LABEL]\n"
    "Scores tracking results against ground truth: AUC, precision, success and precision plots.\n"
    "example: vssm eval track --results results/ --gt OTB/ --format otb --plot success.svg\n"
    "\n"
    "Results: DIR/<seq>.txt, one box x,y,w,h per frame (comma, tab or space separated), as\n"
    "pytracking writes them; for got10k also DIR/<seq>/<seq>_NNN.txt (all repetitions pooled).\n"
    "otb, lasot: pytracking's AUC, precision (20 px), normalised precision (0.20), OP50, OP75\n"
    "  (percent; per-sequence curves averaged over sequences).\n"
    "got10k: the got10k toolkit's AO, SR0.50, SR0.75 (fractions; frame 0 dropped, frames with\n"
    "  cover > 0, IoUs of all sequences pooled).\n"
    "--plot writes pytracking's success (and precision) plot, the AUC (and the precision at\n"
    "  20 px) in the legend; FILE.png, FILE.svg or FILE.pdf (by the extension). It is not\n"
    "  written when a sequence could not be evaluated (a plot of part of the data).\n"
    "\n"
    "Results that do not fit the ground truth, per format (as the reference toolkits):\n"
    "  otb:    NaN or a negative w/h anywhere in a file, or a box whose overlap is NaN\n"
    "          (x = -inf with w = inf), fails that sequence naming FILE:LINE (pytracking raises);\n"
    "          other infinite values score IoU 0 and centre error inf. A short file is padded\n"
    "          with zero boxes (IoU 0), a long one truncated, each said on stderr.\n"
    "  lasot:  the same, but a short file fails its sequence (pytracking raises).\n"
    "  got10k: a NaN fails the sequence naming FILE:LINE (the toolkit's AO would be NaN);\n"
    "          infinite or negative values are clipped to the image (meta_info.ini resolution)\n"
    "          as the toolkit clips them; without a resolution such a box scores IoU 0. A file\n"
    "          must have one box per ground-truth frame (the toolkit asserts it). Frame 0 is\n"
    "          the initialisation and is not scored: a 1-frame sequence (or one whose frames\n"
    "          all have cover 0) adds no frame, said on stderr, and shows '-' / no AO keys.\n"
    "  Ground truth must be finite: a NaN or inf box fails its sequence naming FILE:LINE.\n"
    "exit: 0 ok, 1 some sequences could not be evaluated (each named on stderr, the others are\n"
    "scored) or no frame at all could be scored, 2 usage\n";

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

typedef struct seq_row {
    char name[256];
    int ok, frames, scored; /* scored: got10k frames that entered AO */
    double auc, prec, nprec, ao, sr50, sr75;
} seq_row;

/* the GT's first non-finite box, named by its line; 1 when there is one */
static int gt_bad(const vssm_seq *s) {
    vssm_err err = {0};
    int k = vssm_track_gt_check(s->gt, s->n_gt, &err);
    if (k < 0) return 0;
    cli_error("%s:%d: %s", s->gt_path, s->gt_line ? s->gt_line[k] : k + 1, err.msg);
    return 1;
}

/* reads a results file and applies the format's checks; 0 with the boxes, else 1 (named) */
static int read_results(const char *p, const vssm_seq *s, int fmt, vssm_box **pred, int *np) {
    vssm_err err = {0};
    int *lines = NULL;
    *pred = NULL;
    *np = 0;
    if (vssm_boxes_read_lines(p, pred, &lines, np, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return 1;
    }
    int bad = 0;
    int k = vssm_track_results_check(*pred, *np, s->gt, s->visible, s->n_gt, (vssm_seq_format)fmt, &err);
    if (*np == 0) {
        cli_error("%s: no boxes (expected one per ground-truth frame, %d)", p, s->n_gt);
        bad = 1;
    } else if (k >= 0) {
        cli_error("%s:%d: %s", p, lines[k], err.msg);
        bad = 1;
    } else if (*np != s->n_gt) {
        if (fmt == VSSM_SEQ_FORMAT_GOT10K) {
            cli_error("%s: %d boxes for %d ground-truth frames (the got10k toolkit requires one box per frame)", p, *np,
                      s->n_gt);
            bad = 1;
        } else if (fmt == VSSM_SEQ_FORMAT_LASOT && *np < s->n_gt) {
            cli_error("%s: %d boxes for %d ground-truth frames (pytracking refuses a short LaSOT result)", p, *np,
                      s->n_gt);
            bad = 1;
        } else if (*np < s->n_gt) {
            fprintf(stderr,
                    "vssm: note: %s: %d boxes for %d ground-truth frames: padded with %d zero boxes (IoU 0), as "
                    "pytracking does\n",
                    p, *np, s->n_gt, s->n_gt - *np);
        } else {
            fprintf(stderr,
                    "vssm: note: %s: %d boxes for %d ground-truth frames: the last %d ignored, as pytracking does\n", p,
                    *np, s->n_gt, *np - s->n_gt);
        }
    }
    free(lines);
    if (bad) {
        free(*pred);
        *pred = NULL;
        *np = 0;
    }
    return bad;
}

/* builds DIR/<a>.txt-like paths; 1 (named) when the path does not fit */
static int path_fmt(char *p, size_t n, const char *results, const char *fmt, const char *a, int r) {
    int len = r >= 0 ? snprintf(p, n, fmt, results, a, a, r) : snprintf(p, n, fmt, results, a);
    if (len < 0 || (size_t)len >= n) {
        cli_error("%s: the results path for sequence %s is too long", results, a);
        return 1;
    }
    return 0;
}

/* got10k: every DIR/<seq>/<seq>_NNN.txt, else DIR/<seq>.txt; ious appended to *all */
static int got10k_seq(const char *results, const vssm_seq *s, double **all, int64_t *n_all, int64_t *cap,
                      seq_row *row) {
    vssm_err err = {0};
    char p[4096];
    int files = 0, bad = 0, plain = 0;
    int64_t start = *n_all;
    if (gt_bad(s)) return 1;
    double *ious = malloc((size_t)s->n_gt * sizeof(double));
    if (!ious) {
        cli_error("out of memory");
        return -1;
    }
    for (int r = 1; r <= 999 && !bad; r++) {
        if (path_fmt(p, sizeof p, results, "%s/%s/%s_%03d.txt", s->name, r)) {
            bad = 1;
            break;
        }
        if (!file_exists(p)) {
            if (r == 1) {
                if (path_fmt(p, sizeof p, results, "%s/%s.txt", s->name, -1)) {
                    bad = 1;
                    break;
                }
                if (!file_exists(p)) break;
                plain = 1;
            } else {
                break;
            }
        }
        vssm_box *pred;
        int np, k;
        if (read_results(p, s, VSSM_SEQ_FORMAT_GOT10K, &pred, &np)) {
            bad = 1;
            break;
        }
        if (vssm_got10k_seq_ious(pred, np, s->gt, s->cover, s->n_gt, s->res_w, s->res_h, ious, &k, &err) != VSSM_OK) {
            cli_error("%s: %s", p, err.msg);
            free(pred);
            bad = 1;
            break;
        }
        free(pred);
        if (k > 0) { /* a 1-frame sequence gives none (and *all may still be NULL) */
            if (*n_all + k > *cap) {
                int64_t nc = (*cap ? *cap * 2 : 4096) + k;
                double *na = realloc(*all, (size_t)nc * sizeof(double));
                if (!na) {
                    cli_error("out of memory");
                    bad = 1;
                    break;
                }
                *all = na;
                *cap = nc;
            }
            memcpy(*all + *n_all, ious, (size_t)k * sizeof(double));
            *n_all += k;
        }
        files++;
        if (plain) break; /* the plain DIR/<seq>.txt form has one repetition */
    }
    free(ious);
    if (!bad && files == 0) {
        cli_error("%s: no results for sequence %s (expected %s/%s.txt or %s/%s/%s_001.txt)", results, s->name, results,
                  s->name, results, s->name, s->name);
        bad = 1;
    }
    if (bad) {
        *n_all = start;
        return 1;
    }
    row->frames = s->n_gt;
    row->scored = (int)(*n_all - start);
    row->ok = 1;
    if (row->scored == 0) {
        fprintf(stderr,
                "vssm: note: %s: %d frame%s, none scored (the got10k toolkit does not score the initial frame 0%s): "
                "the sequence adds nothing to AO\n",
                s->name, s->n_gt, s->n_gt == 1 ? "" : "s", s->cover ? ", nor frames with cover 0" : "");
        return 0;
    }
    vssm_got10k_metrics m;
    vssm_got10k_eval(*all + start, *n_all - start, &m);
    row->ao = m.ao;
    row->sr50 = m.sr50;
    row->sr75 = m.sr75;
    return 0;
}

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* Rank 0 gets every rank's rows (rows[k0..k1) of each, in rank = sequence order), the
 * per-sequence curves of the evaluated sequences and the pooled GOT-10k IoUs, in sequence
 * order, so its summaries add the same numbers in the same order as one process; failures
 * are summed. Collective; returns 0 or -1. */
static int gather_results(seq_row **rows, int64_t k0, int64_t k1, vssm_track_seq_metrics **sm, int *n_ok, double **ious,
                          int64_t *n_ious, int *failed) {
    if (shard_size() == 1) return 0;
    void *r = NULL, *m = NULL, *io = NULL;
    int64_t rn, mn, ion, f = *failed;
    if (shard_gather(*rows + k0, (k1 - k0) * (int64_t)sizeof **rows, &r, &rn) != 0 ||
        shard_gather(*sm, *n_ok * (int64_t)sizeof **sm, &m, &mn) != 0 ||
        shard_gather(*ious, *n_ious * (int64_t)sizeof **ious, &io, &ion) != 0 || shard_sum_i64(&f, 1) != 0) {
        free(r), free(m), free(io);
        return -1;
    }
    if (!shard_is_root()) return 0;
    free(*rows), free(*sm), free(*ious);
    *rows = r, *sm = m, *ious = io;
    *n_ok = (int)(mn / (int64_t)sizeof **sm);
    *n_ious = ion / (int64_t)sizeof **ious;
    *failed = (int)f;
    return 0;
}

/* the options and state of one `eval track` run */
typedef struct track_eval {
    const char *results, *gt_root, *fmt_s, *plot, *label;
    int json, fmt, nd;
    char **dirs;
    seq_row *rows;
    vssm_track_seq_metrics *sm;
    double *ious;
    int64_t n_ious, cap_ious;
    int n_ok, failed;
} track_eval;

/* 0, an exit code, or -1 (--help printed) */
static int parse_track_eval(int argc, char **argv, track_eval *e) {
    int bad = 0, help = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_opt_str(argc, argv, &i, "--results", &e->results, &bad) ||
            cli_opt_str(argc, argv, &i, "--gt", &e->gt_root, &bad) ||
            cli_opt_str(argc, argv, &i, "--format", &e->fmt_s, &bad) ||
            cli_opt_str(argc, argv, &i, "--plot", &e->plot, &bad) ||
            cli_opt_str(argc, argv, &i, "--name", &e->label, &bad) || cli_opt_flag(argv, i, "--json", &e->json) ||
            cli_opt_flag(argv, i, "--help", &help) || cli_opt_flag(argv, i, "-h", &help))
            continue;
        cli_bad_arg("eval track", argv[i]);
        bad = 1;
    }
    if (help) {
        fputs(usage, stdout);
        return -1;
    }
    if (bad || !e->results || !e->gt_root || !e->fmt_s) {
        if (!bad) cli_error("eval track: --results, --gt and --format are required");
        fputs(usage, stderr);
        return VSSM_EXIT_USAGE;
    }
    vssm_err err = {0}; /* an unknown plot format is known before the run, not after it */
    if (e->plot && vssm_plot_format_of(e->plot, NULL, &err) != VSSM_OK) {
        cli_error("eval track: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    if ((e->fmt = vssm_seq_format_from_name(e->fmt_s)) < 0) {
        cli_error("eval track: --format takes otb, lasot or got10k, got '%s'", e->fmt_s);
        return VSSM_EXIT_USAGE;
    }
    struct stat sb;
    if (stat(e->results, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("%s: the --results folder does not exist", e->results);
        return VSSM_EXIT_USAGE;
    }
    if (vssm_seq_list(e->gt_root, (vssm_seq_format)e->fmt, &e->dirs, &e->nd, &err) != VSSM_OK) {
        if (shard_is_root()) cli_error("%s", err.msg); /* another rank alone failing: shard_same_inputs says so */
        return VSSM_EXIT_USAGE;
    }
    if (!e->label) e->label = "vssm";
    return 0;
}

/* an OTB/LaSOT sequence's result file scored into row and e->sm[e->n_ok]; 0 or 1 (named) */
static int score_seq(track_eval *e, const vssm_seq *s, seq_row *row) {
    vssm_err err = {0};
    char p[4096];
    vssm_box *pred = NULL;
    int np = 0, bad = 1;
    vssm_track_seq_metrics *m = &e->sm[e->n_ok];
    const vssm_track_protocol proto = e->fmt == VSSM_SEQ_FORMAT_LASOT ? VSSM_TRACK_PROTOCOL_LASOT
                                                                      : VSSM_TRACK_PROTOCOL_OTB;
    if (path_fmt(p, sizeof p, e->results, "%s/%s.txt", s->name, -1)) {
    } else if (!file_exists(p)) {
        cli_error("%s: result not found for sequence %s", p, s->name);
    } else if (gt_bad(s) || read_results(p, s, e->fmt, &pred, &np)) {
    } else if (vssm_track_seq_eval(pred, np, s->gt, s->visible, s->n_gt, proto, m, &err) != VSSM_OK) {
        cli_error("%s: %s", p, err.msg);
    } else {
        double a = 0;
        for (int t = 0; t < VSSM_TRACK_N_OVERLAP; t++) a += m->success[t];
        row->auc = 100.0 * a / VSSM_TRACK_N_OVERLAP;
        row->prec = 100.0 * m->precision[20];
        row->nprec = 100.0 * m->norm_precision[20];
        row->ao = m->avg_overlap;
        row->frames = m->n_frames;
        row->ok = 1;
        e->n_ok++;
        bad = 0;
    }
    free(pred);
    return bad;
}

/* this rank's share of the sequences; rank 0 gathers the results in sequence order */
static void score_all(track_eval *e) {
    vssm_err err = {0};
    int64_t k0, k1;
    shard_range(e->nd, &k0, &k1);
    for (int k = (int)k0; k < (int)k1; k++) {
        vssm_seq s;
        seq_row *row = &e->rows[k];
        const char *nm = strrchr(e->dirs[k], '/') ? strrchr(e->dirs[k], '/') + 1 : e->dirs[k];
        snprintf(row->name, sizeof row->name, "%s", nm);
        if (vssm_seq_load(&s, e->dirs[k], (vssm_seq_format)e->fmt, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            e->failed++;
            continue;
        }
        if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) {
            int rc = got10k_seq(e->results, &s, &e->ious, &e->n_ious, &e->cap_ious, row);
            vssm_seq_free(&s);
            if (rc)
                e->failed++;
            else
                e->n_ok++;
            if (rc < 0) break;
            continue;
        }
        e->failed += score_seq(e, &s, row);
        vssm_seq_free(&s);
    }
    if (gather_results(&e->rows, k0, k1, &e->sm, &e->n_ok, &e->ious, &e->n_ious, &e->failed) != 0)
        shard_abort(VSSM_EXIT_USAGE, "eval track: gathering the ranks' per-sequence results failed");
}

static cJSON *json_row(const track_eval *e, const seq_row *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddNumberToObject(o, "frames", r->frames);
    if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) {
        cJSON_AddNumberToObject(o, "scored_frames", r->scored);
        if (r->scored == 0) return o; /* nothing scored: no AO (a NaN would print as null) */
        cJSON_AddNumberToObject(o, "ao", r->ao);
        cJSON_AddNumberToObject(o, "sr50", r->sr50);
        cJSON_AddNumberToObject(o, "sr75", r->sr75);
    } else {
        cJSON_AddNumberToObject(o, "auc", r->auc);
        cJSON_AddNumberToObject(o, "precision", r->prec);
        cJSON_AddNumberToObject(o, "norm_precision", r->nprec);
        cJSON_AddNumberToObject(o, "avg_overlap", r->ao);
    }
    return o;
}

static void print_json(const track_eval *e, const vssm_track_summary *sum, const vssm_got10k_metrics *g) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", e->fmt_s);
    cJSON_AddNumberToObject(o, "sequences", e->n_ok);
    cJSON_AddNumberToObject(o, "failed", e->failed);
    if (e->fmt == VSSM_SEQ_FORMAT_GOT10K && g->n == 0) {
        cJSON_AddNumberToObject(o, "frames", 0); /* no AO: nothing was scored (stderr says so) */
    } else if (e->n_ok == 0) {
        /* no summary from no sequence (stderr says why) */
    } else if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) {
        cJSON_AddNumberToObject(o, "ao", g->ao);
        cJSON_AddNumberToObject(o, "sr50", g->sr50);
        cJSON_AddNumberToObject(o, "sr75", g->sr75);
        cJSON_AddNumberToObject(o, "frames", (double)g->n);
        cJSON_AddItemToObject(o, "success_curve", num_array(g->success, VSSM_GOT10K_N_IOU));
    } else {
        cJSON_AddNumberToObject(o, "auc", sum->auc);
        cJSON_AddNumberToObject(o, "precision", sum->precision);
        cJSON_AddNumberToObject(o, "norm_precision", sum->norm_precision);
        cJSON_AddNumberToObject(o, "op50", sum->op50);
        cJSON_AddNumberToObject(o, "op75", sum->op75);
        cJSON_AddItemToObject(o, "success_curve", num_array(sum->success, VSSM_TRACK_N_OVERLAP));
        cJSON_AddItemToObject(o, "precision_curve", num_array(sum->precision_curve, VSSM_TRACK_N_CENTER));
        cJSON_AddItemToObject(o, "norm_precision_curve", num_array(sum->norm_precision_curve, VSSM_TRACK_N_CENTER));
    }
    cJSON *ps = cJSON_AddArrayToObject(o, "per_sequence");
    for (int k = 0; k < e->nd; k++)
        if (e->rows[k].ok) cJSON_AddItemToArray(ps, json_row(e, &e->rows[k]));
    char *txt = cJSON_PrintUnformatted(o);
    if (txt) puts(txt);
    free(txt);
    cJSON_Delete(o);
}

static void print_table(const track_eval *e, const vssm_track_summary *sum, const vssm_got10k_metrics *g) {
    const seq_row *rows = e->rows;
    if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) {
        printf("%-32s %7s %8s %8s %8s\n", "sequence", "frames", "AO", "SR0.50", "SR0.75");
        for (int k = 0; k < e->nd; k++)
            if (rows[k].ok && rows[k].scored == 0)
                printf("%-32.32s %7d %8s %8s %8s\n", rows[k].name, rows[k].frames, "-", "-", "-");
            else if (rows[k].ok)
                printf("%-32.32s %7d %8.3f %8.3f %8.3f\n", rows[k].name, rows[k].frames, rows[k].ao, rows[k].sr50,
                       rows[k].sr75);
        if (g->n > 0)
            printf("%-32s %7lld %8.3f %8.3f %8.3f\n", "overall (got10k toolkit)", (long long)g->n, g->ao, g->sr50,
                   g->sr75);
        return;
    }
    printf("%-32s %7s %8s %8s %8s\n", "sequence", "frames", "AUC", "Prec", "NPrec");
    for (int k = 0; k < e->nd; k++)
        if (rows[k].ok)
            printf("%-32.32s %7d %8.2f %8.2f %8.2f\n", rows[k].name, rows[k].frames, rows[k].auc, rows[k].prec,
                   rows[k].nprec);
    if (e->n_ok > 0)
        printf("\n%s (pytracking, %d sequences): AUC %.2f  Precision %.2f  Norm Precision %.2f  OP50 %.2f  OP75 %.2f\n",
               e->fmt_s, e->n_ok, sum->auc, sum->precision, sum->norm_precision, sum->op50, sum->op75);
}

/* the success (and precision) plot; 0 or 1 (named) */
static int write_plot(const track_eval *e, const vssm_track_summary *sum, const vssm_got10k_metrics *g) {
    vssm_err err = {0};
    char lab_s[300], lab_p[300], title[128];
    vssm_track_curve cs, cp;
    double g100[VSSM_GOT10K_N_IOU];
    int have_p = 0;
    if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) {
        for (int t = 0; t < VSSM_GOT10K_N_IOU; t++) g100[t] = 100.0 * g->success[t];
        snprintf(lab_s, sizeof lab_s, "%s [AO %.3f]", e->label, g->ao);
        cs = (vssm_track_curve){lab_s, g100, VSSM_GOT10K_N_IOU};
    } else {
        snprintf(lab_s, sizeof lab_s, "%s [AUC %.1f]", e->label, sum->auc);
        snprintf(lab_p, sizeof lab_p, "%s [%.1f at 20 px]", e->label, sum->precision);
        cs = (vssm_track_curve){lab_s, sum->success, VSSM_TRACK_N_OVERLAP};
        cp = (vssm_track_curve){lab_p, sum->precision_curve, VSSM_TRACK_N_CENTER};
        have_p = 1;
    }
    snprintf(title, sizeof title, "%s, %d sequence%s", e->fmt_s, e->n_ok, e->n_ok == 1 ? "" : "s");
    if (vssm_track_plot(e->plot, &cs, 1, have_p ? &cp : NULL, have_p, title, &err) != VSSM_OK) {
        cli_error("%s", err.msg);
        return 1;
    }
    return 0;
}

/* rank 0: the summary, the table or JSON, the plot; the exit code */
static int report(track_eval *e) {
    vssm_track_summary sum;
    vssm_got10k_metrics g;
    memset(&g, 0, sizeof g);
    vssm_track_summarize(e->sm, e->n_ok, &sum);
    if (e->fmt == VSSM_SEQ_FORMAT_GOT10K) vssm_got10k_eval(e->ious, e->n_ious, &g);
    if (e->json)
        print_json(e, &sum, &g);
    else
        print_table(e, &sum, &g);
    if (e->failed) fprintf(stderr, "vssm: %d of %d sequences could not be evaluated\n", e->failed, e->nd);
    /* pytracking's quirk, kept for parity (vssm/track.h): an invalid GT frame (w or h <= 0)
     * is a normalised-precision hit over a count of the valid frames, outside LaSOT */
    int inv_seqs = 0;
    long long inv = 0;
    for (int i = 0; e->fmt != VSSM_SEQ_FORMAT_LASOT && i < e->n_ok; i++)
        if (e->sm[i].n_valid < e->sm[i].n_frames) inv_seqs++, inv += e->sm[i].n_frames - e->sm[i].n_valid;
    if (inv)
        fprintf(stderr,
                "vssm: note: %lld ground-truth frame%s of %d sequence%s %s no valid box (w or h <= 0): as in "
                "pytracking, each counts as a normalised-precision hit while the denominator leaves it out, so "
                "Norm Precision can read over 100\n",
                inv, inv == 1 ? "" : "s", inv_seqs, inv_seqs == 1 ? "" : "s", inv == 1 ? "has" : "have");
    /* nothing scored at all: no summary exists (a got10k AO of no frame is NaN) */
    int empty = e->n_ok == 0 || (e->fmt == VSSM_SEQ_FORMAT_GOT10K && g.n == 0);
    if (e->n_ok == 0)
        cli_error("no sequence could be evaluated");
    else if (empty)
        cli_error("%s: no frame could be scored (the got10k toolkit does not score frame 0)", e->gt_root);
    if (e->plot && (e->failed || empty))
        fprintf(stderr, "vssm: %s not written: it would plot %s\n", e->plot,
                empty ? "nothing" : "part of the sequences");
    else if (e->plot)
        e->failed += write_plot(e, &sum, &g);
    return e->failed || empty ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}

int vssm_eval_track(int argc, char **argv) {
    track_eval e;
    memset(&e, 0, sizeof e);
    int rc = parse_track_eval(argc, argv, &e);
    if (rc < 0) return VSSM_EXIT_OK;
    uint64_t h = SHARD_HASH0; /* every rank scores its share of one list: the same on every rank */
    for (int k = 0; k < e.nd; k++) h = shard_hash(h, e.dirs[k], strlen(e.dirs[k]) + 1);
    if ((rc = shard_same_inputs("sequences", rc, h, e.nd))) {
        vssm_seq_list_free(e.dirs, e.nd);
        return rc;
    }
    e.rows = calloc((size_t)e.nd, sizeof *e.rows);
    e.sm = calloc((size_t)e.nd, sizeof *e.sm);
    if (shard_agree(!e.rows || !e.sm)) { /* every rank or none goes on to the gathers */
        cli_error("out of memory");
        rc = VSSM_EXIT_INPUT;
    } else {
        score_all(&e);
        /* rank 0 reports; the others' exit code joins in main */
        rc = shard_is_root() ? report(&e) : e.failed ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
    }
    free(e.rows);
    free(e.sm);
    free(e.ious);
    vssm_seq_list_free(e.dirs, e.nd);
    return rc;
}
