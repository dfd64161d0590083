# vssm bench's memory budget (issue 17): its parts are the bytes they claim (weights = the
# heap the model holds), and its budget and verdict are their arithmetic.
vssm_add_test(test_bench_memory test_bench_memory.c)
target_compile_definitions(test_bench_memory PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_bench_memory PRIVATE PkgConfig::CJSON)
add_dependencies(test_bench_memory vssm)
