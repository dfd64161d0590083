/* kernels/cpu/norm_avx512.c - norm.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/norm.c"
