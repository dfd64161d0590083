/* fuzz_image: image decoding from memory (JPEG, PNG, BMP, GIF, PNM, TGA), then the
 * preprocessing chain on what decodes.
 *
 * The pixel limit is lowered to 2^22 (4 Mpx, 12 MB of RGB) so that a header claiming a big
 * image with no data behind it costs little; the default limit's path is the same code. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "vssm/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vssm_err err = {0};
    vssm_image im = {0};
    vssm_image_limits lim = {.max_pixels = (int64_t)1 << 22};
    (void)vssm_image_sniff(data, size);
    int pw = 0, ph = 0;
    int64_t pb = 0;
    if (vssm_image_probe(data, size, &pw, &ph, &pb) && (pw < 1 || ph < 1 || pb < (int64_t)pw * ph)) abort();
    if (vssm_image_decode_mem(&im, data, size, "fuzz", &lim, &err) != VSSM_OK) {
        if (im.data || im.w || im.h) abort(); /* documented: out left empty on failure */
        return 0;
    }
    if (!im.data || im.w <= 0 || im.h <= 0 || im.c != 3) abort();
    /* touch every byte (uninitialised or short buffers show up under MSan/ASan) */
    fz_consume(im.data, (size_t)im.w * im.h * 3);
    if ((int64_t)im.w * im.h <= 512 * 512) {
        vssm_preprocess_params p = vssm_preprocess_imagenet();
        p.resize = 40;
        p.crop = 32;
        p.interp = (size & 1) ? VSSM_INTERP_BILINEAR : VSSM_INTERP_BICUBIC;
        int ow = 0, oh = 0;
        if (vssm_preprocess_output_size(&p, im.w, im.h, &ow, &oh, &err) == VSSM_OK) {
            float *x = (float *)malloc((size_t)ow * oh * 3 * sizeof(float));
            if (x) {
                (void)vssm_preprocess(&im, &p, x, &err);
                free(x);
            }
        }
    }
    vssm_image_free(&im);
    return 0;
}
