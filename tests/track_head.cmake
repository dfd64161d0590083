# The trained tracker head (OSTrack style): parity with tests/reference/ostrack_ref.py.
vssm_add_test(test_track_head test_track_head.c)
