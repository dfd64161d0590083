/* kernels/cpu/vmath.h - branch-free float math that the compiler vectorises inside
 * `#pragma omp simd` loops (glibc's expf/erff/log1pf are scalar calls without
 * -ffast-math, and -ffast-math would break parity with the reference).
 * Accuracy (checked by tests/test_cpu_ops.c against double libm over wide ranges):
 * vm_expf <= 2 ulp, vm_log1pf <= 2e-7, vm_geluf <= 3e-7 relative, vm_softplusf <= 4e-7 relative. */
#ifndef VSSM_CPU_VMATH_H
#define VSSM_CPU_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float vm_bits_to_float(int32_t i) { float f; memcpy(&f, &i, 4); return f; }
static inline int32_t vm_float_to_bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }

/* exp(x): x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r, scale by 2^n.
 * Inputs below -87.3 flush to 0 (denormal results are not produced). */
static inline float vm_expf(float x) {
    x = x > 88.37626f ? 88.37626f : x;
    float xc = x < -87.33654f ? -87.33654f : x;
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round to nearest */
    float r = xc - n * 0.693145751953125f;       /* ln2 split in two for an exact product */
    r = r - n * 1.428606765330187e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float s = vm_bits_to_float(((int32_t)n + 127) << 23);
    float y = p * s;
    return x < -87.33654f ? 0.0f : y;
}

/* log(x) for finite x > 0 (normal range): x = m 2^e, m in [sqrt(1/2), sqrt 2). */
static inline float vm_logf(float x) {
    int32_t ix = vm_float_to_bits(x);
    int32_t e = ((ix >> 23) & 0xff) - 127;
    float m = vm_bits_to_float((ix & 0x007fffff) | 0x3f800000);   /* [1, 2) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    float fe = (float)(e + big);
    float f = m - 1.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = f * z * p;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* log(1 + x), x > -1: log(u) * x / (u - 1) with u = 1 + x recovers the bits that
 * rounding 1 + x loses (Goldberg's trick). */
static inline float vm_log1pf(float x) {
    float u = 1.0f + x;
    float d = u - 1.0f;
    float l = vm_logf(u);
    return d == 0.0f ? x : l * (x / d);
}

/* log(1 + e) for e in [0, 1] without a division: u = 1 + e is in [1, 2], so the
 * reduction to [sqrt(1/2), sqrt 2) needs no exponent extraction, and f is formed from
 * e directly (exactly), not from the rounded u - 1. */
static inline float vm_log1p_unit(float e) {
    int big = e > 0.41421356f;                     /* 1 + e > sqrt 2: halve */
    float f = big ? (e - 1.0f) * 0.5f : e;         /* (1 + e)/2 - 1 */
    float fe = big ? 1.0f : 0.0f;
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = f * z * p;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* softplus as torch (threshold 20): x > 20 ? x : log1p(exp(x)), computed as
 * max(x, 0) + log1p(exp(-|x|)) (the same value; above 20 the second term is below
 * half an ulp of x, so x comes back exactly). */
static inline float vm_softplusf(float x) {
    float ax = x < 0.0f ? -x : x;
    float l = vm_log1p_unit(vm_expf(-ax));
    return (x > 0.0f ? x : 0.0f) + l;
}

/* GELU (exact, erf form) through erfc, which keeps relative accuracy in the far
 * negative tail where 1 + erf(x) cancels: Phi(x) = erfc(-x/sqrt 2)/2.
 * erfc(z), z >= 0: Chebyshev fit t exp(-z^2 + P(t)), t = 1/(1 + z/2), relative
 * error < 1.2e-7 for all z (Press et al., Numerical Recipes, erfcc). */
static inline float vm_erfcf_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * vm_expf(p - z * z);
}

static inline float vm_geluf(float x) {
    float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
    float c = vm_erfcf_pos(z);                    /* erfc(|x|/sqrt2) */
    float phi2 = x < 0.0f ? c : 2.0f - c;         /* 2 Phi(x) */
    return 0.5f * x * phi2;
}
static inline float vm_siluf(float x) { return x / (1.0f + vm_expf(-x)); }

#endif
