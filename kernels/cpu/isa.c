/* kernels/cpu/isa.c - which instruction set the CPU kernels run with, chosen per context at
 * run time, and the cache sizes the GEMM's blocking follows.
 *
 * One build runs everywhere: the variants are compiled side by side (sgemm.c, scan.c,
 * scan1d.c and the element-wise ops' conv.c, conv1d.c, norm.c, v0_ops.c as they are for the
 * baseline, again through *_avx2.c and *_avx512.c with those units' flags) and
 * vssm_cpu_isa_init picks the best one this CPU and OS support, unless the caller names one
 * (vssm_ctx_opts.cpu_isa, else $VSSM_CPU_ISA: how the tests run each variant). The choice
 * lives in the context, like everything else; nothing here is written after start-up. The
 * plain vssm_cpu_* entry points dispatch through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_bwd.h"

#define ISA_TABLE_(nm, sfx)                                                                                           \
    {                                                                                                                 \
        nm, vssm_cpu_isa_name_##sfx, vssm_cpu_linear_##sfx, vssm_cpu_linear_packed_##sfx, vssm_cpu_ss2d_scan_##sfx,   \
            vssm_cpu_scan1d_##sfx, vssm_cpu_conv3x3s2_##sfx, vssm_cpu_layernorm_##sfx, vssm_cpu_layernorm_gate_##sfx, \
            vssm_cpu_rmsnorm_##sfx, vssm_cpu_conv1d_##sfx, vssm_cpu_norm_proj_##sfx, vssm_cpu_mlp_##sfx,              \
            vssm_cpu_dwconv3x3_bias_##sfx, vssm_cpu_mul_silu_##sfx, vssm_cpu_layernorm_bwd_##sfx,                     \
            vssm_cpu_rmsnorm_bwd_##sfx, vssm_cpu_conv1d_bwd_##sfx, vssm_cpu_dwconv3x3_bias_bwd_##sfx,                 \
            vssm_cpu_mul_silu_bwd_##sfx, vssm_cpu_bwd_act_mul_##sfx, vssm_cpu_stem_v2_##sfx                           \
    }
/* best first */
static const vssm_cpu_isa isa_tables[] = {
#if defined(__x86_64__) || defined(__i386__)
    ISA_TABLE_("avx512", avx512),
    ISA_TABLE_("avx2", avx2),
#endif
    ISA_TABLE_("base", base),
};
#define N_ISA (int)(sizeof isa_tables / sizeof *isa_tables)

/* does this CPU (and the OS, for the wider registers' state) run variant i? */
static int isa_supported(const vssm_cpu_isa *v) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(v->name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(v->name, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 1; /* the baseline: what the whole build requires anyway */
}

/* size in bytes of the data (or unified) cache of `level` of CPU 0, from sysfs; 0 when
 * unknown (not Linux, a container without sysfs) */
static long cache_bytes(int level) {
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        long lv = 0, sz = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        if (fgets(buf, sizeof buf, f)) lv = strtol(buf, NULL, 10);
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!(f = fopen(path, "r"))) continue;
        int inst = fgets(buf, sizeof buf, f) && !strncmp(buf, "Instruction", 11);
        fclose(f);
        if (lv != level || inst) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!(f = fopen(path, "r"))) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *e;
            sz = strtol(buf, &e, 10);
            if (*e == 'K')
                sz <<= 10;
            else if (*e == 'M')
                sz <<= 20;
        }
        fclose(f);
        return sz;
    }
    return 0;
}

/* "1048576", "1024K", "1M" (k, m too) -> bytes; -1 for anything else (a sign, junk after the
 * suffix, over 2^40) */
static long parse_size(const char *s) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *e;
    const unsigned long long v = strtoull(s, &e, 10);
    int sh = 0;
    if (*e == 'K' || *e == 'k')
        sh = 10, e++;
    else if (*e == 'M' || *e == 'm')
        sh = 20, e++;
    if (*e || v > (1ull << 40) >> sh) return -1;
    return (long)(v << sh);
}
/* "GenuineIntel 6/143" from cpuid (vendor, display family and model) */
static void cpu_name(char *out, size_t n) {
    snprintf(out, n, "unknown CPU");
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    char vendor[13];
    memcpy(vendor, &b, 4), memcpy(vendor + 4, &d, 4), memcpy(vendor + 8, &c, 4), vendor[12] = 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    unsigned fam = (a >> 8) & 15, model = (a >> 4) & 15;
    if (fam == 15) fam += (a >> 20) & 255;
    if (fam == 6 || fam >= 15) model |= ((a >> 16) & 15) << 4;
    snprintf(out, n, "%s %u/%u", vendor, fam, model);
#endif
}

static void size_str(char *out, size_t n, long bytes) {
    if (bytes <= 0)
        snprintf(out, n, "?");
    else if (bytes >= 1 << 20 && bytes % (1 << 20) == 0)
        snprintf(out, n, "%ldM", bytes >> 20);
    else
        snprintf(out, n, "%ldK", bytes >> 10);
}

/* The GEMM's K block: a kc x 32 block of a weight panel (128 B per k) is what a tile's
 * micro-kernel streams for every MR rows, so it is sized to fill the L1d (kc = L1d / 128):
 * 384 with 48 KB (Sapphire Rapids, Zen 5), 256 with 32 KB (Zen 4, Skylake); the copied x
 * blocks of the large products (MC x kc floats per thread) then stay well inside L2.
 * Measured on VMamba-T's products (kernels/cpu/README.md): flat within noise from 128 to
 * 512 on Sapphire Rapids, 96 is 3-5% slower, 768 no better. */
static int gemm_kc_for(long l1d) {
    if (l1d <= 0) l1d = 32 << 10;
    const long kc = (l1d / 128) & ~15L;
    return kc < 128 ? 128 : kc > 512 ? 512 : (int)kc;
}

/* --precision bf16: the products' kernel, AMX tiles where the CPU and OS allow them, else
 * VDPBF16PS; $VSSM_CPU_BF16 ("amx" or "avx512bf16") names one (how the tests run both).
 * Both need the avx512 variant (the bf16 kernels are AVX-512 code and share its epilogue). */
static vssm_status bf16_init(vssm_ctx *ctx, int isa_asked, vssm_err *err) {
    const char *want = getenv("VSSM_CPU_BF16");
    if (want && *want && strcmp(want, "amx") != 0 && strcmp(want, "avx512bf16") != 0)
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "VSSM_CPU_BF16 '%s': not a bf16 kernel (amx or avx512bf16)",
                            want);
    if (strcmp(ctx->cpu_isa->name, "avx512") != 0)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "precision bf16 needs the avx512 instruction set with avx512_bf16; this context runs "
                            "'%s'%s",
                            ctx->cpu_isa->name, isa_asked ? " (asked for)" : " (the best this CPU runs)");
    if (!vssm_cpu_bf16_built())
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "precision bf16: this build of vssm has no bf16 kernels (its compiler did not take "
                            "-mavx512bf16 -mamx-tile -mamx-bf16: GCC 11 or clang 12 and later do); use fp32");
    const int amx_ok = !want || !*want || !strcmp(want, "amx");
    ctx->cpu_bf16 = vssm_cpu_bf16_probe(amx_ok);
    if (ctx->cpu_bf16 == VSSM_CPU_BF16_NONE)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "precision bf16: this CPU has no avx512_bf16 (Intel Cooper Lake / Sapphire Rapids or "
                            "later, AMD Zen 4 or later); use fp32");
    if (want && !strcmp(want, "amx") && ctx->cpu_bf16 != VSSM_CPU_BF16_AMX)
        return vssm_err_set(err, VSSM_ERR_UNSUPPORTED,
                            "VSSM_CPU_BF16 'amx': this CPU or OS does not run AMX tiles (amx_bf16, and Linux 5.16 or "
                            "later granting the tile state)");
    return VSSM_OK;
}

vssm_status vssm_cpu_isa_init(vssm_ctx *ctx, vssm_err *err) {
    const char *want = ctx->opts.cpu_isa && *ctx->opts.cpu_isa ? ctx->opts.cpu_isa : getenv("VSSM_CPU_ISA");
    const char *from = ctx->opts.cpu_isa && *ctx->opts.cpu_isa ? "cpu_isa option" : "VSSM_CPU_ISA";
    const vssm_cpu_isa *pick = NULL;
    if (want && *want) {
        for (int i = 0; i < N_ISA; i++)
            if (!strcmp(want, isa_tables[i].name)) pick = &isa_tables[i];
        if (!pick)
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "%s '%s': not an instruction set of this build "
                                "(avx512, avx2 or base)",
                                from, want);
        if (!isa_supported(pick))
            return vssm_err_set(err, VSSM_ERR_UNSUPPORTED, "%s '%s': this CPU does not support it", from, want);
    } else {
        for (int i = 0; i < N_ISA && !pick; i++)
            if (isa_supported(&isa_tables[i])) pick = &isa_tables[i];
    }
    ctx->cpu_isa = pick;
    const char *bf16 = "";
    if (ctx->opts.precision == VSSM_PRECISION_BF16) {
        vssm_status s = bf16_init(ctx, want && *want, err);
        if (s != VSSM_OK) return s;
        bf16 = ctx->cpu_bf16 == VSSM_CPU_BF16_AMX ? ", bf16 AMX" : ", bf16 AVX512_BF16";
    }
    const long l1 = cache_bytes(1), l2 = cache_bytes(2), l3 = cache_bytes(3);
    ctx->gemm_kc = gemm_kc_for(l1);
    ctx->cpu_l2 = l2 > 0 ? l2 : 1 << 20;
    char name[48], s1[24], s2[24], s3[24], as[48] = "";
    /* $VSSM_CPU_L2: the L2 size the blocking assumes instead of the one the OS reports (or its
     * 1 MB guess where sysfs says nothing): how the products would be ordered on another CPU
     * (Zen 4 / Zen 5's 1 MB on a 2 MB machine), or a container's missing figure. The bits do
     * not depend on it (test_cpu_isa); the description says it. */
    const char *l2e = getenv("VSSM_CPU_L2");
    if (l2e && *l2e) {
        const long v = parse_size(l2e);
        if (v < (64L << 10) || v > (1024L << 20))
            return vssm_err_set(err, VSSM_ERR_INVALID_ARG,
                                "VSSM_CPU_L2 '%s': not a cache size from 64K to 1024M (bytes, or a whole number "
                                "with K or M)",
                                l2e);
        ctx->cpu_l2 = v;
        size_str(s2, sizeof s2, ctx->cpu_l2); /* what the blocking now reads */
        snprintf(as, sizeof as, " (VSSM_CPU_L2 %s)", s2);
    }
    cpu_name(name, sizeof name);
    size_str(s1, sizeof s1, l1), size_str(s2, sizeof s2, l2), size_str(s3, sizeof s3, l3);
    snprintf(ctx->desc, sizeof ctx->desc, "cpu (%d thread%s, %s%s; %s, L1d %s L2 %s%s L3 %s)", ctx->opts.n_threads,
             ctx->opts.n_threads == 1 ? "" : "s", pick->desc, bf16, name, s1, s2, as, s3);
    return VSSM_OK;
}

/* ---- the entry points of the op table and of the other CPU ops: the context's variant */
void vssm_cpu_linear(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *w, const float *b, int N,
                     vssm_act act, int accumulate, float *y) {
    ctx->cpu_isa->linear(ctx, x, M, K, w, b, N, act, accumulate, y);
}
void vssm_cpu_linear_packed(vssm_ctx *ctx, const float *x, int64_t M, int K, const float *wp, const float *b, int N,
                            vssm_act act, int accumulate, float *y) {
    if (ctx->cpu_bf16)
        vssm_cpu_linear_packed_bf16(ctx, x, M, K, wp, b, N, act, accumulate, y);
    else
        ctx->cpu_isa->linear_packed(ctx, x, M, K, wp, b, N, act, accumulate, y);
}
/* the packed layout: the context's precision's */
size_t vssm_cpu_linear_pack_numel(vssm_ctx *ctx, int N, int K) {
    return ctx->cpu_bf16 ? vssm_cpu_bf16_pack_numel(N, K) : vssm_cpu_f32_pack_numel(N, K);
}
void vssm_cpu_linear_pack(vssm_ctx *ctx, const float *w, int N, int K, float *out) {
    if (ctx->cpu_bf16)
        vssm_cpu_bf16_pack(w, N, K, out);
    else
        vssm_cpu_f32_pack(w, N, K, out);
}
float vssm_cpu_linear_packed_get(const vssm_ctx *ctx, const float *wp, int N, int K, int n, int k) {
    return ctx->cpu_bf16 ? vssm_cpu_bf16_packed_get(wp, N, K, n, k) : vssm_cpu_f32_packed_get(wp, N, K, n, k);
}
void vssm_cpu_ss2d_scan(vssm_ctx *ctx, const vssm_scan_args *a, void *ws) { ctx->cpu_isa->ss2d_scan(ctx, a, ws); }
void vssm_cpu_scan1d(vssm_ctx *ctx, const vssm_scan1d_args *a) { ctx->cpu_isa->scan1d(ctx, a); }
void vssm_cpu_conv3x3s2(vssm_ctx *ctx, const float *x, int B, int H, int W, int Cin, const float *w, const float *b,
                        int Cout, float *y, void *ws) {
    ctx->cpu_isa->conv3x3s2(ctx, x, B, H, W, Cin, w, b, Cout, y, ws);
}
void vssm_cpu_layernorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b, float eps,
                        vssm_act act, float *y) {
    ctx->cpu_isa->layernorm(ctx, x, rows, C, g, b, eps, act, y);
}
void vssm_cpu_layernorm_gate(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *g, const float *b,
                             float eps, const float *z, int64_t ldz, float *y) {
    ctx->cpu_isa->layernorm_gate(ctx, x, rows, C, g, b, eps, z, ldz, y);
}
void vssm_cpu_rmsnorm(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps, float *y) {
    ctx->cpu_isa->rmsnorm(ctx, x, rows, C, w, eps, y);
}
void vssm_cpu_conv1d(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                     const float *bias, int K, int reverse, vssm_act act, float *y) {
    ctx->cpu_isa->conv1d(ctx, x, ldx, B, L, C, w, bias, K, reverse, act, y);
}
void vssm_cpu_norm_proj(vssm_ctx *ctx, const vssm_norm_proj_args *a) {
    if (ctx->cpu_bf16 ? vssm_cpu_norm_proj_bf16(ctx, a) : ctx->cpu_isa->norm_proj(ctx, a)) return;
    if (a->z)
        vssm_cpu_layernorm_gate(ctx, a->x, a->M, a->K, a->gamma, a->beta, a->eps, a->z, a->ldz, a->xn);
    else
        vssm_cpu_layernorm(ctx, a->x, a->M, a->K, a->gamma, a->beta, a->eps, VSSM_ACT_NONE, a->xn);
    vssm_cpu_linear_packed(ctx, a->xn, a->M, a->K, a->wp, a->b, a->N, a->act, a->accumulate, a->y);
}
void vssm_cpu_stem_v2(vssm_ctx *ctx, const vssm_stem_args *a) { ctx->cpu_isa->stem_v2(ctx, a); }
void vssm_cpu_mlp(vssm_ctx *ctx, const vssm_mlp_args *a) {
    if (ctx->cpu_bf16 ? vssm_cpu_mlp_bf16(ctx, a) : ctx->cpu_isa->mlp(ctx, a)) return;
    const vssm_norm_proj_args n = vssm_mlp_first(a);
    vssm_cpu_norm_proj(ctx, &n);
    vssm_cpu_linear_packed(ctx, a->h, a->M, a->N, a->w2p, a->b2, a->K, VSSM_ACT_NONE, 1, a->x);
}
void vssm_cpu_dwconv3x3_bias(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                             const float *bias, vssm_act act, float *y) {
    ctx->cpu_isa->dwconv3x3_bias(ctx, x, ldx, B, H, W, C, w, bias, act, y);
}
void vssm_cpu_mul_silu(vssm_ctx *ctx, float *y, int64_t rows, int C, const float *z, int64_t ldz) {
    ctx->cpu_isa->mul_silu(ctx, y, rows, C, z, ldz);
}
/* the backward ops compiled per instruction set (cpu_bwd.h declares these names for backend.c) */
void vssm_cpu_layernorm_bwd(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *gamma, const float *beta,
                            float eps, vssm_act act, const float *dy, float *dx, float *dgamma, float *dbeta) {
    ctx->cpu_isa->layernorm_bwd(ctx, x, rows, C, gamma, beta, eps, act, dy, dx, dgamma, dbeta);
}
void vssm_cpu_rmsnorm_bwd(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *w, float eps,
                          const float *dy, float *dx, float *dw) {
    ctx->cpu_isa->rmsnorm_bwd(ctx, x, rows, C, w, eps, dy, dx, dw);
}
void vssm_cpu_conv1d_bwd(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int64_t L, int C, const float *w,
                         const float *bias, int K, int reverse, vssm_act act, const float *dy, float *dx, float *dw,
                         float *dbias) {
    ctx->cpu_isa->conv1d_bwd(ctx, x, ldx, B, L, C, w, bias, K, reverse, act, dy, dx, dw, dbias);
}
void vssm_cpu_dwconv3x3_bias_bwd(vssm_ctx *ctx, const float *x, int64_t ldx, int B, int H, int W, int C, const float *w,
                                 const float *bias, vssm_act act, const float *dy, float *dx, float *dw, float *dbias) {
    ctx->cpu_isa->dwconv3x3_bias_bwd(ctx, x, ldx, B, H, W, C, w, bias, act, dy, dx, dw, dbias);
}
void vssm_cpu_mul_silu_bwd(vssm_ctx *ctx, const float *x, int64_t rows, int C, const float *z, int64_t ldz,
                           const float *dy, float *dx, float *dz) {
    ctx->cpu_isa->mul_silu_bwd(ctx, x, rows, C, z, ldz, dy, dx, dz);
}
void vssm_cpu_bwd_act_mul(vssm_ctx *ctx, const float *dy, int64_t n, vssm_act act, float *z) {
    ctx->cpu_isa->bwd_act_mul(ctx, dy, n, act, z);
}
