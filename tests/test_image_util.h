/* tests/test_image_util.h - shared by the test_image_* programs: the PIL/torchvision
 * reference (tests/data/images/ref.json, written by tests/reference/gen_image_vectors.py),
 * the FNV-1a hash it uses, and a dump of a mismatching output for a look by hand. */
#ifndef VSSM_TEST_IMAGE_UTIL_H
#define VSSM_TEST_IMAGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "vssm/image.h"

/* Parsed ref.json (stops the test when missing). Free with cJSON_Delete. */
cJSON *ref_load(void);
/* FNV-1a 64 of n bytes as 16 lowercase hex digits (buf >= 17). */
const char *fnv1a64_hex(const uint8_t *p, size_t n, char *buf);
/* Loads tests/data/images/<file>; returns VSSM_OK or the status (message in err). */
vssm_status ref_image_load(const char *file, vssm_image *im, vssm_err *err);
/* Writes im as "<tag>.WxHxC.u8" (raw HWC) in the working directory; returns the name. */
const char *dump_image(const vssm_image *im, const char *tag, char *name, size_t n);
int json_int(const cJSON *o, const char *key);
const char *json_str(const cJSON *o, const char *key);

#endif
