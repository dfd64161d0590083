/* tools/omp_wait.c - the vssm command spins only briefly between OpenMP regions.
 *
 * OpenMP threads that finish a region early, or wait for the next one, spin for a while
 * by default (libgomp: ~300000 pause loops) before they sleep. On a machine whose cores
 * are all taken by something else, a spinning thread spends the share of the core it gets
 * on spinning, and every region waits a scheduler time slice for the thread that shares a
 * core with the other work: VMamba-T with 2 threads and one core kept busy ran 3.4 s per
 * image against 0.47 s with 1 thread. Never spinning (OMP_WAIT_POLICY=passive) fixes that
 * but costs a futex wake-up per region on a quiet machine (VMamba-T 2 threads 75 ms against
 * 67 ms, Vim-T 36 against 27 ms). A short spin, GOMP_SPINCOUNT=1000 (~50 us of pause
 * loops), kept most of the quiet machine's speed and stayed within 10% of 1 thread with one
 * core busy (bench/under_load.sh; kernels/cpu/README.md "Threads on a busy machine"). Since
 * the passes' thread count adapts (vssm_ctx_opts.adapt_threads: a busy machine's passes drop
 * to the threads that run fastest, where no region waits), the spin can be longer:
 * GOMP_SPINCOUNT=10000 runs the quiet machine 3-8% faster than 1000 (VMamba-T 37.8 against
 * 39.9-41.1 ms, v0-T 43.5-44.2 against 44.9-47.2) and the busy one as fast as 1 thread
 * (2 / 1 thread 1.00-1.01); a pass at 2 threads there (a probe, or --fixed-threads) is ~1.4x
 * slower than at 1000.
 *
 * The wait policy is the OpenMP runtime's, process-wide, and read once when the runtime
 * starts, before main, from the environment the process started with (setenv from the
 * executable's pre-initialisers is undone when libc initialises): the library cannot
 * choose it (it holds no global state and runs in the user's process). So the command,
 * when none of OMP_WAIT_POLICY, libgomp's GOMP_SPINCOUNT and libomp's KMP_BLOCKTIME is set,
 * starts itself again once (same pid, same arguments, before any library initialises) with
 * GOMP_SPINCOUNT=10000 (and KMP_BLOCKTIME=1, below) added. A value the user set is kept; where /proc/self/exe cannot
 * be executed it runs on as it is.
 *
 * A clang build runs LLVM's runtime (libomp), which reads KMP_BLOCKTIME instead (ms of
 * spinning, 200 by default): with one core busy its 2 threads ran 1.07-1.16x the 1-thread
 * time, 1.02 with KMP_BLOCKTIME=1 (no loss on a quiet machine; 0 cost 25% there, as passive
 * does). Both are set: each runtime ignores the other's variable, and either set by the user
 * counts as the user's choice. */
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void omp_wait_short(int argc, char **argv, char **envp) {
    /* started again through /proc/self/exe, the process would be named "exe" in ps and top */
    if (argc >= 1 && argv[0]) {
        const char *base = strrchr(argv[0], '/');
        prctl(PR_SET_NAME, base ? base + 1 : argv[0], 0, 0, 0);
    }
    size_t n = 0;
    for (char **e = envp; *e; e++, n++)
        if (!strncmp(*e, "OMP_WAIT_POLICY=", 16) || !strncmp(*e, "GOMP_SPINCOUNT=", 15) ||
            !strncmp(*e, "KMP_BLOCKTIME=", 14))
            return;
    if (argc < 1 || n > 100000) return;
    char *env[n + 3];
    memcpy(env, envp, n * sizeof *env);
    env[n] = (char *)"GOMP_SPINCOUNT=10000";
    env[n + 1] = (char *)"KMP_BLOCKTIME=1";
    env[n + 2] = NULL;
    execve("/proc/self/exe", argv, env); /* returns only when it failed */
}
__attribute__((section(".preinit_array"), used)) static void (*const omp_wait_init)(int, char **,
                                                                                    char **) = omp_wait_short;
