/* tools/runner.h - what classify and eval share: image lists from paths and ImageFolder
 * trees, and a batched decode -> preprocess -> forward loop with a progress bar. */
#ifndef VSSM_TOOLS_RUNNER_H
#define VSSM_TOOLS_RUNNER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "vssm/classifier.h"

typedef struct img_list {
    char **path; /* owned */
    int *label;  /* ImageFolder class index, or -1 */
    int n, cap;
    char **classes; /* ImageFolder class names (sorted), owned */
    int n_classes;
} img_list;

void img_list_free(img_list *l);
/* shard_hash of the list: its paths and labels in order, and its class names */
uint64_t img_list_hash(const img_list *l);
/* Files are taken as given (format found from content); folders are walked recursively in
 * byte-sorted order, keeping files with an image extension; hidden entries (names starting
 * with '.': .ipynb_checkpoints, macOS's ._x.jpg) are skipped, counted in one note. Links are followed, but each
 * real folder (device + inode) is walked once: a link cycle or a second link to a folder
 * already walked is skipped with a note on stderr. Returns the number of paths, folders
 * and entries that could not be read (each named on stderr): the caller counts them as
 * failed inputs. quiet: count them without naming them (under mpirun, ranks other than 0). */
int img_list_collect(img_list *l, char **paths, int n, int quiet);
/* ImageFolder: classes = sorted names of ROOT's sub-folders (as torchvision), images found
 * recursively under each (links as in img_list_collect). Hidden sub-folders of ROOT (".x",
 * e.g. .ipynb_checkpoints) are not classes: skipped with a note. Returns 0, or -1 with a
 * message on stderr when ROOT cannot be read, has no class folder, or a class folder holds
 * no image (named; torchvision's "Found no valid file for the classes"; a class folder that
 * could not be read counts as unreadable instead). *unreadable gets the number
 * of class folders, sub-folders and entries that could not be read (each named on
 * stderr; an unreadable entry of ROOT may be a class, so it counts too). quiet: as in
 * img_list_collect (nothing printed). */
int img_list_imagefolder(img_list *l, const char *root, int *unreadable, int quiet);
int img_has_image_ext(const char *name);

typedef struct run_opts {
    int batch;
    int threads; /* decode threads (<= 0: all cores) */
    vssm_preprocess_params pp;
    int progress;             /* draw a progress bar on stderr */
    vssm_image_limits limits; /* decode guard (max_pixels 0: the library's default) */
} run_opts;

/* Called once per image, in list order: logits (classes floats) on success, or NULL and
 * a message on failure. */
typedef void (*run_cb)(void *user, int index, const float *logits, int classes, const char *error);

/* Returns the number of images that failed; -1 when the model itself failed. */
int run_classifier(vssm_classifier *clf, const img_list *l, const run_opts *o, run_cb cb, void *user, double *seconds);

/* Seconds on a monotonic clock (for run_progress and speed lines). */
double run_clock(void);
/* The progress bar every image verb draws on stderr: "[===>  ] done/total rate img/s ETA s",
 * redrawn in place, ended by a newline when done == total. t0: run_clock() at the start. */
void run_progress(int done, int total, double t0);

/* Writes s as a JSON string (quotes included): ", \ and control bytes escaped, and bytes
 * that are not valid UTF-8 (file names are arbitrary bytes) written as U+FFFD, so the
 * output is always valid JSON. */
void json_put_str(FILE *f, const char *s);
/* Writes a path in a text (line) output: control bytes as C escapes (\n, \t, \x1b, ...) so
 * one line stays one result; other bytes as they are (JSON output keeps every name exact). */
void text_put_path(FILE *f, const char *s);

/* The bytes the images being decoded at once may take together: a window's threads and the
 * read-ahead window decode in parallel, and one interlaced 16-bit 13000x13000 PNG (1.3 MB of
 * file) takes 2 GB to decode: six of them at --threads 8 --batch 8 took 10.3 GB. Each decode
 * enters with its share (vssm_image_probe of the file's first bytes) and waits while the
 * others hold the rest of half the plan budget (kernels/membudget.h); one alone always goes.
 * enter returns the share to hand back to leave (0: unknown size, nothing taken). */
typedef struct decode_budget {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t used, cap;
} decode_budget;
void decode_budget_init(decode_budget *d);
void decode_budget_free(decode_budget *d);
int64_t decode_budget_enter(decode_budget *d, const char *path);
void decode_budget_leave(decode_budget *d, int64_t share);

/* softmax of n logits into p (double precision sums) */
void softmax(const float *logits, int n, double *p);
/* indices of the k largest values, descending (ties: lower index first) */
void topk_indices(const float *v, int n, int k, int *out);

#endif
