/* kernels/cpu/conv_bwd_avx512.c - conv_bwd.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/conv_bwd.c"
