/* tools/runner.c - image lists and the batched classification loop. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>
#include <pthread.h>
#include "tools/runner.h"
#include "tools/cli.h"
#include "kernels/membudget.h"
#include "tools/mpi_shard.h"
#include "datasets/fs.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double run_clock(void) { return now_s(); }

/* A message about the listing, on stderr unless quiet (under mpirun every rank lists the
 * same paths, and only rank 0 names what it could not read). */
static void note(int quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(int quiet, const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    cli_verror(fmt, ap); /* "vssm: " and the newline added, a name's control bytes escaped */
    va_end(ap);
}

void img_list_free(img_list *l) {
    for (int i = 0; i < l->n; i++) free(l->path[i]);
    free(l->path);
    free(l->label);
    for (int i = 0; i < l->n_classes; i++) free(l->classes[i]);
    free(l->classes);
    memset(l, 0, sizeof *l);
}

static int list_add(img_list *l, const char *path, int label) {
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 256;
        char **p = realloc(l->path, (size_t)nc * sizeof *p);
        if (!p) return -1;
        l->path = p;
        int *lb = realloc(l->label, (size_t)nc * sizeof *lb);
        if (!lb) return -1;
        l->label = lb;
        l->cap = nc;
    }
    if (!(l->path[l->n] = strdup(path))) return -1;
    l->label[l->n++] = label;
    return 0;
}

int img_has_image_ext(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm", ".pnm"};
    return vssm_fs_has_ext(name, ext, sizeof ext / sizeof ext[0]);
}


static void free_names(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Sorted entry names of a directory (without . and ..); NULL with errno set when the
 * folder cannot be opened or read to the end (a partial listing is not returned). */
static char **dir_entries(const char *dir, int *n) {
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) return NULL;
    char **v = calloc(1, sizeof *v);
    int cap = 1, fail = !v;
    struct dirent *e;
    for (;;) {
        errno = 0;
        if (fail || !(e = readdir(d))) break;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*n == cap) {
            char **nv = cap < INT_MAX / 2 ? realloc(v, (size_t)cap * 2 * sizeof *v) : NULL;
            if (!nv) {
                fail = 1;
                errno = ENOMEM;
                break;
            }
            v = nv;
            cap *= 2;
        }
        if (!(v[*n] = strdup(e->d_name))) {
            fail = 1;
            errno = ENOMEM;
            break;
        }
        (*n)++;
    }
    int saved = errno;
    closedir(d);
    if (fail || saved) { /* readdir sets errno only on an error */
        free_names(v, *n);
        *n = 0;
        errno = saved ? saved : ENOMEM;
        return NULL;
    }
    qsort(v, (size_t)*n, sizeof *v, vssm_fs_cmp_str);
    return v;
}

/* The real folders already walked in one collection, by (device, inode), so a link cycle
 * or two links to one folder never walk it twice. Open addressing, grown at half full. */
typedef struct dir_key {
    dev_t dev;
    ino_t ino;
    char *path; /* the first path it was reached by (owned); NULL = empty slot */
} dir_key;

typedef struct walk_ctx {
    img_list *l;
    dir_key *set;
    size_t cap, used;
    int nomem, quiet;
    int hidden;         /* hidden folders and hidden image files skipped inside the walked folders */
    char *hidden_first; /* the first of them (owned), for the note */
} walk_ctx;

static size_t key_hash(dev_t dev, ino_t ino) {
    uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ ((uint64_t)dev + 0x632BE59BD9B4E019ull);
    return (size_t)(h ^ (h >> 29));
}

/* Returns the path the folder was first reached by, or NULL after recording it as new. */
static const char *seen_dir(walk_ctx *w, const struct stat *sb, const char *path) {
    if (w->used * 2 >= w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        dir_key *ns = calloc(nc, sizeof *ns);
        if (!ns) {
            w->nomem = 1;
            return NULL;
        }
        for (size_t i = 0; i < w->cap; i++) {
            if (!w->set[i].path) continue;
            size_t j = key_hash(w->set[i].dev, w->set[i].ino) & (nc - 1);
            while (ns[j].path) j = (j + 1) & (nc - 1);
            ns[j] = w->set[i];
        }
        free(w->set);
        w->set = ns;
        w->cap = nc;
    }
    size_t j = key_hash(sb->st_dev, sb->st_ino) & (w->cap - 1);
    for (; w->set[j].path; j = (j + 1) & (w->cap - 1))
        if (w->set[j].dev == sb->st_dev && w->set[j].ino == sb->st_ino) return w->set[j].path;
    if (!(w->set[j].path = strdup(path))) {
        w->nomem = 1;
        return NULL;
    }
    w->set[j].dev = sb->st_dev;
    w->set[j].ino = sb->st_ino;
    w->used++;
    return NULL;
}

/* Frees w, first noting the hidden entries its walks skipped (once per collection). */
static void walk_ctx_free(walk_ctx *w) {
    if (w->hidden)
        note(w->quiet,
             "skipped %d hidden entr%s of the folders (names starting with '.': .ipynb_checkpoints, "
             "macOS's ._ files; the first %s); a hidden file given by its path is read",
             w->hidden, w->hidden == 1 ? "y" : "ies", w->hidden_first ? w->hidden_first : "?");
    free(w->hidden_first);
    for (size_t i = 0; i < w->cap; i++) free(w->set[i].path);
    free(w->set);
}


static int add_path(walk_ctx *w, const char *path, int label) {
    if (list_add(w->l, path, label) == 0) return 0;
    note(w->quiet, "%s: out of memory listing the images", path);
    return 1;
}

/* Walks the folder dir (sb: its stat), adding its images with label; returns the number
 * of entries that could not be read (each named on stderr). A folder already walked in
 * this collection (a link cycle, or a second link to it) is skipped with a note. */
static int walk(walk_ctx *w, const char *dir, const struct stat *sb, int label, int depth) {
    const char *first = seen_dir(w, sb, dir);
    if (w->nomem) {
        note(w->quiet, "%s: out of memory listing the images", dir);
        return 1;
    }
    if (first) {
        note(w->quiet, "%s: skipped, the same folder as %s (a link cycle or a second link to it)", dir, first);
        return 0;
    }
    if (depth > 64) {
        note(w->quiet, "%s: folders nested too deep", dir);
        return 1;
    }
    int n, bad = 0;
    char **names = dir_entries(dir, &n);
    if (!names) {
        note(w->quiet, "%s: cannot read the folder (%s)", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char *p = vssm_fs_join(dir, names[i]);
        struct stat st;
        if (!p) {
            note(w->quiet, "%s: out of memory listing the images", dir);
            bad++;
            continue;
        }
        if (names[i][0] == '.') {
            /* .ipynb_checkpoints (copies of the images), .git, macOS's ._x.jpg (not images):
             * never walked, as datasets/seg.c and datasets/reid.c skip them; counted for a note */
            if (img_has_image_ext(names[i]) || (stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
                if (!w->hidden_first) w->hidden_first = strdup(p);
                w->hidden++;
            }
        } else if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                bad += walk(w, p, &st, label, depth + 1);
            } else if (!img_has_image_ext(names[i])) {
                /* not an image by its name: ignored, as torchvision does */
            } else if (S_ISREG(st.st_mode)) {
                bad += add_path(w, p, label);
            } else {
                /* a pipe would block the run, a device (/dev/zero) never end: a folder's
                 * entries must be regular files (a path given on the command line is
                 * taken as it is) */
                note(w->quiet, "%s: not a regular file (a pipe, socket or device): not read", p);
                bad++;
            }
        } else if (img_has_image_ext(names[i])) {
            bad += add_path(w, p, label); /* named and counted when it fails to load */
        } else {
            /* a broken link or an entry we may not look at: it could be a folder of images */
            note(w->quiet, "%s: cannot read (%s)", p, strerror(errno));
            bad++;
        }
        free(p);
    }
    free_names(names, n);
    return bad;
}

int img_list_collect(img_list *l, char **paths, int n, int quiet) {
    walk_ctx w = {l, NULL, 0, 0, 0, quiet, 0, NULL};
    int bad = 0;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0) {
            note(quiet, "%s: %s", paths[i], errno == ENOENT ? "no such file or folder" : strerror(errno));
            bad++;
        } else if (S_ISDIR(sb.st_mode)) {
            bad += walk(&w, paths[i], &sb, -1, 0);
        } else {
            bad += add_path(&w, paths[i], -1);
        }
    }
    walk_ctx_free(&w);
    return bad;
}

int img_list_imagefolder(img_list *l, const char *root, int *unreadable, int quiet) {
    int n, bad = 0;
    *unreadable = 0;
    char **names = dir_entries(root, &n);
    if (!names) {
        note(quiet, "%s: cannot read the dataset folder (%s)", root, strerror(errno));
        return -1;
    }
    walk_ctx w = {l, NULL, 0, 0, 0, quiet, 0, NULL};
    struct stat rs;
    if (stat(root, &rs) == 0) seen_dir(&w, &rs, root); /* a class linking back to ROOT is a cycle */
    l->classes = calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!l->classes) {
        note(quiet, "%s: out of memory", root);
        free_names(names, n);
        walk_ctx_free(&w);
        return -1;
    }
    size_t empty_len = 0; /* the class folders without an image (readable, nothing found) */
    char *empty = NULL;
    for (int i = 0; i < n; i++) {
        char *p = vssm_fs_join(root, names[i]);
        struct stat sb;
        if (!p) {
            note(quiet, "%s: out of memory", root);
            bad++;
            continue;
        }
        if (names[i][0] == '.') {
            /* .ipynb_checkpoints, .git, ...: never a class (as class 0 it would shift every label) */
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) note(quiet, "%s: a hidden folder, not a class (skipped)", p);
        } else if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                int c = l->n_classes, n0 = l->n, b;
                if (!(l->classes[c] = strdup(names[i]))) {
                    note(quiet, "%s: out of memory", p);
                    bad++;
                } else {
                    l->n_classes++;
                    bad += b = walk(&w, p, &sb, c, 1);
                    if (!b && l->n == n0) { /* no image and no read error: refused (torchvision does) */
                        size_t k = strlen(names[i]);
                        char *e = realloc(empty, empty_len + k + 3);
                        if (e) {
                            snprintf(e + empty_len, k + 3, "%s%s", empty_len ? ", " : "", names[i]);
                            empty = e, empty_len = strlen(e);
                        }
                    }
                }
            }
        } else {
            /* an entry we cannot look at may be a class folder: the class indices after it
             * would be off by one, so it is a failure, not a silent skip */
            note(quiet, "%s: cannot read (%s)", p, strerror(errno));
            bad++;
        }
        free(p);
    }
    free_names(names, n);
    walk_ctx_free(&w);
    *unreadable = bad;
    if (l->n_classes == 0) {
        note(quiet, "%s: no class folders (ImageFolder layout: ROOT/<class>/<image>)", root);
        free(empty);
        return -1;
    }
    if (empty) {
        note(0,
             "%s: no image in the class folder(s) %s (a class needs at least one .jpg, .jpeg, .jpe, .png, "
             ".bmp, .gif, .tga, .ppm, .pgm or .pnm file: add images or remove the folder)",
             root, empty);
        free(empty);
        return -1;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 when the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x3F >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void json_put_str(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c), s++;
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\u%04x", c), s++;
        else {
            int n = utf8_len(s);
            if (n == 0)
                fputs("\\ufffd", f), s++;
            else
                fwrite(s, 1, (size_t)n, f), s += n;
        }
    }
    fputc('"', f);
}

uint64_t img_list_hash(const img_list *l) {
    uint64_t h = SHARD_HASH0;
    for (int i = 0; i < l->n; i++) {
        h = shard_hash(h, l->path[i], strlen(l->path[i]) + 1);
        h = shard_hash(h, &l->label[i], sizeof l->label[i]);
    }
    for (int c = 0; c < l->n_classes; c++) h = shard_hash(h, l->classes[c], strlen(l->classes[c]) + 1);
    return h;
}

void text_put_path(FILE *f, const char *str) {
    for (const unsigned char *s = (const unsigned char *)str; *s; s++) {
        char e[5];
        if (cli_escape_byte(*s, e))
            fputs(e, f);
        else
            fputc((int)*s, f);
    }
}

void softmax(const float *x, int n, double *p) {
    double m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++) s += (p[i] = exp((double)x[i] - m));
    for (int i = 0; i < n; i++) p[i] /= s;
}

/* the k largest, first of ties first, NaN below every number (as vssm_cls_metrics_add ranks) */
void topk_indices(const float *v, int n, int k, int *out) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int q = 0; q < j; q++) used |= out[q] == i;
            if (!used && (best < 0 || v[i] > v[best] || (isnan(v[best]) && !isnan(v[i])))) best = i;
        }
        out[j] = best;
    }
}

/* ---- the batched loop ---- */

typedef struct {
    float *x; /* preprocessed (h, w, 3) or NULL */
    int h, w;
    char err[VSSM_ERR_MSG_MAX];
} prepared;

void run_progress(int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int width = 30, fill = total ? (int)((double)done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %d/%d %.1f img/s ETA %.0fs ", bar, done, total, rate,
            rate > 0 ? (total - done) / rate : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* the most memory decoding path takes, from its header; 0 when unknown (no share taken). On
 * every image before its decode: one open and a 4 KB read on the stack (a PNG's IHDR, a GIF's,
 * BMP's or TGA's header, most JPEGs' frame header); 64 KB only for a JPEG whose frame header
 * lies past its first 4 KB (EXIF, a thumbnail). A path that is not a regular file is left to
 * vssm_image_load, which refuses it. */
static int64_t decode_need(const char *path) {
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat sb;
    unsigned char head[4096];
    ssize_t n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, head, sizeof head) : -1;
    int64_t need = 0;
    if (n > 0 && !vssm_image_probe(head, (size_t)n, NULL, NULL, &need) && n == (ssize_t)sizeof head &&
        vssm_image_sniff(head, (size_t)n) == VSSM_IMAGE_FORMAT_JPEG) {
        unsigned char *more = malloc(1 << 16);
        const ssize_t m = more ? pread(fd, more, 1 << 16, 0) : -1;
        if (m <= 0 || !vssm_image_probe(more, (size_t)m, NULL, NULL, &need)) need = 0;
        free(more);
    }
    close(fd);
    return need;
}

void decode_budget_init(decode_budget *d) {
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->used = 0;
    const size_t half = vssm_mem_budget() / 2; /* half the plan budget (3/4 of the memory) */
    d->cap = half < (size_t)INT64_MAX ? (int64_t)half : INT64_MAX;
}

void decode_budget_free(decode_budget *d) {
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
}

int64_t decode_budget_enter(decode_budget *d, const char *path) {
    const int64_t b = d ? decode_need(path) : 0;
    if (b <= 0) return 0;
    pthread_mutex_lock(&d->mu);
    while (d->used > 0 && d->used + b > d->cap) pthread_cond_wait(&d->cv, &d->mu);
    d->used += b;
    pthread_mutex_unlock(&d->mu);
    return b;
}

void decode_budget_leave(decode_budget *d, int64_t share) {
    if (!d || share <= 0) return;
    pthread_mutex_lock(&d->mu);
    d->used -= share;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

typedef struct {
    const img_list *l;
    const run_opts *o;
    prepared *win;
    int start, m, nt;
    decode_budget *budget;
} prep_job;

/* decode + preprocess images [start, start+m) into win, on nt threads */
static void *prepare_window(void *arg) {
    prep_job *j = arg;
    const img_list *l = j->l;
#pragma omp parallel for schedule(dynamic, 1) num_threads(j->nt)
    for (int i = 0; i < j->m; i++) {
        prepared *p = &j->win[i];
        vssm_err err = {0};
        vssm_image im = {0};
        p->x = NULL;
        p->err[0] = 0;
        int ow, oh;
        const char *path = l->path[j->start + i];
        const int64_t share = decode_budget_enter(j->budget, path);
        if (vssm_image_load(&im, path, &j->o->limits, &err) == VSSM_OK) {
            /* the decoder's messages name the file; the preprocessing's do not */
            if (vssm_preprocess_output_size(&j->o->pp, im.w, im.h, &ow, &oh, &err) != VSSM_OK) {
                vssm_err_prefix(&err, "%s", path);
            } else if (!(p->x = malloc((size_t)ow * oh * 3 * sizeof(float)))) {
                vssm_err_set(&err, VSSM_ERR_NOMEM, "%s: out of memory for a %dx%d input", path, ow, oh);
            } else if (vssm_preprocess(&im, &j->o->pp, p->x, &err) != VSSM_OK) {
                vssm_err_prefix(&err, "%s", path);
                free(p->x);
                p->x = NULL;
            }
            p->w = ow;
            p->h = oh;
        }
        if (!p->x) snprintf(p->err, sizeof p->err, "%s", err.msg[0] ? err.msg : "unknown error");
        vssm_image_free(&im);
        decode_budget_leave(j->budget, share);
    }
    return NULL;
}

/* Double-buffered: while the network runs on window k, a producer thread decodes and
 * preprocesses window k+1, so the cores are not idle between batches. */
int run_classifier(vssm_classifier *clf, const img_list *l, const run_opts *o, run_cb cb, void *user, double *seconds) {
    const int B = o->batch > 0 ? o->batch : 1, classes = vssm_classifier_classes(clf);
    const int nt = o->threads > 0 ? o->threads : omp_get_num_procs();
    int failed = 0;
    prepared *bufs[2] = {calloc((size_t)B, sizeof(prepared)), calloc((size_t)B, sizeof(prepared))};
    float *logits = malloc((size_t)B * classes * sizeof(float));
    float *xb = NULL;
    size_t xb_cap = 0;
    double t0 = now_s();
    decode_budget budget; /* the decodes in flight together, both windows' */
    decode_budget_init(&budget);
    prep_job jobs[2] = {{l, o, bufs[0], 0, l->n < B ? l->n : B, nt, &budget}, {l, o, bufs[1], 0, 0, nt, &budget}};
    if (l->n > 0) prepare_window(&jobs[0]);
    for (int s = 0, cur = 0; s < l->n; s += B, cur ^= 1) {
        const int m = jobs[cur].m;
        prepared *win = bufs[cur];
        /* start the next window in the background */
        pthread_t th;
        int ahead = 0;
        prep_job *next = &jobs[cur ^ 1];
        next->start = s + B;
        next->m = l->n - next->start < B ? l->n - next->start : B;
        next->nt = nt > 1 ? nt / 2 : 1;
        if (next->m > 0) ahead = pthread_create(&th, NULL, prepare_window, next) == 0;
        /* runs of consecutive same-size images form the batches */
        for (int i = 0; i < m;) {
            if (!win[i].x) {
                cb(user, s + i, NULL, classes, win[i].err);
                failed++;
                i++;
                continue;
            }
            int j = i + 1;
            while (j < m && win[j].x && win[j].h == win[i].h && win[j].w == win[i].w) j++;
            size_t per = (size_t)win[i].h * win[i].w * 3, need = per * (size_t)(j - i);
            if (need > xb_cap) {
                free(xb);
                xb = malloc(need * sizeof(float));
                xb_cap = xb ? need : 0;
            }
            vssm_err err = {0};
            vssm_status st = VSSM_ERR_NOMEM;
            if (xb) {
                for (int q = i; q < j; q++) memcpy(xb + per * (size_t)(q - i), win[q].x, per * sizeof(float));
                st = vssm_classifier_forward(clf, xb, j - i, win[i].h, win[i].w, logits, &err);
            }
            for (int q = i; q < j; q++) {
                if (st == VSSM_OK)
                    cb(user, s + q, logits + (size_t)(q - i) * classes, classes, NULL);
                else {
                    char msg[VSSM_ERR_MSG_MAX + 64];
                    snprintf(msg, sizeof msg, "%s: %s", l->path[s + q], xb ? err.msg : "out of memory");
                    cb(user, s + q, NULL, classes, msg);
                    failed++;
                }
            }
            i = j;
        }
        for (int i = 0; i < m; i++) {
            free(win[i].x);
            win[i].x = NULL;
        }
        if (o->progress) run_progress(s + m, l->n, t0);
        if (ahead)
            pthread_join(th, NULL);
        else if (next->m > 0)
            prepare_window(next); /* no thread: do it here */
    }
    if (seconds) *seconds = now_s() - t0;
    free(bufs[0]);
    free(bufs[1]);
    free(logits);
    free(xb);
    decode_budget_free(&budget);
    return failed;
}
