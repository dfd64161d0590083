/* kernels/cpu/scan_avx512.c - scan.c compiled with the AVX-512 flags (CMakeLists.txt), for isa.c */
#define VSSM_ISA_SFX avx512
#include "kernels/cpu/scan.c"
