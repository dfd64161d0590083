/* kernels/cpu/conv1d_avx2.c - conv1d.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/conv1d.c"
