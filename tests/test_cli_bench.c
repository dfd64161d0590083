/* tests/test_cli_bench.c - `vssm bench` reports what it measured: one JSON object per model
 * of an --arch list, in order, with the models' known sizes (VMamba-T 30.2M parameters,
 * 4.84 GMAC at 224; Vim-T 7.1M), positive times, op shares that sum to 1, activation
 * memory that grows with the input, the 2 threads' round trip and the host's steal time
 * reported; --op-times writes every op of its runs as CSV; bad lists and
 * unknown names exit 2 with a message.
 * (No timing is checked: speed is what the benchmark reports, not what a test asserts.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "vssm/ctx.h"

static int run(const char *args, char *out, size_t nout, char *err, size_t nerr) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' bench %s", VSSM_BIN, args);
    return test_run_cmd(cmd, out, nout, err, nerr);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* parses up to n JSON lines of out into objs; returns the count */
static int parse_lines(char *out, cJSON **objs, int n) {
    int k = 0;
    for (char *line = strtok(out, "\n"); line && k < n; line = strtok(NULL, "\n")) objs[k++] = cJSON_Parse(line);
    return k;
}

static void check_model(const cJSON *o, const char *arch, int size, double params, double gmacs_lo, double gmacs_hi) {
    TEST_REQUIRE(o, "%s: a JSON object", arch);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "arch");
    TEST_CHECK(cJSON_IsString(a) && !strcmp(a->valuestring, arch), "arch %s in order (got %s)", arch,
               cJSON_IsString(a) ? a->valuestring : "?");
    TEST_CHECK(num(o, "height") == size && num(o, "width") == size && num(o, "batch") == 1, "%s: size and batch", arch);
    TEST_CHECK(num(o, "params") == params, "%s: %.0f params (got %.0f)", arch, params, num(o, "params"));
    double g = num(o, "gmacs_per_img");
    TEST_CHECK(g >= gmacs_lo && g <= gmacs_hi, "%s: %.4f GMAC/img in [%g, %g]", arch, g, gmacs_lo, gmacs_hi);
    TEST_CHECK(num(o, "ms_per_img") > 0 && num(o, "img_per_s") > 0 &&
                   num(o, "ms_per_batch_min") <= num(o, "ms_per_batch_median"),
               "%s: positive times, min <= median", arch);
    TEST_CHECK(num(o, "activation_mb") > 0 && num(o, "peak_rss_mb") > 0, "%s: memory reported", arch);
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "op_share"), *it;
    double sum = 0;
    cJSON_ArrayForEach(it, sh) sum += it->valuedouble;
    TEST_CHECK(fabs(sum - 1) < 1e-3 && num(sh, "gemm") > 0 && num(sh, "scan") > 0, "%s: op shares sum to 1 (%.4f)",
               arch, sum);
}

int main(void) {
    static char out[1 << 15], err[1 << 12];
    cJSON *o[4] = {0};

    int rc = run("--arch vim-tiny,vmamba-tiny --size 224 --runs 1 --warmup 0 --threads 2 --no-gemm-ref --json", out,
                 sizeof out, err, sizeof err);
    TEST_REQUIRE(rc == 0, "bench of a list exits 0 (%d): %s", rc, err);
    TEST_CHECK(parse_lines(out, o, 4) == 2, "one JSON line per model");
    check_model(o[0], "vim-tiny", 224, 7148008, 1.40, 1.55);     /* Vim-T: 1.5 GFLOPs in its paper's table */
    check_model(o[1], "vmamba-tiny", 224, 30249064, 4.80, 4.90); /* VMamba-T s1l8: 4.9G */
    for (int i = 0; i < 2; i++) { /* where the 2 threads sat (1 run: far or not) and the host's steal */
        const double rt = num(o[i], "core_round_trip_ns_median"), far = num(o[i], "runs_cores_far");
        const double st = num(o[i], "steal_ms");
        /* one run: it is the median, and far exactly when it is >= 200 ns */
        TEST_CHECK(rt >= 0 && rt < 5e6 && (far == 0 || far == 1) && (far == 1) == (rt >= 200),
                   "model %d: core round trip %g ns, %g far runs of 1", i, rt, far);
        TEST_CHECK(st == -1 || st >= 0, "model %d: steal %g ms (-1: /proc/stat unreadable)", i, st);
    }
    double act224 = num(o[0], "activation_mb");
    for (int i = 0; i < 4; i++) {
        cJSON_Delete(o[i]);
        o[i] = NULL;
    }

    /* Vim's activations grow linearly with the token count: 197 -> 785 tokens (448 / 16 = 28) */
    rc = run("--arch vim-tiny --size 448 --runs 1 --warmup 0 --no-gemm-ref --json", out, sizeof out, err, sizeof err);
    TEST_REQUIRE(rc == 0 && parse_lines(out, o, 1) == 1 && o[0], "vim-tiny at 448: %s", err);
    double r = num(o[0], "activation_mb") / act224;
    TEST_CHECK(fabs(r - 785.0 / 197.0) < 0.05 * 785.0 / 197.0, "activation memory ratio 448/224 = %.3f, tokens %.3f", r,
               785.0 / 197.0);
    cJSON_Delete(o[0]);

    /* --precision f32,bf16 --json: each precision's line, then the ratio the text prints */
    if (test_cpu_runs_bf16()) {
        rc = run(
            "--arch vmamba-tiny --size 64 --runs 2 --warmup 0 --threads 1 --no-gemm-ref --precision f32,bf16 --json",
            out, sizeof out, err, sizeof err);
        cJSON *p3[3] = {NULL, NULL, NULL};
        const int nl = rc == 0 ? parse_lines(out, p3, 3) : 0;
        const double sr = nl == 3 && p3[2] ? num(p3[2], "speed_ratio") : -1;
        TEST_CHECK(nl == 3 && sr > 0.1 && sr < 20, "f32,bf16 --json: 2 models and the speed ratio (%d lines, %.3f): %s",
                   nl, sr, err);
        for (int i = 0; i < 3; i++) cJSON_Delete(p3[i]);
    }

    /* --op-times: a CSV row per op of every extra run, the ops of a run numbered from 0 in
     * order, the same ops in every run; an unwritable path exits 1 naming it */
    char csv[512];
    snprintf(csv, sizeof csv, "%s/test_cli_bench_ops.%d.csv", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    char args[1024];
    snprintf(args, sizeof args,
             "--arch vim-tiny,vmamba-tiny --size 64 --runs 2 --warmup 0 --no-gemm-ref --op-times '%s'", csv);
    rc = run(args, out, sizeof out, err, sizeof err);
    TEST_REQUIRE(rc == 0, "bench --op-times exits 0 (%d): %s", rc, err);
    FILE *f = fopen(csv, "r");
    TEST_REQUIRE(f != NULL, "--op-times wrote %s", csv);
    char line[256];
    TEST_CHECK(fgets(line, sizeof line, f) && !strcmp(line, "arch,precision,threads,run,op,kind,us\n"),
               "the CSV header: %s", line);
    int rows[2][2] = {{0, 0}, {0, 0}}, order_ok = 1, kinds_ok = 1;
    while (fgets(line, sizeof line, f)) {
        char a[32], prec[8], kind[16];
        int thr, r, op;
        double us;
        if (sscanf(line, "%31[^,],%7[^,],%d,%d,%d,%15[^,],%lf", a, prec, &thr, &r, &op, kind, &us) != 7) {
            order_ok = 0;
            break;
        }
        const int m = !strcmp(a, "vmamba-tiny");
        if (r < 0 || r > 1 || op != rows[m][r])
            order_ok = 0;
        else
            rows[m][r]++;
        int known = 0;
        for (int k = 0; k < VSSM_OP_KIND_COUNT; k++) known |= !strcmp(kind, vssm_op_kind_name(k));
        kinds_ok &= known && us > 0 && !strcmp(prec, "f32");
    }
    fclose(f);
    remove(csv);
    TEST_CHECK(order_ok && kinds_ok, "every row parses, ops numbered in order, known kinds, positive times");
    TEST_CHECK(rows[0][0] > 50 && rows[0][0] == rows[0][1] && rows[1][0] > 50 && rows[1][0] == rows[1][1],
               "the same ops in both runs: Vim-T %d / %d, VMamba-T %d / %d", rows[0][0], rows[0][1], rows[1][0],
               rows[1][1]);
    rc = run("--arch vim-tiny --size 64 --runs 1 --no-gemm-ref --op-times /nonexistent-dir/ops.csv", out, sizeof out,
             err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "/nonexistent-dir/ops.csv"),
               "an unwritable --op-times exits 2 before any run, naming it (%d): %s", rc, err);

    rc = run("--arch vim-tiny,,vmamba-tiny", out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "comma-separated"), "an empty list entry exits 2 naming the problem (%d): %s", rc,
               err);
    rc = run("--arch vmamba-huge --runs 1", out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "unknown architecture 'vmamba-huge'"), "an unknown name exits 2 (%d): %s", rc,
               err);
    rc = run("--weights tests/data/cli/tiny_cls.safetensors --arch vmamba-tiny,vim-tiny", out, sizeof out, err,
             sizeof err);
    TEST_CHECK(rc == 2 && strstr(err, "one --arch"), "--weights with a list exits 2 (%d): %s", rc, err);
    return test_finish("test_cli_bench");
}
