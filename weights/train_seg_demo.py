#!/usr/bin/python3
"""Train the shipped segmentation demo: a small VMamba (official names, per-stage outnorms)
+ mmseg FPNHead (or UPerHead) on the set made by datasets/make_seg_demo.py, with our PyTorch
reference (tests/reference/uperhead_ref.py, vmamba_ref.py); CPU, Debian python3-torch.

    /usr/bin/python3 datasets/make_seg_demo.py /tmp/segdemo                 # ~2200 images, seconds
    /usr/bin/python3 weights/train_seg_demo.py /tmp/segdemo --budget 2400    # train <= 40 min, export
    /usr/bin/python3 weights/train_seg_demo.py /tmp/segdemo --eval-only      # reference mIoU again

Writes weights/seg_demo/vmamba_seg_demo.safetensors (keys backbone.* / decode_head.*,
__metadata__ with the config, class names, palette, preprocessing: no resize, mean/std in
0..255 units, whole mode), and weights/seg_demo/reference.json: the PyTorch reference's
aAcc/mIoU/mAcc (mmseg IoUMetric, uperhead_ref.miou_mmseg) on the val split with the same
test pipeline the C side runs. The val predictions go to OUT/val/pred_ref/ so that
`vssm eval seg --pred OUT/val/pred_ref --gt OUT/val/labels --classes 11` scores the very same
predictions in C, and `vssm eval seg --weights ... --dataset pairs OUT/val/images
--labels-dir OUT/val/labels` runs the C model. The selective scan is the vectorised one of
weights/train_fashion_mnist.py (checked there against the sequential reference).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import uperhead_ref as U  # noqa: E402
import vmamba_ref  # noqa: E402
from train_fashion_mnist import init_train, selective_scan_fast, set_scan  # noqa: E402

CFG = dict(dims=[16, 32, 64, 128], depths=[1, 1, 2, 1], ssm_ratio=1.0, d_state=1, mlp_ratio=4.0, in_chans=3)
HEAD, CHANNELS = "fpn", 32
CLASSES = ["background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
OUT = os.path.join(HERE, "seg_demo", "vmamba_seg_demo.safetensors")


def load_split(root, split):
    d = os.path.join(root, split)
    names = sorted(os.listdir(os.path.join(d, "images")))
    x = np.stack([np.asarray(Image.open(os.path.join(d, "images", n)).convert("RGB")) for n in names])
    y = np.stack([np.asarray(Image.open(os.path.join(d, "labels", n))) for n in names])
    return names, x, y


def build():
    bb = U.SegBackbone(**CFG)
    head = U.FPNHead(bb.dims, CHANNELS, len(CLASSES)) if HEAD == "fpn" else U.UPerHead(bb.dims, CHANNELS, len(CLASSES))
    return U.EncoderDecoder(bb, head)


def normalize(x_u8):
    x = torch.from_numpy(x_u8).float().permute(0, 3, 1, 2)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def export(model, meta_extra):
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    pal = []
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    meta = {
        "format": "vssm", "arch": "vmamba-seg-demo", "forward_type": "v05_noz", "in_chans": "3",
        "dims": ",".join(map(str, CFG["dims"])), "depths": ",".join(map(str, CFG["depths"])),
        "ssm_ratio": "1.0", "d_state": "1", "dt_rank": "0", "mlp_ratio": "4.0", "num_classes": "0",
        "task": "segmentation", "seg_head": HEAD, "labels": json.dumps(CLASSES),
        "seg_palette": ",".join(map(str, pal[:3 * len(CLASSES)])), "seg_scale": "0,0",
        "seg_mean": ",".join("%g" % v for v in MEAN), "seg_std": ",".join("%g" % v for v in STD),
        "seg_mode": "whole", "seg_reduce_zero_label": "0", "seg_ignore_index": "255",
    }
    meta.update(meta_extra)
    os.makedirs(os.path.dirname(OUT) or ".", exist_ok=True)
    st_io.save(OUT, tensors, meta)
    print("wrote %s (%d bytes)" % (OUT, os.path.getsize(OUT)))


def load_exported():
    t, meta = st_io.load(OUT)
    model = build().eval()
    model.load_state_dict({k: v for k, v in t.items()}, strict=False)
    return model, meta


def evaluate(model, root):
    """The C side's pipeline exactly: no resize, normalise, whole, argmax (reference scan)."""
    names, x, y = load_split(root, "val")
    model.eval()
    set_scan(model, vmamba_ref.selective_scan_seq)
    out = os.path.join(root, "val", "pred_ref")
    os.makedirs(out, exist_ok=True)
    preds = []
    for n, im in zip(names, x):
        lg = model.predict_logits(im, scale=None, mean=MEAN, std=STD, mode="whole")
        p = lg.argmax(0).numpy().astype(np.uint8)
        preds.append(p)
        Image.fromarray(p).save(os.path.join(out, n))
    r = U.miou_mmseg(preds, list(y), len(CLASSES))
    return {k: r[k] for k in ("aAcc", "mIoU", "mAcc", "mDice")}, len(names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--budget", type=float, default=2400, help="training seconds")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="20 s of training, exported to /tmp (smoke test)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if not a.eval_only:
        _, x, y = load_split(a.data, "train")
        model = build()
        init_train(model)
        set_scan(model, selective_scan_fast)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
        t0, step, n = time.time(), 0, len(x)
        budget = 20 if a.dry_run else a.budget
        g = torch.Generator().manual_seed(1)
        model.train()
        while time.time() - t0 < budget:
            idx = torch.randint(0, n, (a.batch,), generator=g).numpy()
            xb, yb = x[idx].copy(), y[idx].copy()
            flip = torch.rand(a.batch, generator=g).numpy() < 0.5
            xb[flip], yb[flip] = xb[flip][:, :, ::-1], yb[flip][:, :, ::-1]
            frac = min(1.0, (time.time() - t0) / budget)
            for grp in opt.param_groups:
                grp["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * frac))
            logits = model.encode_decode(normalize(np.ascontiguousarray(xb)))
            loss = F.cross_entropy(logits, torch.from_numpy(np.ascontiguousarray(yb)).long(), ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 20 == 0:
                print("step %d  %.0fs  loss %.4f" % (step, time.time() - t0, loss.item()), flush=True)
        secs = time.time() - t0
        if a.dry_run:  # smoke test of the whole flow into /tmp, the shipped model untouched
            global OUT
            OUT = "/tmp/vssm_seg_demo_dry.safetensors"
            print("dry run: %d steps in %.1fs" % (step, secs))
        export(model.eval(), {"train_seconds": "%d" % secs, "train_steps": str(step),
                              "train_command": " ".join(sys.argv)})
    model, _ = load_exported()
    res, nval = evaluate(model, a.data)
    res["images"] = nval
    res["note"] = "PyTorch reference (uperhead_ref.py), mmseg IoUMetric, val split, whole mode, no resize"
    with open(OUT.replace(".safetensors", "") + "_reference.json" if a.dry_run else
              os.path.join(HERE, "seg_demo", "reference.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
