#!/usr/bin/python3
"""Write tests/data/train/optim_steps.safetensors: 6 steps of PyTorch's training update, for
test_train_optim (issue 20).

    /usr/bin/python3 tests/reference/gen_optim_vectors.py

Three float32 tensors (w: (5, 7) decayed; b: (11) and a: (3, 4) not decayed, as
weights/train_fashion_mnist.py groups A_logs), the gradients of each step drawn at random
(scaled so torch.nn.utils.clip_grad_norm_(max_norm 1.0) clips some steps and not others),
the learning rate of train_fashion_mnist.py's lr_at (warm-up 2 steps, cosine to 1e-5 over 6),
torch.optim.AdamW(betas (0.9, 0.999), eps 1e-8, weight decay 0.05), then an EMA of the
weights (decay 0.9, timm's ModelEmaV2 update). Stored: init.<t>, grad<k>.<t>, after step k
param<k>.<t>, ema<k>.<t>, and lr, norm (the total norm before clipping) per step.
"""
import math
import os
import sys

import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "data", "train", "optim_steps.safetensors"))
STEPS, WARM, BASE, MIN, WD, CLIP, EMA = 6, 2, 2e-3, 1e-5, 0.05, 1.0, 0.9
SCALES = [0.05, 3.0, 0.2, 5.0, 0.1, 1.0]   # gradient sizes: clipped at 3.0 and 5.0


def lr_at(step):
    if step < WARM:
        return BASE * (step + 1) / WARM
    p = (step - WARM) / max(1, STEPS - WARM)
    return MIN + (BASE - MIN) * 0.5 * (1.0 + math.cos(math.pi * p))


def main():
    g = torch.Generator().manual_seed(2003)
    shapes = {"w": (5, 7), "b": (11,), "a": (3, 4)}
    ps = {k: torch.nn.Parameter(torch.randn(*s, generator=g)) for k, s in shapes.items()}
    out = {"init." + k: p.detach().clone() for k, p in ps.items()}
    ema = {k: p.detach().clone() for k, p in ps.items()}
    opt = torch.optim.AdamW([{"params": [ps["w"]], "weight_decay": WD},
                             {"params": [ps["b"], ps["a"]], "weight_decay": 0.0}], lr=BASE, betas=(0.9, 0.999),
                            eps=1e-8)
    lrs, norms = [], []
    for k in range(STEPS):
        for n, p in ps.items():
            p.grad = SCALES[k] * torch.randn(*shapes[n], generator=g) / math.sqrt(p.numel())
            out["grad%d.%s" % (k, n)] = p.grad.clone()
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(ps.values()), CLIP)))
        lr = lr_at(k)
        lrs.append(lr)
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.step()
        with torch.no_grad():
            for n, p in ps.items():
                ema[n].copy_(ema[n] * EMA + (1.0 - EMA) * p)
                out["param%d.%s" % (k, n)] = p.detach().clone()
                out["ema%d.%s" % (k, n)] = ema[n].clone()
    out["lr"] = torch.tensor(lrs, dtype=torch.float64)
    out["norm"] = torch.tensor(norms, dtype=torch.float64)
    st_io.save(OUT, out, metadata={"format": "vssm-test-vectors", "steps": str(STEPS), "warmup": str(WARM),
                                   "base_lr": repr(BASE), "min_lr": repr(MIN), "weight_decay": repr(WD),
                                   "clip": repr(CLIP), "ema": repr(EMA)})
    print("wrote %s (%d bytes); norms %s" % (OUT, os.path.getsize(OUT), ", ".join("%.3f" % v for v in norms)))


if __name__ == "__main__":
    main()
