/* bench/vmamba_t_shapes.h - VMamba-T's 16 product shapes at 224 x 224, batch 1 (M rows of
 * tokens, K inputs, N outputs) and how many times one forward runs each: the table the
 * library comparisons (bench/dnnl, bench/libxsmm) time, so their totals are one forward's
 * products. */
#ifndef VSSM_BENCH_VMAMBA_T_SHAPES_H
#define VSSM_BENCH_VMAMBA_T_SHAPES_H

typedef struct {
    const char *what;
    int M, K, N, times; /* times: blocks per forward */
} vmamba_t_shape;

static const vmamba_t_shape vmamba_t_shapes[] = {
    {"s1 in/out_proj", 3136, 96, 96, 4}, {"s1 x_proj", 3136, 96, 32, 2},       {"s1 fc1", 3136, 96, 384, 2},
    {"s1 fc2", 3136, 384, 96, 2},        {"s2 in/out_proj", 784, 192, 192, 4}, {"s2 x_proj", 784, 192, 56, 2},
    {"s2 fc1", 784, 192, 768, 2},        {"s2 fc2", 784, 768, 192, 2},         {"s3 in/out_proj", 196, 384, 384, 16},
    {"s3 x_proj", 196, 384, 104, 8},     {"s3 fc1", 196, 384, 1536, 8},        {"s3 fc2", 196, 1536, 384, 8},
    {"s4 in/out_proj", 49, 768, 768, 4}, {"s4 x_proj", 49, 768, 200, 2},       {"s4 fc1", 49, 768, 3072, 2},
    {"s4 fc2", 49, 3072, 768, 2},
};

/* VMamba-T's 3x3 stride-2 convs at 224 as the products of their im2col columns (M pixels, K =
 * 9 Cin, N = Cout; bench_linear's "conv" set): the stem's second conv and the downsamples */
static const vmamba_t_shape vmamba_t_conv_shapes[] = {
    {"stem conv2", 3136, 432, 96, 1},
    {"ds1", 784, 864, 192, 1},
    {"ds2", 196, 1728, 384, 1},
    {"ds3", 49, 3456, 768, 1},
};

#endif
