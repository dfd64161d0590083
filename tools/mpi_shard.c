/* tools/mpi_shard.c - see mpi_shard.h. The communicator state lives here, in the tool
 * layer (the library stays free of global state and of MPI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "tools/mpi_shard.h"

#ifdef VSSM_HAVE_MPI
#include <mpi.h>
#endif
#ifdef VSSM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static struct {
    int on; /* MPI started by shard_init */
    int rank, size, local_size, local_rank;
} S = {0, 0, 1, 1, 0};

int shard_launcher_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

int shard_rank(void) { return S.rank; }
int shard_size(void) { return S.size; }
int shard_is_root(void) { return S.rank == 0; }
int shard_local_size(void) { return S.local_size; }

void shard_range(int64_t n, int64_t *begin, int64_t *end) {
    const int64_t q = n / S.size, r = n % S.size, k = S.rank;
    *begin = k * q + (k < r ? k : r);
    *end = *begin + q + (k < r);
}

void shard_range_units(int64_t n, int64_t unit, int64_t *begin, int64_t *end) {
    if (unit < 1) unit = 1;
    shard_range((n + unit - 1) / unit, begin, end);
    *begin = *begin * unit < n ? *begin * unit : n;
    *end = *end * unit < n ? *end * unit : n;
}

FILE *shard_out_begin(shard_out *o) {
    o->buf = NULL;
    o->n = 0;
    o->f = shard_size() > 1 ? open_memstream(&o->buf, &o->n) : stdout;
    if (!o->f) {
        fprintf(stderr, "vssm: rank %d: out of memory for its output lines: they are lost (counted as a failure)\n",
                shard_rank());
        o->f = stdout;
    }
    return o->f;
}

int shard_out_end(shard_out *o) {
    fflush(stdout);
    if (shard_size() == 1) return 0;
    const int mem = o->f != stdout, bad = mem && fclose(o->f) != 0;
    if (bad)
        fprintf(stderr, "vssm: rank %d: its output lines could not be kept: they are lost (counted as a failure)\n",
                shard_rank());
    void *all = NULL;
    int64_t n = 0;
    int rc = shard_gather(mem && !bad ? o->buf : "", mem && !bad ? (int64_t)o->n : 0, &all, &n);
    if (rc == 0 && all) fwrite(all, 1, (size_t)n, stdout);
    if (rc != 0 && shard_is_root()) fprintf(stderr, "vssm: gathering the ranks' output lines failed\n");
    fflush(stdout);
    free(all);
    free(o->buf);
    o->buf = NULL;
    o->f = NULL;
    /* !mem on a rank other than 0: shard_out_begin fell back to its stdout (/dev/null) */
    return rc || bad || (!mem && !shard_is_root()) ? -1 : 0;
}

int shard_agree_say(int status, char *said) {
    int first = status ? shard_rank() : -1;
    if (shard_size() > 1) {
        int all_n = 0;
        void *all = NULL;
        int64_t an = 0;
        const int32_t mine = status;
        if (shard_allgather(&mine, (int64_t)sizeof mine, &all, &an) != 0) {
            free(said);
            shard_abort(2, "gathering the ranks' status failed");
        }
        all_n = (int)(an / (int64_t)sizeof mine);
        first = -1;
        int worst = 0;
        for (int r = 0; r < all_n; r++) {
            const int32_t v = ((const int32_t *)all)[r];
            if (v && first < 0) first = r;
            if (v > worst) worst = v;
        }
        free(all);
        status = worst;
    }
    if (said && (first == shard_rank() || (first < 0 && shard_is_root()))) fputs(said, stderr); /* or notes */
    free(said);
    return status;
}

uint64_t shard_hash(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int shard_same_inputs(const char *what, int status, uint64_t hash, int64_t n) {
    if (shard_size() == 1) return status;
    const int64_t mine[3] = {status, (int64_t)hash, n};
    void *all = NULL;
    int64_t an = 0;
    if (shard_allgather(mine, (int64_t)sizeof mine, &all, &an) != 0 || an != (int64_t)sizeof mine * shard_size()) {
        free(all);
        shard_abort(2, "gathering the ranks' input lists failed");
    }
    const int64_t *v = all;
    int worst = 0, differ = -1, failed = -1;
    for (int r = 0; r < shard_size(); r++) {
        if (v[3 * r] > worst) worst = (int)v[3 * r];
        if (failed < 0 && v[3 * r]) failed = r;
        if (differ < 0 && (v[3 * r + 1] != v[1] || v[3 * r + 2] != v[2])) differ = r;
    }
    if (worst == 0 && differ >= 0) {
        if (shard_is_root())
            fprintf(stderr,
                    "vssm: rank %d lists %lld %s, rank 0 %lld%s: every rank must see the same inputs (one folder "
                    "all hosts share, unchanged during the run); nothing done\n",
                    differ, (long long)v[3 * differ + 2], what, (long long)v[2],
                    v[3 * differ + 2] == v[2] ? " (other ones)" : "");
        worst = 2;
    } else if (worst && v[0] == 0 && shard_is_root()) {
        fprintf(stderr,
                "vssm: rank %d could not list the %s that rank 0 lists (a folder some hosts lack?); nothing done\n",
                failed, what);
    }
    free(all);
    return worst;
}

int shard_threads(int requested) {
    if (requested > 0 || S.local_size <= 1) return requested; /* one process: the library's default */
    int t = omp_get_num_procs() / (S.local_size > 0 ? S.local_size : 1);
    return t > 0 ? t : 1;
}

int shard_device_index(void) {
#ifdef VSSM_HAVE_CUDA
    int n = 0;
    if (S.on && cudaGetDeviceCount(&n) == cudaSuccess && n > 0) return S.local_rank % n;
    (void)cudaGetLastError();
#endif
    return 0;
}

#ifdef VSSM_HAVE_MPI

static int env_int(const char *const *names, int dflt) {
    for (int i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return dflt;
}

void shard_init(int *argc, char ***argv) {
    /* only under a launcher: a plain `vssm ...` never touches MPI (an Open MPI singleton
     * would start a daemon) */
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
    if (env_int(size_vars, 0) < 1 && !getenv("PMIX_RANK")) return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "vssm: MPI_Init failed\n");
        exit(2);
    }
    S.on = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &S.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &S.size);
    static const char *const other[] = {"PMI_SIZE", "SLURM_NTASKS", NULL};
    const int launched = env_int(other, 1);
    if (S.size == 1 && launched > 1) /* MPICH's hydra or srun --mpi=pmi2: this MPI cannot join them */
        fprintf(stderr,
                "vssm: warning: launched as one of %d processes (PMI_SIZE / SLURM_NTASKS), but this build's MPI "
                "(Open MPI) sees 1: each process does the whole job; launch with Open MPI's mpirun\n",
                launched);
    MPI_Comm node; /* the ranks sharing this host: threads and GPUs are split among them */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, S.rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &S.local_size);
        MPI_Comm_rank(node, &S.local_rank);
        MPI_Comm_free(&node);
    } else {
        static const char *const ls[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", NULL};
        static const char *const lr[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", NULL};
        S.local_size = env_int(ls, 1);
        S.local_rank = env_int(lr, 0);
    }
    /* errors come back as codes, so a failing collective is reported, not fatal */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    /* OpenMP regions without an explicit team size (and BLAS) share the host's cores too */
    if (S.local_size > 1) omp_set_num_threads(shard_threads(0));
    if (S.rank != 0 && !freopen("/dev/null", "w", stdout)) fclose(stdout);
}

void shard_finalize(void) {
    if (!S.on) return;
    fflush(stdout);
    MPI_Finalize();
    S.on = 0;
}

int shard_agree(int status) {
    if (!S.on) return status;
    int all = status;
    if (MPI_Allreduce(&status, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        shard_abort(2, "MPI_Allreduce of the ranks' status failed");
    return all;
}

double shard_max_double(double v) {
    if (!S.on) return v;
    double all = v;
    if (MPI_Allreduce(&v, &all, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        shard_abort(2, "MPI_Allreduce of the ranks' times failed");
    return all;
}

int shard_bcast_int(int v) {
    if (!S.on) return v;
    if (MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) shard_abort(2, "MPI_Bcast failed");
    return v;
}

/* in chunks, so counts stay within int */
#define CHUNK ((int64_t)1 << 30)

int shard_sum_i64(int64_t *v, int64_t n) {
    if (!S.on) return 0;
    for (int64_t o = 0; o < n; o += CHUNK) {
        int c = (int)(n - o < CHUNK ? n - o : CHUNK);
        int rc = S.rank == 0 ? MPI_Reduce(MPI_IN_PLACE, v + o, c, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD)
                             : MPI_Reduce(v + o, NULL, c, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return -1;
    }
    return 0;
}

static int send_bytes(const char *p, int64_t n, int to) {
    for (int64_t o = 0; o < n; o += CHUNK)
        if (MPI_Send(p + o, (int)(n - o < CHUNK ? n - o : CHUNK), MPI_BYTE, to, 7, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    return 0;
}

static int recv_bytes(char *p, int64_t n, int from) {
    for (int64_t o = 0; o < n; o += CHUNK)
        if (MPI_Recv(p + o, (int)(n - o < CHUNK ? n - o : CHUNK), MPI_BYTE, from, 7, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return -1;
    return 0;
}

int shard_gather(const void *mine, int64_t n, void **all, int64_t *all_n) {
    *all = NULL;
    *all_n = 0;
    if (!S.on) {
        if (!(*all = malloc(n > 0 ? (size_t)n : 1))) return -1;
        if (n > 0) memcpy(*all, mine, (size_t)n);
        *all_n = n;
        return 0;
    }
    int64_t *sizes = S.rank == 0 ? malloc((size_t)S.size * sizeof *sizes) : NULL;
    int bad = S.rank == 0 && !sizes;
    if (MPI_Gather(&n, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS) bad = 1;
    char *buf = NULL;
    if (S.rank == 0 && !bad) {
        int64_t tot = 0;
        for (int r = 0; r < S.size; r++) tot += sizes[r];
        if (!(buf = malloc(tot > 0 ? (size_t)tot : 1))) bad = 1;
        *all_n = tot;
    }
    /* rank 0 says whether it can receive, so no rank blocks in a send nobody takes */
    if (shard_agree(bad)) {
        free(sizes);
        free(buf);
        *all_n = 0;
        return -1;
    }
    if (S.rank == 0) {
        int64_t o = 0;
        if (n > 0) memcpy(buf, mine, (size_t)n);
        o = n;
        for (int r = 1; r < S.size && !bad; r++) {
            bad = recv_bytes(buf + o, sizes[r], r) != 0;
            o += sizes[r];
        }
    } else {
        bad = send_bytes(mine, n, 0) != 0;
    }
    free(sizes);
    if (bad) {
        free(buf);
        *all_n = 0;
        return -1;
    }
    *all = buf;
    return 0;
}

int shard_allgather(const void *mine, int64_t n, void **all, int64_t *all_n) {
    if (shard_gather(mine, n, all, all_n) != 0) return -1;
    if (!S.on) return 0;
    int64_t tot = *all_n;
    if (MPI_Bcast(&tot, 1, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    if (S.rank != 0 && !(*all = malloc(tot > 0 ? (size_t)tot : 1))) shard_abort(2, "out of memory gathering results");
    for (int64_t o = 0; o < tot; o += CHUNK)
        if (MPI_Bcast((char *)*all + o, (int)(tot - o < CHUNK ? tot - o : CHUNK), MPI_BYTE, 0, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return -1;
    *all_n = tot;
    return 0;
}

void shard_abort(int code, const char *msg) {
    if (S.on)
        fprintf(stderr, "vssm: rank %d of %d: %s\n", S.rank, S.size, msg);
    else
        fprintf(stderr, "vssm: %s\n", msg);
    fflush(stderr);
    if (S.on) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

#else /* single process */

void shard_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
void shard_finalize(void) {}
int shard_agree(int status) { return status; }
int shard_bcast_int(int v) { return v; }
double shard_max_double(double v) { return v; }
int shard_sum_i64(int64_t *v, int64_t n) {
    (void)v;
    (void)n;
    return 0;
}

int shard_gather(const void *mine, int64_t n, void **all, int64_t *all_n) {
    *all_n = 0;
    if (!(*all = malloc(n > 0 ? (size_t)n : 1))) return -1;
    if (n > 0) memcpy(*all, mine, (size_t)n);
    *all_n = n;
    return 0;
}

int shard_allgather(const void *mine, int64_t n, void **all, int64_t *all_n) {
    return shard_gather(mine, n, all, all_n);
}

void shard_abort(int code, const char *msg) {
    fprintf(stderr, "vssm: %s\n", msg);
    exit(code);
}

#endif
