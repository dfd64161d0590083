# Metrics (eval/) against the reference toolkits' conventions.
vssm_add_test(test_metrics test_metrics.c)
# `vssm eval track` on results / ground truth that do not fit (tests/data/track/bad).
vssm_add_test(test_eval_track_inputs test_eval_track_inputs.c)
target_compile_definitions(test_eval_track_inputs PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_eval_track_inputs PRIVATE PkgConfig::CJSON)
add_dependencies(test_eval_track_inputs vssm)
# Tracking files: reader limits, meta_info.ini numbers, outputs through vssm/outfile.h.
vssm_add_test(test_track_files test_track_files.c)
# `vssm eval attributes`: CSV errors named, nothing leaked on the error paths (sanitizer build).
vssm_add_test(test_eval_attributes test_eval_attributes.c)
target_compile_definitions(test_eval_attributes PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
target_link_libraries(test_eval_attributes PRIVATE PkgConfig::CJSON)
add_dependencies(test_eval_attributes vssm)
