/* kernels/cpu/scan1d_avx512.c - scan1d.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/scan1d.c"
