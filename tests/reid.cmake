# Re-identification: metrics and re-ranking against torchreid, dataset readers, the CLI.
vssm_add_test(test_reid_metrics test_reid_metrics.c)
vssm_add_test(test_reid_rerank test_reid_rerank.c)
target_link_libraries(test_reid_rerank PRIVATE PkgConfig::CJSON)
vssm_add_test(test_reid_datasets test_reid_datasets.c)
vssm_add_test(test_cli_reid test_cli_reid.c)
target_compile_definitions(test_cli_reid PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_cli_reid PRIVATE PkgConfig::CJSON)
add_dependencies(test_cli_reid vssm)
vssm_add_test(test_reid_head test_reid_head.c)
# Bad features files and MSMT17 lists (tests/data/reid/bad).
vssm_add_test(test_reid_inputs test_reid_inputs.c)
target_compile_definitions(test_reid_inputs PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_reid_inputs vssm)
