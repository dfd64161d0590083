#!/usr/bin/python3
"""Write the whole-model gradient vectors of the VMamba classifier (issue 20):
tests/data/train/vmamba_grad_odd.safetensors, vmamba_grad_fashion.safetensors and
vmamba_grad_v0.safetensors.

    /usr/bin/python3 tests/reference/gen_train_grad_vectors.py

Each holds the input (B, 3, H, W), the labels (I32), the loss of
F.cross_entropy(model(input), labels, label_smoothing) and, under "grad.<official key>",
PyTorch autograd's gradient of that loss for every parameter, computed in float64 on
vmamba_ref.VSSM from the float32 weights and input (stored F32).

- odd: a reduced config (dims 8,12,16,24, depths 1,2,1,1, ssm_ratio 2, d_state 2, 7 classes) at
  37x53, batch 3, random weights (vmamba_ref.init_random), stored in the file; every
  gradient whole.
- fashion: the shipped Fashion-MNIST model (weights/fashion_mnist/vmamba_fashion.safetensors,
  read from there, not copied) at its 32x32 input, batch 2. Its 1.68 M gradients would be
  6.7 MB, so a tensor of more than SAMPLES elements keeps SAMPLES of them, at the flat
  (official layout) indices k * n // SAMPLES, and "gmax.<key>" holds max|grad| over the whole
  tensor (the denominator of the test's relative error).
- v0: the first release's forward (vmamba_v0_ref.VSSMv0: z gate, conv bias, patch merging, no
  MLP), dims 8,12,16,24, depths 1,2,1,1, ssm_ratio 2, d_state 2, 7 classes, at 37x53 (odd
  stages: the merging's zero pad), batch 3, random weights in the file, every gradient whole.
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
import vmamba_ref as vr  # noqa: E402
import vmamba_v0_ref as v0r  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "train")
FASHION = os.path.join("weights", "fashion_mnist", "vmamba_fashion.safetensors")
SAMPLES = 256
SMOOTHING = 0.1

CASES = [
    dict(name="odd", dims=[8, 12, 16, 24], depths=(1, 2, 1, 1), ssm_ratio=2.0, d_state=2, num_classes=7,
         batch=3, height=37, width=53, seed=2001, weights=None),
    dict(name="fashion", dims=32, depths=(1, 1, 3, 1), ssm_ratio=1.0, d_state=1, num_classes=10,
         batch=2, height=32, width=32, seed=2002, weights=FASHION),
    dict(name="v0", dims=[8, 12, 16, 24], depths=(1, 2, 1, 1), ssm_ratio=2.0, d_state=2, num_classes=7,
         batch=3, height=37, width=53, seed=2003, weights=None, v0=True),
]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for c in CASES:
        g = torch.Generator().manual_seed(c["seed"])
        make = v0r.VSSMv0 if c.get("v0") else vr.VSSM
        model = make(dims=c["dims"], depths=c["depths"], ssm_ratio=c["ssm_ratio"], d_state=c["d_state"],
                     num_classes=c["num_classes"])
        if c["weights"]:
            sd, _ = st_io.load(os.path.join(ROOT, c["weights"]))
            model.load_state_dict(sd, strict=True)
        else:
            vr.init_random(model, c["seed"])
        f32 = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        model = model.double()
        x = torch.randn(c["batch"], 3, c["height"], c["width"], generator=g)
        labels = torch.randint(0, c["num_classes"], (c["batch"],), generator=g)
        logits = model(x.double())
        loss = F.cross_entropy(logits, labels, label_smoothing=SMOOTHING)
        loss.backward()
        out = {"input": x, "labels": labels.int(), "loss": loss.detach().float().reshape(1),
               "logits": logits.detach().float()}
        if not c["weights"]:
            out.update(f32)
        gmin = None
        for k, p in model.named_parameters():
            gr = p.grad.detach().float().contiguous()
            n = gr.numel()
            if c["weights"] and n > SAMPLES:
                idx = torch.arange(SAMPLES, dtype=torch.int64) * n // SAMPLES
                out["grad." + k] = gr.reshape(-1)[idx].contiguous()
                out["gmax." + k] = gr.abs().max().reshape(1)
            else:
                out["grad." + k] = gr
            m = gr.abs().max().item()
            gmin = m if gmin is None else min(gmin, m)
        meta = {"format": "vssm-test-vectors", "arch": "vmamba",
                "forward_type": "v0" if c.get("v0") else "v05_noz",
                "stage_dims": ",".join(str(d) for d in model.dims), "depths": ",".join(str(d) for d in c["depths"]),
                "ssm_ratio": str(c["ssm_ratio"]), "d_state": str(c["d_state"]),
                "mlp_ratio": "0.0" if c.get("v0") else "4.0",
                "num_classes": str(c["num_classes"]), "batch": str(c["batch"]), "height": str(c["height"]),
                "width": str(c["width"]), "smoothing": str(SMOOTHING), "weights": c["weights"] or "",
                "samples": str(SAMPLES)}
        path = os.path.join(OUT_DIR, "vmamba_grad_%s.safetensors" % c["name"])
        st_io.save(path, out, metadata=meta)
        print("%s: loss %.6f, %d tensors, smallest max|grad| %.3g, %d bytes" % (
            path, loss.item(), len(list(model.parameters())), gmin, os.path.getsize(path)))


if __name__ == "__main__":
    main()
