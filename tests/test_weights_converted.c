/* tests/test_weights_converted.c - `vssm convert` output (written by the weights_cli_convert*
 * tests into $VSSM_CONVERTED_DIR): every tensor bit-identical to torch's, the config in the
 * metadata, f16 widened exactly to f32 by default and kept with --dtype orig. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "test_weights_util.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

static const char *dir;

static vssm_weights *open_out(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_safetensors_open(&w, p, &err) == VSSM_OK, "%s: %s", p, err.msg);
    return w;
}

static void check(const char *out, const char *manifest) {
    vssm_weights *w = open_out(out);
    if (!w) return;
    char *mp = NULL, rel[128];
    snprintf(rel, sizeof rel, "weights/%s", manifest);
    mp = test_data_path(rel);
    test_weights_check_manifest(w, mp, out);
    free(mp);
    vssm_weights_close(w);
}

int main(void) {
    dir = getenv("VSSM_CONVERTED_DIR");
    if (!dir) test_skip("VSSM_CONVERTED_DIR not set (run through ctest)");
    check("ckpt_tiny.safetensors", "ckpt_tiny.model.manifest");
    check("ckpt_tiny_ema.safetensors", "ckpt_tiny.model_ema.manifest");
    check("plain_fp16_orig.safetensors", "plain_fp16.manifest");
    check("mmseg_tiny.safetensors", "mmseg_tiny.manifest");

    /* metadata: the inferred config comes back */
    vssm_weights *w = open_out("ckpt_tiny.safetensors");
    if (w) {
        vssm_vmamba_config c;
        vssm_preprocess_params pp;
        vssm_err err = {0};
        TEST_CHECK(vssm_vmamba_config_from_meta(vssm_weights_source(w), &c, &pp, &err) == VSSM_OK, "from_meta: %s",
                   err.msg);
        TEST_CHECK(c.depths[2] == 2 && c.dims[3] == 16 && c.num_classes == 10 && c.ssm_ratio == 2.0f && pp.crop == 224,
                   "config in metadata is wrong");
        const char *src = vssm_weights_meta(w, "source");
        TEST_CHECK(src && !strcmp(src, "ckpt_tiny.pth"), "source metadata: %s", src ? src : "(none)");
        vssm_weights_close(w);
    }
    /* f16 -> f32 by default: exact widening of the f16 values */
    vssm_weights *a = open_out("plain_fp16.safetensors"), *b = open_out("plain_fp16_orig.safetensors");
    if (a && b) {
        int n = vssm_weights_count(a), bad = 0;
        TEST_CHECK(n == vssm_weights_count(b), "f32 and orig conversions differ in tensor count");
        for (int i = 0; i < n; i++) {
            vssm_tensor x, y;
            vssm_err err = {0};
            const char *name = vssm_weights_name(a, i);
            if (vssm_weights_get(b, name, &y, &err) || vssm_weights_get(a, name, &x, &err)) {
                bad++;
                continue;
            }
            if (x.dtype != VSSM_DTYPE_F32 || y.dtype != VSSM_DTYPE_F16) {
                bad++;
                continue;
            }
            for (int64_t k = 0; k < vssm_tensor_numel(&x); k++) {
                uint16_t h = ((const uint16_t *)y.data)[k];
                /* f16 normal numbers: sign, exponent rebias 15->127, mantissa shift; tiny init values
                 * are normal or zero */
                uint32_t e = (h >> 10) & 31, bits = ((uint32_t)(h >> 15) << 31) |
                                                    (e ? ((e + 112) << 23) | ((uint32_t)(h & 0x3ff) << 13) : 0);
                float want;
                memcpy(&want, &bits, 4);
                if ((e || !(h & 0x3ff)) && ((const float *)x.data)[k] != want) bad++;
            }
        }
        TEST_CHECK(bad == 0, "%d f16->f32 values differ", bad);
    }
    vssm_weights_close(a);
    vssm_weights_close(b);
    return test_finish("test_weights_converted");
}
