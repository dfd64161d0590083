# The command line end to end (runs the built `vssm` binary).
vssm_add_test(test_cli_classify test_cli_classify.c)
target_compile_definitions(test_cli_classify PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_cli_classify vssm)
vssm_add_test(test_shipped_model test_shipped_model.c)
vssm_add_test(test_cli_bench test_cli_bench.c)
target_compile_definitions(test_cli_bench PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_cli_bench vssm)
# The shipped re-ID demo model (weights/reid_demo): embeddings equal PyTorch's from the JPEGs,
# through the API and `vssm reid extract`.
vssm_add_test(test_shipped_reid_model test_shipped_reid_model.c)
target_compile_definitions(test_shipped_reid_model PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_shipped_reid_model PRIVATE PkgConfig::CJSON)
add_dependencies(test_shipped_reid_model vssm)
# Inputs that are not regular files (FIFOs, /dev/zero), stdout on a full device, ulimit -f.
vssm_add_test(test_hostile_files test_hostile_files.c)
target_compile_definitions(test_hostile_files PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_hostile_files vssm)
