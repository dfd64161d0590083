/* kernels/cpu/norm_avx2.c - norm.c compiled with the AVX2 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx2
#include "kernels/cpu/norm.c"
