/* tools/cmd_bench.c - `vssm bench`: time the backbone + classifier forward pass.
 *
 * Warm-up runs, then timed runs (median and min ms per batch), img/s, GFLOP/s from the
 * counted multiply-adds (1 MAC = 2 FLOP), memory (below), the time share per op kind (a
 * separate profiled run), and - so the ratio comes from one run on one machine - the
 * GFLOP/s of a large square sgemm through the same BLAS and thread count.
 *
 * Memory, the parts of issue 17's budget (peak resident <= 2 x weights + activations +
 * libraries): the resident size before the model is opened (the libraries, the contexts
 * and what an earlier model of the run left), the bytes the model's weights take as the
 * context laid them out (bf16 packs its products at half), the activations planned for the
 * batch, and the peak resident size from the model's opening to the end of its timed runs
 * (the high-water mark restarted before it where Linux allows, else the process's). MB:
 * 10^6 bytes.
 *
 * Where the threads sat (CPU, 2+ threads): after each timed run, the round trip of a cache
 * line between two of the context's threads (vssm_ctx_core_round_trip), and the host's steal
 * time over the timed runs (/proc/stat): on a VM these move the 2-thread figures by a third
 * (README "Speed"), so a report says which state it measured. */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "tools/cli.h"
#include "tools/model_opts.h"
#include "vssm/backbone.h"
#include "vssm/classifier.h"
#include "vssm/outfile.h"
#include "vssm/vssm.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) { /* this process's CPU time, all threads */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- memory ---- */

/* KEY of /proc/self/status ("VmRSS", "VmHWM") in bytes; -1 where it cannot be read */
static long long status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    const size_t n = strlen(key);
    long long v = -1;
    while (v < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = 1024 * strtoll(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* restarts the high-water mark at the resident size now (Linux >= 4.0); 0 where refused */
static int peak_restart(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    const int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0) & ok;
}

/* the high-water mark (VmHWM), else getrusage's; with want "VmRSS", the resident size now
 * where it can be read (else the high-water mark: without /proc, the best known) */
static long long rss_bytes(const char *want) {
    long long v = status_bytes(want);
    if (v >= 0) return v;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return 1024LL * ru.ru_maxrss;
}

/* one architecture's run: the models of each precision are alive together */
typedef struct bench_mem {
    long long libs;    /* resident before the models were opened */
    long long loaded;  /* the peak by the end of their opening (a weights file's mapped pages count) */
    long long peak;    /* from their opening to the end of the timed runs */
    long long after;   /* resident after the timed runs */
    long long weights; /* all the models' weights, as laid out */
    long long acts;    /* all the models' activations */
    int restarted;     /* peak restarted before the models (else: the process's so far) */
    int models;
} bench_mem;

static long long mem_budget(const bench_mem *m) { return 2 * m->weights + m->acts + m->libs; }

extern void openblas_set_num_threads(int n) __attribute__((weak)); /* absent from other CBLAS libraries */

/* GFLOP/s of an n x n x n sgemm on `threads` threads, best of `reps` (the BLAS ceiling on this
 * machine; the library no longer sets OpenBLAS's process-wide thread count, the tool does) */
static double sgemm_gflops(int n, int reps, int threads) {
    if (openblas_set_num_threads && threads > 0) openblas_set_num_threads(threads);
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = now_s() - t;
        if (r > 0 && t < best) best = t; /* first run warms up */
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

/* Which BLAS the in-run sgemm ran on: OpenBLAS names its version and the kernels it chose for
 * this CPU (openblas_get_config / openblas_get_corename, looked up at run time so that any other
 * CBLAS still links: then "BLAS"). The ratio to our forward depends on it: OpenBLAS 0.3.21
 * picks its AVX-512 kernels on Zen 4 and on CPUs it does not know (Zen 5), and
 * OPENBLAS_CORETYPE=Haswell, which some machines set, makes the reference AVX2 (about half the
 * rate on AVX-512 CPUs), so a setting in the environment is named too. */
static void blas_name(char *buf, size_t n) {
    typedef char *(*str_fn)(void);
    void *self = dlopen(NULL, RTLD_LAZY); /* the program and the libraries it loaded */
    str_fn cfg = self ? (str_fn)(uintptr_t)dlsym(self, "openblas_get_config") : NULL,
           core = self ? (str_fn)(uintptr_t)dlsym(self, "openblas_get_corename") : NULL;
    const char *c = cfg ? cfg() : NULL, *k = core ? core() : NULL, *env = getenv("OPENBLAS_CORETYPE");
    char ver[64] = "BLAS";
    if (c && !strncmp(c, "OpenBLAS ", 9)) { /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." */
        size_t v = strcspn(c + 9, " ");
        snprintf(ver, sizeof ver, "OpenBLAS %.*s", (int)(v < 32 ? v : 32), c + 9);
    } else if (c || k) {
        snprintf(ver, sizeof ver, "OpenBLAS");
    }
    snprintf(buf, n, "%s%s%.40s%s%s%.40s", ver, k ? " " : "", k ? k : "", k ? " kernels" : "",
             env && *env ? ", OPENBLAS_CORETYPE=" : "", env && *env ? env : "");
    if (self) dlclose(self);
    for (char *p = buf; *p; p++) /* plain text for the JSON string and the terminal */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(" ._-=,", *p)))
            *p = '?';
}

/* The fewest bytes the fused scans of one forward must move: read u and the x_proj
 * outputs once, write y once (f32), per block. */
static double scan_bytes(const vssm_vmamba_config *c, int B, int H, int W) {
    double bytes = 0;
    for (int s = 0; s < VSSM_VMAMBA_STAGES; s++) {
        int hs, ws;
        vssm_vmamba_stage_size(H, W, s, &hs, &ws);
        double L = (double)B * hs * ws, D = vssm_vmamba_d_inner(c, s);
        double xd = 4.0 * (vssm_vmamba_dt_rank(c, s) + 2.0 * c->d_state);
        bytes += c->depths[s] * 4.0 * L * (2 * D + xd);
    }
    return bytes;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: vssm bench [--arch NAME | --weights FILE] [--batch B] [--size HxW] [--threads T]\n"
            "                  [--device cpu|cuda] [--tf32] [--precision f32|bf16|f32,bf16] [--runs N]\n"
            "                  [--warmup N] [--no-gemm-ref] [--fixed-threads] [--json] [--op-times FILE]\n"
            "Times a model's forward pass and reports ms/image, GFLOP/s, where the time goes and its memory.\n"
            "example: vssm bench --arch vmamba-tiny,vim-tiny --batch 1 --size 224 --threads 2\n"
            "Random weights for --arch (a VMamba or Vim preset name, or a\n"
            "comma-separated list of them, timed one after another in this run).\n"
            "--precision f32,bf16: the same model (same weights) at both precisions, their runs\n"
            "alternated, and the ratio of the medians (with --json: a last line {\"compare\", \"speed_ratio\", ...}).\n"
            "--threads T: at most T; each pass's count is chosen by timing (fewer when another process\n"
            "holds a core; the report says how many runs ran at each count), --fixed-threads: always T.\n"
            "--op-times FILE: after the timed runs, N more profiled ones, every op's time written as CSV\n"
            "(arch,precision,threads,run,op,kind,us; op is the op's index in the forward), to compare\n"
            "op by op, e.g. 1 against 2 threads (bench/op_times.py).\n"
            "Default: --arch vmamba-tiny --batch 1 --size 224 --precision f32.\n");
}

typedef struct bench_opts {
    const char *weights;
    int batch, H, W, runs, warmup, json, no_ref;
    int on_cpu; /* the sgemm reference is a CPU figure */
    int fixed_threads;
    FILE *op_times; /* --op-times: the CSV being written, or NULL */
} bench_opts;

/* One model on one context, timed: a preset with random weights (seed 42, so every
 * precision gets the same weights) or o->weights. */
typedef struct bench_model {
    vssm_ctx *ctx;
    const char *precision;
    vssm_classifier *clf;
    float *x, *logits;
    double *times, *cpu; /* wall and process CPU seconds of each timed run */
    int *nthr;           /* the threads each timed run's pass used (vssm_ctx_last_threads) */
    double *rt;          /* the cores' round trip after each timed run (ns; 0: one thread, a GPU) */
    double steal_ms;     /* CPU time the hypervisor gave to others during the timed runs (-1: unknown) */
} bench_model;

/* All CPUs' steal time so far (ms; /proc/stat's 8th "cpu" field, in USER_HZ ticks): time a
 * hypervisor ran something else while this VM's vCPUs wanted to run. -1 where unreadable. */
static double steal_ms(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    const int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]);
    fclose(f);
    const long hz = sysconf(_SC_CLK_TCK);
    return n == 8 && hz > 0 ? 1e3 * (double)v[7] / (double)hz : -1;
}

static void bench_model_free(bench_model *m) {
    free(m->x), free(m->logits), free(m->times), free(m->cpu), free(m->nthr), free(m->rt);
    vssm_classifier_free(m->clf);
    memset(m, 0, sizeof *m);
}

static int bench_model_open(bench_model *m, vssm_ctx *ctx, const char *precision, const char *arch,
                            const bench_opts *o) {
    vssm_err err = {0};
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->precision = precision;
    if (o->weights) {
        vssm_classifier_opts co = {strcmp(arch, "vmamba-tiny") ? arch : NULL, NULL, NULL};
        if (vssm_classifier_load(&m->clf, ctx, o->weights, &co, &err) != VSSM_OK) {
            cli_error("bench: %s", err.msg);
            return VSSM_EXIT_USAGE;
        }
    } else {
        vssm_source *rnd = vssm_random_source_new(42); /* holds the last tensor made: freed once built */
        if (!rnd) {
            cli_error("bench: out of memory");
            return VSSM_EXIT_USAGE;
        }
        const vssm_status s = vssm_classifier_from_preset(&m->clf, ctx, arch, rnd, &err);
        vssm_random_source_free(rnd);
        if (s != VSSM_OK) {
            cli_error("bench: %s", err.msg);
            return VSSM_EXIT_USAGE;
        }
    }
    size_t nin = (size_t)o->batch * o->H * o->W * 3;
    m->x = malloc(nin * 4);
    m->logits = malloc((size_t)o->batch * vssm_classifier_classes(m->clf) * 4);
    m->times = malloc((size_t)o->runs * sizeof(double));
    m->cpu = malloc((size_t)o->runs * sizeof(double));
    m->nthr = malloc((size_t)o->runs * sizeof(int));
    m->rt = calloc((size_t)o->runs, sizeof(double));
    if (!m->x || !m->logits || !m->times || !m->cpu || !m->nthr || !m->rt) {
        cli_error("bench: out of memory");
        return VSSM_EXIT_USAGE;
    }
    uint64_t s = 1;
    for (size_t i = 0; i < nin; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        m->x[i] = (float)((s >> 40) % 2001) / 1000.0f - 1.0f;
    }
    return VSSM_EXIT_OK;
}

/* one forward, timed into times[r] when r >= 0 */
static int bench_model_run(bench_model *m, const bench_opts *o, int r) {
    vssm_err err = {0};
    double t = now_s(), c = cpu_s();
    if (vssm_classifier_forward(m->clf, m->x, o->batch, o->H, o->W, m->logits, &err) != VSSM_OK) {
        cli_error("bench: %s", err.msg);
        return VSSM_EXIT_USAGE;
    }
    t = now_s() - t, c = cpu_s() - c;
    if (r >= 0) {
        m->times[r] = t, m->cpu[r] = c, m->nthr[r] = vssm_ctx_last_threads(m->ctx);
        /* where the threads sit now (outside the timed interval; 0.05-0.3 ms, at most ~25 ms
         * on a loaded machine) */
        if (o->on_cpu && vssm_ctx_core_round_trip(m->ctx, &m->rt[r], NULL) != VSSM_OK) m->rt[r] = 0;
    }
    return VSSM_EXIT_OK;
}

/* how many of the timed runs ran their pass at t threads */
static int runs_at(const bench_model *m, int runs, int t) {
    int n = 0;
    for (int r = 0; r < runs; r++) n += m->nthr[r] == t;
    return n;
}

static double sum_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}

static double median_of(double *times, int runs) {
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    return runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
}

/* Where the threads sat during the timed runs (m->rt; call before median_of sorts m->times):
 * the round trips' median and range, and how many runs found the two threads far apart
 * (>= CORES_FAR_NS) with the median time of those runs and of the others. On the 2-vCPU Zen 4
 * VMs of development the round trip flips, minute by minute, between 75-90 ns (one core
 * complex) and 320-350 ns (the vCPUs on two chiplets); in the far state VMamba-T's 2-thread
 * bench read 80-83% of the sgemm against 88-99%, Vim-T's 52-56% against 66-75%: every op
 * slower, the small ones 3-4x, local rows included, and one vCPU 15-20% slower alone
 * (kernels/cpu/README.md, session 19: the host, not the code). */
#define CORES_FAR_NS 200.0
typedef struct {
    int n, n_far;               /* runs measured (0: one thread, a GPU), of them far */
    double med, lo, hi;         /* ns */
    double t_far_ms, t_near_ms; /* median ms/batch of the far runs and of the others (0: none) */
} bench_cores;

static bench_cores cores_of(const bench_model *m, int runs) {
    bench_cores c = {0};
    double *rt = malloc((size_t)runs * sizeof *rt), *tf = malloc((size_t)runs * sizeof *tf),
           *tn = malloc((size_t)runs * sizeof *tn);
    int nf = 0, nn = 0;
    for (int r = 0; rt && tf && tn && r < runs; r++) {
        if (m->rt[r] <= 0) continue;
        rt[c.n++] = m->rt[r];
        if (m->rt[r] >= CORES_FAR_NS)
            tf[nf++] = m->times[r];
        else
            tn[nn++] = m->times[r];
    }
    if (c.n > 0) {
        c.med = median_of(rt, c.n); /* sorts rt */
        c.lo = rt[0], c.hi = rt[c.n - 1], c.n_far = nf;
        if (nf) c.t_far_ms = 1e3 * median_of(tf, nf);
        if (nn) c.t_near_ms = 1e3 * median_of(tn, nn);
    }
    free(rt), free(tf), free(tn);
    return c;
}

/* The memory line(s) of a model's text report: its parts, then the peak against the budget
 * (of all the models alive with it). */
static void print_memory(const bench_model *m, const bench_mem *mem, const bench_opts *o) {
    const double w = (double)vssm_classifier_weight_bytes(m->clf), a = (double)vssm_classifier_state_bytes(m->clf);
    if (!o->on_cpu) { /* the weights and activations live on the device, the resident size is the host's */
        printf("memory     %.1f MB weights (%s), %.1f MB activations on the device; host: %.1f MB before the model, "
               "%.1f MB peak resident\n",
               w / 1e6, m->precision, a / 1e6, mem->libs / 1e6, mem->peak / 1e6);
        return;
    }
    const long long budget = mem_budget(mem);
    printf("memory     %.1f MB weights (as laid out, %s), %.1f MB activations, %.1f MB libraries (resident before "
           "the model%s)\n",
           w / 1e6, m->precision, a / 1e6, mem->libs / 1e6, mem->models > 1 ? "s" : "");
    printf("           %.1f MB peak resident%s %s %.1f MB = 2 x weights + activations%s + libraries: %s\n",
           mem->peak / 1e6, mem->restarted ? "" : " (the process's)", mem->peak <= budget ? "<=" : ">", budget / 1e6,
           mem->models > 1 ? " (of both models)" : "", mem->peak <= budget ? "within" : "over");
    printf("           (%.1f MB by the end of loading, %.1f MB resident after the runs)\n", mem->loaded / 1e6,
           mem->after / 1e6);
}

/* --op-times: runs more profiled forwards (profiling on), each op's time as a CSV row */
static void op_times_write(bench_model *m, const bench_opts *o, const char *arch) {
    enum { CAP = 1 << 14 }; /* ops a forward: VMamba-T 83, Vim-T 197 */
    vssm_op_record *rec = malloc(CAP * sizeof *rec);
    vssm_err err = {0};
    double secs[VSSM_OP_KIND_COUNT];
    for (int r = 0; rec && r < o->runs; r++) {
        vssm_ctx_profile_log(m->ctx, rec, CAP);
        if (vssm_classifier_forward(m->clf, m->x, o->batch, o->H, o->W, m->logits, &err) != VSSM_OK) break;
        const size_t n = vssm_ctx_profile_logged(m->ctx) < CAP ? vssm_ctx_profile_logged(m->ctx) : CAP;
        for (size_t i = 0; i < n; i++)
            fprintf(o->op_times, "%s,%s,%d,%d,%zu,%s,%.2f\n", arch, m->precision, vssm_ctx_threads(m->ctx), r, i,
                    vssm_op_kind_name(rec[i].kind), rec[i].secs * 1e6);
    }
    vssm_ctx_profile_log(m->ctx, NULL, 0);
    vssm_ctx_profile_take(m->ctx, secs); /* not the reported shares' */
    free(rec);
}

/* Prints the report of a timed model (a profiled run for the op shares first).
 * ref: the sgemm GFLOP/s of this run (measured by the first model, < 0 until then). */
static void bench_model_report(bench_model *m, const bench_opts *o, const bench_mem *mem, double *ref) {
    const int batch = o->batch, H = o->H, W = o->W, runs = o->runs;
    vssm_ctx *ctx = m->ctx;
    vssm_classifier *clf = m->clf;
    double *times = m->times;
    vssm_err err = {0};
    const vssm_backbone *bb = vssm_classifier_backbone(clf);
    const vssm_vmamba *vm = vssm_backbone_vmamba(bb);
    const char *arch_name = vssm_backbone_arch(bb);
    /* one profiled run for the per-op-kind shares */
    double secs[VSSM_OP_KIND_COUNT], total_prof = 0;
    vssm_ctx_profile(ctx, 1);
    vssm_ctx_profile_take(ctx, secs);
    vssm_classifier_forward(clf, m->x, batch, H, W, m->logits, &err);
    vssm_ctx_profile_take(ctx, secs);
    if (o->op_times) op_times_write(m, o, arch_name);
    vssm_ctx_profile(ctx, 0);
    for (int k = 0; k < VSSM_OP_KIND_COUNT; k++) total_prof += secs[k];

    const bench_cores cores = cores_of(m, runs);
    double med = median_of(times, runs);
    double macs = vssm_classifier_macs(clf, H, W) * batch;
    double gflops = 2 * macs / med / 1e9;
    if (*ref < 0) *ref = (o->no_ref || !o->on_cpu) ? 0 : sgemm_gflops(2048, 3, vssm_ctx_threads(ctx));
    double bw = 0;
    if (!o->no_ref) vssm_ctx_copy_bandwidth(ctx, (size_t)256 << 20, &bw, NULL);
    /* the minimum-bytes model is VMamba's cross-scan; a Vim reports 0 */
    double scan_gbps = secs[VSSM_OP_SCAN] > 0 && vm
                           ? scan_bytes(vssm_vmamba_get_config(vm), batch, H, W) / secs[VSSM_OP_SCAN] / 1e9
                           : 0;
    const double rf = *ref;
    char blas[192] = "";
    if (rf > 0) blas_name(blas, sizeof blas);

    if (o->json) {
        printf("{\"arch\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"batch\": %d, \"height\": %d, \"width\": %d, "
               "\"runs\": %d, \"ms_per_batch_median\": %.3f, \"ms_per_batch_min\": %.3f, \"ms_per_img\": %.3f, "
               "\"img_per_s\": %.2f, \"gmacs_per_img\": %.4f, \"gflop_per_s\": %.2f, \"sgemm_gflop_per_s\": %.2f, "
               "\"sgemm_ratio\": %.4f, \"sgemm_blas\": \"%s\", \"scan_gb_per_s\": %.2f, \"copy_gb_per_s\": %.2f, "
               "\"params\": %lld, "
               "\"precision\": \"%s\", \"weight_bytes\": %lld, \"activation_bytes\": %lld, \"libraries_bytes\": %lld, "
               "\"load_peak_rss_bytes\": %lld, \"peak_rss_bytes\": %lld, \"rss_after_bytes\": %lld, \"models_alive\": "
               "%d, \"peak_restarted\": %s, "
               "\"memory_budget_bytes\": %lld, \"memory_within\": %s, \"weight_mb\": %.2f, \"activation_mb\": %.2f, "
               "\"peak_rss_mb\": %.1f, \"core_round_trip_ns_median\": %.1f, \"runs_cores_far\": %d, "
               "\"steal_ms\": %.1f, "
               "\"op_share\": {",
               arch_name, vssm_ctx_describe(ctx), vssm_ctx_threads(ctx), batch, H, W, runs, med * 1e3, times[0] * 1e3,
               med * 1e3 / batch, batch / med, macs / batch / 1e9, gflops, rf, rf > 0 ? gflops / rf : 0, blas,
               scan_gbps, bw, (long long)vssm_classifier_params(clf), m->precision,
               (long long)vssm_classifier_weight_bytes(clf), (long long)vssm_classifier_state_bytes(clf), mem->libs,
               mem->loaded, mem->peak, mem->after, mem->models, mem->restarted ? "true" : "false", mem_budget(mem),
               !o->on_cpu                     ? "null"
               : mem->peak <= mem_budget(mem) ? "true"
                                              : "false",
               vssm_classifier_weight_bytes(clf) / 1e6, vssm_classifier_state_bytes(clf) / 1e6, mem->peak / 1e6,
               cores.med, cores.n_far, m->steal_ms);
        for (int k = 0; k < VSSM_OP_KIND_COUNT; k++)
            printf("%s\"%s\": %.4f", k ? ", " : "", vssm_op_kind_name(k), total_prof > 0 ? secs[k] / total_prof : 0);
        printf("}, \"fixed_threads\": %s, \"runs_at_threads\": {", o->fixed_threads ? "true" : "false");
        for (int t = 1, first = 1; t <= vssm_ctx_threads(ctx); t++) {
            const int n = runs_at(m, runs, t);
            if (n) printf("%s\"%d\": %d", first ? "" : ", ", t, n), first = 0;
        }
        printf("}}\n");
    } else {
        printf("model      %s, %lld params, %.3f GMAC/img at %dx%d\n", arch_name,
               (long long)vssm_classifier_params(clf), macs / batch / 1e9, H, W);
        printf("device     %s\n", vssm_ctx_describe(ctx));
        if (o->on_cpu && vssm_ctx_threads(ctx) > 1) {
            if (o->fixed_threads)
                printf("threads    %d in every pass (--fixed-threads)\n", vssm_ctx_threads(ctx));
            else {
                printf("threads    at most %d, each pass's count chosen by timing; timed runs at",
                       vssm_ctx_threads(ctx));
                for (int t = 1, first = 1; t <= vssm_ctx_threads(ctx); t++) {
                    const int n = runs_at(m, runs, t);
                    if (n) printf("%s %d thread%s: %d", first ? "" : ",", t, t == 1 ? "" : "s", n), first = 0;
                }
                printf("\n");
            }
        }
        if (o->on_cpu && vssm_ctx_threads(ctx) > 1) { /* how idle threads wait moves 2-thread times 10-25% */
            const char *pol = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT"),
                       *bt = getenv("KMP_BLOCKTIME");
            printf("waiting    OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s KMP_BLOCKTIME=%s\n", pol ? pol : "(unset)",
                   spin ? spin : "(unset)", bt ? bt : "(unset)");
        }
        if (cores.n == 0 && o->on_cpu && vssm_ctx_threads(ctx) > 1)
            printf("cores      2 threads' round trip: not measured (no run had both threads running at once: a "
                   "loaded machine)\n");
        if (cores.n > 0) {
            printf("cores      2 threads' round trip after each run: median %.0f ns (%.0f-%.0f)", cores.med, cores.lo,
                   cores.hi);
            if (cores.n < runs) printf(" in the %d of %d runs measured (the others: a loaded machine)", cores.n, runs);
            if (cores.n_far == 0)
                printf(": near in every run measured\n");
            else if (cores.n_far == cores.n)
                printf(": far apart (>= %.0f ns: two chiplets or sockets) in every run measured\n", CORES_FAR_NS);
            else
                printf("; far apart (>= %.0f ns) in %d of %d runs: %.2f ms/batch median, the others %.2f\n",
                       CORES_FAR_NS, cores.n_far, cores.n, cores.t_far_ms, cores.t_near_ms);
        }
        if (o->on_cpu && m->steal_ms >= 0) /* a VM's vCPUs waiting for the host: times too long, by up to this */
            printf("steal      %.0f ms of CPU time taken by the hypervisor during the timed runs (%.1f%% of their "
                   "wall time x %d threads)\n",
                   m->steal_ms, 100 * m->steal_ms / (1e3 * sum_of(m->times, runs) * vssm_ctx_threads(ctx)),
                   vssm_ctx_threads(ctx));
        printf("batch      %d, %d runs after %d warm-up\n", batch, runs, o->warmup);
        printf("time       %.2f ms/batch median (min %.2f), %.2f ms/img, %.1f img/s\n", med * 1e3, times[0] * 1e3,
               med * 1e3 / batch, batch / med);
        printf("compute    %.1f GFLOP/s", gflops);
        if (rf > 0) printf(" = %.0f%% of sgemm 2048^3 in this run (%.1f GFLOP/s, %s)", 100 * gflops / rf, rf, blas);
        printf("\n");
        print_memory(m, mem, o);
        if (scan_gbps > 0) {
            printf("scan       %.1f GB/s of the minimum bytes", scan_gbps);
            if (bw > 0) printf(" (device copy: %.1f GB/s, %.0f%%)", bw, 100 * scan_gbps / bw);
            printf("\n");
        }
        printf("op share  ");
        for (int k = 0; k < VSSM_OP_KIND_COUNT; k++)
            printf(" %s %.1f%%", vssm_op_kind_name(k), total_prof > 0 ? 100 * secs[k] / total_prof : 0);
        printf("\n");
    }
    fflush(stdout);
}

/* Times one architecture at each precision of the list, the runs alternated (each timed
 * run of one precision next to one of the other), and prints each report; with two
 * precisions, the ratio of the medians. */
static int bench_arch(vssm_ctx **ctxs, const char **precs, int np, const char *arch, const bench_opts *o, double *ref) {
    bench_model m[2];
    memset(m, 0, sizeof m);
    int rc = VSSM_EXIT_OK;
    bench_mem mem = {rss_bytes("VmRSS"), 0, 0, 0, 0, 0, peak_restart(), np};
    for (int p = 0; p < np && rc == VSSM_EXIT_OK; p++) rc = bench_model_open(&m[p], ctxs[p], precs[p], arch, o);
    mem.loaded = rss_bytes("VmHWM");
    double st = -1;
    for (int r = -o->warmup; r < o->runs && rc == VSSM_EXIT_OK; r++) {
        if (r == 0) st = steal_ms();
        for (int p = 0; p < np && rc == VSSM_EXIT_OK; p++) rc = bench_model_run(&m[p], o, r);
    }
    const double st1 = steal_ms();
    for (int p = 0; p < np; p++) m[p].steal_ms = st >= 0 && st1 >= st ? st1 - st : -1;
    /* before the reports' sgemm reference and bandwidth probe allocate */
    mem.peak = rss_bytes("VmHWM");
    mem.after = rss_bytes("VmRSS");
    for (int p = 0; p < np && rc == VSSM_EXIT_OK; p++) {
        mem.weights += (long long)vssm_classifier_weight_bytes(m[p].clf);
        mem.acts += (long long)vssm_classifier_state_bytes(m[p].clf);
    }
    for (int p = 0; p < np && rc == VSSM_EXIT_OK; p++) {
        if (np > 1 && !o->json) printf("%sprecision  %s\n", p ? "\n" : "", precs[p]);
        bench_model_report(&m[p], o, &mem, ref);
    }
    if (rc == VSSM_EXIT_OK && np == 2) {
        const double w0 = median_of(m[0].times, o->runs), w1 = median_of(m[1].times, o->runs);
        const double c0 = median_of(m[0].cpu, o->runs), c1 = median_of(m[1].cpu, o->runs);
        if (o->json) /* a line of its own after the two models' (JSON lines) */
            printf("{\"compare\": \"%s/%s\", \"speed_ratio\": %.4f, \"cpu_time_ratio\": %.4f, \"runs\": %d}\n",
                   precs[1], precs[0], w0 / w1, c0 / c1, o->runs);
        else
            printf("\n%s / %s    %.2fx the speed (medians of %d alternated runs: %.2f / %.2f ms); process CPU time "
                   "%.2fx (%.2f / %.2f ms)\n",
                   precs[1], precs[0], w0 / w1, o->runs, 1e3 * w1, 1e3 * w0, c0 / c1, 1e3 * c1, 1e3 * c0);
    }
    for (int p = 0; p < np; p++) bench_model_free(&m[p]);
    return rc;
}

VSSM_VERB(bench) {
    const char *arch = "vmamba-tiny", *device = "cpu", *size = "224", *precision = "f32", *op_times = NULL;
    bench_opts o = {NULL, 1, 0, 0, 10, 2, 0, 0, 1, 0, NULL};
    int threads = 0, bad = 0, tf32 = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (cli_opt_str(argc, argv, &i, "--arch", &arch, &bad) ||
            cli_opt_str(argc, argv, &i, "--weights", &o.weights, &bad) ||
            cli_opt_str(argc, argv, &i, "--device", &device, &bad) ||
            cli_opt_str(argc, argv, &i, "--size", &size, &bad) ||
            cli_opt_str(argc, argv, &i, "--precision", &precision, &bad) ||
            cli_opt_str(argc, argv, &i, "--op-times", &op_times, &bad) ||
            cli_opt_int(argc, argv, &i, "--batch", &o.batch, &bad) ||
            cli_opt_int(argc, argv, &i, "--threads", &threads, &bad) ||
            cli_opt_int(argc, argv, &i, "--runs", &o.runs, &bad) ||
            cli_opt_int(argc, argv, &i, "--warmup", &o.warmup, &bad) || cli_opt_flag(argv, i, "--json", &o.json) ||
            cli_opt_flag(argv, i, "--no-gemm-ref", &o.no_ref) ||
            cli_opt_flag(argv, i, "--fixed-threads", &o.fixed_threads) || cli_opt_flag(argv, i, "--tf32", &tf32))
            continue;
        cli_bad_arg("bench", argv[i]);
        bad = 1;
    }
    if (!bad && !cli_parse_size(size, &o.H, &o.W)) {
        cli_error("bench: --size wants N or HxW, got '%s'", size);
        bad = 1;
    }
    if (!bad && (o.batch < 1 || o.runs < 1 || o.warmup < 0)) {
        cli_error("bench: --batch and --runs must be >= 1, --warmup >= 0");
        bad = 1;
    }
    if (!bad && o.weights && strchr(arch, ',')) {
        cli_error("bench: --weights takes one --arch, not a list");
        bad = 1;
    }
    if (!bad && (!*arch || arch[0] == ',' || arch[strlen(arch) - 1] == ',' || strstr(arch, ",,"))) {
        cli_error("bench: --arch wants a name or a comma-separated list of names, got '%s'", arch);
        bad = 1;
    }
    if (bad) {
        usage(stderr);
        return VSSM_EXIT_USAGE;
    }
    /* --op-times: writable, and not the weights, before any model is made */
    const char *ins[1] = {o.weights};
    if (op_times && cli_check_output("bench", op_times, "--op-times", ins, 1, NULL, 0)) return VSSM_EXIT_USAGE;

    /* --precision a or a,b: one context per precision */
    char precs_buf[2][16];
    const char *precs[2];
    int np = 0;
    for (const char *p = precision; !bad;) {
        const size_t n = strcspn(p, ",");
        if (np == 2 || n == 0 || n >= sizeof precs_buf[0]) {
            cli_error("bench: --precision wants f32, bf16 or two of them (f32,bf16), got '%s'", precision);
            usage(stderr);
            return VSSM_EXIT_USAGE;
        }
        memcpy(precs_buf[np], p, n);
        precs_buf[np][n] = 0;
        precs[np] = precs_buf[np];
        np++;
        p += n;
        if (!*p) break;
        p++;
    }
    vssm_err err = {0};
    vssm_ctx *ctxs[2] = {NULL, NULL};
    for (int p = 0; p < np; p++) {
        vssm_ctx_opts co;
        if (cli_ctx_opts(device, threads, tf32, &co) || cli_precision(precs[p], &co)) {
            vssm_ctx_free(ctxs[0]);
            return VSSM_EXIT_USAGE;
        }
        co.adapt_threads = !o.fixed_threads;
        o.on_cpu = co.device == VSSM_DEVICE_CPU;
        if (vssm_ctx_new(&ctxs[p], &co, &err) != VSSM_OK) {
            cli_error("%s", err.msg);
            vssm_ctx_free(ctxs[0]);
            return VSSM_EXIT_USAGE;
        }
    }

    /* --arch a,b,...: the models one after another in this process, so their figures
     * (and the one sgemm reference) come from the same run */
    double ref = -1;
    int rc = VSSM_EXIT_OK;
    vssm_outfile of = {0};
    if (op_times) {
        if (vssm_outfile_open(&of, op_times, &err) != VSSM_OK) { /* checked before the contexts: seldom here */
            cli_error("%s", err.msg);
            vssm_ctx_free(ctxs[0]);
            vssm_ctx_free(ctxs[1]);
            return VSSM_EXIT_INPUT;
        }
        o.op_times = of.f;
        fprintf(of.f, "arch,precision,threads,run,op,kind,us\n");
    }
    char name[64];
    for (const char *p = arch; rc == VSSM_EXIT_OK && *p;) {
        size_t n = strcspn(p, ",");
        if (n >= sizeof name) {
            cli_error("bench: architecture name too long in '%s'", arch);
            rc = VSSM_EXIT_USAGE;
            break;
        }
        memcpy(name, p, n);
        name[n] = 0;
        if (p != arch && !o.json) printf("\n");
        rc = bench_arch(ctxs, precs, np, name, &o, &ref);
        p += n;
        if (*p == ',') p++;
    }
    if (op_times) {
        if (rc != VSSM_EXIT_OK)
            vssm_outfile_abort(&of);
        else {
            cli_write_begin(); /* Ctrl-C waits for the rename */
            const vssm_status cs = vssm_outfile_commit(&of, &err);
            cli_write_end();
            if (cs != VSSM_OK) {
                cli_error("%s", err.msg);
                rc = VSSM_EXIT_INPUT;
            }
        }
    }
    vssm_ctx_free(ctxs[0]);
    vssm_ctx_free(ctxs[1]);
    return rc;
}
