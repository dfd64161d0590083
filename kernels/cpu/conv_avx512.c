/* kernels/cpu/conv_avx512.c - conv.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/conv.c"
