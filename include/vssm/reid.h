/* vssm/reid.h - re-identification: an embedding head on the backbone and torchreid-exact
 * ranking metrics with k-reciprocal re-ranking (dataset readers and the features file:
 * vssm/reid_data.h, included here).
 *
 * Embedding (heads/reid.c). image -> backbone (vssm/backbone.h) -> last stage (B, H, W, C)
 * -> [optional, VMamba only: the classifier's LayerNorm per token] -> global average pool
 * over H*W -> (B, C) -> optional BNNeck -> optional L2 normalisation -> (B, C).
 *   VMamba: the last stage is stage 3 (stride 32, dims[3] channels).
 *   Vision Mamba: the final token grid after norm_f without the class token (stride 16,
 *   embed_dim channels); the embedding is the mean of the image tokens, not the class
 *   token (a segmentation Vim has none; the tokens are what the other dense heads read).
 *   BNNeck = BatchNorm1d in eval mode: y = (x - running_mean) / sqrt(running_var + eps)
 *   * weight + bias, eps 1e-5 (float32). Its tensors are looked up under the backbone's
 *   prefix P (the one holding the backbone: "patch_embed.0.weight" of a VMamba,
 *   "layers.0.mixer.in_proj.weight" of a Vim), first match wins:
 *       P + "bnneck."  P + "bottleneck."  P + "heads.bottleneck.0."
 *   followed by running_mean and running_var (required, shape (C)) and weight, bias
 *   (optional: 1 and 0 when absent, i.e. BatchNorm1d(affine=False)). num_batches_tracked
 *   is ignored. The names cover our own files, the "strong baseline"/TransReID naming and
 *   fast-reid's EmbeddingHead.
 *   L2 normalisation is torch's F.normalize: x / max(||x||, 1e-12); by default it is on
 *   when the file's metadata says reid_l2norm "1" (a model trained to be compared
 *   normalised, as weights/reid_demo's), off otherwise.
 *
 *     vssm_reid_model *m;
 *     vssm_reid_model_opts o = vssm_reid_model_default_opts();   // BNNeck when present, L2 as the file says
 *     vssm_reid_model_load(&m, ctx, "w.safetensors", &o, &err);
 *     vssm_preprocess_params pp = vssm_reid_model_preprocess(m);  // the file's metadata
 *     vssm_reid_model_forward(m, x, B, H, W, emb, &err);          // emb (B, dim)
 *
 * Datasets and the features file (datasets/reid.c) are in vssm/reid_data.h, which this
 * header includes.
 *
 * Metrics (eval/reid_metrics.c): torchreid metrics/rank.py eval_market1501 + fast-reid's mINP.
 *   Per query, the gallery sorted by ascending distance. Ties: numpy's argsort (introsort,
 *   not stable) leaves their order undefined; here equal distances keep gallery order
 *   (a stable sort, = np.argsort(kind="stable")), so results are deterministic. Gallery
 *   items with the query's pid AND camid are removed; a query with no remaining match is
 *   skipped (n_valid counts the others; zero valid queries is an error, as torchreid's
 *   assert). CMC(k) = fraction of valid queries whose first match is at rank <= k (a query
 *   whose kept list is shorter than k counts as found: it has a match within the list).
 *   AP = mean over match positions of precision there; mINP = #matches / rank of the last
 *   match. max_rank is capped at the gallery size, as torchreid.
 *   Distances: euclidean = SQUARED euclidean, ||a||^2 + ||b||^2 - 2 a.b in float32 (as
 *   torchreid, may be slightly negative, not clamped); cosine = 1 - a.b / (||a|| ||b||)
 *   with F.normalize's 1e-12 floor. Computed with cblas_sgemm in blocks of queries, so
 *   evaluation without re-ranking needs only O((block + D) * gallery) memory.
 *   Re-ranking: k-reciprocal encoding (Zhong et al. 2017) exactly as torchreid
 *   utils/rerank.py re_ranking(q_g, q_q, g_g, k1, k2, lambda), float32 throughout, on the
 *   distance matrices of the chosen metric (which it squares, as torchreid does).
 *   Initial-rank ties are broken by index (numpy's order is undefined there). Checked
 *   against a line-for-line numpy port on random features: max |diff| < 3e-7, identical
 *   metrics. Sums follow numpy's order (np.sum's pairwise blocks: bit-identical); the
 *   remaining last-bit differences come from exp (numpy's SIMD expf vs libm's, which
 *   differ in about 40% of float32 inputs by one ulp). Memory: the three input matrices
 *   ((q+g)^2 floats, 4 (q+g)^2 bytes: 1.5 GB for Market-1501's 3368 + 15913) plus
 *   O((q+g) * k1 * k2) for the sparse V; torchreid's dense version needs about four times
 *   that.
 *
 * Errors: empty sets, length mismatches, NaN/Inf features or distances give
 * VSSM_ERR_INVALID_ARG with a message saying which set, row and value. Nothing prints.
 */
#ifndef VSSM_REID_H
#define VSSM_REID_H

#include "vssm/backbone.h"
#include "vssm/common.h"
#include "vssm/ctx.h"
#include "vssm/image.h"
#include "vssm/reid_data.h"
#include "vssm/source.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- embedding head */

typedef struct vssm_reid_head_opts {
    int bnneck;     /* -1: use when the weights have one (default), 0: never, 1: required */
    int l2norm;     /* -1: as the weights say (default): metadata reid_l2norm "1" turns it on, else
                       off; 0: never; 1: always L2-normalise the embedding */
    float eps;      /* BatchNorm eps, 1e-5 */
    int final_norm; /* 1: apply the classifier's final LayerNorm ("classifier.norm.*", eps 1e-5)
                       to every token before pooling, as VMamba's classifier does (default 0);
                       refused for a Vim (its norm_f already normalises the tokens) */
} vssm_reid_head_opts;
VSSM_API vssm_reid_head_opts vssm_reid_head_default_opts(void);

typedef struct vssm_reid_head vssm_reid_head;
/* dim: the last stage's channels. prefix: the backbone's prefix (see above). */
VSSM_API vssm_status vssm_reid_head_load(vssm_reid_head **out, int dim, const vssm_source *src, const char *prefix,
                                         const vssm_reid_head_opts *opts, vssm_err *err);
VSSM_API void vssm_reid_head_free(vssm_reid_head *h);
VSSM_API int vssm_reid_head_dim(const vssm_reid_head *h);
/* The tensor name prefix of the BNNeck in use ("bnneck." ...), or NULL without one. */
VSSM_API const char *vssm_reid_head_bnneck(const vssm_reid_head *h);
/* 1 when the head L2-normalises its output (the resolved l2norm option). */
VSSM_API int vssm_reid_head_l2norm(const vssm_reid_head *h);
/* feats: the backbone's stage list (the last one is used), on ctx's device;
 * emb: host (B, dim). */
VSSM_API vssm_status vssm_reid_head_forward(vssm_reid_head *h, vssm_ctx *ctx, const vssm_tensor *feats, int n_feats,
                                            float *emb, vssm_err *err);
/* The head on host data: pooled (B, dim) -> emb (B, dim) in place (BNNeck, L2). */
VSSM_API void vssm_reid_head_apply(const vssm_reid_head *h, float *x, int B);

/* A weights file -> backbone (VMamba or Vim: the vssm/backbone.h rules) + head +
 * preprocessing, in one object. */
typedef struct vssm_reid_model_opts {
    const char *arch; /* NULL: from metadata / tensor shapes (vssm/classifier.h rules) */
    const char *key;  /* .pth sub-dict */
    vssm_reid_head_opts head;
} vssm_reid_model_opts;
VSSM_API vssm_reid_model_opts vssm_reid_model_default_opts(void);

typedef struct vssm_reid_model vssm_reid_model;
VSSM_API vssm_status vssm_reid_model_load(vssm_reid_model **out, vssm_ctx *ctx, const char *path,
                                          const vssm_reid_model_opts *opts, vssm_err *err);
VSSM_API void vssm_reid_model_free(vssm_reid_model *m);
VSSM_API int vssm_reid_model_dim(const vssm_reid_model *m);
VSSM_API const vssm_reid_head *vssm_reid_model_head(const vssm_reid_model *m);
VSSM_API vssm_preprocess_params vssm_reid_model_preprocess(const vssm_reid_model *m);
VSSM_API const vssm_backbone *vssm_reid_model_backbone(const vssm_reid_model *m);
/* x: host (B, H, W, 3) f32 preprocessed; emb: host (B, dim). */
VSSM_API vssm_status vssm_reid_model_forward(vssm_reid_model *m, const float *x, int B, int H, int W, float *emb,
                                             vssm_err *err);

/* ---------------------------------------------------------------- metrics */

typedef enum vssm_reid_metric {
    VSSM_REID_METRIC_EUCLIDEAN = 0, /* squared, as torchreid */
    VSSM_REID_METRIC_COSINE,
} vssm_reid_metric;
VSSM_API int vssm_reid_metric_from_name(const char *name); /* -1 when unknown */
VSSM_API const char *vssm_reid_metric_name(vssm_reid_metric m);

/* out (m, n) = distances between the rows of a (m, d) and b (n, d). */
VSSM_API vssm_status vssm_reid_distance(const float *a, int64_t m, const float *b, int64_t n, int64_t d,
                                        vssm_reid_metric metric, float *out, vssm_err *err);

/* pid / camid of one split; n must equal the number of feature / distance rows. */
typedef struct vssm_reid_labels {
    const int64_t *pid, *camid;
    int64_t n;
} vssm_reid_labels;

typedef struct vssm_reid_result {
    int max_rank;                           /* CMC entries: min(requested max_rank, gallery size) */
    double *cmc;                            /* [max_rank] fractions, owned (vssm_reid_result_free) */
    double rank1, rank5, rank10, mAP, mINP; /* fractions in [0, 1] */
    int64_t n_query, n_valid;               /* queries given; queries with a match (the averages' n) */
} vssm_reid_result;
VSSM_API void vssm_reid_result_free(vssm_reid_result *r);

/* distmat: (q.n, g.n) row-major. */
VSSM_API vssm_status vssm_reid_evaluate(const float *distmat, const vssm_reid_labels *q, const vssm_reid_labels *g,
                                        int max_rank, vssm_reid_result *out, vssm_err *err);

typedef struct vssm_reid_eval_opts {
    vssm_reid_metric metric; /* euclidean */
    int rerank;              /* 0 */
    int k1, k2;              /* 20, 6 */
    double lambda;           /* 0.3 (a double, as torchreid's Python float) */
    int max_rank;            /* 50 */
} vssm_reid_eval_opts;
VSSM_API vssm_reid_eval_opts vssm_reid_eval_default_opts(void);

/* Distances + ranking from features: qf (q.n, d), gf (g.n, d). Checks every value is
 * finite and every count agrees. Without rerank the distances are made in blocks of
 * queries; with rerank the full (q+g)^2 matrices (see the memory note above). */
VSSM_API vssm_status vssm_reid_evaluate_features(const float *qf, const vssm_reid_labels *q, const float *gf,
                                                 const vssm_reid_labels *g, int64_t d, const vssm_reid_eval_opts *opts,
                                                 vssm_reid_result *out, vssm_err *err);

/* torchreid's re_ranking(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value) -> out (nq, ng).
 * qg (nq, ng), qq (nq, nq), gg (ng, ng). k1 >= 1, 1 <= k2 <= nq + ng, 0 <= lambda <= 1. */
VSSM_API vssm_status vssm_reid_rerank(const float *qg, const float *qq, const float *gg, int64_t nq, int64_t ng, int k1,
                                      int k2, double lambda, float *out, vssm_err *err);

#ifdef __cplusplus
}
#endif
#endif
