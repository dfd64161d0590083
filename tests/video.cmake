# Video in and out (datasets/video*.c) and `vssm track --video` (tools/cmd_track.c).
vssm_add_test(test_video test_video.c)
# frame-exact --video vs --seq (the fixture as FFV1; opencv-doc's vtest.avi when installed)
vssm_add_test(test_video_track test_video_track.c)
target_compile_definitions(test_video_track PRIVATE VSSM_BIN="$<TARGET_FILE:vssm>")
add_dependencies(test_video_track vssm)
