/* tools/mpi_shard.h - evaluation past one machine: `mpirun -n N vssm eval ...`.
 *
 * A thin layer over MPI for the tool verbs. Every rank builds the same dataset list,
 * takes its share (shard_range: contiguous blocks in list order), accumulates the
 * metric's sufficient statistics, and rank 0 reduces them and writes the report:
 *   - integer counters (top-k, confusion, seg intersect/union): shard_sum_i64 (exact);
 *   - anything floating (per-sequence curves, per-item values, features): shard_gather,
 *     blocks concatenated in rank order = list order, so rank 0 computes exactly what a
 *     single process computes.
 * Before each collective the ranks agree on a status (shard_agree), so a rank that could
 * not load its model makes the whole job stop with a message instead of hanging.
 *
 * Built without MPI (VSSM_HAVE_MPI undefined), or run without an MPI launcher, every
 * function is its single-process identity: rank 0 of 1, ranges cover everything,
 * reductions and gathers copy. Only rank 0 writes to stdout (shard_init sends the other
 * ranks' stdout to /dev/null); stderr stays open on every rank so failures are named. */
#ifndef VSSM_TOOLS_MPI_SHARD_H
#define VSSM_TOOLS_MPI_SHARD_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* Called from main: starts MPI when the process was launched by mpirun (Open MPI, MPICH or
 * PMIx environment), otherwise does nothing. shard_finalize ends it (collective). */
void shard_init(int *argc, char ***argv);
void shard_finalize(void);

/* This process's rank as its launcher's environment says (OMPI_COMM_WORLD_RANK, PMIX_RANK,
 * PMI_RANK), before or without shard_init; 0 when not launched by one. */
int shard_launcher_rank(void);
int shard_rank(void);       /* 0 .. size-1 */
int shard_size(void);       /* 1 without MPI */
int shard_is_root(void);    /* rank 0: progress, stdout report, output files */
int shard_local_size(void); /* ranks on this host */

/* Items [*begin, *end) of n for this rank: contiguous blocks in order, sizes differing
 * by at most one (rank r gets the r-th block). */
void shard_range(int64_t n, int64_t *begin, int64_t *end);

/* The same in whole units of `unit` items (the last unit may be short): a rank given whole
 * batch windows forms exactly the batches a single process forms, so its forward passes
 * see the same inputs. */
void shard_range_units(int64_t n, int64_t unit, int64_t *begin, int64_t *end);

/* The threads a rank should use: requested when > 0, else max(1, cores / local ranks)
 * (single process: requested unchanged, the library's default). */
int shard_threads(int requested);
/* The GPU a rank should use: local rank modulo the device count (0 without MPI/CUDA). */
int shard_device_index(void);

/* Every rank passes its status (0 ok; larger = worse, e.g. an exit code); all get the
 * maximum. Collective. */
int shard_agree(int status);
/* shard_agree for a step whose failure every rank would describe alike (the model's file is
 * missing): said holds this rank's messages (cli_defer_end's; freed here); only the first
 * rank that failed writes them to stderr, so a job of N ranks says it once. Collective. */
int shard_agree_say(int status, char *said);
/* Sums v[0..n) over ranks into rank 0's v (the others' v is left unspecified).
 * Collective. Returns 0, or -1 on an MPI failure. */
int shard_sum_i64(int64_t *v, int64_t n);
/* Concatenates every rank's bytes (mine, n bytes) in rank order into *all (malloc'ed,
 * rank 0 only; NULL elsewhere), *all_n its length. Collective. Returns 0 or -1. */
int shard_gather(const void *mine, int64_t n, void **all, int64_t *all_n);
/* Like shard_gather, but every rank gets the concatenation. */
int shard_allgather(const void *mine, int64_t n, void **all, int64_t *all_n);
/* Gives every rank rank 0's value of v. Collective. */
int shard_bcast_int(int v);

/* The largest v over the ranks, on every rank (a run's time is its slowest rank's). */
double shard_max_double(double v);

/* Per-input lines in list order under mpirun (classify, segment). shard_out_begin returns
 * the stream a verb writes its lines to: stdout in a single process, else a memory buffer
 * of this rank's; shard_out_end gathers the buffers on rank 0 and writes them to stdout in
 * rank order, which is list order for contiguous shares (shard_range), so stdout is a
 * single process's. Collective. Returns 0, or -1 when a buffer could not be made or
 * gathered (named on stderr: those lines are lost). */
typedef struct shard_out {
    FILE *f;
    char *buf;
    size_t n;
} shard_out;
FILE *shard_out_begin(shard_out *o);
int shard_out_end(shard_out *o);

/* The ranks' input lists are one list: each rank passes its listing's status (0, or an exit
 * code where it could not list), a hash of what it listed (shard_hash over paths and labels,
 * in order) and the count. Returns the worst status; where every rank listed but the lists
 * differ (per-host copies that differ, a file added during the run), rank 0 says so and it
 * returns 2: shares of different lists would skip some items and repeat others, silently.
 * Collective: every rank calls it once, after listing, before any other collective. */
int shard_same_inputs(const char *what, int status, uint64_t hash, int64_t n);
/* FNV-1a of n bytes, continuing h (start with SHARD_HASH0) */
#define SHARD_HASH0 0xcbf29ce484222325ull
uint64_t shard_hash(uint64_t h, const void *p, size_t n);

/* Reports msg on stderr and ends the whole job (MPI_Abort); exits with code without MPI. */
void shard_abort(int code, const char *msg) __attribute__((noreturn));

#endif
