#!/usr/bin/python3
"""Train a small VMamba (VSSM v2, forward type v05_noz) on Fashion-MNIST and export it.

Runs on Debian's python3-torch (1.13) + python3-torchvision + python3-pil, CPU only:

    /usr/bin/python3 weights/train_fashion_mnist.py            # full run, writes the model
    /usr/bin/python3 weights/train_fashion_mnist.py --dry-run  # 1 short epoch on a subset (timing)

The model is tests/reference/vmamba_ref.VSSM (official parameter names) with a small
config; only its selective scan is replaced, for training speed, by a vectorised parallel
prefix scan (Hillis-Steele, log2(L) rounds) that is checked against the reference's
sequential loop before training.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz, idx format).
Preprocessing is exactly what the C side does on a PNG of a test image:
    PIL image mode 'L' (the idx bytes) -> convert('RGB') -> Resize(32, bicubic)
    -> ToTensor (/255) -> Normalize(MEAN, STD)
Training augmentation (training only): random crop 32 with 2 px zero padding (in the
uint8 domain, i.e. black, before normalisation) and random horizontal flip.

Output: weights/fashion_mnist/vmamba_fashion.safetensors (F32, official key names,
__metadata__ with the config and preprocessing; see weights/README.md).
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import vmamba_ref  # noqa: E402
import st_io  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]
SIZE = 32
# per-channel mean/std of the training set after convert('RGB') + Resize(32, bicubic) + /255
# (the three channels are equal); rounded to 4 digits and fixed here so that the C side
# and this script use bit-identical constants.
MEAN = (0.2878, 0.2878, 0.2878)
STD = (0.3459, 0.3459, 0.3459)
CFG = dict(dims=[32, 64, 128, 256], depths=[1, 1, 3, 1], ssm_ratio=1.0, d_state=1,
           dt_rank="auto", mlp_ratio=4.0, num_classes=10, in_chans=3)


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------

def read_idx(split):
    """-> (images uint8 (n, 28, 28), labels int64 (n,)) from the idx .gz files."""
    pre = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(DATA_DIR, pre + "-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], ">u4")
    assert magic == 2051, magic
    imgs = np.frombuffer(raw[16:], np.uint8).reshape(n, h, w)
    with gzip.open(os.path.join(DATA_DIR, pre + "-labels-idx1-ubyte.gz"), "rb") as f:
        raw = f.read()
    magic, m = np.frombuffer(raw[:8], ">u4")
    assert magic == 2049 and m == n, (magic, m, n)
    labels = np.frombuffer(raw[8:], np.uint8).astype(np.int64)
    return imgs, labels


def preprocess_u8(img28):
    """One 28x28 uint8 array -> (3, SIZE, SIZE) uint8: exactly PIL 'L' -> RGB -> Resize."""
    im = Image.fromarray(img28, mode="L").convert("RGB")
    if SIZE != im.size[0]:
        # torchvision Resize(SIZE) on a square image == PIL resize to (SIZE, SIZE), bicubic
        im = im.resize((SIZE, SIZE), Image.BICUBIC)
    return np.asarray(im).transpose(2, 0, 1).copy()


def load_split(split):
    imgs, labels = read_idx(split)
    out = np.stack([preprocess_u8(x) for x in imgs])
    return torch.from_numpy(out), torch.from_numpy(labels)


def normalize(x_u8):
    """uint8 (B,3,H,W) -> float32, ToTensor (/255) then Normalize(MEAN, STD)."""
    x = x_u8.float().div_(255.0)
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - m) / s


def augment(x_u8, g, pad):
    """Random crop of the images' own size with `pad` px zero padding + random horizontal
    flip (uint8, batched; also used by train_reid_demo.py)."""
    B, H, W = x_u8.shape[0], x_u8.shape[2], x_u8.shape[3]
    xp = F.pad(x_u8, (pad, pad, pad, pad))
    ox = torch.randint(0, 2 * pad + 1, (B,), generator=g)
    oy = torch.randint(0, 2 * pad + 1, (B,), generator=g)
    flip = torch.rand(B, generator=g) < 0.5
    out = torch.empty_like(x_u8)
    for i in range(B):
        c = xp[i, :, oy[i]:oy[i] + H, ox[i]:ox[i] + W]
        out[i] = c.flip(-1) if flip[i] else c
    return out


# ---------------------------------------------------------------------------------------
# Fast selective scan (training only): parallel prefix scan
# ---------------------------------------------------------------------------------------

def selective_scan_fast(u, delta, A, Bs, Cs, Dskip):
    """Same contract as vmamba_ref.selective_scan_seq, vectorised (training only).

    The recurrence h_t = a_t h_{t-1} + b_t (a_t = exp(delta_t A) in (0, 1],
    b_t = delta_t B_t u_t) is solved by a Hillis-Steele parallel prefix scan: log2(L)
    rounds of  b_t += a_t b_{t-o};  a_t *= a_{t-o}  (o = 1, 2, 4, ...), with a = 1, b = 0
    before the start. Only products of numbers in (0, 1]: no overflow, no division.
    """
    L = u.shape[-1]
    a = torch.exp(delta[:, :, :, None, :] * A[None, :, :, :, None])        # (B,K,D,N,L)
    b = (delta * u)[:, :, :, None, :] * Bs[:, :, None, :, :]                # (B,K,D,N,L)
    o = 1
    while o < L:
        bp = F.pad(b[..., :L - o], (o, 0))
        ap = F.pad(a[..., :L - o], (o, 0), value=1.0)
        b = b + a * bp
        a = a * ap
        o *= 2
    y = (b * Cs[:, :, None, :, :]).sum(3)                                   # (B,K,D,L)
    return y + Dskip[None, :, :, None] * u


def check_scan():
    """Print the max difference of the fast scan vs the sequential reference."""
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for (Bsz, D, N, L) in [(2, 5, 1, 64), (2, 3, 1, 16), (1, 4, 2, 37), (3, 2, 1, 4), (1, 2, 1, 1),
                           (1, 3, 3, 100)]:
        K = 4
        u = torch.randn(Bsz, K, D, L, generator=g, dtype=torch.float64)
        delta = F.softplus(torch.randn(Bsz, K, D, L, generator=g, dtype=torch.float64) - 1.0)
        A = -torch.exp(torch.randn(K, D, N, generator=g, dtype=torch.float64) * 0.5)
        Bs = torch.randn(Bsz, K, N, L, generator=g, dtype=torch.float64)
        Cs = torch.randn(Bsz, K, N, L, generator=g, dtype=torch.float64)
        Ds = torch.randn(K, D, generator=g, dtype=torch.float64)
        a = vmamba_ref.selective_scan_seq(u, delta, A, Bs, Cs, Ds)
        b = selective_scan_fast(u, delta, A, Bs, Cs, Ds)
        d = (a - b).abs().max().item() / a.abs().max().item()
        worst = max(worst, d)
        print("scan check B=%d D=%d N=%d L=%3d: max rel diff %.3e" % (Bsz, D, N, L, d))
    # and a whole small model in float32 with either scan (also checks the gradient path runs)
    m = vmamba_ref.init_random(vmamba_ref.VSSM(**CFG), 0)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = m(x)
        set_scan(m, selective_scan_fast)
        fast = m(x)
    d = (ref - fast).abs().max().item() / ref.abs().max().item()
    print("model check (float32, seq vs fast scan): max rel diff %.3e" % d)
    assert worst < 1e-10 and d < 1e-4, (worst, d)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------

def set_scan(model, scan):
    for mod in model.modules():
        if isinstance(mod, vmamba_ref.SS2D):
            mod.ssm = (lambda x, _m=mod: vmamba_ref.SS2D.ssm(_m, x, scan=scan))


@torch.no_grad()
def init_train(model):
    """The official VMamba training init (trunc_normal .02 linears, LN 1/0, S4D-real A,
    D = 1, dt log-uniform in [1e-3, 0.1] via the inverse-softplus bias)."""
    for mod in model.modules():
        if isinstance(mod, nn.Linear):  # includes Linear2d
            nn.init.trunc_normal_(mod.weight, std=0.02)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.LayerNorm):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)
        elif isinstance(mod, vmamba_ref.SS2D):
            K, di, N, R = vmamba_ref.K_DIRS, mod.d_inner, mod.d_state, mod.dt_rank
            s = di ** -0.5
            mod.x_proj_weight.uniform_(-s, s)
            s = R ** -0.5
            mod.dt_projs_weight.uniform_(-s, s)
            lo, hi = math.log(1e-3), math.log(0.1)
            dt = torch.exp(torch.rand(K, di) * (hi - lo) + lo).clamp(min=1e-4)
            mod.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            a = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(K * di, 1)
            mod.A_logs.copy_(a)
            mod.Ds.fill_(1.0)
    return model


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim <= 1 or name.endswith("A_logs") or name.endswith("Ds") or "dt_projs_bias" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model, x_u8, y, bs=500):
    model.eval()
    correct = 0
    for i in range(0, x_u8.shape[0], bs):
        logits = model(normalize(x_u8[i:i + bs]))
        correct += (logits.argmax(1) == y[i:i + bs]).sum().item()
    return 100.0 * correct / x_u8.shape[0]


def export(model, path, top1, train_command, train_seconds):
    sd = model.state_dict()
    tensors = {k: v.detach().float().contiguous() for k, v in sd.items()}
    meta = {
        "format": "vssm", "arch": "vmamba-fashion", "forward_type": "v05_noz",
        "in_chans": str(CFG["in_chans"]),
        "dims": ",".join(str(d) for d in CFG["dims"]),
        "depths": ",".join(str(d) for d in CFG["depths"]),
        "ssm_ratio": "%.1f" % CFG["ssm_ratio"], "d_state": str(CFG["d_state"]), "dt_rank": "0",
        "mlp_ratio": "%.1f" % CFG["mlp_ratio"], "num_classes": str(CFG["num_classes"]),
        "labels": json.dumps(LABELS),
        "resize": str(SIZE), "crop": str(SIZE), "interpolation": "bicubic",
        "mean": ",".join("%.4f" % v for v in MEAN), "std": ",".join("%.4f" % v for v in STD),
        "dataset": "fashion-mnist", "top1": "%.2f" % top1,
        "train_command": train_command, "train_seconds": "%d" % round(train_seconds),
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    st_io.save(path, tensors, meta)
    print("wrote %s (%d tensors, %d bytes)" % (path, len(tensors), os.path.getsize(path)))


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=14, help="epochs (ignored with --budget)")
    ap.add_argument("--budget", type=float, default=0.0,
                    help="if > 0: train for this many seconds of wall time (training loop, after the "
                         "1-epoch warmup the cosine LR follows elapsed/budget), then stop")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=1.0, help="warmup epochs")
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--pad", type=int, default=2, help="random-crop padding (px, zeros)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true", help="1 epoch on 6000 images, no export")
    ap.add_argument("--resume", default="", help="start from these weights (a file this script "
                    "wrote); its train_command/train_seconds are prepended/added to the new ones")
    ap.add_argument("--out", default=os.path.join(HERE, "fashion_mnist", "vmamba_fashion.safetensors"))
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    check_scan()

    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    print("data: train %s test %s (%.1f s)" % (tuple(xtr.shape), tuple(xte.shape), time.time() - t0))
    xf = xtr.float().div(255.0)
    print("train-set stats after resize: mean %.4f std %.4f (using %s / %s)"
          % (xf.mean().item(), xf.std().item(), MEAN, STD))
    del xf
    if args.dry_run:
        xtr, ytr = xtr[:6000], ytr[:6000]
        xte, yte = xte[:2000], yte[:2000]
        args.epochs = 1

    torch.manual_seed(args.seed)
    model = init_train(vmamba_ref.VSSM(**CFG))
    prior_cmd, prior_sec = "", 0.0
    if args.resume:
        tensors, meta = st_io.load(args.resume)
        model.load_state_dict(tensors, strict=True)
        prior_cmd, prior_sec = meta["train_command"] + " && ", float(meta["train_seconds"])
        print("resumed from %s (top1 %s, %s s)" % (args.resume, meta["top1"], meta["train_seconds"]))
    set_scan(model, selective_scan_fast)
    nparam = sum(p.numel() for p in model.parameters())
    print("model: %s, %d parameters" % (CFG, nparam))

    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.999))
    n = xtr.shape[0]
    steps_per_epoch = n // args.batch
    total = steps_per_epoch * args.epochs
    warm = int(args.warmup * steps_per_epoch)

    def lr_at(step, elapsed):
        if step < warm:
            return args.lr * (step + 1) / warm
        if args.budget > 0:  # cosine over wall time: progress = elapsed / budget
            p = min(1.0, elapsed / args.budget)
        else:
            p = (step - warm) / max(1, total - warm)
        return 1e-5 + (args.lr - 1e-5) * 0.5 * (1.0 + math.cos(math.pi * p))

    g = torch.Generator().manual_seed(args.seed + 1)
    step = 0
    t_train = time.time()
    top1 = 0.0
    lr = args.lr
    done = False
    ep = 0
    while not done:
        model.train()
        perm = torch.randperm(n, generator=g)
        tot_loss, seen = 0.0, 0
        te = time.time()
        for it in range(steps_per_epoch):
            elapsed = time.time() - t_train
            if args.budget > 0 and step >= warm and elapsed >= args.budget:
                done = True
                break
            idx = perm[it * args.batch:(it + 1) * args.batch]
            x = normalize(augment(xtr[idx], g, args.pad))
            y = ytr[idx]
            lr = lr_at(step, elapsed)
            for grp in opt.param_groups:
                grp["lr"] = lr
            loss = F.cross_entropy(model(x), y, label_smoothing=args.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot_loss += loss.item() * y.shape[0]
            seen += y.shape[0]
            if args.dry_run and it % 10 == 0:
                print("  it %d loss %.4f %.3f s/it" % (it, loss.item(), (time.time() - te) / (it + 1)),
                      flush=True)
        t_loop = time.time() - te  # the training steps alone (the evaluation below is not in it)
        ep += 1
        if args.budget <= 0 and ep >= args.epochs:
            done = True
        if seen == 0:
            break
        top1 = evaluate(model, xte, yte)
        print("epoch %2d  steps %5d (%5d total)  train loss %.4f  test top1 %.2f%%  lr %.2e  epoch %.0f s"
              "  (training steps %.1f s, %.1f img/s)  elapsed %.0f s"
              % (ep, seen // args.batch, step, tot_loss / seen, top1, lr, time.time() - te, t_loop,
                 seen / t_loop, time.time() - t0), flush=True)

    train_seconds = time.time() - t0
    print("final test top1 %.2f%% after %d steps (%.2f epochs), total wall time %.0f s "
          "(training loop %.0f s)" % (top1, step, step / steps_per_epoch, train_seconds,
                                      time.time() - t_train))
    if not args.dry_run:
        cmd = "/usr/bin/python3 weights/train_fashion_mnist.py " + " ".join(sys.argv[1:])
        export(model, args.out, top1, prior_cmd + cmd.strip(), prior_sec + train_seconds)


if __name__ == "__main__":
    main()
