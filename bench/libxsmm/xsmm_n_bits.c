/* bench/libxsmm/xsmm_n_bits.c - does a libxsmm 1.17 JIT kernel give column j the same bits
 * whatever its n? For each (K, m), kernels with n = 2..64 against n = 1 column by column;
 * prints the n that differ (kernels/cpu/README.md, "Against libxsmm and BLIS": batch invariance
 * with libxsmm depends on the panel width m). Not part of the build; with libxsmm-dev:
 *
 *   cc -O2 bench/libxsmm/xsmm_n_bits.c /usr/lib/libxsmm.a /usr/lib/libxsmmnoblas.a \
 *      -lpthread -ldl -lrt -lm -o /tmp/xsmm_n_bits && /tmp/xsmm_n_bits
 */
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    static const int Ks[] = {96, 192, 384, 768, 1536, 3072};
    static const int ms[] = {8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 104, 128, 192, 200, 256};
    libxsmm_init();
    printf("libxsmm %s, target %s\n", LIBXSMM_CONFIG_VERSION, libxsmm_get_target_arch());
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
            const int K = Ks[ki], m = ms[mi];
            float *a = malloc(sizeof(float) * m * K), *b = malloc(sizeof(float) * K * 64);
            float *c = malloc(sizeof(float) * m * 64), *c1 = malloc(sizeof(float) * m);
            for (int i = 0; i < m * K; i++) a[i] = (float)(i % 13) * 0.01f - 0.06f;
            for (int i = 0; i < K * 64; i++) b[i] = (float)(i % 17) * 0.01f - 0.08f;
            const libxsmm_blasint lda = m, ldb = K, ldc = m;
            const float one = 1, zero = 0;
            const int flags = LIBXSMM_GEMM_FLAG_NONE, pf = LIBXSMM_GEMM_PREFETCH_NONE;
            libxsmm_smmfunction f1 = libxsmm_smmdispatch(m, 1, K, &lda, &ldb, &ldc, &one, &zero, &flags, &pf);
            printf("K %4d m %3d: n differing from n = 1:", K, m);
            for (int n = 2; n <= 64; n++) {
                libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, K, &lda, &ldb, &ldc, &one, &zero, &flags, &pf);
                if (!f || !f1) {
                    printf(" (no kernel)");
                    break;
                }
                f(a, b, c);
                int d = 0;
                for (int j = 0; j < n; j++) {
                    f1(a, b + (size_t)j * K, c1);
                    d |= memcmp(c1, c + (size_t)j * m, sizeof(float) * m) != 0;
                }
                if (d) printf(" %d", n);
            }
            printf("\n");
            free(a), free(b), free(c), free(c1);
        }
    libxsmm_finalize();
    return 0;
}
