/* kernels/cpu/rows_chunk.h - how the element-wise CPU ops (conv1d.c, norm.c, v0_ops.c)
 * split a row loop: the chunk size of one handed out dynamically (schedule(dynamic, chunk)),
 * or a thread's equal contiguous share (the norms). */
#ifndef VSSM_CPU_ROWS_CHUNK_H
#define VSSM_CPU_ROWS_CHUNK_H

#include <omp.h>
#include <stdint.h>

/* rows of C floats over n_threads: about 8 chunks per thread, so that a thread whose core is
 * busy with another process takes fewer of them (static splits made every thread wait for
 * it), but at least 16K floats per chunk, so that handing one out (an atomic add) costs
 * nothing beside its work; except that there are always at least 4 chunks per thread where
 * there are rows enough: the floor alone cut VMamba-T's stage-4 LayerNorms (49 rows of 768)
 * into chunks of 22, 22 and 5 rows, one thread doing 44 of 49, and stage 3's (196 of 384)
 * into 5 chunks, 3 to one thread and 2 to the other */
static inline int64_t vssm_cpu_rows_chunk(int64_t rows, int C, int n_threads) {
    const int64_t nt = n_threads > 0 ? n_threads : 1;
    const int64_t by_threads = (rows + 8 * nt - 1) / (8 * nt);
    const int64_t by_work = (16384 + C - 1) / (C > 0 ? C : 1);
    const int64_t most = (rows + 4 * nt - 1) / (4 * nt); /* 4 chunks per thread */
    int64_t c = by_threads > by_work ? by_threads : by_work;
    c = c < most ? c : most;
    return c > 0 ? c : 1;
}

/* the norms take their rows' statistics this many rows at a time before the rows' outputs:
 * a row's statistics are a dependent chain (sums, the lanes' tree, a division, a square root)
 * that the next row's overlaps only when it comes a few instructions later (norm.c) */
#define VSSM_CPU_STATS_ROWS 8

/* the calling thread's equal contiguous share [*r0, *r1) of rows, as schedule(static) would
 * give it; called inside the parallel region */
static inline void vssm_cpu_rows_share(int64_t rows, int64_t *r0, int64_t *r1) {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    *r0 = rows * t / nt;
    *r1 = rows * (t + 1) / nt;
}

#endif
