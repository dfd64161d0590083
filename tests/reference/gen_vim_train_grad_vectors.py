#!/usr/bin/python3
"""Write the whole-model gradient vectors of the Vim classifier (issue 20):
tests/data/train/vim_grad_odd.safetensors and vim_grad_long.safetensors.

    /usr/bin/python3 tests/reference/gen_vim_train_grad_vectors.py

Each holds the float32 weights (random, vim_ref.init_random), the input (B, 3, H, W), the
labels (I32), the logits, the loss of F.cross_entropy(model(input), labels, label_smoothing)
and, under "grad.<official key>", PyTorch autograd's gradient of that loss for every
parameter, computed in float64 on vim_ref.VisionMamba from the float32 weights and input
(stored F32, whole). The metadata states the config (vssm_vim_config_infer reads pos_grid,
stride, divide_out from it).

- odd: d_model 20 (dt_rank 2), depth 2, d_state 3, overlapping 5x5 patches at stride 4 on a
  17x21 input (a 4x5 grid, class token at 10 of 21), 7 classes, div2, batch 3.
- long: d_model 12 (dt_rank 1), depth 3, d_state 2, 4x4 patches on 40x28 (a 10x7 grid: 71
  tokens, past the backward's 64-token blocks and scan chunks), 5 classes, no divide-by-2,
  batch 2.
Also tests/data/train/vim_tiny28.safetensors, a tiny Vim classifier for `vssm train` on the
Fashion-MNIST samples (test_train_vim_cli): d_model 16, depth 2, d_state 4, 4x4 patches on
28x28 (a 7x7 grid), 10 classes, random weights, the preprocessing (resize 28, crop 28, mean and
std 0.5) in its metadata.
Output is reproducible bit for bit (seeded torch.Generator).
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vim_ref as vr  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "train")
SMOOTHING = 0.1

CASES = [
    dict(name="odd", embed_dim=20, depth=2, d_state=3, patch_size=5, stride=4, pos_grid=(4, 5), num_classes=7,
         divide_out=True, batch=3, seed=3001),
    dict(name="long", embed_dim=12, depth=3, d_state=2, patch_size=4, stride=4, pos_grid=(10, 7), num_classes=5,
         divide_out=False, batch=2, seed=3002),
]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        g = torch.Generator().manual_seed(c["seed"])
        model = vr.VisionMamba(embed_dim=c["embed_dim"], depth=c["depth"], d_state=c["d_state"],
                               patch_size=c["patch_size"], stride=c["stride"], pos_grid=c["pos_grid"],
                               num_classes=c["num_classes"], divide_out=c["divide_out"])
        vr.init_random(model, c["seed"])
        f32 = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        model = model.double()
        H = (c["pos_grid"][0] - 1) * c["stride"] + c["patch_size"]
        W = (c["pos_grid"][1] - 1) * c["stride"] + c["patch_size"]
        x = torch.randn(c["batch"], 3, H, W, generator=g)
        labels = torch.randint(0, c["num_classes"], (c["batch"],), generator=g)
        logits = model.forward_all(x.double())["logits"]
        loss = F.cross_entropy(logits, labels, label_smoothing=SMOOTHING)
        loss.backward()
        out = {"input": x, "labels": labels.int(), "loss": loss.detach().float().reshape(1),
               "logits": logits.detach().float()}
        out.update(f32)
        gmin = None
        for k, p in model.named_parameters():
            gr = p.grad.detach().float().contiguous()
            out["grad." + k] = gr
            m = gr.abs().max().item()
            gmin = m if gmin is None else min(gmin, m)
        meta = {"format": "vssm-test-vectors", "arch": "vim", "embed_dim": str(c["embed_dim"]),
                "depth": str(c["depth"]), "d_state": str(c["d_state"]), "patch_size": str(c["patch_size"]),
                "stride": str(c["stride"]), "pos_grid": "%d,%d" % c["pos_grid"],
                "num_classes": str(c["num_classes"]), "divide_out": "1" if c["divide_out"] else "0",
                "batch": str(c["batch"]), "height": str(H), "width": str(W), "smoothing": str(SMOOTHING),
                "seed": str(c["seed"])}
        path = os.path.join(OUT_DIR, "vim_grad_%s.safetensors" % c["name"])
        st_io.save(path, out, metadata=meta)
        print("%s: loss %.6f, %d tensors, smallest max|grad| %.3g, %d bytes" % (
            path, loss.item(), len(list(model.parameters())), gmin, os.path.getsize(path)))


def tiny():
    model = vr.VisionMamba(embed_dim=16, depth=2, d_state=4, patch_size=4, stride=4, pos_grid=(7, 7), num_classes=10)
    vr.init_random(model, 3003)
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    path = os.path.join(OUT_DIR, "vim_tiny28.safetensors")
    st_io.save(path, sd, metadata={"pos_grid": "7,7", "stride": "4", "resize": "28", "crop": "28",
                                   "interpolation": "bilinear", "mean": "0.5,0.5,0.5", "std": "0.5,0.5,0.5"})
    print("%s: %d parameters, %d bytes" % (path, sum(v.numel() for v in sd.values()), os.path.getsize(path)))


if __name__ == "__main__":
    main()
    tiny()
