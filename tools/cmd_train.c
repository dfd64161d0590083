/* tools/cmd_train.c - `vssm train`: fine-tune (or train from scratch) a VMamba (v05_noz or v0)
 * or Vim classifier on an ImageFolder tree with train/ (vssm/train.h: vssm_trainer, either family).
 *
 * One epoch: a permutation of the training images and one seed for their augmentations, both
 * drawn from the run's generator (its state is what the checkpoint keeps); image k of the
 * epoch is cropped and flipped from its own generator (epoch seed ^ k), so the batches do not
 * depend on the thread count that decodes them. A step: forward + backward of one batch
 * (incomplete last batches are dropped, as train_fashion_mnist.py does), clip, the warm-up +
 * cosine learning rate, AdamW, the EMA. After each epoch: top-1 on the validation images with
 * the file's evaluation transform, then the checkpoint (parameters, AdamW's m and v, the EMA,
 * the step, the epoch and the generator's state: all the state a step reads), so --resume
 * continues with the same bits as a run that was never stopped. The output is a safetensors
 * file with the official names, the config, the folder names as labels and the evaluation
 * preprocessing: `vssm classify` and `vssm eval classify` read it as they read any model. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/runner.h"
#include "vssm/infer.h"
#include "vssm/train.h"
#include "vssm/vssm.h"

/* a family's preset names, comma-separated */
static void preset_names(char *out, size_t n, int vim) {
    size_t o = 0;
    out[0] = 0;
    const char *nm;
    for (int i = 0; (nm = vim ? vssm_vim_preset_name(i) : vssm_vmamba_preset_name(i)) && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", nm);
}

static void usage(FILE *f) {
    char vm[512], vi[512];
    preset_names(vm, sizeof vm, 0), preset_names(vi, sizeof vi, 1);
    fprintf(f,
            "usage: vssm train --data DIR (--weights FILE | --arch NAME) --out FILE [options]\n"
            "Trains a VMamba (v05_noz or v0) or Vim classifier on an ImageFolder tree (one sub-folder per class).\n"
            "example: vssm train --data my_images --val-split 0.1 \\\n"
            "           --weights weights/fashion_mnist/vmamba_fashion.safetensors \\\n"
            "           --epochs 5 --batch 32 --lr 2e-4 --out my_model.safetensors\n"
            "  --data DIR           training images, DIR/CLASS/**/*.png|jpg|...\n"
            "  --val DIR            validation images (the same class folders), or\n"
            "  --val-split F        hold out the fraction F of --data (chosen by --seed) for validation\n"
            "  --weights FILE       start from this model (its config, preprocessing and weights)\n"
            "  --arch NAME          or from scratch: a VMamba or Vim preset (listed below)\n"
            "  --reinit             with --weights: the file's config and preprocessing, every weight from\n"
            "                       the official inits (training from scratch)\n"
            "  --size S             training and evaluation size (default: the file's crop; 224 for --arch), at least\n"
            "                       one patch (4 px for a VMamba); a Vim trains at its position grid's size\n"
            "  --out FILE           the trained model (labels = the class folder names); written only when\n"
            "                       training finished (a non-finite loss stops the run: exit 2, nothing written)\n"
            "  --new-head           a new classifier layer even when the class count equals the file's\n"
            "                       (always new when it differs; a kept head's class i is folder i)\n"
            "  --freeze backbone    train the classifier layer alone (linear probe)\n"
            "  --epochs N           (default 1)    --batch B       (default 32)\n"
            "  --lr X               peak learning rate (default 5e-4)   --min-lr X  (default 1e-5)\n"
            "  --wd X               AdamW weight decay (default 0.05)   --warmup-epochs X (0..--epochs, default 0)\n"
            "  --label-smoothing X  in [0, 1] (default 0.1)   --clip X   gradient norm limit (default 0: off)\n"
            "  --ema DECAY          keep an EMA of the weights (e.g. 0.9999) and write it as the output\n"
            "  --scale-min X        RandomResizedCrop's smallest area fraction (default 0.08)\n"
            "  --pad-crop N         instead of RandomResizedCrop: the evaluation transform, then a random crop\n"
            "                       of the image zero-padded by N px (train_fashion_mnist.py's augmentation)\n"
            "  --no-flip            no horizontal flips\n"
            "  --cache-mb M         keep up to M MB of decoded images in memory (default 2048; 0: decode\n"
            "                       every epoch)\n"
            "  --seed S             (default 0)    --threads T    1..1024 (default 0: all cores)\n"
            "  --checkpoint FILE    written after every epoch (default OUT.ckpt)\n"
            "  --resume FILE        continue from a checkpoint (the same data and options; any --threads; --batch,\n"
            "                       --ema, --freeze, --size and the --val-split images must match); a checkpoint\n"
            "                       at epoch --epochs just writes the model, one beyond it is refused\n"
            "  --stop-after N       stop after N epochs of this run (the checkpoint is written)\n"
            "Exit status: 0 trained; 1 an image could not be read (named); 2 usage error or unusable\n"
            "  weights, data or checkpoint, or the training diverged.\n"
            "--arch presets: %s; %s\n",
            vm, vi);
}

/* ======================================================================= options */

typedef struct train_args {
    const char *data, *val, *weights, *arch, *out, *ckpt, *resume, *freeze;
    double val_split, lr, min_lr, wd, warmup, smoothing, clip, ema, scale_min;
    int epochs, batch, seed, threads, size, new_head, no_flip, stop_after, reinit, pad_crop, cache_mb;
} train_args;

static int opt_num(int argc, char **argv, int *i, const char *opt, double *out, int *bad) {
    const char *s;
    if (!cli_opt_str(argc, argv, i, opt, &s, bad)) return 0;
    if (*bad) return 1;
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end || !isfinite(*out) || *out < 0) {
        cli_error("option %s needs a number >= 0, got '%s'", opt, s);
        *bad = 1;
    }
    return 1;
}

static int parse_one(train_args *a, int argc, char **argv, int *i, int *bad) {
    return cli_opt_str(argc, argv, i, "--data", &a->data, bad) || cli_opt_str(argc, argv, i, "--val", &a->val, bad) ||
           cli_opt_str(argc, argv, i, "--weights", &a->weights, bad) ||
           cli_opt_str(argc, argv, i, "--arch", &a->arch, bad) || cli_opt_str(argc, argv, i, "--out", &a->out, bad) ||
           cli_opt_str(argc, argv, i, "--checkpoint", &a->ckpt, bad) ||
           cli_opt_str(argc, argv, i, "--resume", &a->resume, bad) ||
           cli_opt_str(argc, argv, i, "--freeze", &a->freeze, bad) ||
           opt_num(argc, argv, i, "--val-split", &a->val_split, bad) || opt_num(argc, argv, i, "--lr", &a->lr, bad) ||
           opt_num(argc, argv, i, "--min-lr", &a->min_lr, bad) || opt_num(argc, argv, i, "--wd", &a->wd, bad) ||
           opt_num(argc, argv, i, "--warmup-epochs", &a->warmup, bad) ||
           opt_num(argc, argv, i, "--label-smoothing", &a->smoothing, bad) ||
           opt_num(argc, argv, i, "--clip", &a->clip, bad) || opt_num(argc, argv, i, "--ema", &a->ema, bad) ||
           opt_num(argc, argv, i, "--scale-min", &a->scale_min, bad) ||
           cli_opt_int(argc, argv, i, "--epochs", &a->epochs, bad) ||
           cli_opt_int(argc, argv, i, "--batch", &a->batch, bad) ||
           cli_opt_int(argc, argv, i, "--seed", &a->seed, bad) ||
           cli_opt_int(argc, argv, i, "--threads", &a->threads, bad) ||
           cli_opt_int(argc, argv, i, "--size", &a->size, bad) ||
           cli_opt_int(argc, argv, i, "--stop-after", &a->stop_after, bad) ||
           cli_opt_int(argc, argv, i, "--pad-crop", &a->pad_crop, bad) ||
           cli_opt_int(argc, argv, i, "--cache-mb", &a->cache_mb, bad) ||
           cli_opt_flag(argv, *i, "--new-head", &a->new_head) || cli_opt_flag(argv, *i, "--no-flip", &a->no_flip) ||
           cli_opt_flag(argv, *i, "--reinit", &a->reinit);
}

/* 0, 1 for --help, or 2 (printed) */
static int parse_args(train_args *a, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->lr = 5e-4, a->min_lr = 1e-5, a->wd = 0.05, a->smoothing = 0.1, a->scale_min = 0.08;
    a->epochs = 1, a->batch = 32, a->pad_crop = -1, a->cache_mb = 2048;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 1;
        }
        if (parse_one(a, argc, argv, &i, &bad)) continue;
        cli_bad_arg("train", argv[i]);
        bad = 1;
    }
    const char *why = NULL;
    if (bad)
        why = "";
    else if (!a->data)
        why = "no --data folder given";
    else if (!a->out)
        why = "no --out file given";
    else if (!a->weights == !a->arch)
        why = "give one of --weights FILE or --arch NAME";
    else if (a->val && a->val_split > 0)
        why = "give --val or --val-split, not both";
    else if (a->val_split >= 1)
        why = "--val-split takes a fraction in [0, 1)";
    else if (a->freeze && strcmp(a->freeze, "backbone"))
        why = "--freeze takes 'backbone'";
    else if (a->epochs < 1 || a->batch < 1 || a->batch > 4096)
        why = "--epochs takes >= 1, --batch 1..4096";
    else if (a->ema >= 1 || a->scale_min <= 0 || a->scale_min > 1)
        why = "--ema takes [0, 1), --scale-min (0, 1]";
    else if (a->size < 0 || a->size > 4096 || a->stop_after < 0)
        why = "--size takes 1..4096, --stop-after >= 0";
    else if (a->pad_crop < -1 || a->pad_crop > 1024 || a->cache_mb < 0)
        why = "--pad-crop takes 0..1024, --cache-mb >= 0";
    else if (a->smoothing > 1)
        why = "--label-smoothing takes [0, 1]";
    else if (a->threads < 0 || a->threads > 1024)
        why = "--threads takes 1..1024 (0: all cores)";
    else if (a->warmup > a->epochs)
        why = "--warmup-epochs takes 0..--epochs";
    else if (!*a->out || (a->ckpt && !*a->ckpt) || (a->resume && !*a->resume))
        why = "--out, --checkpoint and --resume need a file name, not ''";
    if (!why) return 0;
    if (*why) cli_error("train: %s", why);
    usage(stderr);
    return VSSM_EXIT_USAGE;
}

/* ======================================================================= outputs */

/* Ctrl-C during a checkpoint or model write: held until the file is renamed into place
 * (cli_write_begin / cli_write_end, tools/cli.h). */

/* ======================================================================= data */

typedef struct split {
    const char **path;
    int *label;
    vssm_image *img; /* the decoded image, kept while the cache has room (data NULL: read again) */
    int n;
} split;

static void split_add(split *s, const char *path, int label, vssm_image *im) {
    s->path[s->n] = path;
    s->img[s->n] = *im;
    s->label[s->n++] = label;
}

static int split_alloc(split *s, int n) {
    s->n = 0;
    s->path = malloc((size_t)(n ? n : 1) * sizeof *s->path);
    s->label = malloc((size_t)(n ? n : 1) * sizeof *s->label);
    s->img = calloc((size_t)(n ? n : 1), sizeof *s->img);
    return s->path && s->label && s->img ? 0 : -1;
}

static void split_free(split *s) {
    for (int i = 0; s->img && i < s->n; i++) vssm_image_free(&s->img[i]);
    free(s->path), free(s->label), free(s->img);
}

typedef struct data {
    img_list tl, vl;
    split train, val;
    int unreadable;    /* images left out: they do not decode (each named) */
    size_t cache_left; /* bytes the decoded-image cache may still take */
} data;

/* 1 when path decodes (checked once, before training: a corrupt image is named and left out
 * instead of stopping the run at the step that meets it); the decoded image is kept in *im
 * while the cache has room (the epochs then read it from memory), else freed */
static int readable(const char *path, int *unreadable, size_t *cache_left, vssm_image *im) {
    vssm_err err = {0};
    memset(im, 0, sizeof *im);
    if (vssm_image_load(im, path, NULL, &err) == VSSM_OK) {
        const size_t bytes = (size_t)im->w * im->h * im->c + 64;
        if (bytes <= *cache_left)
            *cache_left -= bytes;
        else
            vssm_image_free(im);
        return 1;
    }
    cli_error("train: %s (left out)", err.msg);
    (*unreadable)++;
    return 0;
}

/* the training and validation lists; 0 or 2 (printed) */
static int data_open(data *d, const train_args *a) {
    memset(d, 0, sizeof *d);
    d->cache_left = (size_t)a->cache_mb << 20;
    int unread = 0;
    vssm_image im;
    if (img_list_imagefolder(&d->tl, a->data, &unread, 0) || unread) return VSSM_EXIT_USAGE;
    if (a->val && (img_list_imagefolder(&d->vl, a->val, &unread, 0) || unread)) return VSSM_EXIT_USAGE;
    if (a->val) {
        int same = d->vl.n_classes == d->tl.n_classes;
        for (int c = 0; same && c < d->tl.n_classes; c++) same = !strcmp(d->tl.classes[c], d->vl.classes[c]);
        if (!same) { /* name what differs: the folders one side lacks (the first few each way) */
            char only[2][512];
            for (int side = 0; side < 2; side++) {
                const img_list *x = side ? &d->vl : &d->tl, *y = side ? &d->tl : &d->vl;
                size_t o = 0;
                int k = 0;
                only[side][0] = 0;
                for (int c = 0; c < x->n_classes && o < sizeof only[side]; c++) {
                    int found = 0;
                    for (int e = 0; !found && e < y->n_classes; e++) found = !strcmp(x->classes[c], y->classes[e]);
                    if (found) continue;
                    if (k++ == 5) {
                        o += (size_t)snprintf(only[side] + o, sizeof only[side] - o, ", ...");
                        break;
                    }
                    o += (size_t)snprintf(only[side] + o, sizeof only[side] - o, "%s'%s'", k > 1 ? ", " : "",
                                          x->classes[c]);
                }
            }
            cli_error("train: the class folders of %s differ from those of %s (only in --data: %s; only in --val: %s)",
                      a->val, a->data, only[0][0] ? only[0] : "none", only[1][0] ? only[1] : "none");
            return VSSM_EXIT_USAGE;
        }
    }
    if (split_alloc(&d->train, d->tl.n) || split_alloc(&d->val, d->tl.n + d->vl.n)) return VSSM_EXIT_USAGE;
    uint64_t rng = (uint64_t)a->seed ^ 0x5A17u; /* --val-split: image i held out with probability F */
    for (int i = 0; i < d->tl.n; i++) {
        const double u = (double)(vssm_rng_next(&rng) >> 11) / 9007199254740992.0;
        if (readable(d->tl.path[i], &d->unreadable, &d->cache_left, &im))
            split_add(u < a->val_split ? &d->val : &d->train, d->tl.path[i], d->tl.label[i], &im);
    }
    for (int i = 0; i < d->vl.n; i++)
        if (readable(d->vl.path[i], &d->unreadable, &d->cache_left, &im))
            split_add(&d->val, d->vl.path[i], d->vl.label[i], &im);
    if (d->train.n < a->batch) {
        cli_error("train: %d training images in %s, fewer than one batch of %d", d->train.n, a->data, a->batch);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

static void data_free(data *d) {
    img_list_free(&d->tl);
    img_list_free(&d->vl);
    split_free(&d->train);
    split_free(&d->val);
}

/* image k of a batch (decoded: cached, else read from path) into x (S, S, 3): augmented (rng)
 * or the evaluation transform (rng NULL); returns 0 or writes the error into msg */
static int load_one(const char *path, const vssm_image *cached, const vssm_preprocess_params *pp, int S, uint64_t *rng,
                    const train_args *a, float *x, char *msg, size_t nmsg) {
    vssm_err err = {0};
    vssm_image own = {0}, crop = {0}, eval = {0};
    vssm_status s = cached->data ? VSSM_OK : vssm_image_load(&own, path, NULL, &err);
    const vssm_image im = cached->data ? *cached : own;
    const int flip = !a->no_flip;
    if (s == VSSM_OK && rng && a->pad_crop >= 0) { /* the evaluation transform, then pad + crop */
        s = vssm_preprocess_u8(&im, pp, &eval, &err);
        if (s == VSSM_OK && (eval.w != S || eval.h != S))
            s = vssm_err_set(&err, VSSM_ERR_SHAPE, "%s: %dx%d after the evaluation transform, not %dx%d", path, eval.w,
                             eval.h, S, S);
        if (s == VSSM_OK) s = vssm_pad_crop(&eval, a->pad_crop, flip, rng, &crop, &err);
        if (s == VSSM_OK) s = vssm_image_normalize(&crop, pp->mean, pp->std, x, &err);
    } else if (s == VSSM_OK && rng) {
        s = vssm_random_resized_crop(&im, S, a->scale_min, flip, pp->interp, rng, &crop, &err);
        if (s == VSSM_OK) s = vssm_image_normalize(&crop, pp->mean, pp->std, x, &err);
    } else if (s == VSSM_OK) {
        int ow, oh;
        s = vssm_preprocess_output_size(pp, im.w, im.h, &ow, &oh, &err);
        if (s == VSSM_OK && (ow != S || oh != S))
            s = vssm_err_set(&err, VSSM_ERR_SHAPE, "%s: %dx%d after the evaluation transform, not %dx%d", path, ow, oh,
                             S, S);
        if (s == VSSM_OK) s = vssm_preprocess(&im, pp, x, &err);
    }
    vssm_image_free(&own);
    vssm_image_free(&crop);
    vssm_image_free(&eval);
    if (s != VSSM_OK) snprintf(msg, nmsg, "%s", err.msg);
    return s != VSSM_OK;
}

/* the batch of images idx[0..B) of sp into x (B, S, S, 3) and y; seeds NULL: evaluation.
 * 0, or 1 with the first failure printed */
static int load_batch(const split *sp, const int *idx, int B, const vssm_preprocess_params *pp, int S,
                      const uint64_t *seeds, const train_args *a, int nt, float *x, int32_t *y) {
    int failed = -1;
    char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int k = 0; k < B; k++) {
        uint64_t rng = seeds ? seeds[k] : 0;
        char m[512];
        y[k] = sp->label[idx[k]];
        if (load_one(sp->path[idx[k]], &sp->img[idx[k]], pp, S, seeds ? &rng : NULL, a, x + (size_t)k * S * S * 3, m,
                     sizeof m)) {
#pragma omp critical
            if (failed < 0 || k < failed) failed = k, snprintf(msg, sizeof msg, "%s", m);
        }
    }
    if (failed >= 0) cli_error("train: %s", msg);
    return failed >= 0;
}

/* ======================================================================= model */

typedef struct model {
    vssm_ctx *ctx;
    vssm_backbone_kind kind;
    vssm_vmamba_config cfg; /* kind VSSM_BACKBONE_VMAMBA */
    vssm_vim_config vcfg;   /* kind VSSM_BACKBONE_VIM */
    vssm_preprocess_params pp;
    vssm_trainer *t;
    int S, classes;
    char arch[64];
} model;

/* config, preprocessing and the trainer; 0 or 2 (printed) */
static int model_open(model *m, const train_args *a, int classes) {
    vssm_err err = {0};
    vssm_ctx_opts co = vssm_ctx_default_opts();
    co.n_threads = a->threads;
    if (vssm_ctx_new(&m->ctx, &co, &err) != VSSM_OK) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_weights *w = NULL;
    vssm_backbone_desc d;
    memset(&d, 0, sizeof d);
    vssm_status s = VSSM_OK;
    const vssm_source *src = NULL;
    if (a->arch) {
        m->kind = strncmp(a->arch, "vim", 3) ? VSSM_BACKBONE_VMAMBA : VSSM_BACKBONE_VIM;
        s = m->kind == VSSM_BACKBONE_VIM ? vssm_vim_config_preset(&m->vcfg, a->arch, &err)
                                         : vssm_vmamba_config_preset(&m->cfg, a->arch, &err);
        m->pp = vssm_preprocess_imagenet();
        if (a->size) m->pp.resize = m->pp.crop = a->size;
    } else if ((s = vssm_weights_open(&w, a->weights, NULL, &err)) == VSSM_OK) {
        src = vssm_weights_source(w);
        const char *fmt = vssm_weights_meta(w, "format");
        vssm_tensor t;
        vssm_err e2 = {0};
        if ((fmt && !strcmp(fmt, "vssm-train-checkpoint")) || vssm_weights_get(w, "adam.m", &t, &e2) == VSSM_OK)
            s = vssm_err_set(&err, VSSM_ERR_FORMAT,
                             "%s is a training checkpoint, not a model: continue its run with --resume %s (and "
                             "--weights the model it started from), or pass the model its run wrote (--out)",
                             a->weights, a->weights);
        else
            s = vssm_backbone_describe(src, NULL, &d, &err);
        m->kind = d.kind;
        if (s == VSSM_OK && d.kind == VSSM_BACKBONE_VIM)
            s = d.from_meta ? vssm_vim_config_from_meta(src, &m->vcfg, &err)
                            : vssm_vim_config_infer(src, d.prefix, &m->vcfg, &err);
        else if (s == VSSM_OK && d.from_meta)
            s = vssm_vmamba_config_from_meta(src, &m->cfg, NULL, &err);
        else if (s == VSSM_OK)
            s = vssm_vmamba_config_infer(src, d.prefix, &m->cfg, &err);
        m->pp = d.pp;
        if (a->size) m->pp.resize = m->pp.crop = a->size;
    }
    m->S = m->pp.crop ? m->pp.crop : m->pp.resize;
    if (a->reinit) src = NULL;
    const int new_head = a->new_head || !src || d.num_classes != classes;
    m->cfg.num_classes = m->vcfg.num_classes = m->classes = classes;
    vssm_train_init init = {new_head, (uint64_t)a->seed};
    /* at least one patch: the stem's 4 px (two stride-2 convs, or v0's 4x4 patch embed: 0 tokens
     * below it) or the Vim's patch; under that the network sees padding, not the image */
    const int min_side = m->kind == VSSM_BACKBONE_VIM ? m->vcfg.patch_size : 4;
    if (s == VSSM_OK && m->S < 1) s = vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "no input size: give --size");
    if (s == VSSM_OK && m->S < min_side)
        s = vssm_err_set(&err, VSSM_ERR_INVALID_ARG,
                         "input size %d (--size or the file's crop) is below one patch: %s takes %d px or more", m->S,
                         m->kind == VSSM_BACKBONE_VIM ? "a Vim" : "a VMamba", min_side);
    if (s == VSSM_OK && m->kind == VSSM_BACKBONE_VIM)
        s = vssm_trainer_create_vim(&m->t, m->ctx, &m->vcfg, src, d.prefix, &init, &err);
    else if (s == VSSM_OK)
        s = vssm_trainer_create_vmamba(&m->t, m->ctx, &m->cfg, src, d.prefix, &init, &err);
    if (s == VSSM_OK) s = vssm_trainer_plan(m->t, a->batch, m->S, m->S, &err);
    vssm_weights_close(w);
    if (s != VSSM_OK) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    if (a->freeze) vssm_trainer_freeze_backbone(m->t, 1);
    omp_set_num_threads(vssm_ctx_threads(m->ctx)); /* the optimizer's loops (train/optim.c) */
#ifdef __GLIBC__
    /* the ops' scratch is allocated and freed per call: kept in the heap (up to glibc's 32 MB
     * mmap ceiling) instead of mapped and faulted in again at every step */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    const int vim = m->kind == VSSM_BACKBONE_VIM;
    fprintf(stderr, "vssm: train: %s (%s), %d classes (%s head), %dx%d, %.2f M parameters%s, %d threads\n",
            vim ? m->vcfg.arch : m->cfg.arch, vim ? "Vim" : m->cfg.forward_type, classes,
            new_head ? "new" : "the file's", m->S, m->S,
            (vim ? vssm_vim_param_count(&m->vcfg) : vssm_vmamba_param_count(&m->cfg)) / 1e6,
            a->freeze ? " (backbone frozen)" : "", vssm_ctx_threads(m->ctx));
    return 0;
}

static void model_free(model *m) {
    vssm_trainer_free(m->t);
    vssm_ctx_free(m->ctx);
}

/* ======================================================================= state */

/* all a step reads besides the data: the checkpoint */
typedef struct state {
    vssm_adamw opt;
    float *ema; /* (n) or NULL */
    int64_t n, step;
    int epoch;    /* epochs done */
    uint64_t rng; /* the run's generator: permutations and epoch seeds */
    vssm_train_tensor *tab;
    int nt; /* tensors the optimizer updates (the head's alone when frozen) */
} state;

static int state_init(state *st, model *m, const train_args *a) {
    vssm_err err = {0};
    memset(st, 0, sizeof *st);
    float *p = vssm_trainer_params(m->t, &st->n);
    if (vssm_adamw_init(&st->opt, st->n, 0.9, 0.999, 1e-8, a->wd, &err) != VSSM_OK) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    const int ne = vssm_trainer_n_tensors(m->t);
    st->tab = malloc((size_t)ne * sizeof *st->tab);
    if (a->ema > 0 && (st->ema = malloc((size_t)st->n * sizeof(float))))
        memcpy(st->ema, p, (size_t)st->n * sizeof(float));
    if (!st->tab || (a->ema > 0 && !st->ema)) {
        cli_error("train: out of memory");
        return VSSM_EXIT_USAGE;
    }
    for (int i = 0; i < ne; i++) {
        vssm_train_tensor tt = vssm_trainer_tensor(m->t, i);
        const char *head = vssm_trainer_head_prefix(m->t);
        if (!a->freeze || !strncmp(tt.name, head, strlen(head))) st->tab[st->nt++] = tt;
    }
    st->rng = (uint64_t)a->seed * 0x9E3779B97F4A7C15ull + 1;
    return 0;
}

static void state_free(state *st) {
    vssm_adamw_free(&st->opt);
    free(st->ema);
    free(st->tab);
}

static vssm_tensor flat_tensor(float *p, int64_t n) {
    vssm_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = VSSM_DTYPE_F32, t.ndim = 1, t.shape[0] = n, t.data = p;
    return t;
}

/* x in the fewest digits that read back as x (0.99, not 0.98999999999999999) */
static void num_text(char out[40], double x) {
    for (int p = 6; p <= 17; p++) {
        snprintf(out, 40, "%.*g", p, x);
        if (strtod(out, NULL) == x) return;
    }
}

/* the checkpoint: flat arrays "params", "adam.m", "adam.v" (+ "ema"), the counters as metadata */
static int ckpt_write(const char *path, model *m, const state *st, const train_args *a) {
    int64_t n;
    float *p = vssm_trainer_params(m->t, &n);
    vssm_st_entry e[4] = {{"adam.m", flat_tensor(st->opt.m, n)},
                          {"adam.v", flat_tensor(st->opt.v, n)},
                          {"ema", flat_tensor(st->ema, n)},
                          {"params", flat_tensor(p, n)}};
    char v[9][40];
    snprintf(v[0], 40, "%d", st->epoch);
    snprintf(v[1], 40, "%lld", (long long)st->step);
    snprintf(v[2], 40, "%016llx", (unsigned long long)st->rng);
    snprintf(v[3], 40, "%lld", (long long)st->opt.step);
    snprintf(v[4], 40, "%d", a->batch);
    num_text(v[5], st->ema ? a->ema : 0.0);
    snprintf(v[6], 40, "%d", m->S);
    num_text(v[7], a->val_split);
    snprintf(v[8], 40, "%d", a->seed);
    /* the options the state depends on, checked by --resume (ckpt_read) */
    const vssm_st_meta meta[] = {{"format", "vssm-train-checkpoint"},
                                 {"epoch", v[0]},
                                 {"step", v[1]},
                                 {"rng", v[2]},
                                 {"adam_step", v[3]},
                                 {"batch", v[4]},
                                 {"ema", v[5]},
                                 {"freeze", a->freeze ? a->freeze : "none"},
                                 {"size", v[6]},
                                 {"val_split", v[7]},
                                 {"seed", v[8]}};
    if (!st->ema) e[2] = e[3];
    vssm_err err = {0};
    cli_write_begin();
    const vssm_status s = vssm_safetensors_write(path, e, st->ema ? 4 : 3, meta, 11, &err);
    cli_write_end();
    if (s != VSSM_OK) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

static int ckpt_array(vssm_weights *w, const char *path, const char *name, float *dst, int64_t n, vssm_err *err) {
    vssm_tensor t;
    if (vssm_weights_get(w, name, &t, err) != VSSM_OK) {
        vssm_err_prefix(err, "checkpoint %s", path);
        return 1;
    }
    if (t.dtype != VSSM_DTYPE_F32 || t.ndim != 1 || t.shape[0] != n) {
        vssm_err_set(err, VSSM_ERR_SHAPE, "checkpoint %s: tensor %s is not %lld f32 values (another model?)", path,
                     name, (long long)n);
        return 1;
    }
    memcpy(dst, t.data, (size_t)n * sizeof(float));
    return 0;
}

/* a checkpoint counter: the whole text a decimal integer in [lo, hi]; 0, or 1 with err set */
static int ckpt_int(const char *path, const char *key, const char *v, long long lo, long long hi, long long *out,
                    vssm_err *err) {
    char *end;
    errno = 0;
    const long long x = v && (*v == '-' || (*v >= '0' && *v <= '9')) ? strtoll(v, &end, 10) : 0;
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')) || errno || *end || x < lo || x > hi) {
        vssm_err_set(err, VSSM_ERR_FORMAT, "checkpoint %s: key '%s' is '%s', not an integer in [%lld, %lld]", path, key,
                     v ? v : "(missing)", lo, hi);
        return 1;
    }
    *out = x;
    return 0;
}

/* a stored option that must be the run's (absent: a checkpoint from before it was stored) */
static int ckpt_same(const char *path, const char *v, int same, const char *opt, vssm_err *err) {
    if (!v || same) return 0;
    if (!strcmp(v, "none"))
        vssm_err_set(err, VSSM_ERR_INVALID_ARG, "checkpoint %s was trained without %s: resume it without", path, opt);
    else
        vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                     "checkpoint %s was trained with %s %s, not this run's (give the same %s)", path, opt, v, opt);
    return 1;
}

static double meta_num(const char *v) {
    char *end;
    const double x = v ? strtod(v, &end) : NAN;
    return v && *v && !*end ? x : NAN;
}

/* the checkpoint's state, its counters (whole text, in range, consistent with the data: spe
 * steps an epoch) and the options it depends on; 0 or 2 (printed) */
static int ckpt_read(const char *path, model *m, state *st, const train_args *a, int spe) {
    vssm_err err = {0};
    vssm_weights *w = NULL;
    int64_t n;
    float *p = vssm_trainer_params(m->t, &n);
    int bad = vssm_safetensors_open(&w, path, &err) != VSSM_OK;
#define META(k) (bad ? NULL : vssm_weights_meta(w, k))
    const char *f = META("format"), *ep = META("epoch"), *sp = META("step"), *rg = META("rng"), *as = META("adam_step"),
               *b = META("batch"), *em = META("ema"), *fz = META("freeze"), *sz = META("size"), *vs = META("val_split"),
               *sd = META("seed");
#undef META
    if (!bad && (!f || strcmp(f, "vssm-train-checkpoint") || !ep || !sp || !rg || !as || !b)) {
        vssm_err_set(&err, VSSM_ERR_FORMAT,
                     "%s is not a vssm train checkpoint (no format 'vssm-train-checkpoint' with epoch, step, rng, "
                     "adam_step and batch)",
                     path);
        bad = 1;
    }
    long long epoch = 0, step = 0, astep = 0, batch = 0;
    bad = bad || ckpt_int(path, "batch", b, 1, 1 << 30, &batch, &err) ||
          ckpt_int(path, "epoch", ep, 0, 1 << 30, &epoch, &err) ||
          ckpt_int(path, "step", sp, 0, INT64_MAX, &step, &err) ||
          ckpt_int(path, "adam_step", as, 0, INT64_MAX, &astep, &err);
    size_t nh = 0;
    while (!bad && rg[nh] && strchr("0123456789abcdefABCDEF", rg[nh])) nh++;
    if (!bad && (!nh || nh > 16 || rg[nh])) {
        vssm_err_set(&err, VSSM_ERR_FORMAT, "checkpoint %s: key 'rng' is '%s', not 1 to 16 hex digits", path, rg);
        bad = 1;
    }
    if (!bad && batch != a->batch) {
        vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "checkpoint %s was trained at --batch %s, not %d", path, b, a->batch);
        bad = 1;
    }
    if (!bad && epoch > a->epochs) {
        vssm_err_set(&err, VSSM_ERR_INVALID_ARG,
                     "checkpoint %s is at epoch %lld, beyond --epochs %d (give --epochs %lld or more to continue it)",
                     path, epoch, a->epochs, epoch);
        bad = 1;
    }
    vssm_tensor t;
    vssm_err e2 = {0};
    const int has_ema = !bad && vssm_weights_get(w, "ema", &t, &e2) == VSSM_OK;
    if (!bad && has_ema != !!st->ema) {
        if (has_ema)
            vssm_err_set(&err, VSSM_ERR_INVALID_ARG,
                         "checkpoint %s keeps an EMA of the weights (--ema %s): give the same --ema to resume it", path,
                         em ? em : "DECAY");
        else
            vssm_err_set(&err, VSSM_ERR_INVALID_ARG, "checkpoint %s has no EMA: resume it without --ema", path);
        bad = 1;
    }
    char cur[64];
    snprintf(cur, sizeof cur, "%d", m->S);
    bad = bad || ckpt_same(path, em, !st->ema || meta_num(em) == a->ema, "--ema", &err) ||
          ckpt_same(path, fz, !strcmp(fz ? fz : "", a->freeze ? a->freeze : "none"), "--freeze", &err) ||
          ckpt_same(path, sz, !strcmp(sz ? sz : "", cur), "--size", &err) ||
          ckpt_same(path, vs, meta_num(vs) == a->val_split, "--val-split", &err) ||
          ckpt_same(path, sd, a->val_split == 0 || meta_num(sd) == a->seed, "--seed", &err);
    if (!bad && (step != epoch * spe || astep != step)) {
        vssm_err_set(&err, VSSM_ERR_INVALID_ARG,
                     "checkpoint %s: step %lld and adam_step %lld do not match epoch %lld at %d steps an epoch (%lld): "
                     "another data folder or --val-split, or a damaged file",
                     path, step, astep, epoch, spe, epoch * spe);
        bad = 1;
    }
    bad = bad || ckpt_array(w, path, "params", p, n, &err) || ckpt_array(w, path, "adam.m", st->opt.m, n, &err) ||
          ckpt_array(w, path, "adam.v", st->opt.v, n, &err) ||
          (st->ema && ckpt_array(w, path, "ema", st->ema, n, &err));
    if (!bad) {
        st->epoch = (int)epoch, st->step = step, st->opt.step = astep;
        st->rng = strtoull(rg, NULL, 16);
    }
    vssm_weights_close(w);
    if (bad) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    vssm_trainer_params_changed(m->t);
    return 0;
}

/* ======================================================================= output */

/* the labels as a JSON array */
static char *labels_json(const img_list *l) {
    size_t cap = 3;
    for (int c = 0; c < l->n_classes; c++) cap += 6 * strlen(l->classes[c]) + 4;
    char *s = malloc(cap), *o = s;
    if (!s) return NULL;
    *o++ = '[';
    for (int c = 0; c < l->n_classes; c++) {
        if (c) *o++ = ',', *o++ = ' ';
        *o++ = '"';
        for (const unsigned char *q = (const unsigned char *)l->classes[c]; *q; q++) {
            if (*q == '"' || *q == '\\')
                *o++ = '\\', *o++ = (char)*q;
            else if (*q < 0x20)
                o += sprintf(o, "\\u%04x", *q);
            else
                *o++ = (char)*q;
        }
        *o++ = '"';
    }
    *o++ = ']', *o = 0;
    return s;
}

/* the preprocessing's metadata keys: what a VMamba's config_to_meta writes after its config */
static void pp_meta(const vssm_preprocess_params *pp, vssm_config_meta *out) {
    vssm_vmamba_config none;
    vssm_config_meta all;
    memset(&none, 0, sizeof none);
    vssm_vmamba_config_to_meta(&none, NULL, &all);
    const int n0 = all.n;
    vssm_vmamba_config_to_meta(&none, pp, &all);
    out->n = 0;
    for (int i = n0; i < all.n; i++, out->n++) {
        memcpy(out->key[out->n], all.key[i], sizeof all.key[i]);
        memcpy(out->value[out->n], all.value[i], sizeof all.value[i]);
    }
}

/* the model (the EMA when kept) with the official names, config, labels and preprocessing */
static int write_model(const char *path, model *m, const state *st, const data *d, double top1) {
    int64_t n;
    const float *flat = st->ema ? st->ema : vssm_trainer_params(m->t, &n);
    const int ne = vssm_trainer_n_tensors(m->t);
    vssm_st_entry *e = calloc((size_t)ne, sizeof *e);
    float *buf = malloc((size_t)st->n * sizeof(float));
    char *labels = labels_json(&d->tl), top[32];
    vssm_config_meta cm, pm = {0};
    if (m->kind == VSSM_BACKBONE_VIM) {
        vssm_vim_config_to_meta(&m->vcfg, &cm);
        pp_meta(&m->pp, &pm);
    } else {
        vssm_vmamba_config_to_meta(&m->cfg, &m->pp, &cm);
    }
    vssm_st_meta meta[2 * VSSM_CONFIG_META_MAX + 4];
    int nm = 0, rc = 0;
    meta[nm++] = (vssm_st_meta){"format", "vssm"};
    for (int i = 0; i < cm.n; i++) meta[nm++] = (vssm_st_meta){cm.key[i], cm.value[i]};
    for (int i = 0; i < pm.n; i++) meta[nm++] = (vssm_st_meta){pm.key[i], pm.value[i]};
    meta[nm++] = (vssm_st_meta){"labels", labels};
    snprintf(top, sizeof top, "%.2f", top1);
    if (top1 >= 0) meta[nm++] = (vssm_st_meta){"val_top1", top};
    meta[nm++] = (vssm_st_meta){"trained_with", "vssm train"};
    if (!e || !buf || !labels) {
        cli_error("train: out of memory");
        rc = VSSM_EXIT_USAGE;
    }
    for (int64_t i = 0, off = 0; !rc && i < ne; i++) { /* official layouts, packed one after another */
        vssm_train_tensor tt = vssm_trainer_tensor(m->t, (int)i);
        vssm_trainer_read_flat(m->t, flat, (int)i, buf + off);
        e[i].name = tt.name;
        e[i].t.dtype = VSSM_DTYPE_F32, e[i].t.ndim = tt.ndim, e[i].t.data = buf + off;
        for (int k = 0; k < tt.ndim; k++) e[i].t.shape[k] = tt.shape[k];
        off += tt.numel;
    }
    vssm_err err = {0};
    cli_write_begin();
    if (!rc && vssm_safetensors_write(path, e, ne, meta, nm, &err) != VSSM_OK) {
        cli_error("train: %s", err.msg);
        rc = VSSM_EXIT_USAGE;
    }
    cli_write_end();
    free(e), free(buf), free(labels);
    return rc;
}

/* ======================================================================= the loop */

typedef struct loop {
    const train_args *a;
    model *m;
    state *st;
    data *d;
    float *x;
    int32_t *y;
    float *logits;
    uint64_t *seeds;
    int *perm, spe, threads;
    vssm_lr_schedule lr;
} loop;

static int argmax(const float *v, int n) {
    int k = 0;
    for (int i = 1; i < n; i++) k = v[i] > v[k] ? i : k;
    return k;
}

/* a non-finite loss or weights: the run stops before its next checkpoint or model (the last
 * checkpoint, of the epoch before, stays as it was); 2 (printed) */
static int diverged(const loop *L, int b, const char *what, float loss) {
    cli_error("train: %s (loss %g) at epoch %d, step %d/%d: the training diverged; try a lower --lr (this run: %g, "
              "warm-up %g epochs) or --clip; no model or checkpoint written by this epoch",
              what, (double)loss, L->st->epoch + 1, b + 1, L->spe, L->a->lr, L->a->warmup);
    return VSSM_EXIT_USAGE;
}

/* one optimizer step on batch b of the epoch; adds to the loss and correct counts */
static int train_step(loop *L, int b, double *loss_sum, int *correct) {
    const int B = L->a->batch, C = L->m->classes;
    if (load_batch(&L->d->train, L->perm + (size_t)b * B, B, &L->m->pp, L->m->S, L->seeds + (size_t)b * B, L->a,
                   L->threads, L->x, L->y))
        return VSSM_EXIT_INPUT;
    vssm_err err = {0};
    float loss;
    vssm_trainer *t = L->m->t;
    vssm_trainer_zero_grad(t);
    if (vssm_trainer_step(t, L->x, L->y, (float)L->a->smoothing, &loss, &err) != VSSM_OK ||
        vssm_trainer_logits(t, L->logits, &err) != VSSM_OK) {
        cli_error("train: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    for (int k = 0; k < B; k++) *correct += argmax(L->logits + (size_t)k * C, C) == L->y[k];
    *loss_sum += loss;
    int64_t n;
    float *p = vssm_trainer_params(t, &n), *g = vssm_trainer_grads(t, &n);
    if (!isfinite(loss)) return diverged(L, b, "the loss is not finite", loss);
    if (L->a->clip > 0) vssm_grad_clip(g, n, L->a->clip);
    vssm_adamw_step(&L->st->opt, p, g, L->st->tab, L->st->nt, vssm_lr_at(&L->lr, L->st->step));
    int finite = 1;
    for (int64_t i = 0; i < n; i++) finite &= isfinite(p[i]) != 0;
    if (!finite) return diverged(L, b, "the weights are not finite after the optimizer step", loss);
    vssm_trainer_params_changed(t);
    if (L->st->ema) vssm_ema_update(L->st->ema, p, n, L->a->ema);
    L->st->step++;
    return 0;
}

/* top-1 (%) of the validation images with the evaluation transform; batches padded with
 * their last image (the trainer is planned for one batch size) */
static int validate(loop *L, double *top1) {
    const split *v = &L->d->val;
    const int B = L->a->batch, C = L->m->classes;
    int idx[4096], correct = 0;
    vssm_err err = {0};
    for (int i0 = 0; i0 < v->n; i0 += B) {
        const int nb = v->n - i0 < B ? v->n - i0 : B;
        for (int k = 0; k < B; k++) idx[k] = i0 + (k < nb ? k : nb - 1);
        if (load_batch(v, idx, B, &L->m->pp, L->m->S, NULL, L->a, L->threads, L->x, L->y)) return VSSM_EXIT_INPUT;
        if (vssm_trainer_forward(L->m->t, L->x, &err) != VSSM_OK ||
            vssm_trainer_logits(L->m->t, L->logits, &err) != VSSM_OK) {
            cli_error("train: %s", err.msg);
            return VSSM_EXIT_USAGE;
        }
        for (int k = 0; k < nb; k++) correct += argmax(L->logits + (size_t)k * C, C) == L->y[k];
    }
    *top1 = v->n ? 100.0 * correct / v->n : -1;
    return 0;
}

/* validation of the EMA weights: swapped in, evaluated, swapped back */
static int validate_ema(loop *L, double *top1) {
    int64_t n;
    float *p = vssm_trainer_params(L->m->t, &n), *keep = malloc((size_t)n * sizeof(float));
    if (!keep) return VSSM_EXIT_USAGE;
    memcpy(keep, p, (size_t)n * sizeof(float));
    memcpy(p, L->st->ema, (size_t)n * sizeof(float));
    vssm_trainer_params_changed(L->m->t);
    int rc = validate(L, top1);
    memcpy(p, keep, (size_t)n * sizeof(float));
    vssm_trainer_params_changed(L->m->t);
    free(keep);
    return rc;
}

static void progress(const loop *L, int b, double loss, int correct, double t0, int tty) {
    const double dt = run_clock() - t0, ips = dt > 0 ? (double)(b + 1) * L->a->batch / dt : 0;
    fprintf(stderr, "%sepoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  lr %.2e  %.1f img/s%s", tty ? "\r" : "",
            L->st->epoch + 1, L->a->epochs, b + 1, L->spe, loss / (b + 1),
            100.0 * correct / ((double)(b + 1) * L->a->batch), vssm_lr_at(&L->lr, L->st->step - 1), ips,
            tty ? "" : "\n");
}

/* one epoch: permutation and seeds from the run's generator, the steps, validation, checkpoint */
static int run_epoch(loop *L, double *top1, const char *ckpt) {
    const split *tr = &L->d->train;
    for (int i = 0; i < tr->n; i++) L->perm[i] = i;
    for (int i = tr->n - 1; i > 0; i--) { /* Fisher-Yates */
        const int j = (int)(vssm_rng_next(&L->st->rng) % (uint64_t)(i + 1)), tmp = L->perm[i];
        L->perm[i] = L->perm[j], L->perm[j] = tmp;
    }
    const uint64_t es = vssm_rng_next(&L->st->rng);
    for (int k = 0; k < tr->n; k++) L->seeds[k] = es ^ ((uint64_t)(k + 1) * 0xD1B54A32D192ED03ull);
    double loss = 0, t0 = run_clock();
    int correct = 0, rc = 0;
    const int tty = isatty(2);
    for (int b = 0; b < L->spe && !rc; b++) {
        rc = train_step(L, b, &loss, &correct);
        if (!rc && (tty || b + 1 == L->spe)) progress(L, b, loss, correct, t0, tty);
    }
    if (tty && !rc) fputc('\n', stderr);
    double ema1 = -1;
    if (!rc) rc = validate(L, top1);
    if (!rc && L->st->ema && L->d->val.n) rc = validate_ema(L, &ema1);
    if (rc) return rc;
    L->st->epoch++;
    if (*top1 >= 0)
        fprintf(stderr, "vssm: train: epoch %d: val top-1 %.2f%% (%d images)", L->st->epoch, *top1, L->d->val.n);
    if (ema1 >= 0) fprintf(stderr, ", EMA %.2f%%", ema1), *top1 = ema1;
    if (*top1 >= 0) fputc('\n', stderr);
    return ckpt_write(ckpt, L->m, L->st, L->a);
}

static int train_loop(const train_args *a, model *m, state *st, data *d, const char *ckpt) {
    loop L = {a, m, st, d, NULL, NULL, NULL, NULL, NULL, d->train.n / a->batch, vssm_ctx_threads(m->ctx), {0, 0, 0, 0}};
    L.lr = (vssm_lr_schedule){a->lr, a->min_lr, (int64_t)(a->warmup * L.spe), (int64_t)a->epochs * L.spe};
    const size_t px = (size_t)a->batch * m->S * m->S * 3;
    L.x = malloc(px * sizeof(float));
    L.y = malloc((size_t)a->batch * sizeof(int32_t));
    L.logits = malloc((size_t)a->batch * m->classes * sizeof(float));
    L.seeds = malloc((size_t)d->train.n * sizeof(uint64_t));
    L.perm = malloc((size_t)d->train.n * sizeof(int));
    int rc = L.x && L.y && L.logits && L.seeds && L.perm ? 0 : VSSM_EXIT_USAGE;
    double top1 = -1;
    const int stop = a->stop_after ? st->epoch + a->stop_after : a->epochs;
    if (!rc && st->epoch == 0 && d->val.n && !(rc = validate(&L, &top1))) /* the starting point */
        fprintf(stderr, "vssm: train: before training: val top-1 %.2f%% (%d images)\n", top1, d->val.n);
    int ran = 0;
    for (; !rc && st->epoch < a->epochs && st->epoch < stop; ran++) rc = run_epoch(&L, &top1, ckpt);
    if (!rc && !ran && st->epoch == a->epochs && d->val.n) { /* --resume of a finished run: its model */
        double ema1 = -1;
        rc = validate(&L, &top1);
        if (!rc && st->ema) rc = validate_ema(&L, &ema1), top1 = ema1;
    }
    if (!rc && st->epoch == a->epochs) rc = write_model(a->out, m, st, d, top1);
    if (!rc && st->epoch == a->epochs)
        fprintf(stderr, "vssm: train: wrote %s\n", a->out);
    else if (!rc)
        fprintf(stderr, "vssm: train: stopped after epoch %d; --resume %s continues\n", st->epoch, ckpt);
    free(L.x), free(L.y), free(L.logits), free(L.seeds), free(L.perm);
    return rc;
}

VSSM_VERB(train) {
    train_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == 1 ? VSSM_EXIT_OK : rc;
    char ckpt[4096];
    if (snprintf(ckpt, sizeof ckpt, "%s%s", a.ckpt ? a.ckpt : a.out, a.ckpt ? "" : ".ckpt") >= (int)sizeof ckpt) {
        cli_error("train: the checkpoint path %s.ckpt is too long", a.out);
        return VSSM_EXIT_USAGE;
    }
    /* the outputs before anything else: a run must not train for hours to find it cannot write */
    struct stat so, sc;
    if ((rc = cli_check_out_file("train", a.out, "--out")) ||
        (rc = cli_check_out_file("train", ckpt, a.ckpt ? "--checkpoint" : "the checkpoint (--out + .ckpt)")))
        return rc;
    if (!strcmp(a.out, ckpt) ||
        (!stat(a.out, &so) && !stat(ckpt, &sc) && so.st_dev == sc.st_dev && so.st_ino == sc.st_ino)) {
        cli_error("train: --checkpoint and --out name the same file (%s)", a.out);
        return VSSM_EXIT_USAGE;
    }
    data d;
    model m;
    state st;
    memset(&m, 0, sizeof m);
    memset(&st, 0, sizeof st);
    rc = data_open(&d, &a);
    if (!rc && d.tl.n_classes < 2) {
        cli_error("train: %s has %d class folder (%s): a classifier needs at least 2 classes", a.data, d.tl.n_classes,
                  d.tl.classes[0]);
        rc = VSSM_EXIT_USAGE;
    }
    if (!rc) rc = model_open(&m, &a, d.tl.n_classes);
    if (!rc) rc = state_init(&st, &m, &a);
    if (!rc && a.resume) rc = ckpt_read(a.resume, &m, &st, &a, d.train.n / a.batch);
    if (!rc)
        fprintf(stderr,
                "vssm: train: %d training images, %d validation, %d classes, %d steps an epoch (%.0f MB of decoded "
                "images kept)\n",
                d.train.n, d.val.n, d.tl.n_classes, d.train.n / a.batch,
                (((size_t)a.cache_mb << 20) - d.cache_left) / 1048576.0);
    if (!rc && st.epoch == a.epochs)
        fprintf(stderr, "vssm: train: %s is at epoch %d of --epochs %d: writing its model\n", a.resume, st.epoch,
                a.epochs);
    if (!rc) rc = train_loop(&a, &m, &st, &d, ckpt);
    if (!rc && d.unreadable) { /* trained on the rest; exit 1: some inputs failed */
        fprintf(stderr, "vssm: train: %d unreadable images were left out\n", d.unreadable);
        rc = VSSM_EXIT_INPUT;
    }
    state_free(&st);
    model_free(&m);
    data_free(&d);
    return rc;
}
