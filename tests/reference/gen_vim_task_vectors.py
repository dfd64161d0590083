#!/usr/bin/python3
"""Reference vectors for the Vim task heads (tests/test_vim_tasks.c, tests/test_vim_cli.c):
segmentation (vimseg_ref.py + uperhead_ref.py) and re-ID embeddings (vim_ref.py), random
weights, computed in float64 from the float32-rounded weights and inputs, stored as float32.

    /usr/bin/python3 tests/reference/gen_vim_task_vectors.py     # writes tests/data/vim/
    /usr/bin/python3 tests/reference/gen_vim_task_vectors.py --full DIR   # a full-size Vim-T UperNet, see full()

  seg_p16.pth        an mmseg checkpoint of VisionMambaSeg + UPerHead as the official seg
                     configs build it (patch 16: fpn1 deconv-BN-GELU-deconv, fpn2 deconv,
                     fpn3 identity, fpn4 max pool), depth 8 (out_indices 1, 3, 5, 7 = the C
                     default for depth 8), 4 x 4 training grid; {'meta', 'state_dict':
                     backbone.*, decode_head.*, auxiliary_head.* (ignored)}
  seg_p16_ref.safetensors  for it (inputs are stored as F16 everywhere): input_a (1, 3, 64, 64) (the training grid: pos_embed as
                     stored), input_b (1, 3, 48, 80) (3 x 5 grid: resampled pos_embed), their
                     encode_decode logits ref.logits_a / _b (1, H, W, K) NHWC, the four block
                     outputs ref.tap{k}_a and neck levels ref.level{k}_a (NHWC); and the whole
                     mmseg test pipeline on tests/data/images/dog_128x96.png with
                     Resize(scale=(96, 72), keep_ratio), slide crop 64 stride 48: pipe_labels
                     (96, 128) u8 and pipe_margin (96, 128) f16 (top-1 minus top-2 logit)
  seg_p8.safetensors weights + metadata (out_indices "2": one block output for all four
                     levels, seg_scale 0,0, whole) of a patch-8 model (fpn1 deconv, fpn2
                     identity, fpn3 / fpn4 max pool 2 / 4), input (1, 3, 32, 40), ref.logits
  seg_nofpn.safetensors  if_fpn False: the four block outputs (stride 16) go to the head
                     as they are; patch 8, pos grid 3 x 4 stated in metadata; input (1, 3, 24, 32)
  reid.safetensors   a classification Vim (class token, head) + bnneck.{running_mean,
                     running_var, weight, bias}, patch 8; input (2, 3, 32, 24) (4 x 3 grid, resampled);
                     ref.emb = BNNeck(mean over the final tokens after norm_f), ref.emb_l2
"""
import copy
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import uperhead_ref as U  # noqa: E402
import vim_ref as vr  # noqa: E402
import vimseg_ref as vs  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "vim"))
IMAGES = os.path.normpath(os.path.join(HERE, "..", "data", "images"))
MAX_TOTAL_BYTES = 1024 * 1024
torch.set_num_threads(2)


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def randn_f16(shape, g):
    """standard normal inputs rounded to float16 (stored as F16: half the bytes, exact in f32)"""
    return torch.randn(*shape, generator=g).half().float()


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()


def seg_model(seed, K, channels, **bb):
    backbone = vs.VimSegBackbone(**bb)
    vr.init_random(backbone, seed)
    vs.init_random_fpn(backbone, seed + 1)
    head = U.UPerHead([bb["embed_dim"]] * 4, channels, K)
    U.init_random_head(head, seed + 2)
    return U.EncoderDecoder(backbone, head).eval().float()


def state_dict(model):
    return OrderedDict((k, v.detach().clone().contiguous()) for k, v in model.state_dict().items()
                       if not k.endswith("num_batches_tracked"))


def logits64(model, x):
    """encode_decode in float64 (a float64 copy of the float32 model) -> NHWC float32"""
    m64 = U.EncoderDecoder(model.backbone, model.decode_head).double()
    with torch.no_grad():
        out = m64.encode_decode(x.double())
    model.float()
    return nhwc(out).float()


def seg_p16():
    model = seg_model(31, K=3, channels=8, embed_dim=8, depth=8, out_indices=[1, 3, 5, 7], d_state=8, patch_size=16,
                      stride=16, pos_grid=(4, 4))
    g = torch.Generator().manual_seed(32)
    full = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())   # num_batches_tracked too, as mmseg's
    full["auxiliary_head.conv_seg.weight"] = torch.randn(3, 4, 1, 1, generator=g)   # must be ignored
    full["auxiliary_head.conv_seg.bias"] = torch.randn(3, generator=g)
    full["auxiliary_head.convs.0.conv.weight"] = torch.randn(4, 8, 3, 3, generator=g)
    ckpt = {"meta": {"mmseg_version": "0.30.0", "iter": 60000, "CLASSES": ["a", "b", "c"]}, "state_dict": full}
    pth = os.path.join(OUT, "seg_p16.pth")
    torch.save(ckpt, pth)

    t = OrderedDict()
    xa = randn_f16((1, 3, 64, 64), g)
    xb = randn_f16((1, 3, 48, 80), g)
    t["input_a"], t["input_b"] = xa.half(), xb.half()
    t["ref.logits_a"], t["ref.logits_b"] = logits64(model, xa), logits64(model, xb)
    m64 = model.double()
    with torch.no_grad():
        taps = m64.backbone.taps(xa.double())
        levels = m64.backbone(xa.double())
        with_f32 = model.float().encode_decode(xa)
    model.float()
    for k, f in enumerate(taps):
        t["ref.tap%d_a" % k] = nhwc(f).float()
    for k, f in enumerate(levels):
        t["ref.level%d_a" % k] = nhwc(f).float()
    print("seg_p16: logits a %s, b %s; f32 vs f64 %.1e; levels %s" % (
        tuple(t["ref.logits_a"].shape), tuple(t["ref.logits_b"].shape), rel(nhwc(with_f32), t["ref.logits_a"]),
        [tuple(f.shape[2:]) for f in levels]))

    # the mmseg test pipeline, slide mode, in float64
    from PIL import Image
    img = np.asarray(Image.open(os.path.join(IMAGES, "dog_128x96.png")).convert("RGB"))
    m64 = U.EncoderDecoder(model.backbone, model.decode_head).double()
    H, W = img.shape[:2]
    nw, nh = U.rescale_size(W, H, (96, 72))
    x = torch.from_numpy(np.ascontiguousarray(U.cv2_resize(img, nw, nh))).double().permute(2, 0, 1)[None]
    mean, std = torch.tensor([123.675, 116.28, 103.53]).double(), torch.tensor([58.395, 57.12, 57.375]).double()
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    with torch.no_grad():
        lg = U.resize(m64.slide_inference(x, 64, 48), size=(H, W))[0]   # (K, H, W) float64
    model.float()
    top2 = lg.topk(2, dim=0).values
    t["pipe_labels"] = lg.argmax(0).to(torch.uint8)
    t["pipe_margin"] = (top2[0] - top2[1]).to(torch.float16)
    print("pipeline labels", tuple(t["pipe_labels"].shape), "counts", torch.bincount(t["pipe_labels"].flatten().long()).tolist(),
          "min margin %.2e" % float(top2[0].sub(top2[1]).min()))
    ref = os.path.join(OUT, "seg_p16_ref.safetensors")
    st_io.save(ref, t, {"format": "vssm-test-vectors", "model": "seg_p16.pth", "pipe_image": "tests/data/images/dog_128x96.png",
                        "pipe_scale": "96,72", "pipe_crop": "64", "pipe_stride": "48"})
    # read back: the checkpoint loads strictly into a fresh model and reproduces the logits
    ck = torch.load(pth)
    m2 = seg_model(0, K=3, channels=8, embed_dim=8, depth=8, out_indices=[1, 3, 5, 7], d_state=8, patch_size=16, stride=16,
                   pos_grid=(4, 4))
    m2.load_state_dict({k: v for k, v in ck["state_dict"].items() if not k.startswith("auxiliary_head.")}, strict=True)
    assert rel(logits64(m2, xa), t["ref.logits_a"]) < 1e-6, "read-back mismatch"
    return [pth, ref]


def seg_small(name, seed, meta, x_shape, **bb):
    model = seg_model(seed, K=3, channels=8, **bb)
    t = state_dict(model)
    g = torch.Generator().manual_seed(seed + 5)
    x = randn_f16(x_shape, g)
    t["input"] = x.half()
    t["ref.logits"] = logits64(model, x)
    m = {"format": "vssm-test-vectors", "seg_scale": "0,0", "seg_mode": "whole"}
    m.update(meta)
    path = os.path.join(OUT, name + ".safetensors")
    st_io.save(path, t, m)
    print(name, tuple(t["ref.logits"].shape))
    return [path]


def reid():
    cfg = dict(embed_dim=16, depth=2, d_state=8, patch_size=8, stride=8, pos_grid=(4, 4), num_classes=4)
    model = vr.make_model(71, **cfg).float()
    t = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    g = torch.Generator().manual_seed(72)
    D = cfg["embed_dim"]
    bn = {"running_mean": 0.3 * torch.randn(D, generator=g), "running_var": 0.5 + torch.rand(D, generator=g),
          "weight": 1 + 0.2 * torch.randn(D, generator=g), "bias": 0.2 * torch.randn(D, generator=g)}
    for k, v in bn.items():
        t["bnneck." + k] = v
    x = randn_f16((2, 3, 32, 24), g)
    t["input"] = x.half()
    with torch.no_grad():
        tok = copy.deepcopy(model).double().forward_all(x.double())["tokens"]   # (B, gh, gw, D)
    b64 = {k: v.double() for k, v in bn.items()}
    pooled = tok.mean(dim=(1, 2))
    emb = (pooled - b64["running_mean"]) / torch.sqrt(b64["running_var"] + 1e-5) * b64["weight"] + b64["bias"]
    t["ref.emb"] = emb.float()
    t["ref.emb_l2"] = F.normalize(emb, dim=1).float()
    path = os.path.join(OUT, "reid.safetensors")
    st_io.save(path, t, {"format": "vssm-test-vectors"})
    print("reid", tuple(emb.shape), "grid", tuple(tok.shape[1:3]))
    return [path]


def full(out_dir):
    """A full-size Vim-T UperNet as the official config builds it (D 192, depth 24, out_indices
    5, 11, 17, 23, 32 x 32 training grid = 512 px, UPerHead channels 192, 150 classes), random
    weights: DIR/vim_tiny_upernet.pth and DIR/vim_tiny_upernet_ref.safetensors (one 512 x 512
    input, the float64 logits of its first 8 classes, argmax labels over all 150). Not
    committed (about 40 MB); test_vim_tasks reads it when VSSM_VIM_SEG_FULL=DIR."""
    os.makedirs(out_dir, exist_ok=True)
    model = seg_model(61, K=150, channels=192, embed_dim=192, depth=24, out_indices=[5, 11, 17, 23], d_state=16, patch_size=16,
                      stride=16, pos_grid=(32, 32))
    torch.save({"meta": {"note": "random weights"}, "state_dict": model.state_dict()}, os.path.join(out_dir, "vim_tiny_upernet.pth"))
    g = torch.Generator().manual_seed(62)
    x = randn_f16((1, 3, 512, 512), g)
    lg = logits64(model, x)   # (1, 512, 512, 150)
    t = OrderedDict([("input", x.half()), ("ref.logits_c8", lg[..., :8].contiguous()), ("ref.labels", lg.argmax(-1).to(torch.uint8))])
    st_io.save(os.path.join(out_dir, "vim_tiny_upernet_ref.safetensors"), t, {"format": "vssm-test-vectors"})
    print("full-size Vim-T UperNet written to", out_dir, "logits", tuple(lg.shape))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        full(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    files = seg_p16()
    files += seg_small("seg_p8", 41, {"out_indices": "2"}, (1, 3, 32, 40), embed_dim=8, depth=3, out_indices=[2], d_state=4,
                       patch_size=8, stride=8, pos_grid=(4, 4))
    files += seg_small("seg_nofpn", 51, {"pos_grid": "3,4"}, (1, 3, 24, 32), embed_dim=8, depth=4, out_indices=[0, 1, 2, 3],
                       d_state=4, patch_size=8, stride=8, pos_grid=(3, 4), if_fpn=False)
    files += reid()
    total = 0
    for f in files:
        total += os.path.getsize(f)
        print("%-28s %7d bytes" % (os.path.basename(f), os.path.getsize(f)))
    print("total %d bytes" % total)
    assert total <= MAX_TOTAL_BYTES


if __name__ == "__main__":
    main()
