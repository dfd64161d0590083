# Output files: unique temp name beside the target, then rename (vssm/outfile.h).
vssm_add_test(test_outfile test_outfile.c)
# Numbers in files read and written in the C locale whatever the host program set (kernels/cnum.h).
vssm_add_test(test_locale test_locale.c)
# The public API at its edges: indices, sizes and NULLs a caller can pass to calls without an error channel.
vssm_add_test(test_api_edges test_api_edges.c)
