# Single-object tracking: crops, crop features, tracker, dataset readers, metrics, CLI.
vssm_add_test(test_track_crop test_track_crop.c)
vssm_add_test(test_track_metrics test_track_metrics.c)
vssm_add_test(test_track_datasets test_track_datasets.c)
vssm_add_test(test_track_follow test_track_follow.c)
vssm_add_test(test_cli_track test_cli_track.c)
target_compile_definitions(test_cli_track PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_cli_track vssm)
# What a user's test broke: outputs over inputs, an invalid GT frame's metrics, unpadded frame
# names, damaged video frames, a signal during --out-video, options checked up front, GOT-10k labels.
vssm_add_test(test_track_inputs test_track_inputs.c)
target_compile_definitions(test_track_inputs PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_track_inputs vssm)
