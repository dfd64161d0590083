/* tests/test_weights_util.h - shared by the weights tests: check a weights file against a
 * manifest written by tests/reference/gen_pth_fixtures.py (name dtype shape crc32 per line). */
#ifndef VSSM_TEST_WEIGHTS_UTIL_H
#define VSSM_TEST_WEIGHTS_UTIL_H
#include "vssm/weights.h"

/* Every manifest tensor must be in w with that dtype, shape and CRC-32 of its bytes, and w
 * must hold no others. Records failures with TEST_CHECK; returns the number of mismatches. */
int test_weights_check_manifest(const vssm_weights *w, const char *manifest_path, const char *label);
#endif
