/* tools/cmd_reid.c - `vssm reid extract`: embeddings of a re-ID dataset's query and
 * gallery images into a features file for `vssm eval reid` (vssm/reid.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "tools/mpi_shard.h"
#include "tools/runner.h"
#include "vssm/reid.h"
#include "vssm/vssm.h"
#include "kernels/infile.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vssm reid extract --weights FILE --data ROOT --format market|veri|msmt --out FEATS.safetensors "
            "[options]\n"
            "Writes the re-identification embeddings of a dataset's query and gallery images.\n"
            "example: vssm reid extract --weights weights/reid_demo/vmamba_reid_demo.safetensors \\\n"
            "           --data weights/reid_demo/sample --out feats.safetensors\n"
            "Embeds every query and gallery image (pid -1 dropped) and writes query, gallery (float32, N x D),\n"
            "query_pid, query_camid, gallery_pid, gallery_camid (int64; camid 0-based) for `vssm eval reid`.\n"
            "An image that cannot be read, or (market, veri) whose name does not follow the format, is named and\n"
            "skipped (exit 1). --out may not be the weights file nor lie inside the dataset folder.\n"
            "  --batch B            images per forward pass (default 16)\n"
            "  --size HxW           resize every image to exactly HxW (torchreid's Resize), instead of the\n"
            "                       weights file's resize + center crop\n"
            "  --bnneck auto|on|off use the BNNeck tensors of the weights (default auto: when present)\n"
            "  --l2, --no-l2        L2-normalise the embeddings, or not (default: as the weights' metadata\n"
            "                       reid_l2norm says; off when it says nothing)\n"
            "  --final-norm         apply the classifier's LayerNorm (classifier.norm) to the last stage before "
            "pooling\n%s"
            "(--threads 0, the default: all cores; --labels does not apply: embeddings have no class names)\n",
            model_opts_help);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(const char *what, int64_t done, int64_t total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int width = 30, fill = total ? (int)((double)done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    fprintf(stderr, "\r%-7s [%s] %lld/%lld %.1f img/s ETA %.0fs ", what, bar, (long long)done, (long long)total, rate,
            rate > 0 ? (total - done) / rate : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

typedef struct {
    float *x; /* preprocessed (h, w, 3) or NULL */
    int h, w;
    char err[4 * VSSM_ERR_MSG_MAX];
} prepared;

typedef struct {
    const vssm_preprocess_params *pp;
    int size_h, size_w;              /* > 0: fixed resize */
    const vssm_image_limits *limits; /* --max-pixels */
    decode_budget *budget;           /* the decodes of a batch, at once (tools/runner.h) */
} prep_opts;

static void prepare(const char *path, const prep_opts *o, prepared *p) {
    vssm_err err = {0};
    vssm_image im = {0}, rs = {0};
    p->x = NULL;
    p->err[0] = 0;
    const int64_t share = decode_budget_enter(o->budget, path);
    if (vssm_image_load(&im, path, o->limits, &err) == VSSM_OK) {
        if (o->size_h > 0) {
            if (vssm_image_resize(&im, o->size_w, o->size_h, o->pp->interp, &rs, &err) == VSSM_OK) {
                p->h = o->size_h;
                p->w = o->size_w;
                p->x = malloc((size_t)p->h * p->w * 3 * sizeof(float));
                if (p->x && vssm_image_normalize(&rs, o->pp->mean, o->pp->std, p->x, &err) != VSSM_OK) {
                    free(p->x);
                    p->x = NULL;
                }
            }
        } else if (vssm_preprocess_output_size(o->pp, im.w, im.h, &p->w, &p->h, &err) == VSSM_OK) {
            p->x = malloc((size_t)p->h * p->w * 3 * sizeof(float));
            if (p->x && vssm_preprocess(&im, o->pp, p->x, &err) != VSSM_OK) {
                free(p->x);
                p->x = NULL;
            }
        }
        if (!p->x && !err.msg[0]) vssm_err_set(&err, VSSM_ERR_NOMEM, "out of memory");
    }
    if (!p->x)
        snprintf(p->err, sizeof p->err, "%s%s%s", strstr(err.msg, path) ? "" : path, strstr(err.msg, path) ? "" : ": ",
                 err.msg[0] ? err.msg : "unknown error");
    vssm_image_free(&im);
    vssm_image_free(&rs);
    decode_budget_leave(o->budget, share);
}

/* Embeds one split; rows of emb/pid/camid are the images that worked, in split order.
 * Returns the number of failed images, or -1 when the model itself failed. */
static int64_t embed_split(vssm_reid_model *m, const vssm_reid_split *s, const prep_opts *po, int batch, int show,
                           const char *what, float **emb_out, int64_t **pid_out, int64_t **cam_out, int64_t *n_out) {
    const int D = vssm_reid_model_dim(m);
    float *emb = malloc((size_t)(s->n ? s->n : 1) * D * sizeof(float));
    int64_t *pid = malloc((size_t)(s->n ? s->n : 1) * sizeof(int64_t)),
            *cam = malloc((size_t)(s->n ? s->n : 1) * sizeof(int64_t));
    prepared *win = calloc((size_t)batch, sizeof *win);
    float *xb = NULL, *eb = malloc((size_t)batch * D * sizeof(float));
    size_t xb_cap = 0;
    int64_t n = 0, failed = 0;
    double t0 = now_s();
    if (!emb || !pid || !cam || !win || !eb) {
        cli_error("out of memory");
        failed = -1;
        goto out;
    }
    for (int64_t s0 = 0; s0 < s->n; s0 += batch) {
        const int cnt = (int)(s->n - s0 < batch ? s->n - s0 : batch);
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < cnt; i++) prepare(s->path[s0 + i], po, &win[i]);
        for (int i = 0; i < cnt;) {
            if (!win[i].x) {
                cli_error("%s", win[i].err);
                failed++;
                i++;
                continue;
            }
            int j = i + 1;
            while (j < cnt && win[j].x && win[j].h == win[i].h && win[j].w == win[i].w) j++;
            size_t per = (size_t)win[i].h * win[i].w * 3, need = per * (size_t)(j - i);
            if (need > xb_cap) {
                free(xb);
                xb_cap = (xb = malloc(need * sizeof(float))) ? need : 0;
            }
            vssm_err err = {0};
            vssm_status st = VSSM_ERR_NOMEM;
            if (xb) {
                for (int q = i; q < j; q++) memcpy(xb + per * (size_t)(q - i), win[q].x, per * sizeof(float));
                st = vssm_reid_model_forward(m, xb, j - i, win[i].h, win[i].w, eb, &err);
            }
            if (st != VSSM_OK) {
                if (show) fputc('\n', stderr);
                cli_error("%s: %s", s->path[s0 + i], xb ? err.msg : "out of memory");
                failed = -1;
                goto out;
            }
            for (int q = i; q < j; q++) {
                memcpy(emb + (size_t)n * D, eb + (size_t)(q - i) * D, (size_t)D * sizeof(float));
                pid[n] = s->pid[s0 + q];
                cam[n] = s->camid[s0 + q];
                n++;
            }
            i = j;
        }
        for (int i = 0; i < cnt; i++) {
            free(win[i].x);
            win[i].x = NULL;
        }
        if (show) progress(what, s0 + cnt, s->n, t0);
    }
out:
    if (win)
        for (int i = 0; i < batch; i++) free(win[i].x);
    free(win);
    free(xb);
    free(eb);
    if (failed < 0) {
        free(emb);
        free(pid);
        free(cam);
        return -1;
    }
    *emb_out = emb;
    *pid_out = pid;
    *cam_out = cam;
    *n_out = n;
    return failed;
}

/* this rank's share of a split, in whole batch windows (the batches one process forms) */
static vssm_reid_split split_part(const vssm_reid_split *s, int batch) {
    int64_t b, e;
    shard_range_units(s->n, batch, &b, &e);
    return (vssm_reid_split){s->path + b, s->pid + b, s->camid + b, e - b, e - b, 0, NULL, 0};
}

/* Rank 0 gets every rank's rows (embeddings, pids, camids) concatenated in rank order =
 * dataset order, and the summed failure count. Collective; returns 0 or -1. */
static int gather_split(float **emb, int64_t **pid, int64_t **cam, int64_t *n, int64_t dim, int64_t *failed) {
    if (shard_size() == 1) return 0;
    void *e = NULL, *p = NULL, *c = NULL;
    int64_t en, pn, cn;
    if (shard_gather(*emb, *n * dim * (int64_t)sizeof **emb, &e, &en) != 0 ||
        shard_gather(*pid, *n * 8, &p, &pn) != 0 || shard_gather(*cam, *n * 8, &c, &cn) != 0 ||
        shard_sum_i64(failed, 1) != 0) {
        free(e), free(p), free(c);
        return -1;
    }
    if (!shard_is_root()) return 0;
    free(*emb), free(*pid), free(*cam);
    *emb = e, *pid = p, *cam = c;
    *n = pn / 8;
    return 0;
}

/* the options of `reid extract` */
typedef struct extract_args {
    model_opts mo;
    const char *root, *fmt_name, *outp, *size, *bnneck;
    int batch, l2, no_l2, final_norm;
    int fmt, sh, sw, bn; /* derived */
} extract_args;

/* 0, 1 (usage error, named) or -1 (--help printed) */
static int parse_extract(int argc, char **argv, extract_args *a) {
    memset(a, 0, sizeof *a);
    model_opts_init(&a->mo);
    a->mo.accept = MO_ALL & ~MO_LABELS; /* no class names in an embedding */
    a->bnneck = "auto", a->batch = 16, a->l2 = -1, a->fmt = -1;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return -1;
        if (!strcmp(argv[i], "--labels")) {
            cli_error("reid extract: --labels does not apply (re-ID embeddings have no class names)");
            bad = 1;
            break;
        }
        if (model_opts_parse(&a->mo, argc, argv, &i, &bad) || cli_opt_str(argc, argv, &i, "--data", &a->root, &bad) ||
            cli_opt_str(argc, argv, &i, "--format", &a->fmt_name, &bad) ||
            cli_opt_str(argc, argv, &i, "--out", &a->outp, &bad) ||
            cli_opt_str(argc, argv, &i, "--size", &a->size, &bad) ||
            cli_opt_str(argc, argv, &i, "--bnneck", &a->bnneck, &bad) ||
            cli_opt_int(argc, argv, &i, "--batch", &a->batch, &bad) || cli_opt_flag(argv, i, "--l2", &a->l2) ||
            cli_opt_flag(argv, i, "--no-l2", &a->no_l2) || cli_opt_flag(argv, i, "--final-norm", &a->final_norm))
            continue;
        cli_bad_arg("reid extract", argv[i]);
        bad = 1;
    }
    if (bad) return 1;
    const model_opts *mo = &a->mo;
    a->bn = !strcmp(a->bnneck, "auto") ? -1 : !strcmp(a->bnneck, "on") ? 1 : !strcmp(a->bnneck, "off") ? 0 : -2;
    if (!mo->weights)
        cli_error("reid extract: --weights FILE is required");
    else if (!a->root)
        cli_error("reid extract: --data ROOT is required");
    else if (!a->outp)
        cli_error("reid extract: --out FEATS.safetensors is required");
    else if ((a->fmt = vssm_reid_format_from_name(a->fmt_name ? a->fmt_name : "market")) < 0)
        cli_error("reid extract: --format takes market, veri or msmt, got '%s'", a->fmt_name);
    else if (a->size && !cli_parse_size(a->size, &a->sh, &a->sw))
        cli_error("reid extract: --size takes HxW, got '%s'", a->size);
    else if (a->batch < 1 || a->batch > 4096)
        cli_error("reid extract: --batch takes 1..4096, got %d", a->batch);
    else if (mo->threads < 0 || mo->threads > 4096)
        cli_error("reid extract: --threads takes 0 (all cores) .. 4096, got %d", mo->threads);
    else if (a->l2 == 1 && a->no_l2)
        cli_error("reid extract: --l2 and --no-l2 contradict each other");
    else if (a->bn == -2)
        cli_error("reid extract: --bnneck takes auto, on or off, got '%s'", a->bnneck);
    else if (mo->resize < -1 || mo->crop < -1 || mo->resize > 16384 || mo->crop > 16384)
        cli_error("reid extract: --resize and --crop take 0 (off) .. 16384");
    else
        return 0;
    return 1;
}

/* the model on every rank (or on none); 0 or an exit code */
static int load_reid_model(const extract_args *a, vssm_ctx **ctx, vssm_reid_model **m) {
    vssm_err err = {0};
    vssm_ctx_opts co;
    if (model_opts_ctx(&a->mo, &co)) return VSSM_EXIT_USAGE;
    vssm_reid_model_opts ro = vssm_reid_model_default_opts();
    ro.arch = a->mo.arch;
    ro.key = a->mo.key;
    ro.head.bnneck = a->bn;
    ro.head.l2norm = a->no_l2 ? 0 : a->l2;
    ro.head.final_norm = a->final_norm;
    int load_bad = vssm_ctx_new(ctx, &co, &err) != VSSM_OK ||
                   vssm_reid_model_load(m, *ctx, a->mo.weights, &ro, &err) != VSSM_OK;
    cli_defer_begin(); /* every rank loaded, or none goes on; one rank says why */
    if (load_bad) cli_error("%s", err.msg);
    if (shard_agree_say(load_bad, cli_defer_end())) return VSSM_EXIT_USAGE;
    return 0;
}

/* each rank embeds its share; rank 0 gathers the rows in dataset order; 0 or an exit code */
static int embed_dataset(vssm_reid_model *m, const vssm_reid_dataset *ds, const prep_opts *po, int batch,
                         vssm_reid_features *f, int64_t *failed) {
    const int show = isatty(2) && shard_is_root();
    int64_t fq = 0, fg = 0;
    vssm_reid_split pq = split_part(&ds->query, batch), pg = split_part(&ds->gallery, batch);
    fq = embed_split(m, &pq, po, batch, show, "query", &f->query, &f->q_pid, &f->q_camid, &f->nq);
    if (fq >= 0) fg = embed_split(m, &pg, po, batch, show, "gallery", &f->gallery, &f->g_pid, &f->g_camid, &f->ng);
    if (shard_agree(fq < 0 || fg < 0)) {
        if (fq >= 0 && fg >= 0) cli_error("another rank's model failed (named on its stderr)");
        return VSSM_EXIT_USAGE;
    }
    if (gather_split(&f->query, &f->q_pid, &f->q_camid, &f->nq, f->dim, &fq) != 0 ||
        gather_split(&f->gallery, &f->g_pid, &f->g_camid, &f->ng, f->dim, &fg) != 0)
        shard_abort(VSSM_EXIT_USAGE, "reid extract: gathering the ranks' embeddings failed");
    *failed = fq + fg;
    return 0;
}

/* rank 0 writes the features with their metadata; the exit code */
static int write_features(const extract_args *a, const vssm_reid_model *m, const vssm_reid_dataset *ds,
                          const vssm_reid_features *f, int64_t failed, double t0) {
    vssm_err err = {0};
    char dims[32], nq[32], ng[32];
    snprintf(dims, sizeof dims, "%lld", (long long)f->dim);
    snprintf(nq, sizeof nq, "%lld", (long long)f->nq);
    snprintf(ng, sizeof ng, "%lld", (long long)f->ng);
    const vssm_reid_head *h = vssm_reid_model_head(m);
    const char *bnp = vssm_reid_head_bnneck(h);
    const char *meta[] = {"format",    vssm_reid_format_name((vssm_reid_format)a->fmt),
                          "weights",   a->mo.weights,
                          "embedding", a->final_norm ? "classifier.norm + gap" : "gap",
                          "bnneck",    bnp ? bnp : "none",
                          "l2",        vssm_reid_head_l2norm(h) ? "1" : "0",
                          "dim",       dims};
    if (f->nq == 0 || f->ng == 0) { /* every image of a split failed: a file no evaluation can use */
        cli_error("reid extract: no %s image could be embedded (%lld failed or skipped): %s not written",
                  f->nq == 0 ? "query" : "gallery", (long long)failed, a->outp);
        return VSSM_EXIT_INPUT;
    }
    cli_write_begin(); /* Ctrl-C now waits for the rename: no temp file left beside --out */
    vssm_status st = vssm_reid_features_save(a->outp, f, meta, 6, &err);
    cli_write_end();
    if (st != VSSM_OK) {
        cli_error("%s", err.msg);
        return VSSM_EXIT_USAGE; /* the one output: nothing done */
    }
    fprintf(stderr, "vssm: %lld query + %lld gallery embeddings (%lld dims) in %.1f s, %lld failed or skipped -> %s\n",
            (long long)f->nq, (long long)f->ng, (long long)f->dim, now_s() - t0, (long long)failed, a->outp);
    if (ds->query.n_junk + ds->gallery.n_junk)
        fprintf(stderr, "vssm: %lld junk images (pid -1) dropped\n",
                (long long)(ds->query.n_junk + ds->gallery.n_junk));
    return failed > 0 ? VSSM_EXIT_INPUT : VSSM_EXIT_OK;
}

/* the dataset at root (printed errors); 0, or VSSM_EXIT_USAGE (root unusable). The image
 * files whose names do not follow the format (the library's stray list) are named and
 * counted in *skipped: one stray file does not stop the extraction (the run exits 1). */
static int load_dataset(vssm_reid_dataset *ds, const char *root, vssm_reid_format fmt, int64_t *skipped) {
    vssm_err err = {0};
    if (vssm_reid_dataset_load(ds, root, fmt, &err) != VSSM_OK) {
        if (shard_is_root()) cli_error("%s", err.msg); /* another rank alone failing: shard_same_inputs says so */
        return VSSM_EXIT_USAGE;
    }
    *skipped = ds->query.n_stray + ds->gallery.n_stray;
    for (int k = 0; k < 2 && shard_is_root(); k++) { /* once under mpirun */
        const vssm_reid_split *s = k ? &ds->gallery : &ds->query;
        for (int64_t i = 0; i < s->n_stray; i++) {
            vssm_reid_parse_name(fmt, s->stray[i], NULL, NULL, &err); /* its reason */
            cli_error("%s; skipped", err.msg);
        }
    }
    return 0;
}

/* ---- outputs over inputs: --out may not replace the weights, a dataset file, or go into the
 * dataset's folder (where it could become one). Checked before any work; 0 or 2 (printed). */
/* shard_hash of both splits: paths, pids and camera ids in order */
static uint64_t dataset_hash(const vssm_reid_dataset *ds) {
    uint64_t h = SHARD_HASH0;
    for (int k = 0; k < 2; k++) {
        const vssm_reid_split *s = k ? &ds->gallery : &ds->query;
        for (int64_t i = 0; i < s->n; i++) {
            h = shard_hash(h, s->path[i], strlen(s->path[i]) + 1);
            h = shard_hash(h, &s->pid[i], sizeof s->pid[i]);
            h = shard_hash(h, &s->camid[i], sizeof s->camid[i]);
        }
        h = shard_hash(h, "|", 1);
    }
    return h;
}

static int check_out_path(const extract_args *a) {
    if (cli_check_out_file("reid extract", a->outp, "--out")) return VSSM_EXIT_USAGE;
    if (cli_same_file(a->outp, a->mo.weights)) {
        cli_error("reid extract: --out %s is the weights file %s", a->outp, a->mo.weights);
        return VSSM_EXIT_USAGE;
    }
    if (cli_path_inside(a->outp, a->root)) {
        cli_error("reid extract: --out %s lies inside the dataset folder %s (write it elsewhere)", a->outp, a->root);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

/* --out against every image of the dataset (one linked in from outside the folder); 0 or 2 */
static int check_out_images(const extract_args *a, const vssm_reid_dataset *ds) {
    struct stat so, si;
    if (stat(a->outp, &so) != 0) return 0; /* a new file is none of them */
    const vssm_reid_split *sp[2] = {&ds->query, &ds->gallery};
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < sp[k]->n; i++)
            if (stat(sp[k]->path[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
                cli_error("reid extract: --out %s is the dataset image %s", a->outp, sp[k]->path[i]);
                return VSSM_EXIT_USAGE;
            }
    return 0;
}

/* 1 when path is a .pth checkpoint (a zip: the only files --key selects in) */
static int is_pth(const char *path) {
    unsigned char m[4] = {0};
    FILE *f;
    if (vssm_fopen_regular(&f, path, "the weights", 0, NULL) != VSSM_OK) return -1; /* a FIFO blocked fopen */
    int z = fread(m, 1, 4, f) == 4 && !memcmp(m, "PK\x03\x04", 4);
    fclose(f);
    return z;
}

static int cmd_extract(int argc, char **argv) {
    extract_args a;
    int r = parse_extract(argc, argv, &a);
    if (r) {
        usage(r < 0 ? stdout : stderr);
        return r < 0 ? VSSM_EXIT_OK : VSSM_EXIT_USAGE;
    }
    /* rank 0 writes: it checks --out; every rank learns the outcome */
    if (shard_agree(shard_is_root() ? check_out_path(&a) : 0)) return VSSM_EXIT_USAGE;
    const int pth = a.mo.key ? is_pth(a.mo.weights) : 1;
    if (pth != 1) {
        cli_error("reid extract: --key applies to .pth checkpoints only; %s %s", a.mo.weights,
                  pth == 0 ? "is not one" : "cannot be opened as a regular file");
        return VSSM_EXIT_USAGE;
    }
    vssm_reid_dataset ds;
    int64_t skipped = 0;
    r = load_dataset(&ds, a.root, (vssm_reid_format)a.fmt, &skipped);
    if ((r = shard_same_inputs("images", r, dataset_hash(&ds), ds.query.n + ds.gallery.n))) { /* one list */
        vssm_reid_dataset_free(&ds);
        return r;
    }
    vssm_ctx *ctx = NULL;
    vssm_reid_model *m = NULL;
    vssm_reid_features f = {0};
    int rc = shard_is_root() ? check_out_images(&a, &ds) : 0;
    if (shard_agree(rc)) rc = VSSM_EXIT_USAGE;
    if (rc == VSSM_EXIT_OK && (ds.query.n == 0 || ds.gallery.n == 0)) {
        if (shard_is_root()) cli_error("%s: the %s split has no images", a.root, ds.query.n == 0 ? "query" : "gallery");
        rc = VSSM_EXIT_USAGE;
    }
    if (rc == VSSM_EXIT_OK) rc = load_reid_model(&a, &ctx, &m);
    vssm_preprocess_params pp;
    if (rc == VSSM_EXIT_OK) {
        pp = vssm_reid_model_preprocess(m);
        if (a.mo.resize >= 0) pp.resize = a.mo.resize;
        if (a.mo.crop >= 0) pp.crop = a.mo.crop;
        int it = a.mo.interp ? vssm_interp_from_name(a.mo.interp) : (int)pp.interp;
        if (it < 0)
            cli_error("--interp takes bicubic or bilinear, got '%s'", a.mo.interp), rc = VSSM_EXIT_USAGE;
        else
            pp.interp = (vssm_interp)it;
    }
    double t0 = now_s();
    int64_t failed = 0;
    if (rc == VSSM_EXIT_OK) {
        f.dim = vssm_reid_model_dim(m);
        decode_budget budget;
        decode_budget_init(&budget);
        prep_opts po = {&pp, a.sh, a.sw, &a.mo.limits, &budget};
        rc = embed_dataset(m, &ds, &po, a.batch, &f, &failed);
        decode_budget_free(&budget);
        failed += skipped;
    }
    if (rc == VSSM_EXIT_OK) { /* rank 0 writes; the exit code joins in main */
        rc = !shard_is_root() ? (failed > 0 ? VSSM_EXIT_INPUT : VSSM_EXIT_OK)
                              : write_features(&a, m, &ds, &f, failed, t0);
    }
    vssm_reid_features_free(&f);
    vssm_reid_model_free(m);
    vssm_ctx_free(ctx);
    vssm_reid_dataset_free(&ds);
    return rc;
}

VSSM_VERB(reid) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? VSSM_EXIT_USAGE : VSSM_EXIT_OK;
    }
    if (!strcmp(argv[1], "extract")) return cmd_extract(argc - 1, argv + 1);
    cli_error("reid: unknown sub-command '%s' (extract; evaluation is `vssm eval reid`)", argv[1]);
    return VSSM_EXIT_USAGE;
}
