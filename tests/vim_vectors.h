/* tests/vim_vectors.h - reading the Vim vector files (tests/data/vim/NAME.safetensors, written
 * by tests/reference/gen_vim_vectors.py and gen_vim_task_vectors.py): tensors of any float
 * dtype as f32, NCHW images as NHWC, device tensors on the host, and the comparison every
 * parity check makes (max|a-b| / max|b| against a tolerance). */
#ifndef VSSM_TEST_VIM_VECTORS_H
#define VSSM_TEST_VIM_VECTORS_H

#include "vssm/vssm.h"

/* tensor NAME as a malloc'ed f32 copy (shape / ndim may be NULL); NULL if absent */
float *vimvec_f32(vssm_weights *wf, const char *name, int64_t shape[4], int *ndim);
/* tensor NAME (B, C, H, W) as a malloc'ed NHWC copy; NULL if absent or not 4-D */
float *vimvec_nhwc(vssm_weights *wf, const char *name, int *B, int *H, int *W);
/* a device tensor copied to a malloc'ed host array; NULL for an empty tensor */
float *vimvec_to_host(vssm_ctx *ctx, vssm_tensor t);
/* records a check that mine (numel of REF) is within tol of REF; prints the figure when
 * print; returns the relative error */
double vimvec_compare(vssm_weights *wf, const char *file, const char *ref, const float *mine, double tol, int print);

#endif
