#!/usr/bin/python3
"""Train the shipped re-ID demo model: a small VMamba (our PyTorch reference,
tests/reference/vmamba_ref.py, official parameter names) with a BNNeck embedding, trained
from scratch on the training split of datasets/make_reid_demo.py; CPU, Debian python3-torch.

    /usr/bin/python3 datasets/make_reid_demo.py /tmp/reiddemo --train-ids 10000  # 50 s
    /usr/bin/python3 weights/train_reid_demo.py /tmp/reiddemo --budget 1320      # train (22 min), export, measure
    /usr/bin/python3 weights/train_reid_demo.py /tmp/reiddemo --eval-only        # reference metrics again

The recipe is the usual strong re-ID baseline, written here from its description:
  - embedding f = global average pool of the last stage's map (no LayerNorm before it);
  - BNNeck: BatchNorm1d on f (bias frozen at 0); at evaluation the embedding is its output,
    L2-normalised;
  - ID loss: softmax cross-entropy with label smoothing 0.1 of a bias-free linear classifier
    over the training identities, on the BNNeck output (the classifier is not exported);
  - triplet loss, margin 0.3, euclidean distance, batch-hard mining (per anchor the
    farthest positive and the nearest negative in the batch), on the BNNeck output (in
    training mode: batch statistics). The strong baseline puts it on f, before the BNNeck;
    trained from scratch here, that collapsed f into a tiny ball around a large constant
    vector (triplet loss stuck at the margin, per-channel spread 0.017 against values up to
    56): test mAP 6.5 % after a 300 s trial against 14.3 % after 150 s, and an embedding so
    ill-conditioned that float32 and float64 PyTorch differed by 7.6e-5 (C by 3.3e-4).
    After the BNNeck the scale cannot collapse; f32 vs f64 is then 1e-6;
  - batches of P identities x K images (16 x 4); AdamW, linear warmup then a cosine over
    the wall-time budget. No augmentation by default: the demo's rendering already moves,
    scales, tints and re-backgrounds every view, and in 5-minute trials flip + crop + random
    erasing (--augment) halved the test mAP reached in the same time (3.3 % vs 6.5 %).
The training identities (Fashion-MNIST train images) and the test ones (test images) are
disjoint. The selective scan for training is the vectorised one of train_fashion_mnist.py
(checked there against the sequential reference); the exported weights do not depend on it.

Writes weights/reid_demo/vmamba_reid_demo.safetensors: the backbone under its official
names (no prefix), bnneck.{weight,bias,running_mean,running_var}, and __metadata__ with the
config, preprocessing (resize/crop 64, bilinear, ImageNet mean/std) and reid_l2norm "1",
which heads/reid.c reads, so `vssm reid extract` embeds exactly as this script evaluates.
Also writes weights/reid_demo/reference.json (this script's metrics on the demo's
query/gallery split, PyTorch float32, our own eval_market1501) and, from --sample images,
weights/reid_demo/sample/*.jpg + ref.safetensors (float64 embeddings, the CTest's reference).
"""
import argparse
import json
import math
import os
import shutil
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
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vmamba_ref  # noqa: E402
from train_fashion_mnist import augment as augment_crop_flip, init_train, param_groups, selective_scan_fast, set_scan  # noqa: E402

CFG = dict(dims=[16, 32, 64, 128], depths=[1, 1, 2, 1], ssm_ratio=1.0, d_state=1, dt_rank="auto",
           mlp_ratio=4.0, in_chans=3)
SIZE = 64
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
OUT_DIR = os.path.join(HERE, "reid_demo")
OUT = os.path.join(OUT_DIR, "vmamba_reid_demo.safetensors")


# ---------------------------------------------------------------------------------------
# Data (Market-1501 names: 0101_c3s1_000007_00.jpg -> pid 101, camera 3)
# ---------------------------------------------------------------------------------------

def parse(name):
    pid, rest = name.split("_", 1)
    return int(pid), int(rest[1]) - 1


def load_dir(d):
    """-> names, uint8 (n, 3, 64, 64), pids, camids (junk pid -1 dropped, sorted by name)."""
    names = sorted(n for n in os.listdir(d) if n.endswith(".jpg") and not n.startswith("-1"))
    x = np.stack([np.asarray(Image.open(os.path.join(d, n)).convert("RGB")) for n in names])
    assert x.shape[1:] == (SIZE, SIZE, 3), x.shape
    pc = np.array([parse(n) for n in names], np.int64)
    return names, torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), pc[:, 0], pc[:, 1]


def normalize(x_u8, dtype=torch.float32):
    """uint8 (B,3,H,W) -> ToTensor (/255) then Normalize(MEAN, STD), as the C side does."""
    x = x_u8.to(dtype).div(255.0)
    return (x - torch.tensor(MEAN, dtype=dtype).view(1, 3, 1, 1)) / torch.tensor(STD, dtype=dtype).view(1, 3, 1, 1)


def augment(x_u8, g, pad=4):
    """flip, zero-padded random crop (uint8), then normalise and random erasing (p 0.5)."""
    B = x_u8.shape[0]
    out = augment_crop_flip(x_u8, g, pad)
    x = normalize(out)
    for i in range(B):   # random erasing: area 2-40 %, aspect 0.3-3.3, filled with 0 (the mean)
        if torch.rand(1, generator=g).item() >= 0.5:
            continue
        area = SIZE * SIZE * (0.02 + 0.38 * torch.rand(1, generator=g).item())
        r = math.exp(math.log(0.3) + (math.log(3.3) - math.log(0.3)) * torch.rand(1, generator=g).item())
        h, w = int(round(math.sqrt(area * r))), int(round(math.sqrt(area / r)))
        if 0 < h < SIZE and 0 < w < SIZE:
            y0 = int(torch.randint(0, SIZE - h + 1, (1,), generator=g))
            x0 = int(torch.randint(0, SIZE - w + 1, (1,), generator=g))
            x[i, :, y0:y0 + h, x0:x0 + w] = 0
    return x


def pk_batches(pids, P, K, g):
    """One epoch of P x K batches: every identity once, K of its images (with repeats when
    it has fewer), identities in random order."""
    by_id = {}
    for i, p in enumerate(pids.tolist()):
        by_id.setdefault(p, []).append(i)
    ids = list(by_id)
    order = torch.randperm(len(ids), generator=g).tolist()
    for s in range(0, len(order) - P + 1, P):
        idx = []
        for j in order[s:s + P]:
            m = by_id[ids[j]]
            pick = torch.randperm(len(m), generator=g).tolist()
            if len(m) < K:
                pick = (pick * K)[:K]
            idx += [m[t] for t in pick[:K]]
        yield torch.tensor(idx)


# ---------------------------------------------------------------------------------------
# Model and losses
# ---------------------------------------------------------------------------------------

class ReidNet(nn.Module):
    def __init__(self, n_ids):
        super().__init__()
        self.backbone = vmamba_ref.VSSM(num_classes=1, **CFG)   # its classifier is never used
        C = CFG["dims"][-1]
        self.bnneck = nn.BatchNorm1d(C)
        self.bnneck.bias.requires_grad_(False)
        self.id_head = nn.Linear(C, n_ids, bias=False) if n_ids else None

    def pooled(self, x):
        """global average pool of the last stage (before its Identity downsample)."""
        b = self.backbone
        x = b.patch_embed(x)
        for layer in b.layers:
            x = layer.downsample(layer.blocks(x))
        return x.mean((2, 3))

    def forward(self, x):
        f = self.pooled(x)
        e = self.bnneck(f)
        return f, e, (self.id_head(e) if self.id_head is not None else None)


def triplet_hard(f, pids, margin):
    d = torch.cdist(f, f).clamp(min=1e-12)
    same = pids[:, None] == pids[None, :]
    hardest_pos = (d * same).max(1).values
    hardest_neg = d.masked_fill(same, float("inf")).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin).mean()


@torch.no_grad()
def embed(model, x_u8, dtype=torch.float32, bs=128):
    model.eval()
    out = []
    for i in range(0, x_u8.shape[0], bs):
        out.append(model(normalize(x_u8[i:i + bs], dtype))[1])
    return torch.cat(out)


# ---------------------------------------------------------------------------------------
# Evaluation: Market-1501 protocol (same pid and camera removed), our own numpy code
# ---------------------------------------------------------------------------------------

def eval_market(dist, qp, qc, gp, gc, max_rank=50):
    cmc_sum, aps, inps = np.zeros(max_rank), [], []
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((gp[order] == qp[i]) & (gc[order] == qc[i]))
        match = (gp[order] == qp[i])[keep]
        if not match.any():
            continue
        hits = np.flatnonzero(match)
        first = hits[0]
        if first < max_rank:
            cmc_sum[first:] += 1
        aps.append(np.mean((np.arange(len(hits)) + 1) / (hits + 1)))
        inps.append(len(hits) / (hits[-1] + 1))
    n = len(aps)
    cmc = cmc_sum / n
    return {"rank1": 100 * cmc[0], "rank5": 100 * cmc[4], "rank10": 100 * cmc[9],
            "mAP": 100 * float(np.mean(aps)), "mINP": 100 * float(np.mean(inps)), "valid_queries": n}


def evaluate(model, data):
    _, xq, qp, qc = load_dir(os.path.join(data, "query"))
    _, xg, gp, gc = load_dir(os.path.join(data, "bounding_box_test"))
    q, g = F.normalize(embed(model, xq)), F.normalize(embed(model, xg))
    dist = (torch.cdist(q.double(), g.double()) ** 2).numpy()
    r = eval_market(dist, qp, qc, gp, gc)
    r.update(queries=len(qp), gallery=len(gp))
    return r


# ---------------------------------------------------------------------------------------
# Export and reference
# ---------------------------------------------------------------------------------------

def export(model, meta_extra):
    sd = model.state_dict()
    tensors = {k[len("backbone."):]: v for k, v in sd.items()
               if k.startswith("backbone.") and not k.startswith("backbone.classifier.")}
    for n in ("weight", "bias", "running_mean", "running_var"):
        tensors["bnneck." + n] = sd["bnneck." + n]
    tensors = {k: v.detach().float().contiguous() for k, v in tensors.items()}
    meta = {
        "format": "vssm", "arch": "vmamba-reid-demo", "forward_type": "v05_noz", "in_chans": "3",
        "dims": ",".join(map(str, CFG["dims"])), "depths": ",".join(map(str, CFG["depths"])),
        "ssm_ratio": "%.1f" % CFG["ssm_ratio"], "d_state": str(CFG["d_state"]), "dt_rank": "0",
        "mlp_ratio": "%.1f" % CFG["mlp_ratio"], "num_classes": "0",
        "resize": str(SIZE), "crop": str(SIZE), "interpolation": "bilinear",
        "mean": ",".join("%g" % v for v in MEAN), "std": ",".join("%g" % v for v in STD),
        "task": "reid", "reid_embedding": "gap(last stage) -> bnneck -> l2", "reid_l2norm": "1",
        "dataset": "datasets/make_reid_demo.py (Fashion-MNIST items on skimage photos, 6 cameras)",
    }
    meta.update(meta_extra)
    os.makedirs(OUT_DIR, exist_ok=True)
    st_io.save(OUT, tensors, meta)
    print("wrote %s (%d tensors, %d bytes)" % (OUT, len(tensors), os.path.getsize(OUT)), flush=True)


def load_exported():
    t, meta = st_io.load(OUT)
    model = ReidNet(0)
    missing = model.load_state_dict({("" if k.startswith("bnneck.") else "backbone.") + k: v for k, v in t.items()},
                                    strict=False)
    assert all(k.startswith("backbone.classifier.") or k.endswith("num_batches_tracked") for k in missing.missing_keys), \
        missing
    return model.eval(), meta


def write_sample(model, data, names):
    """Copies the named query/gallery images to sample/{query,bounding_box_test}/ (a tiny
    Market-1501 tree for `vssm reid extract`) and writes ref.safetensors: their
    pixels as PIL decodes the JPEGs (uint8, N x 64 x 64 x 3) and the float64 model's
    embeddings (sequential scan, input ToTensor + Normalize of those pixels), before and
    after L2 normalisation."""
    sdir = os.path.join(OUT_DIR, "sample")
    shutil.rmtree(sdir, ignore_errors=True)
    files = []
    for n in names:
        split = "query" if os.path.exists(os.path.join(data, "query", n)) else "bounding_box_test"
        os.makedirs(os.path.join(sdir, split), exist_ok=True)
        shutil.copyfile(os.path.join(data, split, n), os.path.join(sdir, split, n))
        files.append("%s/%s" % (split, n))
    px = torch.from_numpy(np.stack([np.array(Image.open(os.path.join(sdir, f)).convert("RGB")) for f in files]))
    m64 = load_exported()[0].double()
    set_scan(m64, vmamba_ref.selective_scan_seq)
    e = embed(m64, px.permute(0, 3, 1, 2), torch.float64)
    st_io.save(os.path.join(OUT_DIR, "ref.safetensors"),
               {"pixels": px.contiguous(), "embedding": e.contiguous(), "embedding_l2": F.normalize(e).contiguous()},
               {"files": json.dumps(files), "root": "weights/reid_demo/sample", "mean": ",".join("%g" % v for v in MEAN),
                "std": ",".join("%g" % v for v in STD),
                "note": "float64 reference (vmamba_ref, sequential scan) of vmamba_reid_demo.safetensors"})
    print("wrote %s: %d images" % (os.path.join(OUT_DIR, "ref.safetensors"), len(names)))


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="make_reid_demo.py output with --train-ids")
    ap.add_argument("--budget", type=float, default=1320, help="training seconds (wall time, the cosine follows it)")
    ap.add_argument("--P", type=int, default=16, help="identities per batch")
    ap.add_argument("--K", type=int, default=4, help="images per identity")
    ap.add_argument("--lr", type=float, default=2.5e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=200, help="warmup steps")
    ap.add_argument("--margin", type=float, default=0.3)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument("--augment", action="store_true", help="random flip, 4 px crop, random erasing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=float, default=300, help="seconds between test-split evaluations (log only)")
    ap.add_argument("--sample", default="0001_c6s1_000001_00.jpg,0001_c1s1_000004_00.jpg,0001_c4s1_000008_01.jpg,"
                    "0002_c1s1_000010_00.jpg,0002_c5s1_000016_00.jpg,0000_c1s1_000902_00.jpg",
                    help="query/gallery images for sample/ and ref.safetensors")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="30 s of training, exported to /tmp (smoke test)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    global OUT_DIR, OUT
    if a.dry_run:
        OUT_DIR = "/tmp/vssm_reid_demo_dry"
        OUT = os.path.join(OUT_DIR, "vmamba_reid_demo.safetensors")
    t_all = time.time()
    if not a.eval_only:
        names, x, pids, _ = load_dir(os.path.join(a.data, "bounding_box_train"))
        ulab = {p: i for i, p in enumerate(sorted(set(pids.tolist())))}
        y = torch.tensor([ulab[p] for p in pids.tolist()])
        print("train: %d images, %d identities (%.1f s)" % (len(names), len(ulab), time.time() - t_all), flush=True)
        model = ReidNet(len(ulab))
        init_train(model)
        nn.init.normal_(model.id_head.weight, std=0.001)
        set_scan(model, selective_scan_fast)
        print("model: %s, %d backbone parameters" % (CFG, sum(p.numel() for p in model.backbone.parameters())))
        groups = param_groups(model, a.wd)
        opt = torch.optim.AdamW([{**gr, "params": [p for p in gr["params"] if p.requires_grad]} for gr in groups],
                                lr=a.lr)
        budget = 30 if a.dry_run else a.budget
        g = torch.Generator().manual_seed(a.seed + 1)
        t0, step, ep, last_eval, done = time.time(), 0, 0, time.time(), False
        log = []
        while not done:
            ep += 1
            for idx in pk_batches(y, a.P, a.K, g):
                el = time.time() - t0
                if el >= budget:
                    done = True
                    break
                lr = a.lr * (step + 1) / a.warmup if step < a.warmup else \
                    1e-6 + (a.lr - 1e-6) * 0.5 * (1 + math.cos(math.pi * min(1.0, el / budget)))
                for grp in opt.param_groups:
                    grp["lr"] = lr
                model.train()
                _, e, logits = model(augment(x[idx], g) if a.augment else normalize(x[idx]))
                l_id = F.cross_entropy(logits, y[idx], label_smoothing=a.smoothing)
                l_tri = triplet_hard(e, y[idx], a.margin)
                loss = l_id + l_tri
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if step % 50 == 0:
                    print("ep %d step %d %.0fs lr %.2e  id %.4f  tri %.4f" % (ep, step, el, lr, l_id.item(), l_tri.item()),
                          flush=True)
                if time.time() - last_eval >= a.eval_every:
                    r = evaluate(model, a.data)
                    log.append(dict(step=step, seconds=round(time.time() - t0), **{k: round(v, 2) for k, v in r.items()}))
                    print("  eval: %s" % log[-1], flush=True)
                    last_eval = time.time()
        secs = time.time() - t0
        print("trained %d steps (%d epochs) in %.0f s" % (step, ep, secs), flush=True)
        export(model.eval(), {"train_seconds": "%d" % round(time.time() - t_all), "train_steps": str(step),
                              "train_identities": str(len(ulab)), "train_images": str(len(names)),
                              "train_command": "/usr/bin/python3 weights/train_reid_demo.py " + " ".join(sys.argv[1:]),
                              "train_log": json.dumps(log)})
    model, meta = load_exported()   # the exported file, with the reference's sequential scan
    r = evaluate(model, a.data)
    r = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
    r["note"] = ("PyTorch float32 (vmamba_ref, sequential scan), BNNeck embeddings L2-normalised, squared euclidean, "
                 "Market-1501 protocol, make_reid_demo.py --ids 100 --seed 0 query/bounding_box_test")
    r["train_seconds"] = meta.get("train_seconds")
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as fh:
        json.dump(r, fh, indent=1)
        fh.write("\n")
    print(json.dumps(r), flush=True)
    write_sample(model, a.data, a.sample.split(","))


if __name__ == "__main__":
    main()
