/* datasets/sequence.c - tracking sequences: OTB, LaSOT and GOT-10k folder layouts, box
 * files (comma / tab / space separated), visibility labels, frame lists; results writer. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/infile.h"
#include "kernels/cnum.h"
#include "vssm/outfile.h"
#include "vssm/track_data.h"
#include "datasets/fs.h"

#define TEXT_MAX ((size_t)1 << 30) /* a box or label file larger than 1 GiB is refused */

int vssm_seq_format_from_name(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "otb")) return VSSM_SEQ_FORMAT_OTB;
    if (!strcmp(name, "lasot")) return VSSM_SEQ_FORMAT_LASOT;
    if (!strcmp(name, "got10k")) return VSSM_SEQ_FORMAT_GOT10K;
    return -1;
}


/* sorted entry names of dir (no . and ..); -1 when it cannot be read, -2 out of memory,
 * -3 more than VSSM_BOXES_MAX entries (the int counters stay far from overflow) */
static int list_dir(const char *dir, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **v = NULL;
    int cap = 0, cnt = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (cnt == VSSM_BOXES_MAX) {
            bad = 3;
            break;
        }
        if (cnt == cap) {
            int nc = cap ? cap * 2 : 64;
            char **nv = realloc(v, (size_t)nc * sizeof *v);
            if (!nv) {
                bad = 1;
                break;
            }
            v = nv;
            cap = nc;
        }
        if (!(v[cnt] = strdup(e->d_name))) {
            bad = 1;
            break;
        }
        cnt++;
    }
    closedir(d);
    if (bad) {
        for (int i = 0; i < cnt; i++) free(v[i]);
        free(v);
        return bad == 3 ? -3 : -2;
    }
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, vssm_fs_cmp_str);
    *out = v;
    *n = cnt;
    return 0;
}

static void free_strs(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void vssm_seq_list_free(char **dirs, int n) { free_strs(dirs, n); }

static int has_image_ext(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm"};
    return vssm_fs_has_ext(name, ext, sizeof ext / sizeof ext[0]);
}

/* the number a frame file is named by ("0042.jpg" -> 42), or -1 */
static long frame_number(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return -1;
    long v = 0;
    for (const char *p = name; p < dot; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000) return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* natural order: runs of digits compare by their value ("2.jpg" < "10.jpg", "frame_9" <
 * "frame_10"), the rest byte by byte; names equal so ("01.jpg", "1.jpg") fall back to bytes */
static int cmp_natural(const void *pa, const void *pb) {
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    const char *x = a, *y = b;
    while (*x && *y) {
        if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
            while (*x == '0') x++;
            while (*y == '0') y++;
            size_t nx = 0, ny = 0;
            while (isdigit((unsigned char)x[nx])) nx++;
            while (isdigit((unsigned char)y[ny])) ny++;
            if (nx != ny) return nx < ny ? -1 : 1;
            int c = strncmp(x, y, nx);
            if (c) return c;
            x += nx;
            y += ny;
        } else {
            if (*x != *y) return (unsigned char)*x < (unsigned char)*y ? -1 : 1;
            x++;
            y++;
        }
    }
    if (*x || *y) return *x ? 1 : -1;
    return strcmp(a, b);
}

vssm_status vssm_seq_frames(const char *dir, char ***frames, int *n, vssm_err *err) {
    *frames = NULL;
    *n = 0;
    char *img = vssm_fs_join(dir, "img");
    if (!img) return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", dir);
    const char *base = vssm_fs_is_dir(img) ? img : dir;
    char **names;
    int cnt;
    int rc = list_dir(base, &names, &cnt);
    if (rc) {
        vssm_status s = vssm_err_set(err,
                                     rc == -1   ? VSSM_ERR_IO
                                     : rc == -3 ? VSSM_ERR_FORMAT
                                                : VSSM_ERR_NOMEM,
                                     "%s: cannot read the frame folder (%s)", base,
                                     rc == -1   ? strerror(errno)
                                     : rc == -3 ? "more than 4194304 entries"
                                                : "out of memory");
        free(img);
        return s;
    }
    if (cnt) qsort(names, (size_t)cnt, sizeof *names, cmp_natural); /* 1.jpg .. 10.jpg by number */
    char **v = calloc((size_t)(cnt ? cnt : 1), sizeof *v);
    int m = 0;
    long prev = -1;
    const char *prev_name = NULL;
    vssm_status s = v ? VSSM_OK : vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", base);
    for (int i = 0; s == VSSM_OK && i < cnt; i++) {
        if (!has_image_ext(names[i])) continue;
        /* numbered frames must be consecutive: a gap is a missing frame */
        long num = frame_number(names[i]);
        if (num >= 0 && num == prev) { /* 1.jpg and 0001.jpg, or 1.jpg and 1.png */
            s = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: frame %ld is there twice (%s and %s)", base, num, prev_name,
                             names[i]);
            break;
        }
        if (num >= 0 && prev >= 0 && num != prev + 1) {
            s = vssm_err_set(err, VSSM_ERR_FORMAT,
                             "%s: frame %ld is missing (the numbered frames jump from %ld to %ld at %s)", base,
                             prev + 1, prev, num, names[i]);
            break;
        }
        prev = num;
        prev_name = names[i];
        if (!(v[m] = vssm_fs_join(base, names[i])))
            s = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", base);
        else
            m++;
    }
    free_strs(names, cnt);
    free(img);
    if (s != VSSM_OK) {
        free_strs(v, m);
        return s;
    }
    *frames = v;
    *n = m;
    return VSSM_OK;
}

/* ---- text files ---- */

static char *read_text(const char *path, vssm_err *err, vssm_status *st) {
    FILE *f;
    if ((*st = vssm_fopen_regular(&f, path, "the text file", 0, err)) != VSSM_OK) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int too_big = 0;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= TEXT_MAX) {
                too_big = 1;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (too_big) {
        free(buf);
        *st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: larger than %zu MiB, not a box or label file", path,
                           TEXT_MAX >> 20);
        return NULL;
    }
    if (!buf) {
        *st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (ioerr) {
        free(buf);
        *st = vssm_err_set(err, VSSM_ERR_IO, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        free(buf);
        *st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: binary content in a text file", path);
        return NULL;
    }
    if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) memmove(buf, buf + 3, n - 2); /* a UTF-8 BOM (Notepad's) */
    *st = VSSM_OK;
    return buf;
}

static int is_sep(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == ';'; }

vssm_status vssm_boxes_read_lines(const char *path, vssm_box **boxes, int **lines, int *n, vssm_err *err) {
    *boxes = NULL;
    if (lines) *lines = NULL;
    *n = 0;
    vssm_status st;
    char *txt = read_text(path, err, &st);
    if (!txt) return st;
    int cap = 256, cnt = 0, line_no = 0;
    vssm_box *v = malloc((size_t)cap * sizeof *v);
    int *ln = lines ? malloc((size_t)cap * sizeof *ln) : NULL;
    st = v && (ln || !lines) ? VSSM_OK : vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    for (char *line = txt; st == VSSM_OK && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        char *p = line;
        while (is_sep(*p)) p++;
        if (*p) {
            double val[4];
            int k = 0;
            while (*p && k < 5) {
                char *end;
                errno = 0;
                double d = vssm_strtod_c(p, &end);
                if (end == p) break;
                if (k < 4) val[k] = d;
                k++;
                p = end;
                while (is_sep(*p)) p++;
            }
            if (k != 4 || *p) {
                st = vssm_err_set(err, VSSM_ERR_FORMAT,
                                  "%s:%d: expected 4 numbers x,y,w,h (comma, tab or space separated), got '%.60s'",
                                  path, line_no, line);
                break;
            }
            if (cnt == VSSM_BOXES_MAX) {
                st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s:%d: more than %d boxes, not a tracking sequence", path,
                                  line_no, VSSM_BOXES_MAX);
                break;
            }
            if (cnt == cap) { /* cap <= VSSM_BOXES_MAX: no overflow */
                vssm_box *nv = realloc(v, (size_t)cap * 2 * sizeof *v);
                if (nv) v = nv;
                int *nl2 = nv && lines ? realloc(ln, (size_t)cap * 2 * sizeof *ln) : NULL;
                if (nl2) ln = nl2;
                if (!nv || (lines && !nl2)) {
                    st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                cap *= 2;
            }
            if (ln) ln[cnt] = line_no;
            v[cnt++] = (vssm_box){val[0], val[1], val[2], val[3]};
        }
        line = nl ? nl + 1 : NULL;
    }
    free(txt);
    if (st != VSSM_OK) {
        free(v);
        free(ln);
        return st;
    }
    *boxes = v;
    if (lines) *lines = ln;
    *n = cnt;
    return VSSM_OK;
}

vssm_status vssm_boxes_read(const char *path, vssm_box **boxes, int *n, vssm_err *err) {
    return vssm_boxes_read_lines(path, boxes, NULL, n, err);
}

/* integers separated by commas / whitespace (LaSOT one line, GOT-10k one per line) */
static vssm_status ints_read(const char *path, int **out, int *n, vssm_err *err) {
    *out = NULL;
    *n = 0;
    vssm_status st;
    char *txt = read_text(path, err, &st);
    if (!txt) return st;
    int cap = 256, cnt = 0;
    int *v = malloc((size_t)cap * sizeof *v);
    st = v ? VSSM_OK : vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    char *p = txt;
    while (st == VSSM_OK) {
        while (*p && (is_sep(*p) || *p == '\n')) p++;
        if (!*p) break;
        char *end;
        double d = vssm_strtod_c(p, &end); /* "1", "0", "1.0" */
        if (end == p || d != floor(d) || fabs(d) > 1e6) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: expected integer labels, got '%.20s'", path, p);
            break;
        }
        if (cnt == VSSM_BOXES_MAX) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: more than %d labels, not a tracking sequence", path,
                              VSSM_BOXES_MAX);
            break;
        }
        if (cnt == cap) {
            int *nv = realloc(v, (size_t)cap * 2 * sizeof *v);
            if (!nv) {
                st = vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = (int)d;
        p = end;
    }
    free(txt);
    if (st != VSSM_OK) {
        free(v);
        return st;
    }
    *out = v;
    *n = cnt;
    return VSSM_OK;
}

/* an optional label file of n_gt entries; *out stays NULL when the file is absent */
static vssm_status labels_opt(const char *dir, const char *name, int n_gt, int **out, vssm_err *err) {
    *out = NULL;
    char *p = vssm_fs_join(dir, name);
    if (!p) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    vssm_status st = VSSM_OK;
    if (vssm_fs_is_file(p)) {
        int n;
        st = ints_read(p, out, &n, err);
        if (st == VSSM_OK && n != n_gt) {
            st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %d labels for %d ground-truth boxes", p, n, n_gt);
            free(*out);
            *out = NULL;
        }
    }
    free(p);
    return st;
}

/* every label of a file labels_opt read within lo .. hi (GOT-10k: cover 0..8, absence 0/1) */
static vssm_status labels_range(const char *dir, const char *name, const int *v, int n, int lo, int hi, vssm_err *err) {
    for (int i = 0; v && i < n; i++)
        if (v[i] < lo || v[i] > hi)
            return vssm_err_set(err, VSSM_ERR_FORMAT, "%s/%s: label %d (frame %d) is %d; GOT-10k's %s takes %d .. %d",
                                dir, name, i + 1, i + 1, v[i], name, lo, hi);
    return VSSM_OK;
}

void vssm_seq_free(vssm_seq *s) {
    if (!s) return;
    free(s->name);
    free(s->dir);
    free_strs(s->frames, s->n_frames);
    free(s->gt);
    free(s->visible);
    free(s->cover);
    free(s->gt_path);
    free(s->gt_line);
    memset(s, 0, sizeof *s);
}

/* meta_info.ini's "resolution: (W, H)" into w, h; 0, 0 when the file or the line is absent,
 * -1, -1 when a resolution line is there but is not two integers 1 .. 1048576 */
static void read_resolution(const char *dir, int *w, int *h) {
    *w = *h = 0;
    char *p = vssm_fs_join(dir, "meta_info.ini");
    FILE *f = NULL;
    if (p) vssm_fopen_regular(&f, p, "meta_info.ini", VSSM_TEXT_FILE_MAX, NULL); /* a FIFO, /dev/zero: absent */
    free(p);
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        /* "resolution: (W, H)"; strtol, not sscanf %d, whose overflow is undefined */
        if (strncmp(line, "resolution", 10)) continue;
        char *p = line + 10, *e;
        *w = *h = -1; /* until the line proves good */
        while (*p == ' ' || *p == ':' || *p == '(' || *p == '\t') p++;
        errno = 0;
        long a = strtol(p, &e, 10);
        if (e == p || errno) break;
        p = e;
        while (*p == ' ' || *p == ',') p++;
        long b = strtol(p, &e, 10);
        if (e == p || errno) break;
        p = e;
        while (*p == ' ' || *p == ')' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p || a < 1 || a > (1L << 20) || b < 1 || b > (1L << 20)) break;
        *w = (int)a;
        *h = (int)b;
        break;
    }
    fclose(f);
}

vssm_status vssm_seq_load(vssm_seq *s, const char *dir, vssm_seq_format fmt, vssm_err *err) {
    memset(s, 0, sizeof *s);
    if ((int)fmt < 0 || (int)fmt > (int)VSSM_SEQ_FORMAT_GOT10K)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: unknown sequence format %d", dir ? dir : "?", (int)fmt);
    if (!vssm_fs_is_dir(dir)) return vssm_err_set(err, VSSM_ERR_IO, "%s: not a sequence folder", dir);
    size_t L = strlen(dir);
    while (L > 1 && dir[L - 1] == '/') L--;
    const char *b = dir + L;
    while (b > dir && b[-1] != '/') b--;
    s->name = malloc((size_t)(dir + L - b) + 1);
    s->dir = strdup(dir);
    if (!s->name || !s->dir) {
        vssm_seq_free(s);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    memcpy(s->name, b, (size_t)(dir + L - b));
    s->name[dir + L - b] = 0;

    char *gtp = vssm_fs_join(dir, fmt == VSSM_SEQ_FORMAT_OTB ? "groundtruth_rect.txt" : "groundtruth.txt");
    if (gtp && fmt == VSSM_SEQ_FORMAT_OTB && !vssm_fs_is_file(gtp)) { /* tolerate the other name */
        char *alt = vssm_fs_join(dir, "groundtruth.txt");
        if (alt && vssm_fs_is_file(alt)) {
            free(gtp);
            gtp = alt;
        } else
            free(alt);
    }
    if (!gtp) {
        vssm_seq_free(s);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    }
    s->gt_path = gtp;
    vssm_status st = vssm_boxes_read_lines(gtp, &s->gt, &s->gt_line, &s->n_gt, err);
    if (st == VSSM_OK && s->n_gt == 0) st = vssm_err_set(err, VSSM_ERR_FORMAT, "%s: no boxes", gtp);
    if (st == VSSM_OK && fmt == VSSM_SEQ_FORMAT_LASOT) {
        int *occ = NULL, *oov = NULL;
        st = labels_opt(dir, "full_occlusion.txt", s->n_gt, &occ, err);
        if (st == VSSM_OK) st = labels_opt(dir, "out_of_view.txt", s->n_gt, &oov, err);
        if (st == VSSM_OK && (occ || oov)) {
            if (!(s->visible = malloc((size_t)s->n_gt))) st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            for (int i = 0; st == VSSM_OK && i < s->n_gt; i++) s->visible[i] = !(occ && occ[i]) && !(oov && oov[i]);
        }
        free(occ);
        free(oov);
    } else if (st == VSSM_OK && fmt == VSSM_SEQ_FORMAT_GOT10K) {
        int *abs_ = NULL;
        st = labels_opt(dir, "absence.label", s->n_gt, &abs_, err);
        if (st == VSSM_OK) st = labels_range(dir, "absence.label", abs_, s->n_gt, 0, 1, err);
        if (st == VSSM_OK) st = labels_opt(dir, "cover.label", s->n_gt, &s->cover, err);
        if (st == VSSM_OK && abs_) {
            if (!(s->visible = malloc((size_t)s->n_gt))) st = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
            for (int i = 0; st == VSSM_OK && i < s->n_gt; i++) s->visible[i] = !abs_[i];
        }
        free(abs_);
        if (st == VSSM_OK) st = labels_range(dir, "cover.label", s->cover, s->n_gt, 0, 8, err);
        read_resolution(dir, &s->res_w, &s->res_h);
        if (st == VSSM_OK && s->res_w < 0)
            st = vssm_err_set(err, VSSM_ERR_FORMAT,
                              "%s/meta_info.ini: the resolution line is not 'resolution: (W, H)' with W and H integers "
                              "1 .. 1048576",
                              dir);
    }
    if (st == VSSM_OK) {
        /* frames are optional for evaluation: a folder without images gives n_frames 0 */
        char **fr;
        int nf;
        vssm_err e2 = {0};
        vssm_status fs = vssm_seq_frames(dir, &fr, &nf, &e2);
        if (fs == VSSM_OK) {
            s->frames = fr;
            s->n_frames = nf;
        } else if (fs != VSSM_ERR_IO) {
            st = fs;
            if (err) *err = e2;
        }
    }
    if (st != VSSM_OK) vssm_seq_free(s);
    return st;
}

static int has_gt(const char *dir, vssm_seq_format fmt) {
    char *p = vssm_fs_join(dir, fmt == VSSM_SEQ_FORMAT_OTB ? "groundtruth_rect.txt" : "groundtruth.txt");
    int ok = p && vssm_fs_is_file(p);
    free(p);
    if (!ok && fmt == VSSM_SEQ_FORMAT_OTB) {
        p = vssm_fs_join(dir, "groundtruth.txt");
        ok = p && vssm_fs_is_file(p);
        free(p);
    }
    return ok;
}

/* appends the sub-folders of dir that hold a groundtruth file */
static int collect(const char *dir, vssm_seq_format fmt, char ***v, int *n, int *cap) {
    char **names;
    int cnt;
    if (list_dir(dir, &names, &cnt)) return -1;
    int rc = 0;
    for (int i = 0; i < cnt && !rc; i++) {
        char *p = vssm_fs_join(dir, names[i]);
        if (!p) {
            rc = -2;
            break;
        }
        if (vssm_fs_is_dir(p) && has_gt(p, fmt)) {
            if (*n == *cap) {
                int nc = *cap ? *cap * 2 : 64;
                char **nv = realloc(*v, (size_t)nc * sizeof **v);
                if (!nv) {
                    free(p);
                    rc = -2;
                    break;
                }
                *v = nv;
                *cap = nc;
            }
            (*v)[(*n)++] = p;
        } else {
            free(p);
        }
    }
    free_strs(names, cnt);
    return rc;
}

vssm_status vssm_seq_list(const char *root, vssm_seq_format fmt, char ***dirs, int *n, vssm_err *err) {
    *dirs = NULL;
    *n = 0;
    if ((int)fmt < 0 || (int)fmt > (int)VSSM_SEQ_FORMAT_GOT10K)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: unknown sequence format %d", root ? root : "?", (int)fmt);
    if (!vssm_fs_is_dir(root)) return vssm_err_set(err, VSSM_ERR_IO, "%s: not a folder", root);
    char **v = NULL;
    int cnt = 0, cap = 0, rc = collect(root, fmt, &v, &cnt, &cap);
    if (!rc && fmt == VSSM_SEQ_FORMAT_LASOT) {
        /* root/<cls>/<cls>-<n>: walk the class folders too */
        char **names;
        int nn;
        if (!list_dir(root, &names, &nn)) {
            for (int i = 0; i < nn && !rc; i++) {
                char *p = vssm_fs_join(root, names[i]);
                if (p && vssm_fs_is_dir(p) && !has_gt(p, fmt)) rc = collect(p, fmt, &v, &cnt, &cap);
                free(p);
            }
            free_strs(names, nn);
        }
        if (cnt) qsort(v, (size_t)cnt, sizeof *v, vssm_fs_cmp_str);
    }
    if (rc) {
        free_strs(v, cnt);
        return vssm_err_set(err,
                            rc == -1   ? VSSM_ERR_IO
                            : rc == -3 ? VSSM_ERR_FORMAT
                                       : VSSM_ERR_NOMEM,
                            "%s: cannot read the dataset folder%s", root,
                            rc == -3 ? " (more than 4194304 entries)" : "");
    }
    if (!cnt) {
        free(v);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: no sequences (expected %s)", root,
                            fmt == VSSM_SEQ_FORMAT_OTB     ? "ROOT/<seq>/groundtruth_rect.txt"
                            : fmt == VSSM_SEQ_FORMAT_LASOT ? "ROOT/<cls>/<cls>-<n>/groundtruth.txt"
                                                           : "ROOT/<seq>/groundtruth.txt");
    }
    *dirs = v;
    *n = cnt;
    return VSSM_OK;
}

vssm_status vssm_boxes_write(const char *path, const vssm_box *boxes, int n, vssm_err *err) {
    if (n < 0 || (n > 0 && !boxes))
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: %d boxes%s", path ? path : "boxes", n,
                            n < 0 ? "" : " from a NULL array");
    vssm_outfile o;
    vssm_status s = vssm_outfile_open(&o, path, err);
    if (s != VSSM_OK) return s;
    for (int i = 0; i < n; i++) {
        const vssm_box *b = &boxes[i];
        if (fprintf(o.f, "%.0f,%.0f,%.0f,%.0f\n", round(b->x) + 0.0, round(b->y) + 0.0, round(b->w) + 0.0,
                    round(b->h) + 0.0) < 0) {
            vssm_outfile_abort(&o);
            return vssm_err_set(err, VSSM_ERR_IO, "%s: write failed (%s)", path, strerror(errno));
        }
    }
    return vssm_outfile_commit(&o, err);
}
