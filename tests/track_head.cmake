# The trained tracker head (OSTrack style): parity with tests/reference/ostrack_ref.py.
vssm_add_test(test_track_head test_track_head.c)
# The correlation tracker's scale step (the hybrid decoding's): parity with
# tests/reference/gen_track_scale_vectors.py (float64 numpy), fixture tests/data/track/scale_step.safetensors.
vssm_add_test(test_track_scale test_track_scale.c)
