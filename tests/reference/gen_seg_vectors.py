#!/usr/bin/python3
"""Reference vectors for the segmentation tests (tests/test_seg_*.c), from our PyTorch
reference (uperhead_ref.py, vmamba_ref.py) and OpenCV (python3-opencv) for the resize:

    /usr/bin/python3 tests/reference/gen_seg_vectors.py     # writes tests/data/seg/

  head_uper.safetensors, head_fpn.safetensors  random heads (BN with running stats) under
      'decode_head.', random features f0..f3 (B, H, W, C) NHWC, logits (B, H0, W0, K) NHWC
  tiny_upernet.pth   an mmseg-style checkpoint written by torch.save: {'meta': {...},
      'state_dict': backbone.* (incl. outnorm{i}), decode_head.*, auxiliary_head.*}
  pipeline.safetensors  image (H, W, 3) u8 and the tiny model's logits (H, W, K) after the
      mmseg test pipeline: whole mode with Resize(scale=(64, 40), keep_ratio) and slide mode
      (crop 24, stride 16) at the original size
  cv2_resize.safetensors  src_i / dst_i pairs from cv2.resize(INTER_LINEAR)
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import uperhead_ref as U  # noqa: E402
import vmamba_ref  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "data", "seg")
torch.set_num_threads(2)


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def head_vectors(kind, path, seed):
    torch.manual_seed(seed)
    inc = [6, 10, 12, 14]
    C, K = 8, 5
    head = (U.UPerHead(inc, C, K) if kind == "uper" else U.FPNHead(inc, C, K)).eval()
    U.init_random_head(head, seed)
    sizes = [(12, 10), (6, 5), (3, 3), (2, 2)]
    g = torch.Generator().manual_seed(seed + 1)
    feats = [torch.randn(2, c, h, w, generator=g) for c, (h, w) in zip(inc, sizes)]
    with torch.no_grad():
        logits = head(feats)
    t = OrderedDict(("decode_head." + k, v.contiguous()) for k, v in head.state_dict().items()
                    if not k.endswith("num_batches_tracked"))
    for i, f in enumerate(feats):
        t["f%d" % i] = nhwc(f)
    t["logits"] = nhwc(logits)
    st_io.save(path, t, {"kind": kind, "channels": str(C), "classes": str(K)})
    print(path, tuple(logits.shape), float(logits.abs().max()))


def tiny_model(seed):
    cfg = dict(dims=8, depths=(1, 1, 1, 1), ssm_ratio=1.0, d_state=1, mlp_ratio=4.0)
    bb = U.SegBackbone(**cfg)
    vmamba_ref.init_random(bb, seed)
    U.init_random_outnorms(bb, seed + 1)
    head = U.UPerHead(bb.dims, 16, 5)
    U.init_random_head(head, seed + 2)
    return U.EncoderDecoder(bb, head).eval()


def main():
    os.makedirs(OUT, exist_ok=True)
    head_vectors("uper", os.path.join(OUT, "head_uper.safetensors"), 11)
    head_vectors("fpn", os.path.join(OUT, "head_fpn.safetensors"), 12)

    # mmseg-style checkpoint
    model = tiny_model(5)
    sd = OrderedDict()
    for k, v in model.state_dict().items():
        sd[k] = v
    g = torch.Generator().manual_seed(9)
    sd["auxiliary_head.conv_seg.weight"] = torch.randn(5, 4, 1, 1, generator=g)  # must be ignored
    sd["auxiliary_head.conv_seg.bias"] = torch.randn(5, generator=g)
    sd["auxiliary_head.convs.0.conv.weight"] = torch.randn(4, 32, 3, 3, generator=g)
    ckpt = {"meta": {"mmseg_version": "1.2.2", "iter": 160000}, "state_dict": sd}
    torch.save(ckpt, os.path.join(OUT, "tiny_upernet.pth"))

    # pipeline: a real photo crop (tests/data/images), whole with resize, slide without
    from PIL import Image
    img = np.asarray(Image.open(os.path.join(os.path.dirname(OUT), "images", "dog_128x96.png")).convert("RGB"))
    img = np.ascontiguousarray(img[20:57, 30:83])  # 37 x 53
    whole = model.predict_logits(img, scale=(64, 40), mode="whole")
    slide = model.predict_logits(img, scale=None, mode="slide", crop=24, stride=16)
    st_io.save(os.path.join(OUT, "pipeline.safetensors"), {
        "image": torch.from_numpy(img.copy()),
        "whole": whole.permute(1, 2, 0).contiguous(),
        "slide": slide.permute(1, 2, 0).contiguous(),
        "whole_labels": whole.argmax(0).to(torch.uint8),
        "slide_labels": slide.argmax(0).to(torch.uint8),
    })
    print("pipeline", tuple(whole.shape), U.rescale_size(53, 37, (64, 40)))

    # cv2 resize pairs
    import cv2
    rng = np.random.default_rng(3)
    pairs = OrderedDict()
    photo = np.asarray(Image.open(os.path.join(os.path.dirname(OUT), "images", "dog_128x96.png")).convert("RGB"))
    cases = [(photo, 61, 45), (photo, 200, 150), (photo, 64, 48), (photo, 128, 37), (photo, 13, 97)]
    for _ in range(7):
        sw, sh = rng.integers(2, 40, 2)
        ow, oh = rng.integers(1, 60, 2)
        cases.append((rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), int(ow), int(oh)))
    for i, (im, ow, oh) in enumerate(cases):
        out = cv2.resize(im, (ow, oh), interpolation=cv2.INTER_LINEAR)
        assert (U.cv2_linear_formula(im, ow, oh) == out).all(), "formula != cv2 on case %d" % i
        pairs["src_%d" % i] = torch.from_numpy(np.ascontiguousarray(im))
        pairs["dst_%d" % i] = torch.from_numpy(np.ascontiguousarray(out))
    st_io.save(os.path.join(OUT, "cv2_resize.safetensors"), pairs, {"cv2": cv2.__version__, "n": str(len(cases))})
    print("cv2 pairs", len(cases), cv2.__version__)


if __name__ == "__main__":
    main()
