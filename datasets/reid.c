/* datasets/reid.c - re-identification datasets (Market-1501, VeRi-776, MSMT17 layouts)
 * and the features file `vssm reid extract` writes and `vssm eval reid` reads
 * (vssm/reid.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "kernels/infile.h"
#include "vssm/reid_data.h"
#include "vssm/weights.h"
#include "datasets/fs.h"

int vssm_reid_format_from_name(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "market") || !strcmp(name, "market1501")) return VSSM_REID_FORMAT_MARKET;
    if (!strcmp(name, "veri") || !strcmp(name, "veri776")) return VSSM_REID_FORMAT_VERI;
    if (!strcmp(name, "msmt") || !strcmp(name, "msmt17")) return VSSM_REID_FORMAT_MSMT;
    return -1;
}

const char *vssm_reid_format_name(vssm_reid_format f) {
    switch (f) {
    case VSSM_REID_FORMAT_MARKET: return "market";
    case VSSM_REID_FORMAT_VERI: return "veri";
    case VSSM_REID_FORMAT_MSMT: return "msmt";
    }
    return "?";
}

/* ---------------------------------------------------------------- name parsing */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* reads a run of digits (at most maxd) into *v; returns chars read (0: none) */
static int read_digits(const char *s, int maxd, int64_t *v) {
    int n = 0;
    int64_t x = 0;
    while (isdigit((unsigned char)s[n]) && n < maxd) {
        if (x > (INT64_MAX - 9) / 10) return 0;
        x = x * 10 + (s[n] - '0');
        n++;
    }
    *v = x;
    return n;
}

vssm_status vssm_reid_parse_name(vssm_reid_format fmt, const char *path, int64_t *pid, int64_t *camid, vssm_err *err) {
    const char *b = base_name(path);
    int64_t p = 0, c = 0;
    int n;
    switch (fmt) {
    case VSSM_REID_FORMAT_MARKET: {
        /* torchreid: ([-\d]+)_c(\d) ; in practice "-1" or digits */
        const char *s = b;
        int neg = 0;
        if (*s == '-') {
            neg = 1;
            s++;
        }
        if (!(n = read_digits(s, 18, &p)) || strncmp(s + n, "_c", 2) != 0 || !read_digits(s + n + 2, 1, &c))
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "%s: not a Market-1501 name (PID_cCAM..., e.g. 0002_c1s1_000451_03.jpg)", path);
        if (neg) p = -p;
        if (p < -1)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: person id %lld (only -1 may be negative)", path,
                                (long long)p);
        break;
    }
    case VSSM_REID_FORMAT_VERI:
        /* fast-reid: ([\d]+)_c(\d\d\d) */
        if (!(n = read_digits(b, 18, &p)) || strncmp(b + n, "_c", 2) != 0 || read_digits(b + n + 2, 3, &c) != 3)
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "%s: not a VeRi-776 name (PID_cCCC_..., e.g. 0002_c002_00030600_0.jpg)", path);
        break;
    case VSSM_REID_FORMAT_MSMT: {
        /* torchreid: camid = int(img_path.split('_')[2]) - 1, pid from the list line */
        const char *u1 = strchr(path, '_'), *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
        p = 0;
        if (!u2 || !(n = read_digits(u2 + 1, 18, &c)) || (u2[1 + n] != '_' && u2[1 + n] != '\0' && u2[1 + n] != '.'))
            return vssm_err_set(err, VSSM_ERR_FORMAT,
                                "%s: not an MSMT17 name (the third '_'-field must be the camera, e.g. "
                                "0000/0000_000_01_0303morning_0015_0.jpg)",
                                path);
        break;
    }
    default: return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown re-ID format %d", (int)fmt);
    }
    if (c < 1)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: camera %lld (cameras are numbered from 1)", path, (long long)c);
    if (pid) *pid = p;
    if (camid) *camid = c - 1;
    return VSSM_OK;
}

/* ---------------------------------------------------------------- splits */

static vssm_status split_add(vssm_reid_split *s, const char *path, int64_t pid, int64_t camid, vssm_err *err) {
    if (pid == -1) {
        s->n_junk++;
        return VSSM_OK;
    }
    if (s->n == s->cap) {
        int64_t nc = s->cap ? s->cap * 2 : 256;
        char **p = realloc(s->path, (size_t)nc * sizeof *p);
        if (p) s->path = p;
        int64_t *a = realloc(s->pid, (size_t)nc * sizeof *a);
        if (a) s->pid = a;
        int64_t *c = realloc(s->camid, (size_t)nc * sizeof *c);
        if (c) s->camid = c;
        if (!p || !a || !c) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory listing images");
        s->cap = nc;
    }
    if (!(s->path[s->n] = strdup(path))) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory listing images");
    s->pid[s->n] = pid;
    s->camid[s->n] = camid;
    s->n++;
    return VSSM_OK;
}

static void split_free(vssm_reid_split *s) {
    for (int64_t i = 0; i < s->n; i++) free(s->path[i]);
    free(s->path);
    for (int64_t i = 0; i < s->n_stray; i++) free(s->stray[i]);
    free(s->stray);
    free(s->pid);
    free(s->camid);
    memset(s, 0, sizeof *s);
}

void vssm_reid_dataset_free(vssm_reid_dataset *d) {
    if (!d) return;
    split_free(&d->query);
    split_free(&d->gallery);
}


/* torchreid's image extensions */
static int has_image_ext(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp"};
    return vssm_fs_has_ext(name, ext, sizeof ext / sizeof ext[0]);
}

/* the image files of one folder (not recursive), sorted, parsed by name */
static vssm_status read_folder(vssm_reid_split *s, const char *dir, vssm_reid_format fmt, vssm_err *err) {
    DIR *d = opendir(dir);
    if (!d) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot read the folder (%s)", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    vssm_status st = VSSM_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **q = realloc(names, cap * sizeof *q);
            if (!q) {
                st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            names = q;
        }
        if (!(names[n] = strdup(e->d_name))) {
            st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, vssm_fs_cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *p = st == VSSM_OK ? vssm_fs_join(dir, names[i]) : NULL;
        int64_t pid, cam;
        if (st == VSSM_OK && !p) st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        vssm_status ps = st == VSSM_OK ? vssm_reid_parse_name(fmt, p, &pid, &cam, err) : st;
        if (ps == VSSM_ERR_FORMAT) { /* a stray name: skipped, kept for the caller to name */
            char **q = realloc(s->stray, (size_t)(s->n_stray + 1) * sizeof *q);
            if (q) s->stray = q, q[s->n_stray++] = p, p = NULL;
            if (!q) st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory listing %s", dir);
        } else if (ps != VSSM_OK)
            st = ps;
        else
            st = split_add(s, p, pid, cam, err);
        free(p);
        free(names[i]);
    }
    free(names);
    return st;
}

/* a list entry must stay inside the image folder: relative, no ".." component */
static int path_escapes(const char *p) {
    if (*p == '/') return 1;
    for (const char *c = p; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') return 1;
        c += n;
        while (*c == '/') c++;
    }
    return 0;
}

/* MSMT17 list file: "rel/path.jpg pid" per line */
static vssm_status read_list(vssm_reid_split *s, const char *list, const char *img_dir, vssm_err *err) {
    FILE *f;
    vssm_status st0 = vssm_fopen_regular(&f, list, "the list file", VSSM_TEXT_FILE_MAX, err);
    if (st0 != VSSM_OK) return st0;
    char *line = NULL; /* getline: a long line is one line, not split into two entries */
    size_t cap = 0;
    int lineno = 0;
    vssm_status st = VSSM_OK;
    while (st == VSSM_OK && getline(&line, &cap, f) > 0) {
        if (lineno == INT32_MAX) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: too many lines", list);
            break;
        }
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        char *sp = strpbrk(p, " \t");
        char *end = NULL;
        long long pid = 0;
        if (sp) {
            *sp = 0;
            errno = 0;
            pid = strtoll(sp + 1, &end, 10);
            while (end && (*end == ' ' || *end == '\t')) end++;
        }
        if (!sp || !end || end == sp + 1 || *end || errno) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s:%d: expected \"path pid\"", list, lineno);
            break;
        }
        if (pid < -1) { /* as the Market-1501 names: only the junk id -1 may be negative */
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s:%d: person id %lld (only -1 may be negative)", list, lineno,
                              pid);
            break;
        }
        if (path_escapes(p)) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s:%d: '%.200s' is not a path inside the image folder", list,
                              lineno, p);
            break;
        }
        int64_t ignored, cam;
        char *full = vssm_fs_join(img_dir, p);
        if (!full)
            st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        else if ((st = vssm_reid_parse_name(VSSM_REID_FORMAT_MSMT, p, &ignored, &cam, err)) != VSSM_OK)
            vssm_err_prefix(err, "%s:%d", list, lineno);
        else
            st = split_add(s, full, pid, cam, err);
        free(full);
    }
    if (st == VSSM_OK && ferror(f)) st = vssm_err_set(err, VSSM_ERR_IO, "%s: read error", list);
    free(line);
    fclose(f);
    return st;
}

vssm_status vssm_reid_dataset_load(vssm_reid_dataset *out, const char *root, vssm_reid_format fmt, vssm_err *err) {
    memset(out, 0, sizeof *out);
    if (!root) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "no dataset root");
    if ((int)fmt < 0 || (int)fmt > (int)VSSM_REID_FORMAT_MSMT)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "re-ID dataset format %d unknown", (int)fmt);
    if (!vssm_fs_is_dir(root)) return vssm_err_set(err, VSSM_ERR_IO, "%s: not a folder", root);
    vssm_status st = VSSM_OK;
    char *base = strdup(root), *qd = NULL, *gd = NULL;
    if (!base) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    const char *sub[3][2] = {
        {"query", "bounding_box_test"}, {"image_query", "image_test"}, {"list_query.txt", "list_gallery.txt"}};
    const char *nested[3][2] = {{"Market-1501-v15.09.15", "market1501"}, {"VeRi", "veri"}, {"MSMT17_V1", "MSMT17_V2"}};
    /* accept the dataset folder itself or its parent */
    char *probe = vssm_fs_join(base, sub[fmt][0]);
    int ok = probe && (fmt == VSSM_REID_FORMAT_MSMT ? vssm_fs_is_file(probe) : vssm_fs_is_dir(probe));
    free(probe);
    for (int k = 0; !ok && k < 2; k++) {
        char *nb = vssm_fs_join(base, nested[fmt][k]), *pr = nb ? vssm_fs_join(nb, sub[fmt][0]) : NULL;
        if (pr && (fmt == VSSM_REID_FORMAT_MSMT ? vssm_fs_is_file(pr) : vssm_fs_is_dir(pr))) {
            free(base);
            base = nb;
            nb = NULL;
            ok = 1;
        }
        free(nb);
        free(pr);
    }
    if (!ok) {
        st = vssm_err_set(err, VSSM_ERR_IO, "%s: no %s%s here (the %s layout)", root, sub[fmt][0],
                          fmt == VSSM_REID_FORMAT_MSMT ? "" : "/ folder", vssm_reid_format_name(fmt));
        free(base);
        return st;
    }
    qd = vssm_fs_join(base, sub[fmt][0]);
    gd = vssm_fs_join(base, sub[fmt][1]);
    if (!qd || !gd)
        st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    else if (fmt == VSSM_REID_FORMAT_MSMT) {
        const char *dirs[2] = {"test", "mask_test_v2"};
        char *img = NULL;
        for (int k = 0; k < 2 && !img; k++) {
            char *c = vssm_fs_join(base, dirs[k]);
            if (c && vssm_fs_is_dir(c))
                img = c;
            else
                free(c);
        }
        if (!img) img = strdup(base);
        if (!img) st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        if (st == VSSM_OK) st = read_list(&out->query, qd, img, err);
        if (st == VSSM_OK) st = read_list(&out->gallery, gd, img, err);
        free(img);
    } else {
        st = read_folder(&out->query, qd, fmt, err);
        if (st == VSSM_OK) st = read_folder(&out->gallery, gd, fmt, err);
    }
    free(qd);
    free(gd);
    free(base);
    if (st != VSSM_OK) vssm_reid_dataset_free(out);
    return st;
}

/* ---------------------------------------------------------------- features file */

void vssm_reid_features_free(vssm_reid_features *f) {
    if (!f) return;
    free(f->query);
    free(f->gallery);
    free(f->q_pid);
    free(f->q_camid);
    free(f->g_pid);
    free(f->g_camid);
    memset(f, 0, sizeof *f);
}

static vssm_status get_tensor(vssm_weights *w, const char *path, const char *name, int ndim, vssm_tensor *t,
                              vssm_err *err) {
    if (vssm_weights_get(w, name, t, NULL) != VSSM_OK)
        return vssm_err_set(err, VSSM_ERR_FORMAT,
                            "%s: no tensor '%s' (a features file holds query, gallery, query_pid, "
                            "query_camid, gallery_pid, gallery_camid)",
                            path, name);
    if (t->ndim != ndim) {
        char b[64];
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: '%s' has shape %s, expected %d dimensions", path, name,
                            vssm_shape_str(t->shape, t->ndim, b, sizeof b), ndim);
    }
    return VSSM_OK;
}

static vssm_status get_ids(vssm_weights *w, const char *path, const char *name, int64_t n, const char *rows_of,
                           int64_t **out, vssm_err *err) {
    vssm_tensor t;
    vssm_status s = get_tensor(w, path, name, 1, &t, err);
    if (s != VSSM_OK) return s;
    if (t.shape[0] != n)
        return vssm_err_set(err, VSSM_ERR_SHAPE, "%s: '%s' has %lld entries but '%s' has %lld rows", path, name,
                            (long long)t.shape[0], rows_of, (long long)n);
    if (t.dtype != VSSM_DTYPE_I64 && t.dtype != VSSM_DTYPE_I32)
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: '%s' is %s, expected I64 (or I32)", path, name,
                            vssm_dtype_name(t.dtype));
    if (!(*out = malloc((size_t)(n ? n : 1) * sizeof(int64_t))))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (t.dtype == VSSM_DTYPE_I64)
            memcpy(&(*out)[i], (const char *)t.data + 8 * i, 8);
        else {
            int32_t v;
            memcpy(&v, (const char *)t.data + 4 * i, 4);
            (*out)[i] = v;
        }
    }
    return VSSM_OK;
}

static vssm_status get_feats(vssm_weights *w, const char *path, const char *name, int64_t *rows, int64_t *dim,
                             float **out, vssm_err *err) {
    vssm_tensor t;
    vssm_status s = get_tensor(w, path, name, 2, &t, err);
    if (s != VSSM_OK) return s;
    *rows = t.shape[0];
    *dim = t.shape[1];
    /* the metrics hand rows and dim to cblas as int; the product is checked here, not
     * only trusted to the safetensors reader's size check */
    size_t bytes;
    if (t.shape[0] < 0 || t.shape[0] > INT32_MAX || t.shape[1] < 1 || t.shape[1] > INT32_MAX ||
        __builtin_mul_overflow((size_t)t.shape[0], (size_t)t.shape[1], &bytes) ||
        __builtin_mul_overflow(bytes, sizeof(float), &bytes) || __builtin_add_overflow(bytes, sizeof(float), &bytes))
        return vssm_err_set(err, VSSM_ERR_SHAPE,
                            "%s: '%s' has %lld x %lld features (rows 0 .. 2^31-1, dimensions 1 .. 2^31-1)", path, name,
                            (long long)t.shape[0], (long long)t.shape[1]);
    if (!(*out = malloc(bytes))) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory reading '%s'", path, name);
    if ((s = vssm_tensor_to_f32(&t, *out, err)) != VSSM_OK) {
        vssm_err_prefix(err, "%s: '%s'", path, name);
        return s;
    }
    /* NaN / inf (or an F64 value past float's range) would rank nothing meaningfully */
    const int64_t n = t.shape[0] * t.shape[1];
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: '%s' row %lld, column %lld is %g (features must be finite)",
                                path, name, (long long)(i / t.shape[1]), (long long)(i % t.shape[1]),
                                (double)(*out)[i]);
    return VSSM_OK;
}

vssm_status vssm_reid_features_load(vssm_reid_features *f, const char *path, vssm_err *err) {
    memset(f, 0, sizeof *f);
    vssm_weights *w = NULL;
    vssm_status s = vssm_safetensors_open(&w, path, err);
    if (s != VSSM_OK) return s;
    int64_t dq = 0, dg = 0;
    if ((s = get_feats(w, path, "query", &f->nq, &dq, &f->query, err)) == VSSM_OK &&
        (s = get_feats(w, path, "gallery", &f->ng, &dg, &f->gallery, err)) == VSSM_OK) {
        if (dq != dg)
            s = vssm_err_set(err, VSSM_ERR_SHAPE, "%s: query features have %lld dimensions, gallery features %lld",
                             path, (long long)dq, (long long)dg);
        f->dim = dq;
    }
    if (s == VSSM_OK) s = get_ids(w, path, "query_pid", f->nq, "query", &f->q_pid, err);
    if (s == VSSM_OK) s = get_ids(w, path, "query_camid", f->nq, "query", &f->q_camid, err);
    if (s == VSSM_OK) s = get_ids(w, path, "gallery_pid", f->ng, "gallery", &f->g_pid, err);
    if (s == VSSM_OK) s = get_ids(w, path, "gallery_camid", f->ng, "gallery", &f->g_camid, err);
    vssm_weights_close(w);
    if (s != VSSM_OK) vssm_reid_features_free(f);
    return s;
}

vssm_status vssm_reid_features_save(const char *path, const vssm_reid_features *f, const char *const *meta_kv,
                                    int n_meta, vssm_err *err) {
    vssm_st_entry e[6];
    const char *names[6] = {"query", "gallery", "query_pid", "query_camid", "gallery_pid", "gallery_camid"};
    void *data[6] = {f->query, f->gallery, f->q_pid, f->q_camid, f->g_pid, f->g_camid};
    int64_t rows[6] = {f->nq, f->ng, f->nq, f->nq, f->ng, f->ng};
    float none_f[1] = {0}; /* a valid pointer for empty splits */
    int64_t none_i[1] = {0};
    for (int i = 0; i < 6; i++) {
        memset(&e[i], 0, sizeof e[i]);
        e[i].name = names[i];
        e[i].t.dtype = i < 2 ? VSSM_DTYPE_F32 : VSSM_DTYPE_I64;
        e[i].t.ndim = i < 2 ? 2 : 1;
        e[i].t.shape[0] = rows[i];
        if (i < 2) e[i].t.shape[1] = f->dim;
        e[i].t.data = data[i] ? data[i] : (i < 2 ? (void *)none_f : (void *)none_i);
        e[i].t.device = VSSM_DEVICE_CPU;
    }
    vssm_st_meta meta[16];
    int nm = 0;
    for (int i = 0; i < n_meta && nm < 16; i++) meta[nm++] = (vssm_st_meta){meta_kv[2 * i], meta_kv[2 * i + 1]};
    return vssm_safetensors_write(path, e, 6, meta, nm, err);
}
