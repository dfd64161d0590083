# Single-object tracking: crops, crop features, tracker, dataset readers, metrics, CLI.
vssm_add_test(test_track_crop test_track_crop.c)
vssm_add_test(test_track_metrics test_track_metrics.c)
vssm_add_test(test_track_datasets test_track_datasets.c)
vssm_add_test(test_track_follow test_track_follow.c)
vssm_add_test(test_cli_track test_cli_track.c)
target_compile_definitions(test_cli_track PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_cli_track vssm)
