# vssm bench's memory budget (issue 17): its parts are the bytes they claim (weights = the
# heap the model holds), and its budget and verdict are their arithmetic.
vssm_add_test(test_bench_memory test_bench_memory.c)
target_compile_definitions(test_bench_memory PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_bench_memory PRIVATE PkgConfig::CJSON)
add_dependencies(test_bench_memory vssm)

# bench names the BLAS that ran its reference sgemm (the yardstick of "% of sgemm"): OpenBLAS's
# version and the kernels it chose, and OPENBLAS_CORETYPE where the environment sets it (the
# Haswell kernels read ~0.7x the AVX-512 ones on an AVX-512 CPU). 1 thread, a 32 px Vim-T, the
# sgemm 2048^3 four times (~1 s; not under QEMU: tools/ci_cpus.sh's SLOW).
add_test(NAME test_bench_blas_name
         COMMAND sh -c "unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; b='$<TARGET_FILE:vssm>'; a='--arch vim-tiny --size 32 --runs 1 --warmup 0 --threads 1'; \
$b bench $a | grep -E '^compute .* of sgemm 2048\\^3 in this run \\([0-9.]+ GFLOP/s, OpenBLAS [0-9]+[.][0-9.]+ [A-Za-z0-9]+ kernels\\)$' && \
OPENBLAS_CORETYPE=Haswell $b bench $a --json | grep -E '\"sgemm_blas\": \"OpenBLAS [0-9]+[.][0-9.]+ Haswell kernels, OPENBLAS_CORETYPE=Haswell\"'")
