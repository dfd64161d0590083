/* kernels/cpu/rows_chunk.h - the chunk size of a row loop handed out dynamically
 * (schedule(dynamic, chunk)) by the element-wise CPU ops (conv1d.c, norm.c, v0_ops.c). */
#ifndef VSSM_CPU_ROWS_CHUNK_H
#define VSSM_CPU_ROWS_CHUNK_H

#include <stdint.h>

/* rows of C floats over n_threads: about 8 chunks per thread, so that a thread whose core is
 * busy with another process takes fewer of them (static splits made every thread wait for
 * it), but at least 16K floats per chunk, so that handing one out (an atomic add) costs
 * nothing beside its work */
static inline int64_t vssm_cpu_rows_chunk(int64_t rows, int C, int n_threads) {
    const int64_t by_threads = (rows + 8 * (int64_t)n_threads - 1) / (8 * (int64_t)n_threads);
    const int64_t by_work = (16384 + C - 1) / (C > 0 ? C : 1);
    const int64_t c = by_threads > by_work ? by_threads : by_work;
    return c > 0 ? c : 1;
}

#endif
