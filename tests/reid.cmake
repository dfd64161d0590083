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
# `reid extract` / `eval reid` against user mistakes: outputs over inputs, bad options, a stray
# file, SIGINT during the run (no temp file left).
vssm_add_test(test_reid_guards test_reid_guards.c)
target_compile_definitions(test_reid_guards PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_reid_guards vssm)
# `eval attributes` (pedestrian attributes): columns matched by header name, duplicate rows and
# non-0/1 labels refused.
vssm_add_test(test_attr_columns test_attr_columns.c)
target_compile_definitions(test_attr_columns PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_attr_columns PRIVATE PkgConfig::CJSON)
add_dependencies(test_attr_columns vssm)
