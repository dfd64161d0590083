#!/usr/bin/python3
"""Train the shipped tracking demo model: an OSTrack-style CenterPredictor head
(tests/reference/ostrack_ref.py) on the frozen Fashion-MNIST VMamba of weights/fashion_mnist/
(stage 1: stride 8, 64 channels), on sequences of datasets/make_track_demo.py made from the
Fashion-MNIST TRAIN items with camera motion and more backgrounds (the held-out demo uses the
test items); CPU, Debian python3-torch. The recipe of weights/track_demo (its README has the
data commands):

    D="/tmp/track_train /tmp/track_train3 /tmp/track_train4"; L=build/libvssm.so
    /usr/bin/python3 weights/train_track_head.py $D --pairs 32000 --seed 0 --lib $L --features-only --cache /tmp/f0.pt
    /usr/bin/python3 weights/train_track_head.py $D --pairs 32000 --seed 1 --lib $L --features-only --cache /tmp/f1.pt
    /usr/bin/python3 weights/train_track_head.py --cache /tmp/f0.pt /tmp/f1.pt --fusion modcorr --channel 64 \
        --budget 1800 --lib $L --size-lr 1 0.7 0.5 0.4 0.3 0.2 0.15 --val-dir /tmp/track_val --eval-dir /tmp/trackdemo
    /usr/bin/python3 weights/train_track_head.py --choose-decode --lib $L --val-dir /tmp/track_val /tmp/track_val2 \
        --size-lr 0.3 0.2 0.15 0.1 --aspect-lr 1 0.5 0.2 0 --eval-dir /tmp/trackdemo   # the decoding, on validation
    /usr/bin/python3 weights/train_track_head.py --write-ref /tmp/trackdemo      # ref.safetensors for the CTest
    /usr/bin/python3 weights/train_track_head.py --eval /tmp/trackdemo [--lib $L]  # the Python tracker on a dataset
    /usr/bin/python3 weights/train_track_head.py --attributes RESULTS /tmp/trackdemo   # per-attribute figures

Recipe (OSTrack's, scaled down):
  - pairs: a template frame and a search frame up to 30 frames apart in one sequence; the
    template crop is sample_target(gt, factor 2, 64 px), the search crop is taken around the
    search frame's GT box jittered as OSTrack's processing does (centre by
    (U(0,1) - 0.5) * sqrt(w h) * 3, size by exp(N(0,1) * 0.25); --center-jitter,
    --scale-jitter), factor 4, 128 px;
  - features: the backbone's stage 1 (--stage, track_stage; 64 channels; 16 x 16 for the search
    crop, 8 x 8 for the template; stage 0: 32 channels, 32 x 32 and 16 x 16) computed once with the backbone frozen (stored in float16 in the file; the
    training uses those rounded weights), through libvssm with --lib (ctypes; the C tracker's
    own backbone, ~5x the reference's speed) or the PyTorch reference; cached with --cache
    (several caches are concatenated; a cache of an older run without the template maps gets
    them with --add-template); the head reads [X, X * zbar] (--fusion mod, ostrack_ref.fuse_mod)
    or also the pixel-wise correlation of X with each of the template map's 64 cells (--fusion
    modcorr, ostrack_ref.fuse_modcorr: the template's layout, not only its mean; --corr-pool p,
    track_corr_pool: the template map's p x p cells averaged first, stage 0's 256 cells to 64);
  - loss: OSTrack's focal loss on the score map (Gaussian targets, make_targets) + 5 x L1 + 2 x
    GIoU on the box read at the GT centre cell; AdamW (lr 1e-3, wd 1e-4), cosine over the
    budget; batch 64; head width --channel (track_channel);
  - decoding: the size smoothing track_size_lr and the aspect prior track_aspect_lr
    (ostrack_ref.decode) are the --size-lr x --aspect-lr pair with the best AUC on --val-dir
    (sequences of train items; after the training or with --choose-decode), never chosen on
    the held-out demo.
Writes --out-dir (weights/track_demo/) vmamba_track_demo.safetensors: the backbone (F16,
official names, without the classifier), the head under track_head. (F32) and the metadata vssm
reads (track_* keys, see vssm/track.h), plus reference.json (this script's tracker on the
held-out demo, when --eval-dir is given).
"""
import argparse
import ctypes
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)
import ostrack_ref as orf  # noqa: E402
import st_io  # noqa: E402
import vmamba_ref  # noqa: E402
from gen_track_crop import sample_target  # noqa: E402
from train_fashion_mnist import selective_scan_fast, set_scan  # noqa: E402

BACKBONE = os.path.join(HERE, "fashion_mnist", "vmamba_fashion.safetensors")
OUT_DIR = os.path.join(HERE, "track_demo")
OUT = os.path.join(OUT_DIR, "vmamba_track_demo.safetensors")
STAGE, CHANNEL, ZS, XS, ZF, XF = 1, 32, 64, 128, 2.0, 4.0
CORR_POOL = 1  # --stage, --corr-pool (main sets them; the exported model's when it is read)
# the hybrid decoding (--hybrid 1, vssm/track.h vssm_track_scale_config): what the shipped file
# carries, chosen with the C tracker on the 48 validation sequences (weights/track_demo/README.md)
HYBRID = {"track_scale_search": "1", "track_scale_stage": "0", "track_scale_size": "128", "track_scale_n": "3",
          "track_scale_radius": "2", "track_scale_factor": "2.0", "track_scale_step": "1.0375",
          "track_scale_lr": "0.59", "track_scale_pos_lr": "1", "track_scale_aspect_lr": "0",
          "track_scale_chosen": "settings chosen in session 10 with the C tracker on the 48 validation sequences "
                                "(make_track_demo.py --split train, seeds 99, 98, 97): weights/track_demo/README.md"}


def load_backbone():
    t, meta = st_io.load(BACKBONE)
    cfg = dict(dims=[int(v) for v in meta["dims"].split(",")], depths=[int(v) for v in meta["depths"].split(",")],
               d_state=int(meta["d_state"]), ssm_ratio=float(meta["ssm_ratio"]), mlp_ratio=float(meta["mlp_ratio"]),
               num_classes=int(meta["num_classes"]))
    bb = vmamba_ref.VSSM(**cfg)
    # the file ships the backbone in float16: train on exactly those weights
    bb.load_state_dict({k: torch.as_tensor(v).half().float() for k, v in t.items()})
    bb.eval()
    mean = np.array([float(v) for v in meta["mean"].split(",")], np.float32)
    std = np.array([float(v) for v in meta["std"].split(",")], np.float32)
    return bb, cfg, meta, mean, std


class CBackbone:
    """the frozen backbone's stage STAGE through libvssm (ctypes: vssm_backbone_forward on a CPU
    context), the backbone the C tracker runs: about 5x the reference's speed at one thread, the
    same features to ~1e-6 relative; only for the training's features (--lib)"""

    class Opts(ctypes.Structure):
        _fields_ = [("device", ctypes.c_int), ("device_index", ctypes.c_int), ("n_threads", ctypes.c_int),
                    ("allow_tf32", ctypes.c_int), ("cpu_isa", ctypes.c_char_p), ("precision", ctypes.c_int)]

    class Tensor(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                    ("shape", ctypes.c_int64 * 4), ("device", ctypes.c_int)]

    def __init__(self, lib, threads=1):
        self.L = L = ctypes.CDLL(lib)
        L.vssm_ctx_default_opts.restype = self.Opts
        L.vssm_backbone_feature.restype = self.Tensor
        L.vssm_backbone_feature.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.err = ctypes.create_string_buffer(1024)
        o = L.vssm_ctx_default_opts()
        o.n_threads = threads
        self.ctx, self.bb, self.states = ctypes.c_void_p(), ctypes.c_void_p(), {}
        self.ok(L.vssm_ctx_new(ctypes.byref(self.ctx), ctypes.byref(o), self.err))
        t, meta = st_io.load(BACKBONE)  # the backbone as shipped: F16, without the classifier
        with tempfile.NamedTemporaryFile(suffix=".safetensors") as f:
            st_io.save(f.name, {k: torch.as_tensor(v).half() for k, v in t.items() if not k.startswith("classifier.")},
                       dict(meta, num_classes="0"))
            self.ok(L.vssm_backbone_load_file(ctypes.byref(self.bb), self.ctx, f.name.encode(), None,
                                              ctypes.create_string_buffer(256), self.err))

    def ok(self, status):
        if status != 0:
            raise RuntimeError("libvssm: " + self.err.raw[4:].split(b"\0")[0].decode())

    def __call__(self, x):
        """x (B, 3, H, W) normalised NCHW tensor -> stage STAGE (B, C, h, w) float32 tensor"""
        x = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1), np.float32)
        B, H, W, _ = x.shape
        st = self.states.get((B, H, W))
        if st is None:
            st = self.states[(B, H, W)] = ctypes.c_void_p()
            self.ok(self.L.vssm_backbone_state_new(ctypes.byref(st), self.bb, B, H, W, self.err))
        self.ok(self.L.vssm_backbone_forward(self.bb, st, x.ctypes.data_as(ctypes.c_void_p), self.err))
        t = self.L.vssm_backbone_feature(st, STAGE)
        shp = tuple(t.shape[:t.ndim])
        a = np.ctypeslib.as_array(ctypes.cast(t.data, ctypes.POINTER(ctypes.c_float)), shape=(int(np.prod(shp)),))
        return torch.from_numpy(a.reshape(shp).transpose(0, 3, 1, 2).copy())


def stage_feats(bb, x):
    """stage STAGE's map (before its downsample), without computing the later stages"""
    if isinstance(bb, CBackbone):
        return bb(x)
    x = bb.patch_embed(x)
    for i in range(STAGE + 1):
        if i:
            x = bb.layers[i - 1].downsample(x)
        x = bb.layers[i].blocks(x)
    return x


def norm(crops, mean, std):
    x = crops.astype(np.float32) / np.float32(255)
    x = (x - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def read_seqs(root):
    seqs = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        gt = os.path.join(d, "groundtruth_rect.txt")
        if not os.path.exists(gt):
            continue
        boxes = np.loadtxt(gt, delimiter=",", dtype=np.float64).reshape(-1, 4)
        boxes[:, :2] -= 1  # OTB files are 1-based
        frames = sorted(os.listdir(os.path.join(d, "img")))
        seqs.append((name, [os.path.join(d, "img", f) for f in frames], boxes))
    return seqs


def make_pairs(seqs, n, rng, max_gap=30, center_jitter=3.0, scale_jitter=0.25):
    """n (template crop, search crop, GT box in the search crop) triples"""
    zc = np.zeros((n, ZS, ZS, 3), np.uint8)
    xc = np.zeros((n, XS, XS, 3), np.uint8)
    gt = np.zeros((n, 4), np.float64)
    cache = {}

    def frame(p):
        if p not in cache:
            if len(cache) > 256:
                cache.clear()
            cache[p] = np.asarray(Image.open(p).convert("RGB"))
        return cache[p]

    for k in range(n):
        name, frames, boxes = seqs[rng.integers(len(seqs))]
        i = int(rng.integers(len(frames)))
        j = int(np.clip(i + rng.integers(-max_gap, max_gap + 1), 0, len(frames) - 1))
        zc[k] = sample_target(frame(frames[i]), boxes[i], ZF, ZS)[0]
        x, y, w, h = boxes[j]
        s = math.sqrt(w * h)
        cx = x + w / 2 + (rng.uniform() - 0.5) * s * center_jitter
        cy = y + h / 2 + (rng.uniform() - 0.5) * s * center_jitter
        jw, jh = w * math.exp(rng.normal() * scale_jitter), h * math.exp(rng.normal() * scale_jitter)
        crop, x1, y1, cs = sample_target(frame(frames[j]), (cx - jw / 2, cy - jh / 2, jw, jh), XF, XS)
        xc[k] = crop
        rf = XS / cs
        gt[k] = ((x - x1) * rf, (y - y1) * rf, w * rf, h * rf)
    return zc, xc, gt


@torch.no_grad()
def features(bb, zc, xc, mean, std, bs=64):
    """search maps X (n, C, fs, fs) f16, the template's pooled features Zb (n, C) f32 and maps
    Zm (n, C, ht, wt) f16 (xc None: only the template's)"""
    n = len(zc)
    X, Zb, Zm = None, None, None
    for a in range(0, n, bs):
        Z = stage_feats(bb, norm(zc[a:a + bs], mean, std))
        y0, y1 = orf.central(Z.shape[2])
        x0, x1 = orf.central(Z.shape[3])
        if Zb is None:
            Zb = torch.zeros(n, Z.shape[1])
            Zm = torch.zeros((n,) + Z.shape[1:], dtype=torch.float16)
        Zb[a:a + bs] = Z[:, :, y0:y1, x0:x1].mean(dim=(2, 3))
        Zm[a:a + bs] = Z.half()
        if xc is not None:
            Xa = stage_feats(bb, norm(xc[a:a + bs], mean, std))
            if X is None:
                X = torch.zeros((n,) + Xa.shape[1:], dtype=torch.float16)
            X[a:a + bs] = Xa.half()
    return X, Zb, Zm


def fuse(fusion, X, Zb, Zm):
    """the head's input from the cached features (ostrack_ref.fuse_mod / fuse_modcorr)"""
    F_in = torch.cat([X, X * Zb[:, :, None, None]], dim=1)
    if fusion == "modcorr":
        Zp = orf.corr_pool(Zm, CORR_POOL)
        F_in = torch.cat([F_in, torch.einsum("bchw,bck->bkhw", X, Zp.flatten(2)) / X.shape[1]], dim=1)
    return F_in


def losses(head, X, Zb, Zm, gt, fs, fusion):
    F_in = fuse(fusion, X, Zb, Zm)
    ctr, size_l, off = head.logits(F_in)
    score = torch.clamp(torch.sigmoid(ctr[:, 0]), 1e-4, 1 - 1e-4)
    heat, idx, off_t, size_t = orf.make_targets(gt, fs, XS)
    lf = orf.focal_loss(score, heat)
    B = X.shape[0]
    size = torch.clamp(torch.sigmoid(size_l), 1e-4, 1 - 1e-4).flatten(2)
    offm = off.flatten(2)
    ar = torch.arange(B)
    ix, iy = (idx % fs).float(), (idx // fs).float()
    pred = torch.stack([(ix + offm[ar, 0, idx]) / fs, (iy + offm[ar, 1, idx]) / fs, size[ar, 0, idx],
                        size[ar, 1, idx]], dim=1)
    tgt = torch.stack([(ix + off_t[:, 0]) / fs, (iy + off_t[:, 1]) / fs, size_t[:, 0], size_t[:, 1]], dim=1)
    g, iou = orf.giou(pred, tgt)
    l1 = (pred - tgt).abs().mean()
    lg = (1 - g).mean()
    return lf + 5 * l1 + 2 * lg, (lf.item(), l1.item(), lg.item(), iou.mean().item())


def export(head, meta_bb, extra, fusion):
    t, _ = st_io.load(BACKBONE)
    tensors = {k: torch.as_tensor(v).half() for k, v in t.items() if not k.startswith("classifier.")}
    for k, v in head.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            tensors["track_head." + k] = v.detach().float().contiguous()
    meta = {k: meta_bb[k] for k in ("format", "forward_type", "in_chans", "dims", "depths", "ssm_ratio", "d_state",
                                    "dt_rank", "mlp_ratio", "mean", "std")}
    meta.update({"arch": "vmamba-track-demo", "num_classes": "0", "resize": "0", "crop": "0",
                 "interpolation": "bilinear", "track_head": "ostrack", "track_fusion": fusion,
                 "track_stage": str(STAGE), "track_channel": str(head.conv1_ctr.conv.out_channels),
                 "track_template_size": str(ZS),
                 "track_search_size": str(XS), "track_template_factor": str(ZF), "track_search_factor": str(XF),
                 "dataset": "datasets/make_track_demo.py --split train (Fashion-MNIST train items on photos)"})
    if CORR_POOL != 1:  # absent: 1 (the shipped stage-1 model's file stays as it was)
        meta["track_corr_pool"] = str(CORR_POOL)
    meta.update(extra)
    os.makedirs(OUT_DIR, exist_ok=True)
    save_model(tensors, meta)
    print("wrote %s (%d tensors, %d bytes)" % (OUT, len(tensors), os.path.getsize(OUT)), flush=True)


def stage_channels():
    return 32 << STAGE  # the Fashion-MNIST VMamba's dims 32, 64, ...


def template_cells():
    n = ZS // (4 << STAGE) // CORR_POOL  # stage s: stride 4 * 2^s; the correlation's pooled template map
    return n * n


def save_model(tensors, meta):
    """OUT, whole or not at all: written next to it, then renamed over it"""
    st_io.save(OUT + ".part", tensors, meta)
    os.replace(OUT + ".part", OUT)


def load_exported():
    """the exported head, its size smoothing (track_size_lr; 1 when absent), its fusion and its aspect
    prior (track_aspect_lr; 1 when absent)"""
    global STAGE, CORR_POOL
    t, meta = st_io.load(OUT)
    fusion = meta.get("track_fusion", "mod")
    STAGE, CORR_POOL = int(meta["track_stage"]), int(meta.get("track_corr_pool", "1"))
    head = orf.CenterPredictor(orf.fused_channels(fusion, stage_channels(), template_cells()),
                               int(meta["track_channel"]))
    head.load_state_dict({k[len("track_head."):]: torch.as_tensor(v) for k, v in t.items()
                          if k.startswith("track_head.")}, strict=False)
    return head.eval(), float(meta.get("track_size_lr", "1")), fusion, float(meta.get("track_aspect_lr", "1"))


@torch.no_grad()
def track_eval(bb, head, root, mean, std, size_lr=1.0, quiet=False, fusion="mod", results=None, aspect_lr=1.0):
    """the tracker of ostrack_ref (init + updates, Hann window, size smoothing, clip_box) on an
    OTB-layout dataset; pytracking's AUC (21 thresholds, IoU > t) and precision (20 px), in percent"""
    aucs, precs = [], []
    ths = torch.arange(0, 1.05, 0.05, dtype=torch.float64).numpy()
    for name, frames, boxes in [q for r in (root if isinstance(root, list) else [root]) for q in read_seqs(r)]:
        im = np.asarray(Image.open(frames[0]).convert("RGB"))
        zc = sample_target(im, boxes[0], ZF, ZS)[0]
        Z = stage_feats(bb, norm(zc[None], mean, std))
        y0, y1 = orf.central(Z.shape[2])
        zb = Z[:, :, y0:y1, y0:y1].mean(dim=(2, 3))
        state = list(boxes[0])
        pred = [state]
        for p in frames[1:]:
            im = np.asarray(Image.open(p).convert("RGB"))
            xc, x1, y1_, cs = sample_target(im, state, XF, XS)
            X = stage_feats(bb, norm(xc[None], mean, std))
            score, size, off = head(fuse(fusion, X, zb, Z))
            state, _, _ = orf.decode(score[0], size[0], off[0], XS, x1, y1_, cs, im.shape[1], im.shape[0],
                                     prev=state, size_lr=size_lr, aspect0=boxes[0][2] / boxes[0][3],
                                     aspect_lr=aspect_lr)
            pred.append(state)
        pr, gt = np.array(pred), boxes
        if results:  # OTB results files (1-based), for --attributes
            os.makedirs(results, exist_ok=True)
            np.savetxt(os.path.join(results, name + ".txt"), pr + [1, 1, 0, 0], fmt="%.4f", delimiter=",")
        ix = np.maximum(0, np.minimum(pr[:, 0] + pr[:, 2], gt[:, 0] + gt[:, 2]) - np.maximum(pr[:, 0], gt[:, 0]))
        iy = np.maximum(0, np.minimum(pr[:, 1] + pr[:, 3], gt[:, 1] + gt[:, 3]) - np.maximum(pr[:, 1], gt[:, 1]))
        inter = ix * iy
        iou = inter / (pr[:, 2] * pr[:, 3] + gt[:, 2] * gt[:, 3] - inter)
        ce = np.hypot(pr[:, 0] + (pr[:, 2] - 1) / 2 - gt[:, 0] - (gt[:, 2] - 1) / 2,
                      pr[:, 1] + (pr[:, 3] - 1) / 2 - gt[:, 1] - (gt[:, 3] - 1) / 2)
        auc = np.mean([(iou > t).mean() for t in ths]) * 100
        aucs.append(auc)
        precs.append((ce <= 20).mean() * 100)
        if not quiet:
            print("  %s: AUC %.2f, precision %.2f" % (name, auc, precs[-1]), flush=True)
    return float(np.mean(aucs)), float(np.mean(precs))


@torch.no_grad()
def choose_decode(fb, head, val_dir, mean, std, fusion, size_lrs, aspect_lrs):
    """the (size_lr, aspect_lr) of the grid with the best AUC on the validation sequences (the
    first of equals), and that AUC"""
    best = (-1.0, None, None)
    for alr in aspect_lrs:
        for lr in size_lrs:
            auc, prec = track_eval(fb, head, val_dir, mean, std, size_lr=lr, quiet=True, fusion=fusion, aspect_lr=alr)
            print("validation (%s), size_lr %g aspect_lr %g: AUC %.2f precision %.2f" %
                  (" ".join(val_dir), lr, alr, auc, prec), flush=True)
            if auc > best[0]:
                best = (auc, lr, alr)
    return best[1], best[2], best[0]


@torch.no_grad()
def write_ref(root, seq="fmnist-01", n=4, win=(192, 160)):
    """weights/track_demo/ref.safetensors for tests/test_track_head.c: n frames of a held-out demo
    sequence (a fixed win-sized window around the first box, u8), the init box, and the float64
    reference tracker's maps and boxes on them (sequential scan, the exported weights)"""
    t, meta = st_io.load(OUT)
    bb = vmamba_ref.VSSM(dims=[int(v) for v in meta["dims"].split(",")],
                         depths=[int(v) for v in meta["depths"].split(",")], d_state=int(meta["d_state"]),
                         ssm_ratio=float(meta["ssm_ratio"]), mlp_ratio=float(meta["mlp_ratio"]), num_classes=0)
    missing = bb.load_state_dict({k: torch.as_tensor(v).float() for k, v in t.items()
                                  if not k.startswith("track_head.")}, strict=False)
    assert all(k.startswith("classifier.") for k in missing.missing_keys), missing
    global STAGE, CORR_POOL
    STAGE, CORR_POOL = int(meta["track_stage"]), int(meta.get("track_corr_pool", "1"))
    model = orf.TrackModel(bb, "vmamba", STAGE, int(meta["track_channel"]), meta.get("track_fusion", "mod"),
                           template_cells(), CORR_POOL)
    model.head.load_state_dict({k[len("track_head."):]: torch.as_tensor(v) for k, v in t.items()
                                if k.startswith("track_head.")}, strict=False)
    model = model.double().eval()
    size_lr = float(meta.get("track_size_lr", "1"))
    aspect_lr = float(meta.get("track_aspect_lr", "1"))
    mean = np.array([float(v) for v in meta["mean"].split(",")], np.float32)
    std = np.array([float(v) for v in meta["std"].split(",")], np.float32)
    name, frames, boxes = [q for q in read_seqs(root) if q[0] == seq][0]
    x0 = int(np.clip(boxes[0, 0] + boxes[0, 2] / 2 - win[0] / 2, 0, 320 - win[0]))
    y0 = int(np.clip(boxes[0, 1] + boxes[0, 3] / 2 - win[1] / 2, 0, 240 - win[1]))
    ims = [np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB"))[y0:y0 + win[1], x0:x0 + win[0]])
           for p in frames[:n]]
    box0 = [boxes[0, 0] - x0, boxes[0, 1] - y0, boxes[0, 2], boxes[0, 3]]
    ref = {"frames": torch.from_numpy(np.stack(ims)), "ref.init": torch.tensor(box0, dtype=torch.float64)}
    z = norm(sample_target(ims[0], box0, ZF, ZS)[0][None], mean, std).double()
    state = box0
    for k in range(1, n):
        xc, x1, y1, cs = sample_target(ims[k], state, XF, XS)
        score, size, off = model(z, norm(xc[None], mean, std).double())
        state, peak, cell = orf.decode(score[0], size[0], off[0], XS, x1, y1, cs, win[0], win[1], prev=state,
                                       size_lr=size_lr, aspect0=box0[2] / box0[3], aspect_lr=aspect_lr)
        ref["ref.score_%d" % k] = score[0, 0].float()
        ref["ref.size_%d" % k] = size[0].float()
        ref["ref.offset_%d" % k] = off[0].float()
        ref["ref.box_%d" % k] = torch.tensor(state, dtype=torch.float64)
        ref["ref.cell_%d" % k] = torch.tensor([cell], dtype=torch.int64)
        print("  ref frame %d: box %s, score %.4f" % (k, [round(v, 2) for v in state], peak), flush=True)
    path = os.path.join(OUT_DIR, "ref.safetensors")
    st_io.save(path, ref, {"sequence": seq, "window": "%d,%d,%d,%d" % (x0, y0, win[0], win[1]), "n": str(n),
                           "size_lr": repr(size_lr), "aspect_lr": repr(aspect_lr)})
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)), flush=True)


def attributes(results, root):
    """AUC and precision (20 px) over the frames of each attribute the demo's ground truth lets
    us measure, all sequences pooled (frame 0 left out): occlusion (occlusion.txt > 0), fast
    motion (the GT centre moves more than 4 px from the previous frame), scale change (the GT
    area is outside [1/1.3, 1.3] x the first frame's), and all frames"""
    ths = torch.arange(0, 1.05, 0.05, dtype=torch.float64).numpy()
    pooled = {}
    for name, frames, gt in read_seqs(root):
        pr = np.loadtxt(os.path.join(results, name + ".txt"), delimiter=",", dtype=np.float64).reshape(-1, 4)
        pr = pr - [1, 1, 0, 0]  # the results are in the file's 1-based frame, as the GT
        occ = np.loadtxt(os.path.join(root, name, "occlusion.txt"))
        c = gt[:, :2] + gt[:, 2:] / 2
        step = np.r_[0, np.hypot(*(c[1:] - c[:-1]).T)]
        area = gt[:, 2] * gt[:, 3] / (gt[0, 2] * gt[0, 3])
        ix = np.maximum(0, np.minimum(pr[:, 0] + pr[:, 2], gt[:, 0] + gt[:, 2]) - np.maximum(pr[:, 0], gt[:, 0]))
        iy = np.maximum(0, np.minimum(pr[:, 1] + pr[:, 3], gt[:, 1] + gt[:, 3]) - np.maximum(pr[:, 1], gt[:, 1]))
        iou = ix * iy / (pr[:, 2] * pr[:, 3] + gt[:, 2] * gt[:, 3] - ix * iy)
        ce = np.hypot(*((pr[:, :2] + (pr[:, 2:] - 1) / 2) - (gt[:, :2] + (gt[:, 2:] - 1) / 2)).T)
        masks = {"occlusion": occ > 0, "fast motion": step > 4, "scale change": (area > 1.3) | (area < 1 / 1.3),
                 "all": np.ones(len(gt), bool)}
        for k, m in masks.items():
            m = m.copy()
            m[0] = False
            pooled.setdefault(k, [[], []])
            pooled[k][0].append(iou[m])
            pooled[k][1].append(ce[m])
    out = {}
    for k, (ious, ces) in pooled.items():
        iou, ce = np.concatenate(ious), np.concatenate(ces)
        out[k] = {"frames": int(len(iou)), "auc": round(float(np.mean([(iou > t).mean() for t in ths]) * 100), 2),
                  "precision": round(float((ce <= 20).mean() * 100), 2)}
    return out


def main():
    global OUT_DIR, OUT, STAGE, CORR_POOL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="*", help="folders of training sequences (OTB layout)")
    ap.add_argument("--pairs", type=int, default=6000)
    ap.add_argument("--budget", type=float, default=900, help="training seconds (after the features)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--channel", type=int, default=CHANNEL, help="head width (track_channel)")
    ap.add_argument("--fusion", choices=("mod", "modcorr"), default="mod",
                    help="track_fusion: the template's pooled features, or also its map's pixel-wise correlation")
    ap.add_argument("--add-template", metavar="OLD_CACHE",
                    help="only add the template maps to a cache written without them (same data, --pairs, --seed: "
                         "the pairs are drawn again, their boxes checked equal), into --cache")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage", type=int, default=STAGE, choices=(0, 1, 2, 3),
                    help="backbone stage the head reads (track_stage; 0: stride 4, 32 channels, a 32 x 32 search map)")
    ap.add_argument("--corr-pool", type=int, default=CORR_POOL,
                    help="modcorr: the template map average-pooled by this factor for the correlation "
                         "(track_corr_pool; stage 0: 2, the 16 x 16 template map's 8 x 8 pooled cells)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", nargs="+", help="feature cache (.pt): written after the features, read (several: "
                    "concatenated) instead of them when it exists")
    ap.add_argument("--features-only", action="store_true", help="only compute the features into --cache")
    ap.add_argument("--lib", help="libvssm.so: the backbone's features through the C library (faster)")
    ap.add_argument("--center-jitter", type=float, default=3.0, help="search centre jitter, x sqrt(w h)")
    ap.add_argument("--scale-jitter", type=float, default=0.25, help="search size jitter, log-normal sigma")
    ap.add_argument("--size-lr", type=float, nargs="+", default=[1.0],
                    help="size smoothing of the decoding (track_size_lr); several: the best on --val-dir")
    ap.add_argument("--val-dir", nargs="+", help="validation sequences (train items; folders of them) to choose the "
                    "decoding (--size-lr, --aspect-lr) on")
    ap.add_argument("--out-dir", default=OUT_DIR, help="where the model, reference.json (and ref) go")
    ap.add_argument("--eval-dir", help="held-out OTB dataset for the reference tracker after training")
    ap.add_argument("--eval", help="only run the exported model's tracker on this dataset")
    ap.add_argument("--results", help="with --eval: write its OTB results files here")
    ap.add_argument("--choose-decode", action="store_true",
                    help="only choose track_size_lr x track_aspect_lr (--size-lr, --aspect-lr) for the exported model on "
                         "--val-dir and write them into its metadata")
    ap.add_argument("--decode", type=float, nargs=2, metavar=("SIZE_LR", "ASPECT_LR"),
                    help="with --eval: these decoding settings instead of the file's")
    ap.add_argument("--aspect-lr", type=float, nargs="+", default=[1.0],
                    help="aspect prior of the decoding (track_aspect_lr); several: chosen on --val-dir with --size-lr")
    ap.add_argument("--hybrid", type=int, choices=(0, 1), default=1,
                    help="1: write the hybrid decoding's settings (track_scale_*, the shipped file's: the correlation "
                         "tracker's scale search at the head's centre, chosen on the validation sequences in session "
                         "10) into the exported file's metadata; 0: the head alone")
    ap.add_argument("--write-ref", metavar="DEMO", help="only write ref.safetensors from the held-out demo")
    ap.add_argument("--attributes", nargs=2, metavar=("RESULTS", "GT"),
                    help="per-attribute AUC / precision of `vssm track` results on the demo")
    a = ap.parse_args()
    OUT_DIR = a.out_dir
    OUT = os.path.join(OUT_DIR, os.path.basename(OUT))
    STAGE, CORR_POOL = a.stage, a.corr_pool
    torch.set_num_threads(a.threads)
    if a.attributes:
        for k, v in attributes(*a.attributes).items():
            print("%-13s %4d frames  AUC %6.2f  precision %6.2f" % (k, v["frames"], v["auc"], v["precision"]))
        return
    torch.manual_seed(a.seed)
    bb, cfg, meta_bb, mean, std = load_backbone()
    set_scan(bb, selective_scan_fast)
    if a.write_ref:
        write_ref(a.write_ref)
        return
    fb = CBackbone(a.lib, a.threads) if a.lib else bb  # the features' backbone
    if a.choose_decode:
        h, _, fusion, _ = load_exported()
        lr, alr, auc = choose_decode(fb, h, a.val_dir, mean, std, fusion, a.size_lr, a.aspect_lr)
        t, meta = st_io.load(OUT)
        meta = dict(meta, track_size_lr=repr(lr), track_aspect_lr=repr(alr),
                    track_decode_chosen="size_lr %s x aspect_lr %s on %s: AUC %.2f" % (
                        " ".join("%g" % v for v in a.size_lr), " ".join("%g" % v for v in a.aspect_lr),
                        " ".join(a.val_dir), auc))
        save_model({k: torch.as_tensor(v) for k, v in t.items()}, meta)
        print("wrote %s: track_size_lr %g, track_aspect_lr %g" % (OUT, lr, alr), flush=True)
        if a.eval_dir:
            held_out(fb, a.eval_dir, mean, std, {"train_seconds": int(meta["train_seconds"]),
                                                 "steps": int(meta["train_steps"])}, a.lib)
        return
    if a.eval:
        h, lr, fusion, alr = load_exported()
        if a.decode:  # other decoding settings than the file's (experiments on validation sequences)
            lr, alr = a.decode
        auc, prec = track_eval(fb, h, a.eval, mean, std, size_lr=lr, fusion=fusion, results=a.results, aspect_lr=alr)
        print("AUC %.2f precision %.2f" % (auc, prec))
        return
    t_start = time.time()
    if a.add_template:  # the template maps for an older cache's pairs (drawn again: same rng stream)
        X, Zb, gt0 = torch.load(a.add_template)[:3]
        rng = np.random.default_rng(a.seed)
        seqs = [q for d in a.data for q in read_seqs(d)]
        Zm = None
        for c in range(0, len(X), 2048):
            m = min(2048, len(X) - c)
            zc, _, g = make_pairs(seqs, m, rng, center_jitter=a.center_jitter, scale_jitter=a.scale_jitter)
            if not np.array_equal(g, gt0[c:c + m].numpy()):
                sys.exit("%s: the pairs drawn again differ from the cache's (pair %d on): other data or seed"
                         % (a.add_template, c))
            _, Zb_c, Zm_c = features(fb, zc, None, mean, std)
            err = float((Zb_c - Zb[c:c + m]).abs().max())
            if err > 1e-4:
                sys.exit("%s: the template features differ from the cache's by %g" % (a.add_template, err))
            if Zm is None:
                Zm = torch.zeros((len(X),) + Zm_c.shape[1:], dtype=torch.float16)
            Zm[c:c + m] = Zm_c
            print("  %d / %d pairs (%.0f s)" % (c + m, len(X), time.time() - t_start), flush=True)
        torch.save((X, Zb, gt0, Zm), a.cache[0])
        print("wrote %s: template maps %s (%.0f s)" % (a.cache[0], tuple(Zm.shape), time.time() - t_start))
        return
    if a.cache and all(os.path.exists(c) for c in a.cache):  # features of earlier runs
        parts = [torch.load(c) for c in a.cache]
        if a.fusion == "modcorr" and any(len(p) < 4 for p in parts):
            sys.exit("--fusion modcorr needs the template maps: a cache without them needs --add-template")
        X, Zb, gt = (torch.cat(t) for t in zip(*(p[:3] for p in parts)))
        Zm = torch.cat([p[3] for p in parts]) if a.fusion == "modcorr" else None
        del parts
        gt = gt.numpy()
        a.pairs = len(X)
    else:
        rng = np.random.default_rng(a.seed)
        seqs = [q for d in a.data for q in read_seqs(d)]
        X, Zb, Zm, gt = None, None, None, np.zeros((a.pairs, 4))
        for c in range(0, a.pairs, 2048):  # in chunks: the crops of all pairs would not fit
            m = min(2048, a.pairs - c)
            zc, xc, gt[c:c + m] = make_pairs(seqs, m, rng, center_jitter=a.center_jitter, scale_jitter=a.scale_jitter)
            Xc, Zc, Zmc = features(fb, zc, xc, mean, std)
            if X is None:
                X = torch.zeros((a.pairs,) + Xc.shape[1:], dtype=torch.float16)
                Zb = torch.zeros(a.pairs, Zc.shape[1])
                Zm = torch.zeros((a.pairs,) + Zmc.shape[1:], dtype=torch.float16)
            X[c:c + m], Zb[c:c + m], Zm[c:c + m] = Xc, Zc, Zmc
        print("%d pairs from %d sequences" % (a.pairs, len(seqs)), flush=True)
        if a.cache:
            torch.save((X, Zb, torch.from_numpy(gt), Zm), a.cache[0])
    if a.features_only:
        return
    fs = X.shape[-1]
    print("features %s (%.0f s)" % (tuple(X.shape), time.time() - t_start), flush=True)
    n_val = max(a.pairs // 20, 64)
    head = orf.CenterPredictor(orf.fused_channels(a.fusion, X.shape[1], template_cells()), a.channel)
    with torch.no_grad():
        head.conv5_ctr.bias.fill_(-2.19)  # CenterNet's prior: the score starts near 0.1, not 0.5
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=1e-4)
    t0, step, ep = time.time(), 0, 0
    g = torch.Generator().manual_seed(a.seed)
    done = False
    while not done:
        head.train()
        perm = torch.randperm(a.pairs - n_val, generator=g) + n_val
        for b in range(0, len(perm) - a.batch + 1, a.batch):
            el = time.time() - t0
            if el > a.budget:
                done = True
                break
            lr = a.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * el / a.budget))
            for pg in opt.param_groups:
                pg["lr"] = lr
            i = perm[b:b + a.batch]
            loss, parts = losses(head, X[i].float(), Zb[i], None if Zm is None else Zm[i].float(), gt[i.numpy()],
                                 fs, a.fusion)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0:
                print("ep %d step %d %.0f s lr %.2e loss %.4f (focal %.4f l1 %.4f giou %.4f iou %.3f)" %
                      ((ep, step, el, lr, loss.item()) + parts), flush=True)
            step += 1
        ep += 1
        head.eval()
        with torch.no_grad():
            vl, vp = losses(head, X[:n_val].float(), Zb[:n_val], None if Zm is None else Zm[:n_val].float(),
                            gt[:n_val], fs, a.fusion)
        print("epoch %d: val loss %.4f (focal %.4f l1 %.4f giou %.4f iou %.3f)" % ((ep, vl.item()) + vp), flush=True)
    train_s = time.time() - t_start
    cmd = "/usr/bin/python3 weights/train_track_head.py " + " ".join(sys.argv[1:])
    extra = {"train_command": cmd, "train_seconds": "%.0f" % train_s, "train_pairs": str(a.pairs),
             "train_steps": str(step)}
    size_lr, aspect_lr = a.size_lr[0], a.aspect_lr[0]
    if len(a.size_lr) > 1 or len(a.aspect_lr) > 1:  # chosen on validation sequences, never on the held-out demo
        size_lr, aspect_lr, _ = choose_decode(fb, head.eval(), a.val_dir, mean, std, a.fusion, a.size_lr, a.aspect_lr)
    extra["track_size_lr"] = repr(size_lr)
    if aspect_lr != 1.0:
        extra["track_aspect_lr"] = repr(aspect_lr)
    if a.hybrid:
        extra.update(HYBRID)
    export(head.eval(), meta_bb, extra, a.fusion)
    if a.eval_dir:
        held_out(fb, a.eval_dir, mean, std, {"train_seconds": round(train_s), "steps": step}, a.lib)


def held_out(fb, eval_dir, mean, std, info, lib):
    """the exported model's Python tracker on the held-out demo -> OUT_DIR/reference.json"""
    h, lr, fusion, alr = load_exported()
    auc, prec = track_eval(fb, h, eval_dir, mean, std, size_lr=lr, fusion=fusion, aspect_lr=alr)
    print("held-out (size_lr %g aspect_lr %g): AUC %.2f precision %.2f" % (lr, alr, auc, prec), flush=True)
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump(dict({"dataset": eval_dir, "auc": round(auc, 2), "precision": round(prec, 2), "fusion": fusion,
                        "size_lr": lr, "aspect_lr": alr, "features": "libvssm" if lib else "reference"}, **info),
                  f, indent=1)


if __name__ == "__main__":
    main()
