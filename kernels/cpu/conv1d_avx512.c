/* kernels/cpu/conv1d_avx512.c - conv1d.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/conv1d.c"
