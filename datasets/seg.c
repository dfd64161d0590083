/* datasets/seg.c - segmentation label maps (read as PIL 'unchanged', written as palette
 * PNGs) and dataset layouts: ADE20K, VOC2012, Cityscapes, image/label folder pairs
 * (vssm/seg_data.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "kernels/infile.h"
#include "vssm/image.h"
#include "vssm/outfile.h"
#include "vssm/seg_data.h"
#include "datasets/fs.h"

/* ------------------------------------------------------------------ label maps */

typedef struct png_err_ctx {
    char msg[256];
} png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_err_ctx *e = (png_err_ctx *)png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

void vssm_label_map_free(vssm_label_map *m) {
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* path opened for reading, past its PNG signature; only a regular file: a pipe or device in a
 * folder of label maps is named, not waited on or read forever (opened without waiting) */
static vssm_status open_png_file(const char *path, FILE **out, vssm_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open the label map (%s)", path, strerror(errno));
    struct stat fsb;
    if (fstat(fd, &fsb) != 0 || !S_ISREG(fsb.st_mode)) {
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: the label map is not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open the label map", path);
    }
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: a label map must be a PNG file", path);
    }
    *out = f;
    return VSSM_OK;
}

/* The decoders' pixel limit (PIL's decompression-bomb threshold), checked before any buffer
 * exists; and a file that cannot hold the pixels its header promises is refused before they
 * are allocated: deflate expands at most 1032 times (a 2-bit code for a 258-byte match), so
 * w * h * depth / 8 bytes need at least that / 1032 file bytes. NULL, or why not. */
static const char *label_map_size_refused(FILE *f, png_uint_32 w, png_uint_32 h, int depth) {
    uint64_t px = (uint64_t)w * h, fsize = 0;
    struct stat fst;
    if (fstat(fileno(f), &fst) == 0 && fst.st_size > 0) fsize = (uint64_t)fst.st_size;
    uint64_t need = px * (uint64_t)depth / 8;
    if (w == 0 || h == 0) return "has an empty size";
    if (px > (uint64_t)VSSM_IMAGE_MAX_PIXELS_DEFAULT)
        return "is over the limit of 178956970 pixels (decompression-bomb guard)";
    if (fsize && need / 1032 > fsize + 1024)
        return "promises far more pixel data than the file holds (truncated or corrupt)";
    return NULL;
}

vssm_status vssm_label_map_load(vssm_label_map *out, const char *path, vssm_err *err) {
    memset(out, 0, sizeof *out);
    FILE *opened = NULL;
    vssm_status st = open_png_file(path, &opened, err);
    if (st != VSSM_OK) return st;
    FILE *volatile f = opened; /* read after a longjmp from libpng */
    png_err_ctx ec = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ec, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile buf = NULL;
    int32_t *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(buf);
        free(data);
        free(rows);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: bad PNG (%s)", path, ec.msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (ct != PNG_COLOR_TYPE_PALETTE && ct != PNG_COLOR_TYPE_GRAY) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return vssm_err_set(
            err, VSSM_ERR_FORMAT,
            "%s: a label map must be a palette or gray PNG (one value per pixel), this one has colour type %d", path,
            ct);
    }
    const char *why = label_map_size_refused(f, w, h, depth);
    if (why) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: label map of %ux%u %s", path, (unsigned)w, (unsigned)h, why);
    }
    if (depth < 8) png_set_packing(png); /* one value per byte, not rescaled */
    if (depth == 16) png_set_swap(png);  /* host-order 16-bit values */
    int passes = png_set_interlace_handling(png);
    (void)passes;
    png_read_update_info(png, info);
    size_t rb = png_get_rowbytes(png, info);
    buf = malloc(rb * h);
    data = malloc((size_t)w * h * sizeof(int32_t));
    rows = malloc(h * sizeof(png_bytep));
    if (!buf || !data || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + y * rb;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* up to IEND: a file cut after its pixel data is refused, as images are */
    for (png_uint_32 y = 0; y < h; y++)
        for (png_uint_32 x = 0; x < w; x++)
            data[(size_t)y * w + x] = depth == 16 ? ((uint16_t *)rows[y])[x] : rows[y][x];
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    free(buf);
    free(rows);
    out->w = (int)w;
    out->h = (int)h;
    out->data = data;
    return VSSM_OK;
}

void vssm_seg_palette_voc(uint8_t palette[768]) {
    for (int i = 0; i < 256; i++) {
        int c = i, r = 0, g = 0, b = 0;
        for (int j = 0; j < 8; j++) {
            r |= ((c >> 0) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
            c >>= 3;
        }
        palette[3 * i] = (uint8_t)r;
        palette[3 * i + 1] = (uint8_t)g;
        palette[3 * i + 2] = (uint8_t)b;
    }
}

/* ------------------------------------------------------------------ layouts */

int vssm_seg_layout_from_name(const char *name) {
    if (!strcmp(name, "ade20k")) return VSSM_SEG_LAYOUT_ADE20K;
    if (!strcmp(name, "voc")) return VSSM_SEG_LAYOUT_VOC;
    if (!strcmp(name, "cityscapes")) return VSSM_SEG_LAYOUT_CITYSCAPES;
    if (!strcmp(name, "pairs")) return VSSM_SEG_LAYOUT_PAIRS;
    return -1;
}

const char *vssm_seg_path_stem(const char *path, int strip, char *buf, size_t n) {
    if (!buf || !n) return buf; /* no room, not even for the terminator */
    if (!path) path = "";
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t l = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    if (l >= n) l = n - 1;
    memcpy(buf, b, l);
    buf[l] = 0;
    if (strip) {
        const char *suf[] = {"_leftImg8bit", "_gtFine_labelTrainIds"};
        for (int i = 0; i < 2; i++) {
            size_t sl = strlen(suf[i]), bl = strlen(buf);
            if (bl > sl && !strcmp(buf + bl - sl, suf[i])) buf[bl - sl] = 0;
        }
    }
    return buf;
}

void vssm_seg_dataset_free(vssm_seg_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) {
        free(ds->image[i]);
        free(ds->label[i]);
    }
    free(ds->image);
    free(ds->label);
    for (int i = 0; i < ds->n_missing; i++) free(ds->missing[i]);
    free(ds->missing);
    free(ds->image_dir);
    free(ds->label_dir);
    memset(ds, 0, sizeof *ds);
}

/* An item of the layout left out (its image or label map is missing): the message kept for
 * the caller to name. 0, or -1 when out of memory. */
static int ds_miss(vssm_seg_dataset *ds, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ds_miss(vssm_seg_dataset *ds, const char *fmt, ...) {
    if (ds->n_missing == ds->missing_cap) {
        int cap = ds->missing_cap ? 2 * ds->missing_cap : 16;
        char **m = cap < (1 << 28) ? realloc(ds->missing, (size_t)cap * sizeof *m) : NULL;
        if (!m) return -1;
        ds->missing = m;
        ds->missing_cap = cap;
    }
    char msg[8400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!(ds->missing[ds->n_missing] = strdup(msg))) return -1;
    ds->n_missing++;
    return 0;
}

static int ds_push(vssm_seg_dataset *ds, const char *img, const char *lab) {
    if (ds->n == ds->cap) {
        int cap = ds->cap ? 2 * ds->cap : 64;
        char **a = realloc(ds->image, (size_t)cap * sizeof *a);
        if (!a) return -1;
        ds->image = a;
        char **b = realloc(ds->label, (size_t)cap * sizeof *b);
        if (!b) return -1;
        ds->label = b;
        ds->cap = cap;
    }
    ds->image[ds->n] = strdup(img);
    ds->label[ds->n] = strdup(lab);
    if (!ds->image[ds->n] || !ds->label[ds->n]) return -1;
    ds->n++;
    return 0;
}


static void free_list(char **l, int n) {
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

/* sorted names in dir (no dot files); caller frees */
static vssm_status list_dir(const char *dir, char ***out, int *n, vssm_err *err) {
    DIR *d = opendir(dir);
    *out = NULL;
    *n = 0;
    if (!d) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open the folder (%s)", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    for (;;) {
        errno = 0;
        if (!(e = readdir(d))) break;
        if (e->d_name[0] == '.') continue;
        char *name = NULL;
        if (*n == cap) {
            char **a = cap < (1 << 28) ? realloc(*out, (size_t)(cap ? 2 * cap : 64) * sizeof *a) : NULL;
            if (a) {
                *out = a;
                cap = cap ? 2 * cap : 64;
            }
        }
        if (*n == cap || !(name = strdup(e->d_name))) {
            closedir(d);
            free_list(*out, *n);
            *out = NULL;
            *n = 0;
            return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory listing the folder", dir);
        }
        (*out)[(*n)++] = name;
    }
    int rerr = errno; /* readdir sets errno only on an error */
    closedir(d);
    if (rerr) {
        free_list(*out, *n);
        *out = NULL;
        *n = 0;
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot read the folder (%s)", dir, strerror(rerr));
    }
    if (*n) qsort(*out, (size_t)*n, sizeof **out, vssm_fs_cmp_str);
    return VSSM_OK;
}

static int has_ext(const char *name, const char *const *exts) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}
static const char *const image_exts[] = {"jpg", "jpeg", "png", "bmp", "gif", "ppm", "pgm", "tga", NULL};

/* images in img_dir whose label is lab_dir/<stem><lab_suffix>; img_suffix must end the stem */
static vssm_status pair_folder(vssm_seg_dataset *ds, const char *img_dir, const char *lab_dir, const char *img_suffix,
                               const char *lab_suffix, vssm_err *err) {
    char **names;
    int n;
    vssm_status s = list_dir(img_dir, &names, &n, err);
    if (s != VSSM_OK) return s;
    for (int i = 0; i < n && s == VSSM_OK; i++) {
        if (!has_ext(names[i], image_exts)) continue;
        char stem[1024], img[4096], lab[4096];
        vssm_seg_path_stem(names[i], 0, stem, sizeof stem);
        size_t sl = strlen(stem), xl = strlen(img_suffix);
        if (xl) {
            if (sl <= xl || strcmp(stem + sl - xl, img_suffix)) continue;
            stem[sl - xl] = 0;
        }
        if (snprintf(img, sizeof img, "%s/%s", img_dir, names[i]) >= (int)sizeof img ||
            snprintf(lab, sizeof lab, "%s/%s%s", lab_dir, stem, lab_suffix) >= (int)sizeof lab) {
            s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s/%s: path too long", img_dir, names[i]);
            break;
        }
        if (!vssm_fs_is_file(img)) continue;
        if (!vssm_fs_is_file(lab)) {
            if (ds_miss(ds, "%s: label map missing for image %s (not scored)", lab, img))
                s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        } else if (ds_push(ds, img, lab))
            s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    free_list(names, n);
    return s;
}

/* The folders the layout finds its images and label maps in (for a caller that must not
 * write into them). */
static vssm_status ds_dirs(vssm_seg_dataset *ds, const char *img, const char *lab, vssm_err *err) {
    if (!(ds->image_dir = strdup(img)) || !(ds->label_dir = strdup(lab)))
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    return VSSM_OK;
}

static vssm_status need_dir(const char *p, vssm_err *err) {
    return vssm_fs_is_dir(p) ? VSSM_OK : vssm_err_set(err, VSSM_ERR_IO, "%s: folder not found", p);
}

vssm_status vssm_seg_dataset_open(vssm_seg_dataset *ds, vssm_seg_layout layout, const char *root, const char *split,
                                  const char *labels_dir, vssm_err *err) {
    memset(ds, 0, sizeof *ds);
    char a[4096], b[4096];
    vssm_status s = VSSM_OK;
    switch (layout) {
    case VSSM_SEG_LAYOUT_ADE20K:
        ds->reduce_zero_label = 1;
        split = split ? split : "validation";
        snprintf(a, sizeof a, "%s/images/%s", root, split);
        snprintf(b, sizeof b, "%s/annotations/%s", root, split);
        if ((s = need_dir(a, err)) || (s = need_dir(b, err)) || (s = ds_dirs(ds, a, b, err))) break;
        s = pair_folder(ds, a, b, "", ".png", err);
        break;
    case VSSM_SEG_LAYOUT_VOC: {
        split = split ? split : "val";
        snprintf(a, sizeof a, "%s/JPEGImages", root);
        snprintf(b, sizeof b, "%s/SegmentationClass", root);
        if ((s = ds_dirs(ds, a, b, err))) break;
        snprintf(a, sizeof a, "%s/ImageSets/Segmentation/%s.txt", root, split);
        FILE *f;
        if ((s = vssm_fopen_regular(&f, a, "the split list", VSSM_TEXT_FILE_MAX, err)) != VSSM_OK) break;
        char line[1024];
        while (s == VSSM_OK && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n \t")] = 0;
            if (!line[0]) continue;
            if (snprintf(a, sizeof a, "%s/JPEGImages/%s.jpg", root, line) >= (int)sizeof a ||
                snprintf(b, sizeof b, "%s/SegmentationClass/%s.png", root, line) >= (int)sizeof b)
                s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: path too long for id '%.64s'", root, line);
            else if (!vssm_fs_is_file(a)) {
                if (ds_miss(ds, "%s: image listed in the split %s is missing (not scored)", a, split))
                    s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            } else if (!vssm_fs_is_file(b)) {
                if (ds_miss(ds, "%s: label map missing for image %s (not scored)", b, a))
                    s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            } else if (ds_push(ds, a, b))
                s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
        }
        fclose(f);
        break;
    }
    case VSSM_SEG_LAYOUT_CITYSCAPES: {
        split = split ? split : "val";
        char idir[4096], ldir[4096];
        if (snprintf(idir, sizeof idir, "%s/leftImg8bit/%s", root, split) >= (int)sizeof idir ||
            snprintf(ldir, sizeof ldir, "%s/gtFine/%s", root, split) >= (int)sizeof ldir) {
            s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: path too long", root);
            break;
        }
        if ((s = need_dir(idir, err)) || (s = need_dir(ldir, err)) || (s = ds_dirs(ds, idir, ldir, err))) break;
        char **cities;
        int nc;
        if ((s = list_dir(idir, &cities, &nc, err))) break;
        for (int i = 0; i < nc && s == VSSM_OK; i++) {
            if (snprintf(a, sizeof a, "%s/%s", idir, cities[i]) >= (int)sizeof a ||
                snprintf(b, sizeof b, "%s/%s", ldir, cities[i]) >= (int)sizeof b) {
                s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s/%s: path too long", idir, cities[i]);
                break;
            }
            if (!vssm_fs_is_dir(a)) continue;
            s = pair_folder(ds, a, b, "_leftImg8bit", "_gtFine_labelTrainIds.png", err);
        }
        free_list(cities, nc);
        break;
    }
    case VSSM_SEG_LAYOUT_PAIRS:
        if (!labels_dir) {
            s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "the pairs layout needs a labels folder");
            break;
        }
        if ((s = need_dir(root, err)) || (s = need_dir(labels_dir, err)) || (s = ds_dirs(ds, root, labels_dir, err)))
            break;
        s = pair_folder(ds, root, labels_dir, "", ".png", err);
        break;
    default: s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown dataset layout %d", (int)layout);
    }
    if (s == VSSM_OK && ds->n == 0 && ds->n_missing)
        s = vssm_err_set(err, VSSM_ERR_IO,
                         "%s: no item has both its image and its label map (%d missing; the first: %s)", root,
                         ds->n_missing, ds->missing[0]);
    else if (s == VSSM_OK && ds->n == 0)
        s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: no images found for this layout", root);
    if (s != VSSM_OK) {
        int rz = ds->reduce_zero_label;
        vssm_seg_dataset_free(ds);
        ds->reduce_zero_label = rz;
    }
    return s;
}
