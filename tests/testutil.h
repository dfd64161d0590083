/* tests/testutil.h - tiny check helpers shared by the C tests.
 *
 *   TEST_CHECK(cond, "what %d", x)   records a failure (file:line + message), goes on
 *   TEST_REQUIRE(cond, ...)          same, but ends the test at once (exit 1)
 *   test_rel_err(a, b, n)            max|a-b| / max|b|  (0/0 -> 0, NaN anywhere -> inf)
 *   return test_finish("name");      prints "name: N passed, N failed", exit status
 *   test_skip("why")                 prints and exits 77 (CTest: skipped)
 *   test_run_cmd(cmd, out, n, err, n)  runs a shell command from the source tree, captures both streams
 *   test_read_file(path, &n)         a whole file (caller frees)
 */
#ifndef VSSM_TESTUTIL_H
#define VSSM_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include "vssm/classifier.h"

extern int test_n_pass, test_n_fail;

void test_record(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define TEST_CHECK(cond, ...) test_record(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define TEST_REQUIRE(cond, ...)                                     \
    do {                                                            \
        int ok_ = !!(cond);                                         \
        test_record(ok_, __FILE__, __LINE__, __VA_ARGS__);          \
        if (!ok_) {                                                 \
            fprintf(stderr, "(required check failed, stopping)\n"); \
            exit(1);                                                \
        }                                                           \
    } while (0)

double test_rel_err(const float *a, const float *b, size_t n);
int test_finish(const char *name);
void test_skip(const char *why) __attribute__((noreturn));
/* 1 when this CPU and OS run avx512_bf16 as vssm's bf16 kernels need it (AVX-512 F/BW/DQ/VL,
 * FMA, AVX512_BF16, the OS saving the AVX-512 state; CPUID read here, not through the library)
 * and neither VSSM_CPU_ISA nor VSSM_CPU_BF16 asks for another kernel: where a bf16 test must
 * run, not skip. 0 in a test built without VSSM_TEST_BF16_BUILT (tests/bf16.cmake: CMake found
 * the compiler unable to build the bf16 kernels). */
int test_cpu_runs_bf16(void);
/* 1 where $VSSM_TEST_SHORT is set (not empty, not "0"): a test then leaves out the cases that
 * repeat at full size what its smaller cases check, and says which. tools/ci_cpus.sh sets it
 * for its emulated runs (QEMU: 100-700x slower), where the same tests run in full natively. */
int test_short(void);
/* Runs CMD with /bin/sh from the source tree (VSSM_SOURCE_DIR): stdout into out (nout bytes,
 * NUL-terminated), stderr into err (nerr); returns the exit status, -1 when it did not exit. */
int test_run_cmd(const char *cmd, char *out, size_t nout, char *err, size_t nerr);
/* A whole file, NUL-terminated (caller frees), its size in *n; NULL when unreadable. */
char *test_read_file(const char *path, size_t *n);
/* Path under tests/data: returns a static-free heap string the caller frees. */
char *test_data_path(const char *rel);
/* A small random VMamba (vim 0) or Vim (vim 1) classifier on ctx, its weights from the random
 * source of `seed` (the same on every context); stops the test when it cannot be made. */
vssm_classifier *test_small_classifier(vssm_ctx *ctx, int vim, uint64_t seed);

#endif
