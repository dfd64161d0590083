# Video in and out (datasets/video*.c) and `vssm track --video` (tools/cmd_track.c).
vssm_add_test(test_video test_video.c)
