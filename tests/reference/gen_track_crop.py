#!/usr/bin/python3
"""Reference crops for tests/test_track_crop.c: OSTrack's sample_target
(lib/train/data/processing_utils.py) re-done in numpy + PIL, without cv2:

    crop_sz = ceil(sqrt(w*h) * factor); x1 = round(x + 0.5*w - crop_sz*0.5)   (Python round)
    x2 = x1 + crop_sz; x1_pad = max(0, -x1); x2_pad = max(x2 - W + 1, 0)       (same for y)
    im_crop = im[y1 + y1_pad : y2 - y2_pad, x1 + x1_pad : x2 - x2_pad]
    padded  = zero padding (cv.copyMakeBorder BORDER_CONSTANT) by the four pads
    cv.resize(padded, (out, out)) with INTER_LINEAR: half-pixel centres, clamped taps,
    computed here in float32 as vssm does (cv2's 11-bit fixed point is not reproduced).

Writes tests/data/track/crop_ref.txt: per case one line
    x y w h factor out_sz  x1 y1 crop_sz
followed by one line with the out_sz*out_sz*3 crop bytes in hex.

    /usr/bin/python3 tests/reference/gen_track_crop.py
"""
import math
import os

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG = os.path.join(ROOT, "tests", "data", "images", "dog_128x96.png")
OUT = os.path.join(ROOT, "tests", "data", "track", "crop_ref.txt")

CASES = [
    # x, y, w, h, factor, out_sz
    (40.0, 30.0, 20.0, 16.0, 2.0, 24),     # inside, upscaled
    (50.3, 20.7, 30.2, 25.9, 4.0, 32),     # fractional box, crop past the top
    (-10.0, -6.0, 24.0, 20.0, 2.0, 20),    # partly outside top-left
    (110.0, 80.0, 20.0, 18.0, 2.0, 16),    # partly outside bottom-right (the pad quirk)
    (60.0, 40.0, 8.0, 8.0, 1.5, 32),       # crop_sz 12 -> 32
    (0.0, 0.0, 128.0, 96.0, 1.0, 40),      # the whole frame, last row/col dropped by the quirk
    (10.5, 10.5, 5.0, 5.0, 2.0, 8),        # x + w/2 - cs/2 = 8.0 exactly
    (11.0, 11.0, 4.0, 4.0, 1.25, 12),      # cs 5: centre 13 - 2.5 = 10.5 -> round half to even = 10
    (30.0, 30.0, 40.0, 30.0, 2.0, 40),     # downscaled (69 -> 40)
]


def sample_target(im, bb, factor, out_sz):
    x, y, w, h = bb
    crop_sz = math.ceil(math.sqrt(w * h) * factor)
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    x2 = x1 + crop_sz
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    y2 = y1 + crop_sz
    H, W = im.shape[:2]
    x1_pad = max(0, -x1)
    x2_pad = max(x2 - W + 1, 0)
    y1_pad = max(0, -y1)
    y2_pad = max(y2 - H + 1, 0)
    crop = im[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad, :]
    padded = np.pad(crop, ((y1_pad, y2_pad), (x1_pad, x2_pad), (0, 0)))
    assert padded.shape[:2] == (crop_sz, crop_sz), padded.shape
    return resize_linear(padded, out_sz), x1, y1, crop_sz


def taps(n_out, n_in):
    d = np.arange(n_out, dtype=np.float64)
    s = (d + 0.5) * (n_in / n_out) - 0.5
    i0 = np.floor(s).astype(np.int64)
    f = s - i0
    f[i0 < 0] = 0
    i0[i0 < 0] = 0
    hi = i0 >= n_in - 1
    f[hi] = 0
    i0[hi] = n_in - 1
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, f.astype(np.float32)


def resize_linear(src, out):
    n = src.shape[0]
    y0, y1, fy = taps(out, n)
    x0, x1, fx = taps(out, n)
    s = src.astype(np.float32)
    p00 = s[y0][:, x0]
    p01 = s[y0][:, x1]
    p10 = s[y1][:, x0]
    p11 = s[y1][:, x1]
    fxv = fx[None, :, None]
    fyv = fy[:, None, None]
    top = p00 + (p01 - p00) * fxv
    bot = p10 + (p11 - p10) * fxv
    v = top + (bot - top) * fyv
    return np.clip(np.floor(v + np.float32(0.5)), 0, 255).astype(np.uint8)


def main():
    im = np.asarray(Image.open(IMG).convert("RGB"))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        for (x, y, w, h, fac, out) in CASES:
            crop, x1, y1, cs = sample_target(im, (x, y, w, h), fac, out)
            f.write("%r %r %r %r %r %d %d %d %d\n" % (x, y, w, h, fac, out, x1, y1, cs))
            f.write(crop.tobytes().hex() + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
