# Output files: unique temp name beside the target, then rename (vssm/outfile.h).
vssm_add_test(test_outfile test_outfile.c)
