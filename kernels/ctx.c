/* kernels/ctx.c - the execution context (vssm/ctx.h) and the op wrappers layers call. */
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include "kernels/ctx_internal.h"

double vssm_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vssm_ctx_opts vssm_ctx_default_opts(void) {
    vssm_ctx_opts o;
    memset(&o, 0, sizeof o);
    o.device = VSSM_DEVICE_CPU;
    return o;
}

#ifndef VSSM_HAVE_CUDA
vssm_status vssm_cuda_backend_init(vssm_ctx *ctx, vssm_err *err) {
    return vssm_err_set(err, VSSM_ERR_DEVICE, "this vssm was built without CUDA (configure with -DVSSM_CUDA=ON)");
}
void vssm_cuda_backend_free(vssm_ctx *ctx) {}
#endif

vssm_status vssm_ctx_new(vssm_ctx **out, const vssm_ctx_opts *opts, vssm_err *err) {
    *out = NULL;
    vssm_ctx *c = calloc(1, sizeof *c);
    if (!c) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory creating a context");
    c->opts = opts ? *opts : vssm_ctx_default_opts();
    vssm_status s;
    if (c->opts.precision != VSSM_PRECISION_F32 && c->opts.precision != VSSM_PRECISION_BF16)
        s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown precision %d", (int)c->opts.precision);
    else if (c->opts.precision == VSSM_PRECISION_BF16 && c->opts.device != VSSM_DEVICE_CPU)
        s = vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                         "precision bf16 runs on the CPU only (this device computes in fp32)");
    else if (c->opts.device == VSSM_DEVICE_CPU)
        s = vssm_cpu_backend_init(c, err);
    else if (c->opts.device == VSSM_DEVICE_CUDA)
        s = vssm_cuda_backend_init(c, err);
    else
        s = vssm_err_set(err, VSSM_ERR_INVALID_ARG, "unknown device %d", (int)c->opts.device);
    const char *missing = s == VSSM_OK ? vssm_ops_missing(c->ops) : NULL;
    if (missing) {
        s = vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "the %s backend has no '%s' op (an empty slot in its table)",
                         c->ops && c->ops->name ? c->ops->name : "?", missing);
        if (c->opts.device == VSSM_DEVICE_CUDA) vssm_cuda_backend_free(c);
    }
    if (s != VSSM_OK) {
        free(c->cpu_ranges); /* a CPU backend refused after it was set up (an ISA, bf16) */
        free(c);
        return s;
    }
    *out = c;
    return VSSM_OK;
}

void vssm_ctx_free(vssm_ctx *ctx) {
    if (!ctx) return;
    if (ctx->opts.device == VSSM_DEVICE_CUDA) vssm_cuda_backend_free(ctx);
    free(ctx->gemm_scratch);
    free(ctx->cpu_ranges);
    free(ctx->bf16_scratch);
    free(ctx);
}

vssm_device vssm_ctx_device(const vssm_ctx *ctx) { return ctx->opts.device; }
int vssm_ctx_threads(const vssm_ctx *ctx) { return ctx->opts.n_threads; }
int vssm_ctx_last_threads(const vssm_ctx *ctx) {
    return ctx->threads_last > 0 ? ctx->threads_last : ctx->opts.n_threads;
}

/* ---- the thread count of a pass, by measurement (vssm_ctx_opts.adapt_threads) ---- */

#define TUNE_GAP_MIN 4
#define TUNE_GAP_MAX 64

vssm_status vssm_tuner_init(vssm_thread_tuner *t, vssm_ctx *ctx, vssm_err *err) {
    memset(t, 0, sizeof *t);
    if (!ctx->opts.adapt_threads || ctx->opts.device != VSSM_DEVICE_CPU || ctx->opts.n_threads <= 1) return VSSM_OK;
    t->max = ctx->opts.n_threads;
    t->avg = calloc((size_t)t->max + 1, sizeof *t->avg);
    if (!t->avg) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    t->best = t->cur = t->max;
    t->gap = TUNE_GAP_MIN; /* the first probe (pass 3) failing: the next after 8 or 16 passes */
    t->dir = -1;
    return VSSM_OK;
}

void vssm_tuner_free(vssm_thread_tuner *t) {
    free(t->avg);
    t->avg = NULL;
}

/* the count to try next to best: dir's side if there is one, else the other */
static int tuner_probe(vssm_thread_tuner *t) {
    int c = t->best + t->dir;
    if (c < 1 || c > t->max) t->dir = -t->dir, c = t->best + t->dir;
    return c >= 1 && c <= t->max ? c : t->best;
}

void vssm_tuner_begin(vssm_ctx *ctx, vssm_thread_tuner *t) {
    if (!t->avg) return;
    t->pass++;
    /* pass 1 (first touch of the activations, cold caches) runs at max and is not counted */
    t->cur = t->pass > 1 && t->pass >= t->next_probe ? tuner_probe(t) : t->best;
    ctx->threads_now = t->cur;
    t->t0 = vssm_now_seconds();
}

void vssm_tuner_end(vssm_ctx *ctx, vssm_thread_tuner *t) {
    if (!t->avg) return;
    const double dt = vssm_now_seconds() - t->t0;
    ctx->threads_now = ctx->opts.n_threads; /* ops outside timed passes: the context's count */
    ctx->threads_last = t->cur;
    if (t->pass == 1) {
        t->next_probe = 3; /* pass 2 times max, pass 3 its neighbour */
        return;
    }
    double *a = &t->avg[t->cur];
    if (t->cur == t->best) {
        /* a pass well over its count's average: the machine changed, look around at once */
        t->slow = *a > 0 && dt > 1.25 * *a ? t->slow + 1 : 0;
        if (t->slow >= 2) t->next_probe = t->pass + 1, t->gap = TUNE_GAP_MIN / 2, t->slow = 0;
        *a = *a > 0 ? 0.75 * *a + 0.25 * dt : dt;
        return;
    }
    *a = dt; /* a probe: this pass alone, the count's older figure may be stale */
    if (dt < 0.97 * t->avg[t->best]) {
        t->best = t->cur; /* keep going this way next time */
        t->gap = TUNE_GAP_MIN;
    } else {
        /* the other side next time, later: 4x later after a probe 25% slower (a quiet
         * machine's one thread fewer), so that it costs a bench 1 timed run in 10, not 2 */
        const int g = t->gap * (dt > 1.25 * t->avg[t->best] ? 4 : 2);
        t->dir = -t->dir;
        t->gap = g > TUNE_GAP_MAX ? TUNE_GAP_MAX : g;
    }
    t->next_probe = t->pass + t->gap;
}
const char *vssm_ctx_describe(const vssm_ctx *ctx) { return ctx->desc; }
const vssm_ops *vssm_ops_of(const vssm_ctx *ctx) { return ctx->ops; }

const char *vssm_op_kind_name(vssm_op_kind k) {
    static const char *names[VSSM_OP_KIND_COUNT] = {"gemm", "conv", "dwconv", "scan", "norm", "eltwise"};
    return (unsigned)k < VSSM_OP_KIND_COUNT ? names[k] : "?";
}

void vssm_ctx_profile(vssm_ctx *ctx, int enable) { ctx->profile = enable; }

void vssm_ctx_profile_take(vssm_ctx *ctx, double *secs) {
    memcpy(secs, ctx->prof_secs, sizeof ctx->prof_secs);
    memset(ctx->prof_secs, 0, sizeof ctx->prof_secs);
}

void vssm_ctx_profile_log(vssm_ctx *ctx, vssm_op_record *buf, size_t cap) {
    ctx->prof_log = cap ? buf : NULL;
    ctx->prof_cap = buf ? cap : 0;
    ctx->prof_n = 0;
}
size_t vssm_ctx_profile_logged(const vssm_ctx *ctx) { return ctx->prof_n; }

/* The ping-pong of vssm_ctx_core_round_trip: thread 0 writes an odd turn, thread 1 answers with
 * the next even one; each on its own cache line with the stop flag. Thread 0 checks the clock
 * every 256 spins and stops everything past the deadline (20 ms for thread 1 to show up, then
 * 5 ms of batches); only whole batches count (a batch the deadline cut short was one where a
 * thread waited for the CPU, not for the line). */
#define RT_BATCH 64
#define RT_BATCHES 9
typedef struct {
    _Alignas(64) atomic_int turn;
    _Alignas(64) atomic_int stop;
} rt_line;

static void rt_thread0(rt_line *l, double *per, int *nper) {
    /* thread 1 says it is running (turn -1 -> 0) before the clock starts: on a loaded machine
     * a thread may wait milliseconds for a core, and that is not the line's round trip */
    double deadline = vssm_now_seconds() + 20e-3;
    unsigned spins = 0;
    while (atomic_load_explicit(&l->turn, memory_order_acquire) != 0)
        if (++spins % 256 == 0 && vssm_now_seconds() > deadline) {
            atomic_store_explicit(&l->stop, 1, memory_order_release);
            return;
        }
    deadline = vssm_now_seconds() + 5e-3;
    int k = 0;
    for (int b = 0; b < RT_BATCHES; b++) {
        const double t0 = vssm_now_seconds();
        int n = 0;
        for (; n < RT_BATCH; n++, k++) {
            atomic_store_explicit(&l->turn, 2 * k + 1, memory_order_release);
            unsigned w = 0;
            while (atomic_load_explicit(&l->turn, memory_order_acquire) != 2 * k + 2)
                if (++w % 256 == 0 && vssm_now_seconds() > deadline) break;
            if (atomic_load_explicit(&l->turn, memory_order_acquire) != 2 * k + 2) break;
        }
        if (n == RT_BATCH) /* whole batches only */
            per[(*nper)++] = (vssm_now_seconds() - t0) / n;
        else
            break;
    }
    atomic_store_explicit(&l->stop, 1, memory_order_release);
}

static void rt_thread1(rt_line *l) {
    atomic_store_explicit(&l->turn, 0, memory_order_release);
    for (int k = 0;; k++) {
        while (atomic_load_explicit(&l->turn, memory_order_acquire) != 2 * k + 1)
            if (atomic_load_explicit(&l->stop, memory_order_acquire)) return;
        atomic_store_explicit(&l->turn, 2 * k + 2, memory_order_release);
    }
}

vssm_status vssm_ctx_core_round_trip(vssm_ctx *ctx, double *ns, vssm_err *err) {
    *ns = 0;
    if (ctx->opts.device != VSSM_DEVICE_CPU || ctx->opts.n_threads < 2) return VSSM_OK;
    rt_line *l = aligned_alloc(64, sizeof *l);
    if (!l) return vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory");
    atomic_init(&l->turn, -1);
    atomic_init(&l->stop, 0);
    double per[RT_BATCHES];
    int nper = 0;
#pragma omp parallel num_threads(2)
    if (omp_get_num_threads() == 2) {
        if (omp_get_thread_num() == 0)
            rt_thread0(l, per, &nper);
        else
            rt_thread1(l);
    }
    free(l);
    if (nper > 0) { /* the median batch */
        for (int i = 1; i < nper; i++)
            for (int j = i; j > 0 && per[j] < per[j - 1]; j--) {
                const double t = per[j];
                per[j] = per[j - 1], per[j - 1] = t;
            }
        *ns = 1e9 * per[nper / 2];
    }
    return VSSM_OK;
}

vssm_status vssm_ctx_copy_bandwidth(vssm_ctx *ctx, size_t bytes, double *gbps, vssm_err *err) {
    *gbps = 0;
    void *a = ctx->ops->alloc(ctx, bytes), *b = ctx->ops->alloc(ctx, bytes);
    char *h = calloc(1, bytes);
    vssm_status s = VSSM_OK;
    if (!a || !b || !h)
        s = vssm_err_set(err, VSSM_ERR_NOMEM, "out of memory for 2 x %zu bytes", bytes);
    else if (ctx->ops->upload(ctx, a, h, bytes) != 0 || ctx->ops->sync(ctx) != 0)
        s = vssm_err_set(err, VSSM_ERR_DEVICE, "upload failed");
    for (int r = 0; s == VSSM_OK && r < 6; r++) {
        double t = vssm_now_seconds();
        if (ctx->ops->copy(ctx, b, a, bytes) != 0 || ctx->ops->sync(ctx) != 0)
            s = vssm_err_set(err, VSSM_ERR_DEVICE, "copy failed");
        t = vssm_now_seconds() - t;
        if (r > 0 && t > 0 && 2.0 * (double)bytes / t / 1e9 > *gbps) *gbps = 2.0 * (double)bytes / t / 1e9;
    }
    free(h);
    if (a) ctx->ops->free(ctx, a);
    if (b) ctx->ops->free(ctx, b);
    return s;
}

vssm_status vssm_tensor_to_host(vssm_ctx *ctx, const vssm_tensor *t, float *dst, vssm_err *err) {
    if (t->dtype != VSSM_DTYPE_F32 || !t->data)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "tensor is empty or not f32");
    vssm_status s = vssm_op_status(ctx, "the ops before this copy", err);
    if (s != VSSM_OK) return s;
    if (ctx->ops->download(ctx, dst, t->data, (size_t)vssm_tensor_numel(t) * sizeof(float)) != 0)
        return vssm_err_set(err, VSSM_ERR_DEVICE, "copying a tensor from the device failed");
    return VSSM_OK;
}

/* ---- op wrappers: dispatch + optional per-kind timing ---- */
static double prof_begin(vssm_ctx *ctx) {
    if (!ctx->profile) return 0;
    ctx->ops->sync(ctx);
    return vssm_now_seconds();
}
static void prof_end(vssm_ctx *ctx, vssm_op_kind k, double t0) {
    if (!ctx->profile) return;
    ctx->ops->sync(ctx);
    const double dt = vssm_now_seconds() - t0;
    ctx->prof_secs[k] += dt;
    if (ctx->prof_log) {
        if (ctx->prof_n < ctx->prof_cap) ctx->prof_log[ctx->prof_n] = (vssm_op_record){k, dt};
        ctx->prof_n++;
    }
}

void *vssm_op_alloc(vssm_ctx *ctx, size_t bytes) { return ctx->ops->alloc(ctx, bytes); }
void vssm_op_free(vssm_ctx *ctx, void *p) {
    if (p) ctx->ops->free(ctx, p);
}
int vssm_op_upload(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return ctx->ops->upload(ctx, dst, src, bytes);
}
int vssm_op_download(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return ctx->ops->download(ctx, dst, src, bytes);
}
int vssm_op_copy(vssm_ctx *ctx, void *dst, const void *src, size_t bytes) {
    return ctx->ops->copy(ctx, dst, src, bytes);
}
int vssm_op_sync(vssm_ctx *ctx) { return ctx->ops->sync(ctx) != 0 || ctx->op_error[0] ? -1 : 0; }

vssm_status vssm_op_status(vssm_ctx *ctx, const char *what, vssm_err *err) {
    const int bad = ctx->ops->sync(ctx) != 0;
    if (ctx->op_error[0]) {
        vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s (in %s; a bug, not bad input)", ctx->op_error, what);
        ctx->op_error[0] = 0;
        return VSSM_ERR_INVALID_ARG;
    }
    return bad ? vssm_err_set(err, VSSM_ERR_DEVICE, "the device reported an error during %s", what) : VSSM_OK;
}

/* the first violated precondition is kept until reported */
static void op_refused(vssm_ctx *ctx, const char *op, const char *check) {
    if (!ctx->op_error[0])
        snprintf(ctx->op_error, sizeof ctx->op_error, "op %s was called with arguments that break its precondition %s",
                 op, check);
}

size_t vssm_op_linear_pack_numel(vssm_ctx *ctx, int N, int K) {
    size_t n = ctx->ops->linear_pack_numel && ctx->ops->linear_packed ? ctx->ops->linear_pack_numel(ctx, N, K) : 0;
    return n ? n : (size_t)N * K;
}
void vssm_op_linear_pack(vssm_ctx *ctx, const float *w, int N, int K, float *out) {
    if (ctx->ops->linear_pack_numel && ctx->ops->linear_packed && ctx->ops->linear_pack_numel(ctx, N, K))
        ctx->ops->linear_pack(ctx, w, N, K, out);
    else
        memcpy(out, w, (size_t)N * K * sizeof(float));
}
size_t vssm_op_dt_pack_numel(vssm_ctx *ctx, int G, int R, int D) {
    return ctx->ops->dt_pack_numel && ctx->ops->dt_pack ? ctx->ops->dt_pack_numel(ctx, G, R, D) : 0;
}
void vssm_op_dt_pack(vssm_ctx *ctx, const float *dtw, int G, int R, int D, float *out) {
    if (vssm_op_dt_pack_numel(ctx, G, R, D)) ctx->ops->dt_pack(ctx, dtw, G, R, D, out);
}
void vssm_op_linear_packed(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                           vssm_act act, int accumulate, float *y) {
    double t = prof_begin(ctx);
    if (ctx->ops->linear_packed)
        ctx->ops->linear_packed(ctx, x, M, K, wp, b, N, act, accumulate, y);
    else
        ctx->ops->linear(ctx, x, M, K, wp, b, N, act, accumulate, y);
    prof_end(ctx, VSSM_OP_GEMM, t);
}
void vssm_op_norm_proj(vssm_ctx *ctx, const vssm_norm_proj_args *a) {
    if (!vssm_norm_proj_ok(a)) {
        op_refused(ctx, "norm_proj", "vssm_norm_proj_ok(a)");
        return;
    }
    double t = prof_begin(ctx);
    if (ctx->ops->norm_proj && ctx->ops->linear_packed)
        ctx->ops->norm_proj(ctx, a);
    else {
        if (a->z)
            ctx->ops->layernorm_gate(ctx, a->x, a->M, a->K, a->gamma, a->beta, a->eps, a->z, a->ldz, a->xn);
        else
            ctx->ops->layernorm(ctx, a->x, a->M, a->K, a->gamma, a->beta, a->eps, VSSM_ACT_NONE, a->xn);
        if (ctx->ops->linear_packed)
            ctx->ops->linear_packed(ctx, a->xn, a->M, a->K, a->wp, a->b, a->N, a->act, a->accumulate, a->y);
        else
            ctx->ops->linear(ctx, a->xn, a->M, a->K, a->wp, a->b, a->N, a->act, a->accumulate, a->y);
    }
    prof_end(ctx, VSSM_OP_GEMM, t);
}
void vssm_op_stem_v2(vssm_ctx *ctx, const vssm_stem_args *a) {
    if (!vssm_stem_ok(a)) {
        op_refused(ctx, "stem_v2", "vssm_stem_ok(a)");
        return;
    }
    double t = prof_begin(ctx);
    if (ctx->ops->stem_v2)
        ctx->ops->stem_v2(ctx, a);
    else
        vssm_stem_v2_by_ops(ctx, a);
    prof_end(ctx, VSSM_OP_CONV, t);
}
void vssm_stem_v2_by_ops(vssm_ctx *ctx, const vssm_stem_args *a) {
    const int H1 = (a->H + 1) / 2, W1 = (a->W + 1) / 2;
    const int64_t M1 = (int64_t)a->B * H1 * W1, M2 = (int64_t)a->B * ((H1 + 1) / 2) * ((W1 + 1) / 2);
    ctx->ops->conv3x3s2(ctx, a->x, a->B, a->H, a->W, a->Cin, a->w1, a->b1, a->Cmid, a->mid, a->ws);
    ctx->ops->layernorm(ctx, a->mid, M1, a->Cmid, a->g1, a->be1, a->eps, VSSM_ACT_GELU, a->mid);
    ctx->ops->conv3x3s2(ctx, a->mid, a->B, H1, W1, a->Cmid, a->w2, a->b2, a->Cout, a->y, a->ws);
    ctx->ops->layernorm(ctx, a->y, M2, a->Cout, a->g2, a->be2, a->eps, VSSM_ACT_NONE, a->y);
}

void vssm_op_mlp(vssm_ctx *ctx, const vssm_mlp_args *a) {
    if (!vssm_mlp_ok(a)) {
        op_refused(ctx, "mlp", "vssm_mlp_ok(a)");
        return;
    }
    if (ctx->ops->mlp && ctx->ops->linear_packed) {
        double t = prof_begin(ctx);
        ctx->ops->mlp(ctx, a);
        prof_end(ctx, VSSM_OP_GEMM, t);
        return;
    }
    const vssm_norm_proj_args n = vssm_mlp_first(a);
    vssm_op_norm_proj(ctx, &n);
    vssm_op_linear_packed(ctx, a->h, a->M, a->N, a->w2p, a->b2, a->K, VSSM_ACT_NONE, 1, a->x);
}
size_t vssm_op_conv3x3s2_workspace(vssm_ctx *ctx, int B, int H, int W, int Cin) {
    return ctx->ops->conv3x3s2_workspace(B, H, W, Cin);
}
size_t vssm_op_scan_workspace(vssm_ctx *ctx, int B, int H, int W, int D, int R, int N) {
    return ctx->ops->scan_workspace(B, H, W, D, R, N);
}


/* the body of every wrapper: the precondition, then the call, timed under its kind */
#define OP_CALL_(name, kind, args, check) \
    if (!(check)) {                       \
        op_refused(ctx, #name, #check);   \
        return;                           \
    }                                     \
    double t = prof_begin(ctx);           \
    ctx->ops->name args;                  \
    prof_end(ctx, VSSM_OP_##kind, t);
#define WRAP_(name, kind, params, args, check) \
    void vssm_op_##name params { OP_CALL_(name, kind, args, check) }
VSSM_COMPUTE_OPS(WRAP_)
#undef WRAP_

static const char *backend_name(const vssm_ctx *ctx) { return ctx->ops->name ? ctx->ops->name : "?"; }

/* a backward op may be missing from a backend's table (training refused there): refused by name */
#define WRAP_BWD_(name, kind, params, args, check)                                                                 \
    void vssm_op_##name params {                                                                                   \
        if (!ctx->ops->name) {                                                                                     \
            if (!ctx->op_error[0])                                                                                 \
                snprintf(ctx->op_error, sizeof ctx->op_error, "op %s is not implemented on the %s backend", #name, \
                         backend_name(ctx));                                                                       \
            return;                                                                                                \
        }                                                                                                          \
        OP_CALL_(name, kind, args, check)                                                                          \
    }
VSSM_BACKWARD_OPS(WRAP_BWD_)
#undef WRAP_BWD_
#undef OP_CALL_

const char *vssm_ops_missing_backward(const vssm_ops *o) {
    if (!o) return "the table";
#define REQUIRE_BWD_(name, kind, params, args, check) \
    if (!o->name) return #name;
    VSSM_BACKWARD_OPS(REQUIRE_BWD_)
#undef REQUIRE_BWD_
    return NULL;
}

vssm_status vssm_op_training_supported(vssm_ctx *ctx, vssm_err *err) {
    if (ctx->opts.precision != VSSM_PRECISION_F32) /* the backward ops read fp32 weights */
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "training runs in fp32; this context computes its products in bf16 (use precision f32)");
    const char *missing = vssm_ops_missing_backward(ctx->ops);
    if (!missing) return VSSM_OK;
    return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                        "training is not available on the %s backend yet (it has no '%s' op); use the CPU",
                        ctx->ops->name ? ctx->ops->name : "?", missing);
}

const char *vssm_ops_missing(const vssm_ops *o) {
    if (!o) return "the table";
#define REQUIRE_(f) \
    if (!o->f) return #f;
#define REQUIRE_OP_(name, kind, params, args, check) REQUIRE_(name)
    /* the list below is macro statements without semicolons */
    /* clang-format off */
    REQUIRE_(alloc) REQUIRE_(free) REQUIRE_(upload) REQUIRE_(download) REQUIRE_(copy) REQUIRE_(sync)
    REQUIRE_(conv3x3s2_workspace) REQUIRE_(scan_workspace)
    VSSM_COMPUTE_OPS(REQUIRE_OP_)
#undef REQUIRE_OP_
#undef REQUIRE_
    return NULL;
    /* clang-format on */
}

void vssm_conv_weight_layout(const float *src, int Cout, int Cin, float *dst) {
    for (int o = 0; o < Cout; o++)
        for (int i = 0; i < Cin; i++)
            for (int k = 0; k < 9; k++) dst[((size_t)o * 9 + k) * Cin + i] = src[((size_t)o * Cin + i) * 9 + k];
}
