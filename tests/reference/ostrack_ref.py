#!/usr/bin/python3
"""The trained tracker head of vssm, OSTrack-style, as a PyTorch reference (our own code,
written from OSTrack's description: botaoye/OSTrack lib/models/layers/head.py
CenterPredictor, lib/test/tracker/ostrack.py, lib/utils/box_ops.clip_box).

Model (TrackModel):
  template crop z (template_factor x sqrt(w h), resized to template_size) and search crop x
  (search_factor, search_size), both normalised with the backbone's mean / std;
  - VMamba (fusion "mod"): Z = stage s of z, X = stage s of x (NCHW, before the stage's
    downsample, as vmamba_ref.forward_features). zbar = the mean of Z over its central
    cells, rows and columns [n // 4, n - n // 4) (a 2x template crop has the object in its
    central half), and the head reads F = cat([X, X * zbar], channels): 2 C channels.
    (A modulation by the template's pooled features: the head can form the per-cell
    correlation sum_c X_c zbar_c, and still sees the search features themselves.)
  - VMamba (fusion "modcorr"): as "mod", plus the pixel-wise correlation of the search map
    with every template cell (Alpha-Refine's pixel-wise correlation): channel 2 C + k of cell
    p is (1 / C) sum_c X_c(p) Z_c(k), k = ty * tw + tx over all ht x wt template cells
    (row-major), so the head sees the template's spatial layout (the object's shape and
    aspect, not only its mean): 2 C + ht wt channels. corr_pool p > 1 (metadata
    track_corr_pool; for a fine stage's many template cells): the template map average-pooled
    over p x p cells first (ht, wt divisible by p), 2 C + (ht / p)(wt / p) channels; the pooled
    cell's mean taken before the 1 / C sum.
  - Vim (fusion "onestream"): template and search tokens through the same blocks
    (vim_ref.forward_onestream, OSTrack's one-stream); F = the search tokens after norm_f.
  - the head is OSTrack's CenterPredictor: three towers (ctr, offset, size), each
    conv3x3-BN-ReLU x 4 with widths channel, channel/2, channel/4, channel/8, then a 1x1
    conv to 1 / 2 / 2 maps. OSTrack uses channel 256; the shipped model a smaller width
    (stated in the file's metadata). OSTrack's conv() is nn.Sequential(Conv2d, BN, ReLU)
    (keys conv1_ctr.0.weight, conv1_ctr.1.weight ...); here the same block is named like
    mmcv's ConvModule (conv1_ctr.conv.weight, conv1_ctr.bn.weight), which heads/seg_conv.c
    reads: an OSTrack state dict maps by renaming '.0.' -> '.conv.', '.1.' -> '.bn.'.
    score = clamp(sigmoid(ctr), 1e-4, 1 - 1e-4), size = the same of the size logits
    (w, h as fractions of the search crop), offset = raw (x, y offsets within a cell).

Decoding (decode): OSTrack's tracker step.
  window = hann2d(fs, centered=True) = outer(h, h), h_k = 0.5 (1 - cos(2 pi k / (fs + 1))),
  k = 1..fs; response = window * score; idx = argmax (first maximum in row-major order);
  (iy, ix) = divmod(idx, fs); box in the crop, normalised: cx = (ix + off_x) / fs,
  cy = (iy + off_y) / fs, w = size_w, h = size_h; times search_size: crop pixels.
  map_box_back: OSTrack adds cx_prev - crop_sz / 2 (the nominal crop origin) to cx /
  resize_factor; we add the crop's actual origin x1 (after sample_target's round), the
  geometry our training labels are made with: cx_img = x1 + cx / resize_factor (same for y),
  w_img = w / resize_factor. Size smoothing (ours, not OSTrack's; metadata track_size_lr,
  1 = none): w_img = lr w_img + (1 - lr) w_prev, h_img the same, w_prev / h_prev the previous
  box's (the tracker's state, after its clip_box); the centre is not smoothed. Aspect prior
  (ours; metadata track_aspect_lr, 1 = none): the box's aspect r = w_img / h_img is pulled
  towards the first box's aspect r0 in log space, its area kept: r' = exp(lr log r + (1 - lr)
  log r0), w_img = sqrt(w_img h_img r'), h_img = sqrt(w_img h_img / r') (lr 0: the first box's
  aspect, as a fixed-aspect scale search). Then
  clip_box(box, H, W, margin=10) as OSTrack:
    x1 = min(max(0, x1), W - m); x2 = min(max(m, x2), W); (same for y)
    w = max(m, x2 - x1); h = max(m, y2 - y1).
Score returned with the box: the raw score at the chosen cell (not the windowed one).

Targets for training (make_targets): the GT box in crop pixels through the same crop
geometry; its centre in feature cells c = cx_crop / stride; the centre cell floor(c),
offset c - floor(c) (OSTrack's); size = (w, h) / search_size; the score target a Gaussian
around the centre cell (OSTrack generate_heatmap's: sigma from the box size, CenterNet's
gaussian_radius with min_overlap 0.7, sigma = (2 r + 1) / 6), its peak 1 at the centre cell.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


TOWERS = (("ctr", 1), ("offset", 2), ("size", 2))


class CenterPredictor(nn.Module):
    def __init__(self, inplanes, channel):
        super().__init__()
        if channel % 8 or channel < 8:
            raise ValueError("channel must be a multiple of 8")
        widths = [inplanes, channel, channel // 2, channel // 4, channel // 8]
        for name, nout in TOWERS:
            for i in range(4):
                setattr(self, "conv%d_%s" % (i + 1, name), ConvBNReLU(widths[i], widths[i + 1]))
            setattr(self, "conv5_%s" % name, nn.Conv2d(widths[4], nout, 1))

    def tower(self, name, x):
        for i in range(1, 5):
            x = getattr(self, "conv%d_%s" % (i, name))(x)
        return getattr(self, "conv5_%s" % name)(x)

    def forward(self, x):
        """x (B, C, fs, fs) -> score (B, 1, fs, fs), size (B, 2, fs, fs), offset (B, 2, fs, fs)"""
        score = torch.clamp(torch.sigmoid(self.tower("ctr", x)), 1e-4, 1 - 1e-4)
        size = torch.clamp(torch.sigmoid(self.tower("size", x)), 1e-4, 1 - 1e-4)
        offset = self.tower("offset", x)
        return score, size, offset

    def logits(self, x):
        """the three towers without the activations (training uses the score logits)"""
        return self.tower("ctr", x), self.tower("size", x), self.tower("offset", x)


def central(n):
    return n // 4, n - n // 4


def fuse_mod(X, Z):
    """X (B, C, hs, ws) search, Z (B, C, ht, wt) template -> (B, 2C, hs, ws)"""
    y0, y1 = central(Z.shape[2])
    x0, x1 = central(Z.shape[3])
    zbar = Z[:, :, y0:y1, x0:x1].mean(dim=(2, 3))
    return torch.cat([X, X * zbar[:, :, None, None]], dim=1)


def corr_pool(Z, p):
    """Z (B, C, ht, wt) -> the p x p cells' means (B, C, ht / p, wt / p); p 1: Z"""
    return Z if p == 1 else F.avg_pool2d(Z, p)


def fuse_modcorr(X, Z, pool=1):
    """X (B, C, hs, ws) search, Z (B, C, ht, wt) template -> (B, 2C + ht wt / pool^2, hs, ws)"""
    C = X.shape[1]
    corr = torch.einsum("bchw,bck->bkhw", X, corr_pool(Z, pool).flatten(2)) / C
    return torch.cat([fuse_mod(X, Z), corr], dim=1)


FUSE = {"mod": fuse_mod, "modcorr": fuse_modcorr}


def fused_channels(fusion, C, template_cells):
    return 2 * C + (template_cells if fusion == "modcorr" else 0)


class TrackModel(nn.Module):
    """backbone (vmamba_ref.VSSM or vim_ref.VisionMamba) + CenterPredictor; template_cells:
    the template map's cells (fusion "modcorr", after corr_pool)"""

    def __init__(self, backbone, kind, stage, channel, fusion="mod", template_cells=0, corr_pool=1):
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.stage = stage
        self.fusion = fusion
        self.corr_pool = corr_pool
        if kind == "vmamba":
            inplanes = fused_channels(fusion, backbone.dims[stage], template_cells)
        elif kind == "vim":
            inplanes = backbone.d
        else:
            raise ValueError(kind)
        self.head = CenterPredictor(inplanes, channel)

    def features(self, z, x):
        """z (B, 3, zs, zs), x (B, 3, xs, xs) normalised NCHW -> the head's input (B, Cin, fs, fs)"""
        if self.kind == "vim":
            return self.backbone.forward_onestream(z, x).permute(0, 3, 1, 2)
        Z = self.backbone.forward_features(z)[self.stage]
        X = self.backbone.forward_features(x)[self.stage]
        if self.fusion == "modcorr":
            return fuse_modcorr(X, Z, self.corr_pool)
        return FUSE[self.fusion](X, Z)

    def forward(self, z, x):
        return self.head(self.features(z, x))


def hann1d(n):
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return 0.5 * (1 - torch.cos(2 * math.pi * k / (n + 1)))


def hann2d(n):
    h = hann1d(n)
    return h[:, None] * h[None, :]


def clip_box(box, H, W, margin=10):
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0, x1), W - margin)
    x2 = min(max(margin, x2), W)
    y1 = min(max(0, y1), H - margin)
    y2 = min(max(margin, y2), H)
    w = max(margin, x2 - x1)
    h = max(margin, y2 - y1)
    return [x1, y1, w, h]


def decode(score, size, offset, search_size, crop_x1, crop_y1, crop_sz, W, H, window=True, prev=None, size_lr=1.0,
           aspect0=None, aspect_lr=1.0):
    """one image's maps (1, fs, fs), (2, fs, fs), (2, fs, fs) (float64 math) -> box (x, y, w, h)
    in the frame, the raw score at the chosen cell, the cell index. prev (the previous box) and
    size_lr < 1: the size smoothed towards the previous one before clip_box (centre kept);
    aspect0 (the first box's w / h) and aspect_lr < 1: then the aspect pulled towards aspect0"""
    fs = score.shape[-1]
    s = score.reshape(fs, fs).double()
    resp = s * hann2d(fs) if window else s
    idx = int(torch.argmax(resp.flatten()))
    iy, ix = divmod(idx, fs)
    cx = (ix + float(offset[0, iy, ix])) / fs * search_size
    cy = (iy + float(offset[1, iy, ix])) / fs * search_size
    w = float(size[0, iy, ix]) * search_size
    h = float(size[1, iy, ix]) * search_size
    rf = search_size / crop_sz
    cxi, cyi, wi, hi = crop_x1 + cx / rf, crop_y1 + cy / rf, w / rf, h / rf
    if prev is not None and size_lr != 1.0:
        wi = size_lr * wi + (1 - size_lr) * prev[2]
        hi = size_lr * hi + (1 - size_lr) * prev[3]
    if aspect0 is not None and aspect_lr != 1.0:
        r = math.exp(aspect_lr * math.log(wi / hi) + (1 - aspect_lr) * math.log(aspect0))
        area = wi * hi
        wi, hi = math.sqrt(area * r), math.sqrt(area / r)
    box = clip_box([cxi - 0.5 * wi, cyi - 0.5 * hi, wi, hi], H, W)
    return box, float(s[iy, ix]), idx


def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's gaussian_radius (as OSTrack's generate_heatmap uses it)"""
    a1, b1 = 1, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def make_targets(boxes_crop, fs, search_size):
    """boxes_crop (B, 4) numpy (x, y, w, h) in crop pixels -> heatmap (B, fs, fs), centre cell
    index (B,), offset (B, 2), size (B, 2) as float32 tensors"""
    B = boxes_crop.shape[0]
    stride = search_size / fs
    heat = np.zeros((B, fs, fs), np.float32)
    idx = np.zeros(B, np.int64)
    off = np.zeros((B, 2), np.float32)
    size = np.zeros((B, 2), np.float32)
    ys, xs = np.mgrid[0:fs, 0:fs]
    for b in range(B):
        x, y, w, h = boxes_crop[b]
        cx, cy = (x + 0.5 * w) / stride, (y + 0.5 * h) / stride
        ix, iy = min(max(int(math.floor(cx)), 0), fs - 1), min(max(int(math.floor(cy)), 0), fs - 1)
        idx[b] = iy * fs + ix
        off[b] = (cx - ix, cy - iy)
        size[b] = (w / search_size, h / search_size)
        r = max(0.0, gaussian_radius(h / stride, w / stride))
        sigma = (2 * int(r) + 1) / 6
        heat[b] = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma * sigma))
    return (torch.from_numpy(heat), torch.from_numpy(idx), torch.from_numpy(off), torch.from_numpy(size))


def focal_loss(score, heat):
    """CenterNet's penalty-reduced focal loss (OSTrack's FocalLoss), score (B, fs, fs) in (0, 1)"""
    pos = heat.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(score) * (1 - score) ** 2 * pos
    neg_loss = torch.log(1 - score) * score ** 2 * (1 - heat) ** 4 * neg
    n = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def giou(a, b):
    """(N, 4) cx, cy, w, h -> generalised IoU (N,)"""
    ax0, ay0, ax1, ay1 = a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2
    bx0, by0, bx1, by1 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    iw = (torch.min(ax1, bx1) - torch.max(ax0, bx0)).clamp(min=0)
    ih = (torch.min(ay1, by1) - torch.max(ay0, by0)).clamp(min=0)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    iou = inter / union.clamp(min=1e-9)
    cw = torch.max(ax1, bx1) - torch.min(ax0, bx0)
    ch = torch.max(ay1, by1) - torch.min(ay0, by0)
    carea = (cw * ch).clamp(min=1e-9)
    return iou - (carea - union) / carea, iou
