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

/* Work items [0, n) cut into one contiguous range per thread of the context; a thread takes
 * chunks from its own range first, then from what is left of the others' (a thread done with
 * its range helps the one held up). Where the threads keep pace a thread gets the same items
 * at every call, as with schedule(static) - so the rows or columns it writes are those it
 * wrote and will read in the ops around it, in its own caches - and where another process
 * holds a core, the balance of schedule(dynamic). One cache line a range (ctx->cpu_ranges,
 * made with the context): the threads' counters do not share a line. */
typedef struct vssm_cpu_range {
    int64_t next, begin, end;
    char pad[64 - 3 * sizeof(int64_t)];
} vssm_cpu_range;

static inline void vssm_cpu_ranges_init(vssm_cpu_range *rg, int nr, int64_t n) {
    for (int i = 0; i < nr; i++) rg[i].next = rg[i].begin = n * i / nr, rg[i].end = n * (i + 1) / nr;
}

/* inside the parallel region: the calling thread's next chunk [*t0, *t1) of at most c items
 * and the range it came from (*r), NULL when every range is done; *v counts the ranges the
 * thread has emptied (0 at the start) */
static inline const vssm_cpu_range *vssm_cpu_ranges_next(vssm_cpu_range *rg, int nr, int64_t c, int *v, int64_t *t0,
                                                         int64_t *t1) {
    const int me = omp_get_thread_num();
    for (; *v < nr; ++*v) {
        vssm_cpu_range *r = &rg[(me + *v) % nr];
        int64_t s;
#pragma omp atomic capture
        {
            s = r->next;
            r->next += c;
        }
        if (s < r->end) {
            *t0 = s;
            *t1 = s + c < r->end ? s + c : r->end;
            return r;
        }
    }
    return NULL;
}

#endif
