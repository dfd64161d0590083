# The class-names file reader (--labels): long names, wrong counts, binary files.
vssm_add_test(test_labels_file test_labels_file.c)
