/* train/table.h - a trainer's parameter table (library-internal): one walk over a model's
 * name table (backbone/load.h) gives every trainable tensor, and three copies laid out from
 * it (train/table.c):
 *   MASTER    the optimizer's copy, each tensor in the layout its backward op takes
 *             (kernels/BACKWARD.md: plain, never packed; transposed tensors as the forward
 *             reads them, a 3x3 conv as (Cout, 3, 3, Cin));
 *   GRADIENT  the same layout;
 *   FORWARD   what the inference ops want where it differs: linear and conv weights packed
 *             (HALF_LINEAR of x / 2, exact), A = -exp(A_log); the other tensors are read from
 *             the master.
 * The model struct the walk fills is a "view": the trainer keeps one per copy (forward,
 * master, gradient), whose slots point into the copies. */
#ifndef VSSM_TRAIN_TABLE_H
#define VSSM_TRAIN_TABLE_H

#include "backbone/load.h"
#include "kernels/ops.h"
#include "vssm/train.h"

typedef struct vssm_ttab_entry {
    char name[96];
    int ndim, groups, decay;           /* decay: the trainer's choice (vssm_ttab_tensor) */
    int64_t shape[5], n, off, fwd_off; /* fwd_off < 0: the forward reads the master copy */
    vssm_xform xf;
} vssm_ttab_entry;

typedef struct vssm_ttab {
    vssm_ctx *ctx;
    vssm_ttab_entry *e;
    int ne, cap;
    float *master, *grad, *fwd; /* n_master, n_master, n_fwd floats; gaps between tensors 0 */
    int64_t n_master, n_fwd;
} vssm_ttab;

/* Records walk's tensors (walking views[1]), allocates the three copies and points the slots of
 * views[0] (forward), views[1] (master), views[2] (gradient) into them. */
vssm_status vssm_ttab_build(vssm_ttab *t, vssm_ctx *ctx, vssm_walk_fn walk, const void *cfg, void *const views[3],
                            vssm_err *err);
void vssm_ttab_free(vssm_ttab *t);

/* Where each tensor's first values come from: init(e, index, user, dst) writes dst (the master
 * layout) for the entries from_init(e, full name, user) chooses; the others are read from src
 * (official layout). */
typedef struct vssm_ttab_init {
    int (*from_init)(const vssm_ttab_entry *e, const char *full, void *user);
    void (*init)(const vssm_ttab_entry *e, int index, void *user, float *dst);
    void *user;
} vssm_ttab_init;
vssm_status vssm_ttab_load(vssm_ttab *t, const vssm_source *src, const char *prefix, const vssm_ttab_init *in,
                           vssm_err *err);

/* official layout (src) -> the master's (dst); inverse: master -> official */
void vssm_ttab_to_master(const vssm_ttab_entry *e, const float *src, float *dst, int inverse);
/* lays out the forward copy again from the master (after each optimizer step) */
void vssm_ttab_params_changed(vssm_ttab *t);
void vssm_ttab_zero_grad(vssm_ttab *t);
vssm_train_tensor vssm_ttab_tensor(const vssm_ttab *t, int i);

/* seeded draws for the initialisers (vssm_rng_next): uniform [0, 1), N(0, 1); a name's suffix */
double vssm_ttab_unif(uint64_t *s);
double vssm_ttab_normal(uint64_t *s);
int vssm_ttab_ends_with(const char *s, const char *suffix);

/* Planned arenas: take(b, n) is the next n floats (64-byte aligned) of b->base, or NULL while
 * counting (base NULL); b->off is then the size. */
typedef struct vssm_ttab_bump {
    char *base;
    size_t off;
} vssm_ttab_bump;
float *vssm_ttab_take(vssm_ttab_bump *b, size_t floats);

#endif
