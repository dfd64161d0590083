/* tests/test_vmath.c - the vectorisable float math of kernels/cpu/vmath.h meets the
 * accuracy its header states, against double-precision libm over wide ranges. */
#include <math.h>
#include "kernels/cpu/scan_simd.h"
#include "kernels/cpu/vmath.h"
#include "testutil.h"

/* the largest error of a decay exp 2^(a b) over products in [-124, 0], in ulps of 2^(the exact
 * product) with FMA (of 2^(the rounded product) without); *same: the safe variant equal there */
static double exp2_mul_err(float (*fn)(float, float), float (*safe)(float, float), int *same) {
    double e = 0;
    *same = 1;
    for (double a = 0.03125; a < 40; a *= 1.37)
        for (double t = -124; t <= 0; t += 0.0001731) {
            const float fa = (float)a, fb = (float)(t / a), y = fn(fa, fb);
#ifdef __FMA__
            const double r = exp2((double)fa * fb);
#else
            const double r = exp2((double)(fa * fb));
#endif
            e = fmax(e, fabs(y - r) / ldexp(1.0, ilogb(r) - 23));
            *same &= y == safe(fa, fb);
        }
    return e;
}

int main(void) {
#ifdef __AVX512F__
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("fma"))
        return printf("test_vmath: this build's AVX-512 form, and this CPU lacks AVX-512: skipped\n"), 77;
    /* the scans' softplus: the AVX-512 form gives the portable form's bits (NaN, infinities and
     * the clamp included) */
    {
        const scan_exp2_k c = scan_exp2_consts();
        int diff = 0;
        float xs[16], first = 0;
        for (double x = -120; x < 120 && !diff; x += 16 * 1.37e-4) {
            for (int j = 0; j < 16; j++) xs[j] = (float)(x + j * 1.37e-4);
            if (x < -119.99)
                xs[0] = NAN, xs[1] = INFINITY, xs[2] = -INFINITY, xs[3] = 0.0f, xs[4] = -0.0f, xs[5] = -85.0f;
            vf v;
            memcpy(&v, xs, sizeof v);
            v = scan_softplus512(&c, v);
            for (int j = 0; j < 16 && !diff; j++) {
                const float p = scan_softplus(xs[j]), q = v[j];
                if (memcmp(&p, &q, 4)) diff = 1, first = xs[j];
            }
        }
        TEST_CHECK(!diff, "scan_softplus512 differs from scan_softplus at %.9g", first);
    }
#endif
    double e_exp = 0, e_expn = 0, e_log = 0, e_sp = 0, e_ssp = 0, e_gelu = 0, e_silu = 0;
    for (double x = -87; x < 88; x += 0.000731) {
        double r = exp((float)x);
        e_exp = fmax(e_exp, fabs(vm_expf((float)x) - r) / r);
        if (x <= 0) e_expn = fmax(e_expn, fabs(vm_expf_neg((float)x) - r) / r);
    }
    for (double x = 1e-30; x < 1e30; x *= 1.0001) {
        double r = log((float)x);
        if (fabs(r) > 1e-3) e_log = fmax(e_log, fabs(vm_logf((float)x) - r) / fabs(r));
    }
    for (double x = -40; x < 40; x += 1e-4) {
        float f = (float)x;
        double r = f > 20 ? f : log1p(exp((double)f));
        e_sp = fmax(e_sp, fabs(vm_softplusf(f) - r) / r);
        e_ssp = fmax(e_ssp, fabs(scan_softplus(f) - r) / r);
        double g = 0.5 * f * erfc(-f / sqrt(2.0));
        e_gelu = fmax(e_gelu, fabs(vm_geluf(f) - g));
        double s = f / (1 + exp(-(double)f));
        e_silu = fmax(e_silu, fabs(vm_siluf(f) - s) / fmax(fabs(s), 1e-30));
    }
    TEST_CHECK(e_exp <= 2.4e-7, "expf rel err %.3g > 2 ulp", e_exp);
    TEST_CHECK(e_expn <= 2.4e-7, "expf_neg rel err %.3g > 2 ulp", e_expn);
    TEST_CHECK(vm_expf_neg(-100.0f) > 0.0f && vm_expf_neg(-100.0f) <= 1.2e-38f && vm_expf_neg(0.0f) == 1.0f,
               "expf_neg tail is the smallest normal, exp(0) = 1");
    /* the scans' decay 2^(a b): within 3 ulp of 2^(the exact product) with FMA (of 2^(the
     * rounded product) without), the safe variant bit-equal on [-124, 0] and a normal float
     * standing for 0 below */
    int exp2_same, tab_same;
    const double e_exp2 = exp2_mul_err(vm_exp2_mul, vm_exp2_mul_safe, &exp2_same);
    TEST_CHECK(e_exp2 <= 3.0 && exp2_same, "exp2_mul err %.3g ulp > 3, or the safe variant differs (%d)", e_exp2,
               !exp2_same);
    TEST_CHECK(vm_exp2_mul_safe(10.0f, -20.0f) > 0.0f && vm_exp2_mul_safe(1.0f, -1e30f) <= 2e-38f,
               "exp2_mul_safe tail: a small normal float (%g)", vm_exp2_mul_safe(10.0f, -20.0f));
    /* the scans' table form of the same (scan_simd.h, 8 operations): the same bounds; its tail
     * is 2^-125 2^(-1/64) */
    const double e_tab = exp2_mul_err(scan_exp2_mul, scan_exp2_mul_safe, &tab_same);
    TEST_CHECK(e_tab <= 3.0 && tab_same, "scan_exp2_mul err %.3g ulp > 3, or the safe variant differs (%d)", e_tab,
               !tab_same);
    TEST_CHECK(scan_exp2_mul_safe(10.0f, -20.0f) > 0.0f && scan_exp2_mul_safe(1.0f, -1e30f) <= 2.4e-38f &&
                   isnan(scan_exp2_mul((float)NAN, 1.0f)) && isnan(scan_exp2_mul_safe((float)NAN, 1.0f)),
               "scan_exp2_mul_safe tail: a small normal float (%g); NaN in, NaN out", scan_exp2_mul_safe(1.0f, -1e30f));
    printf("  exp2_mul %.2f ulp, scan_exp2_mul (table) %.2f ulp\n", e_exp2, e_tab);
    TEST_CHECK(e_log <= 1.2e-7, "logf rel err %.3g", e_log);
    TEST_CHECK(e_sp <= 2.5e-7, "softplus rel err %.3g", e_sp);
    /* the scans' softplus (scan_simd.h: the table exponential): the same bound, the same tails */
    TEST_CHECK(e_ssp <= 2.5e-7, "scan_softplus rel err %.3g", e_ssp);
    TEST_CHECK(scan_softplus(30.0f) == 30.0f && scan_softplus(-100.0f) > 0.0f && scan_softplus(-100.0f) < 2e-37f &&
                   scan_softplus(0.0f) == (float)log(2.0),
               "scan_softplus threshold and tail (%g), softplus(0) = log 2", scan_softplus(-100.0f));
    /* the rational erf rounds once more per step without FMA (x86-64 before Haswell, or a
     * VSSM_NATIVE=OFF build): measured 1.35e-6 there, 1.1e-6 with FMA */
#ifdef __FMA__
    const double gelu_bound = 1.2e-6;
#else
    const double gelu_bound = 1.5e-6;
#endif
    TEST_CHECK(e_gelu <= gelu_bound, "gelu abs err %.3g > %.2g", e_gelu, gelu_bound);
    TEST_CHECK(e_silu <= 1e-6, "silu rel err %.3g", e_silu);
    TEST_CHECK(vm_softplusf(30.0f) == 30.0f && vm_softplusf(-100.0f) >= 0.0f, "softplus threshold and tail");
    TEST_CHECK(vm_expf(-100.0f) == 0.0f && isfinite(vm_expf(100.0f)), "exp clamps");
    printf("  exp %.2g  log %.2g  softplus %.2g, scan's %.2g (rel)  gelu %.2g (abs)  silu %.2g (rel)\n", e_exp, e_log,
           e_sp, e_ssp, e_gelu, e_silu);
    /* non-finite inputs (a NaN weight in a file from someone else reaches every function):
     * NaN comes out as NaN, infinities as the limits, and no undefined behaviour on the way
     * (the sanitizer build runs this: exp once converted a NaN to int) */
    volatile float qnan = NAN, pinf = INFINITY;
    TEST_CHECK(isnan(vm_exp2_mul(qnan, 1.0f)) && isnan(vm_exp2_mul_safe(qnan, 1.0f)), "exp2_mul: NaN in, NaN out");
    TEST_CHECK(isnan(vm_expf(qnan)) && isnan(vm_expf_neg(qnan)) && isnan(vm_siluf(qnan)) && isnan(vm_geluf(qnan)) &&
                   isnan(vm_softplusf(qnan)),
               "NaN in, NaN out (exp %g, exp_neg %g, silu %g, gelu %g, softplus %g)", vm_expf(qnan), vm_expf_neg(qnan),
               vm_siluf(qnan), vm_geluf(qnan), vm_softplusf(qnan));
    TEST_CHECK(vm_expf(-pinf) == 0.0f && vm_expf(pinf) > 2e38f, "exp(-inf) = 0 (%g), exp(inf) saturates (%g)",
               vm_expf(-pinf), vm_expf(pinf));
    TEST_CHECK(isinf(vm_softplusf(pinf)), "softplus(inf) = inf (%g)", vm_softplusf(pinf));
    TEST_CHECK(isnan(scan_softplus(qnan)) && isinf(scan_softplus(pinf)) && scan_softplus(-pinf) >= 0.0f,
               "scan_softplus: NaN in, NaN out (%g); inf -> inf (%g); -inf -> 0 or a tiny normal (%g)",
               scan_softplus(qnan), scan_softplus(pinf), scan_softplus(-pinf));
    return test_finish("test_vmath");
}
