/* tests/test_adapt_threads.c - a context that chooses each pass's thread count by timing
 * (vssm_ctx_opts.adapt_threads, kernels/ctx.c) gives the same logits, bit for bit, as a
 * 1-thread context on every pass, whichever count the pass ran at; its schedule starts as
 * documented (passes 1 and 2 at n_threads, pass 3 tries one thread fewer); a fixed context
 * and a 1-thread adaptive one never change their count. Timing itself is not tested here
 * (bench/under_load.sh measures it). vssm_ctx_core_round_trip, which `vssm bench` uses to say
 * where its threads sat: 0 for one thread; for two, never negative, and a measured one (> 0:
 * both threads ran together) within 200 tries. Its bounds (about 25 ms a call, a round trip
 * under 5 ms) are checked on the fastest call and the smallest measured round trip: a call the
 * scheduler preempted is the machine, not the probe. CTest runs it alone (RUN_SERIAL): under
 * ctest -j2 and QEMU the other tests kept a core busy through 200 tries (CI, session 19).
 * Where the process may run on one CPU only (a 1-CPU machine or container, `taskset -c 0`)
 * the two threads never run together: no round trip is required there, only none negative. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"
#include "vssm/classifier.h"
#include "vssm/vssm.h"

static vssm_ctx *make_ctx(int threads, int adapt) {
    vssm_ctx_opts o = vssm_ctx_default_opts();
    o.n_threads = threads;
    o.adapt_threads = adapt;
    vssm_ctx *ctx = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_ctx_new(&ctx, &o, &err) == VSSM_OK, "context: %s", err.msg);
    return ctx;
}

#define PASSES 12

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the CPUs this process may run on (2 where that cannot be read: the check stays strict) */
static int cpus_allowed(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 2;
}

static void check_round_trip(void) {
    vssm_ctx *one = make_ctx(1, 0), *two = make_ctx(2, 0);
    vssm_err err = {0};
    double ns = -1;
    TEST_CHECK(vssm_ctx_core_round_trip(one, &ns, &err) == VSSM_OK && ns == 0, "1 thread: round trip 0 (got %g)", ns);
    int measured = 0, tries = 0;
    double dt_min = 1e30, dt_max = 0, ns_min = 1e30, ns_max = 0;
    for (; tries < 200 && !measured; tries++) { /* until one is measured: other tests share the cores */
        const double t0 = now_s();
        ns = -1;
        TEST_CHECK(vssm_ctx_core_round_trip(two, &ns, &err) == VSSM_OK, "2 threads: %s", err.msg);
        const double dt = now_s() - t0;
        TEST_CHECK(ns >= 0, "2 threads: a round trip of %g ns", ns);
        dt_min = dt < dt_min ? dt : dt_min, dt_max = dt > dt_max ? dt : dt_max;
        if (ns > 0) ns_min = ns < ns_min ? ns : ns_min, ns_max = ns > ns_max ? ns : ns_max;
        measured += ns > 0;
    }
    const int cpus = cpus_allowed();
    TEST_CHECK(measured || cpus < 2, "2 threads: no round trip measured in %d tries", tries);
    TEST_CHECK(!measured || ns_min < 5e6,
               "2 threads: the smallest round trip measured is %g ns (in [0, 5 ms): batches the deadline cut "
               "short do not count)",
               ns_min);
    TEST_CHECK(dt_min < 0.25, "2 threads: the fastest of %d probes took %.3f s (bound: ~25 ms)", tries, dt_min);
    printf("round trip: %d tries, %d measured (%.0f-%.0f ns), a call %.1f-%.1f ms%s\n", tries, measured,
           measured ? ns_min : 0, ns_max, 1e3 * dt_min, 1e3 * dt_max,
           cpus < 2 ? " (one CPU allowed: none required)" : "");
    vssm_ctx_free(one), vssm_ctx_free(two);
}

int main(void) {
    enum { H = 64, W = 48, B = 2 };
    float *img = malloc(sizeof(float) * B * H * W * 3);
    uint64_t s = 99;
    for (int i = 0; i < B * H * W * 3; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        img[i] = (float)(s >> 40) / 16777216.0f * 2.0f - 1.0f;
    }
    check_round_trip();
    for (int vim = 0; vim < 2; vim++) {
        const char *name = vim ? "vim" : "vmamba";
        vssm_ctx *one = make_ctx(1, 0), *adapt = make_ctx(2, 1), *fixed = make_ctx(2, 0), *adapt1 = make_ctx(1, 1);
        vssm_classifier *c1 = test_small_classifier(one, vim, 11), *ca = test_small_classifier(adapt, vim, 11),
                        *cf = test_small_classifier(fixed, vim, 11);
        vssm_classifier *ca1 = test_small_classifier(adapt1, vim, 11);
        const int nc = vssm_classifier_classes(c1);
        float *ref = malloc(sizeof(float) * B * nc), *out = malloc(sizeof(float) * B * nc);
        vssm_err err = {0};
        TEST_REQUIRE(vssm_classifier_forward(c1, img, B, H, W, ref, &err) == VSSM_OK, "%s: %s", name, err.msg);
        TEST_CHECK(vssm_ctx_last_threads(adapt) == 2, "%s: before any pass the last count is n_threads (%d)", name,
                   vssm_ctx_last_threads(adapt));
        int at[3] = {0, 0, 0}, same = 0;
        for (int p = 1; p <= PASSES; p++) {
            TEST_REQUIRE(vssm_classifier_forward(ca, img, B, H, W, out, &err) == VSSM_OK, "%s: %s", name, err.msg);
            const int t = vssm_ctx_last_threads(adapt);
            TEST_CHECK(t == 1 || t == 2, "%s: pass %d ran at %d threads", name, p, t);
            if (t == 1 || t == 2) at[t]++;
            if (p <= 2) TEST_CHECK(t == 2, "%s: pass %d ran at %d threads, not n_threads", name, p, t);
            if (p == 3) TEST_CHECK(t == 1, "%s: pass 3 (the first probe) ran at %d threads, not 1", name, t);
            same += !memcmp(out, ref, sizeof(float) * B * nc);
            TEST_REQUIRE(vssm_classifier_forward(cf, img, B, H, W, out, &err) == VSSM_OK, "%s: %s", name, err.msg);
            TEST_CHECK(vssm_ctx_last_threads(fixed) == 2, "%s: a fixed context ran a pass at %d threads", name,
                       vssm_ctx_last_threads(fixed));
            same += !memcmp(out, ref, sizeof(float) * B * nc);
            TEST_REQUIRE(vssm_classifier_forward(ca1, img, B, H, W, out, &err) == VSSM_OK, "%s: %s", name, err.msg);
            TEST_CHECK(vssm_ctx_last_threads(adapt1) == 1, "%s: a 1-thread context ran a pass at %d threads", name,
                       vssm_ctx_last_threads(adapt1));
            same += !memcmp(out, ref, sizeof(float) * B * nc);
        }
        TEST_CHECK(same == 3 * PASSES, "%s: %d of %d passes gave the 1-thread logits bit for bit", name, same,
                   3 * PASSES);
        TEST_CHECK(at[1] >= 1 && at[2] >= 2, "%s: passes at 1 / 2 threads: %d / %d (both counts must have run)", name,
                   at[1], at[2]);
        free(ref), free(out);
        vssm_classifier_free(c1), vssm_classifier_free(ca), vssm_classifier_free(cf), vssm_classifier_free(ca1);
        vssm_ctx_free(one), vssm_ctx_free(adapt), vssm_ctx_free(fixed), vssm_ctx_free(adapt1);
    }
    free(img);
    return test_finish("test_adapt_threads");
}
