# Metrics (eval/) against the reference toolkits' conventions.
vssm_add_test(test_metrics test_metrics.c)
