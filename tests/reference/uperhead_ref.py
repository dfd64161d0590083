"""PyTorch reference of the segmentation side, written from mmsegmentation 1.x's
definitions (mmseg/models/decode_heads/uper_head.py, psp_head.py, fpn_head.py,
decode_head.py, utils/wrappers.py, segmentors/encoder_decoder.py) and VMamba's
segmentation backbone (per-stage LayerNorm `outnorm{i}` on each stage output).

Parameter names equal mmseg's, so `state_dict()` keys are those of released checkpoints
(under the 'decode_head.' / 'backbone.' prefixes). Runs on Debian's python3-torch, no mmcv.
"""

import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import vmamba_ref


def resize(x, size=None, scale_factor=None, mode="bilinear", align_corners=False):
    """mmseg.models.utils.wrappers.resize (the warning is irrelevant here)."""
    return F.interpolate(x, size, scale_factor, mode, align_corners)


class ConvModule(nn.Module):
    """mmcv ConvModule with norm_cfg BN, act ReLU: conv (bias=False since a norm follows)."""

    def __init__(self, cin, cout, k, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)  # SyncBN at training, eps 1e-5
        self.activate = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.activate(self.bn(self.conv(x)))


class PPM(nn.ModuleList):
    def __init__(self, pool_scales, cin, ch, align_corners=False):
        super().__init__()
        self.align_corners = align_corners
        for s in pool_scales:
            self.append(nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(cin, ch, 1)))

    def forward(self, x):
        return [resize(ppm(x), size=x.shape[2:], mode="bilinear", align_corners=self.align_corners) for ppm in self]


class DecodeHead(nn.Module):
    def __init__(self, channels, num_classes, dropout_ratio=0.1):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)
        self.dropout = nn.Dropout2d(dropout_ratio)

    def cls_seg(self, feat):
        return self.conv_seg(self.dropout(feat))


class UPerHead(DecodeHead):
    def __init__(self, in_channels, channels, num_classes, pool_scales=(1, 2, 3, 6), align_corners=False):
        super().__init__(channels, num_classes)
        self.align_corners = align_corners
        self.psp_modules = PPM(pool_scales, in_channels[-1], channels, align_corners)
        self.bottleneck = ConvModule(in_channels[-1] + len(pool_scales) * channels, channels, 3, padding=1)
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for cin in in_channels[:-1]:
            self.lateral_convs.append(ConvModule(cin, channels, 1))
            self.fpn_convs.append(ConvModule(channels, channels, 3, padding=1))
        self.fpn_bottleneck = ConvModule(len(in_channels) * channels, channels, 3, padding=1)

    def psp_forward(self, inputs):
        x = inputs[-1]
        psp_outs = [x]
        psp_outs.extend(self.psp_modules(x))
        return self.bottleneck(torch.cat(psp_outs, dim=1))

    def forward(self, inputs):
        laterals = [l(inputs[i]) for i, l in enumerate(self.lateral_convs)]
        laterals.append(self.psp_forward(inputs))
        n = len(laterals)
        for i in range(n - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + resize(laterals[i], size=laterals[i - 1].shape[2:],
                                                       mode="bilinear", align_corners=self.align_corners)
        fpn_outs = [self.fpn_convs[i](laterals[i]) for i in range(n - 1)]
        fpn_outs.append(laterals[-1])
        for i in range(n - 1, 0, -1):
            fpn_outs[i] = resize(fpn_outs[i], size=fpn_outs[0].shape[2:], mode="bilinear",
                                 align_corners=self.align_corners)
        return self.cls_seg(self.fpn_bottleneck(torch.cat(fpn_outs, dim=1)))


class Upsample(nn.Module):
    """mmseg wrappers.Upsample with scale_factor: size = int(t * scale_factor)."""

    def __init__(self, scale_factor=2, mode="bilinear", align_corners=False):
        super().__init__()
        self.scale_factor, self.mode, self.align_corners = scale_factor, mode, align_corners

    def forward(self, x):
        size = [int(t * self.scale_factor) for t in x.shape[-2:]]
        return resize(x, size, None, self.mode, self.align_corners)


class FPNHead(DecodeHead):
    def __init__(self, in_channels, channels, num_classes, feature_strides=(4, 8, 16, 32), align_corners=False):
        super().__init__(channels, num_classes)
        self.align_corners = align_corners
        self.feature_strides = feature_strides
        self.scale_heads = nn.ModuleList()
        for i in range(len(feature_strides)):
            head_length = max(1, int(np.log2(feature_strides[i]) - np.log2(feature_strides[0])))
            layers = []
            for k in range(head_length):
                layers.append(ConvModule(in_channels[i] if k == 0 else channels, channels, 3, padding=1))
                if feature_strides[i] != feature_strides[0]:
                    layers.append(Upsample(2, "bilinear", align_corners))
            self.scale_heads.append(nn.Sequential(*layers))

    def forward(self, x):
        out = self.scale_heads[0](x[0])
        for i in range(1, len(self.feature_strides)):
            out = out + resize(self.scale_heads[i](x[i]), size=out.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
        return self.cls_seg(out)


class SegBackbone(nn.Module):
    """VMamba's MM_VSSM: the classifier's backbone + outnorm{i} (LN over channels) per stage."""

    def __init__(self, **cfg):
        super().__init__()
        cfg = dict(cfg)
        cfg["num_classes"] = 1
        net = vmamba_ref.VSSM(**cfg)
        self.patch_embed = net.patch_embed
        self.layers = net.layers
        for i, d in enumerate(net.dims):
            setattr(self, "outnorm%d" % i, vmamba_ref.LayerNorm2d(d))
        self.dims = net.dims

    def forward(self, x):
        x = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            o = layer.blocks(x)
            x = layer.downsample(o)
            outs.append(getattr(self, "outnorm%d" % i)(o))
        return outs


class EncoderDecoder(nn.Module):
    """mmseg EncoderDecoder at test time (no auxiliary head, no flip)."""

    def __init__(self, backbone, decode_head, align_corners=False):
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        self.align_corners = align_corners

    def encode_decode(self, x):
        logits = self.decode_head(self.backbone(x))
        return resize(logits, size=x.shape[2:], mode="bilinear", align_corners=self.align_corners)

    def slide_inference(self, inputs, crop, stride):
        h_stride = w_stride = stride
        h_crop = w_crop = crop
        B, _, h_img, w_img = inputs.shape
        C = self.decode_head.conv_seg.out_channels
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        preds = inputs.new_zeros((B, C, h_img, w_img))
        count = inputs.new_zeros((B, 1, h_img, w_img))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y1 = h_idx * h_stride
                x1 = w_idx * w_stride
                y2 = min(y1 + h_crop, h_img)
                x2 = min(x1 + w_crop, w_img)
                y1 = max(y2 - h_crop, 0)
                x1 = max(x2 - w_crop, 0)
                crop_seg = self.encode_decode(inputs[:, :, y1:y2, x1:x2])
                preds += F.pad(crop_seg, (int(x1), int(preds.shape[3] - x2), int(y1), int(preds.shape[2] - y2)))
                count[:, :, y1:y2, x1:x2] += 1
        assert (count == 0).sum() == 0
        return preds / count

    def predict_logits(self, img_u8, scale=None, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                       mode="whole", crop=512, stride=341):
        """img_u8: (H, W, 3) uint8 numpy RGB -> logits (C, H, W) at the original size (the
        mmseg test pipeline: Resize keep_ratio with cv2 INTER_LINEAR, normalise, inference,
        resize back)."""
        H, W = img_u8.shape[:2]
        if scale:
            nw, nh = rescale_size(W, H, scale)
            img_u8 = cv2_resize(img_u8, nw, nh)
        x = torch.from_numpy(np.ascontiguousarray(img_u8)).float().permute(2, 0, 1)[None]
        x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        with torch.no_grad():
            lg = self.encode_decode(x) if mode == "whole" else self.slide_inference(x, crop, stride)
            lg = resize(lg, size=(H, W), mode="bilinear", align_corners=self.align_corners)
        return lg[0]


def rescale_size(w, h, scale):
    """mmcv.rescale_size with a (long, short) tuple: min(L/long, S/short), int(x*f + 0.5)."""
    L, S = max(scale), min(scale)
    f = min(L / max(h, w), S / min(h, w))
    return int(w * float(f) + 0.5), int(h * float(f) + 0.5)


def cv2_resize(img, w, h):
    try:
        import cv2
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    except ImportError:
        return cv2_linear_formula(img, w, h)


def cv2_linear_formula(img, ow, oh):
    """OpenCV INTER_LINEAR on uint8 written out (fixed point, 11-bit coefficients; the
    vertical pass rounds as its vectorised code, VResizeLinearVec_32s8u, which matches
    cv2 4.6 on every pixel, row tails included)."""
    img = np.asarray(img)
    sh, sw, cn = img.shape
    if (ow, oh) == (sw, sh):
        return img.copy()
    sx, sy = 1.0 / (ow / sw), 1.0 / (oh / sh)
    if sx == 2.0 and sy == 2.0:
        a = img.astype(np.int32)
        s = a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2]
        return ((s + 2) >> 2).astype(np.uint8)
    f32 = np.float32
    xofs, a0, a1, xmax = [], [], [], ow
    for dx in range(ow):
        fx = f32((dx + 0.5) * sx - 0.5)
        x0 = int(math.floor(fx))
        fx = f32(fx - f32(x0))
        if x0 < 0:
            fx, x0 = f32(0), 0
        if x0 + 1 >= sw:
            xmax = min(xmax, dx)
            if x0 >= sw - 1:
                fx, x0 = f32(0), sw - 1
        xofs.append(x0)
        a0.append(int(np.rint(f32(f32(1) - fx) * f32(2048))))
        a1.append(int(np.rint(fx * f32(2048))))
    out = np.zeros((oh, ow, cn), np.uint8)
    src = img.astype(np.int64)

    def hrow(r):
        row = src[r]
        D = np.zeros((ow, cn), np.int64)
        for dx in range(ow):
            x0 = xofs[dx]
            if dx < xmax:
                D[dx] = row[x0] * a0[dx] + row[x0 + 1] * a1[dx]
            else:
                D[dx] = row[x0] * 2048
        return D.reshape(-1)

    for dy in range(oh):
        fy = f32((dy + 0.5) * sy - 0.5)
        y0 = int(math.floor(fy))
        fy = f32(fy - f32(y0))
        b0 = int(np.rint(f32(f32(1) - fy) * f32(2048)))
        b1 = int(np.rint(fy * f32(2048)))
        S0 = hrow(min(max(y0, 0), sh - 1))
        S1 = hrow(min(max(y0 + 1, 0), sh - 1))
        simd = ((((S0 >> 4) * b0) >> 16) + (((S1 >> 4) * b1) >> 16) + 2) >> 2
        out[dy] = np.clip(simd, 0, 255).reshape(ow, cn).astype(np.uint8)
    return out


@torch.no_grad()
def init_random_head(module, seed):
    """Random convs (and transposed convs) and BN affine + running statistics (so BN folding
    is exercised)."""
    g = torch.Generator().manual_seed(int(seed))
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
            if m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
            m.bias.copy_(0.2 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.3 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.num_batches_tracked.fill_(7)
    return module


@torch.no_grad()
def init_random_outnorms(bb, seed):
    g = torch.Generator().manual_seed(int(seed))
    for i in range(len(bb.dims)):
        ln = getattr(bb, "outnorm%d" % i)
        ln.weight.copy_(1.0 + 0.1 * torch.randn(ln.weight.shape, generator=g))
        ln.bias.copy_(0.1 * torch.randn(ln.bias.shape, generator=g))
    return bb


def miou_mmseg(preds, gts, num_classes, ignore_index=255, reduce_zero_label=False):
    """mmseg 1.x IoUMetric: dataset-level sums (histc), nanmean * 100. Returns dict."""
    I = torch.zeros(num_classes, dtype=torch.float64)
    U = torch.zeros(num_classes, dtype=torch.float64)
    P = torch.zeros(num_classes, dtype=torch.float64)
    L = torch.zeros(num_classes, dtype=torch.float64)
    for pred, label in zip(preds, gts):
        pred = torch.as_tensor(np.asarray(pred)).long()
        label = torch.as_tensor(np.asarray(label)).long()
        if reduce_zero_label:
            label = label.clone()
            label[label == 0] = 255
            label = label - 1
            label[label == 254] = 255
        mask = label != ignore_index
        pred, label = pred[mask], label[mask]
        inter = pred[pred == label]
        ai = torch.histc(inter.float(), bins=num_classes, min=0, max=num_classes - 1).double()
        ap = torch.histc(pred.float(), bins=num_classes, min=0, max=num_classes - 1).double()
        al = torch.histc(label.float(), bins=num_classes, min=0, max=num_classes - 1).double()
        I += ai
        P += ap
        L += al
        U += ap + al - ai
    iou = (I / U).numpy()
    acc = (I / L).numpy()
    dice = (2 * I / (P + L)).numpy()
    return {"aAcc": float(I.sum() / L.sum()) * 100, "mIoU": float(np.nanmean(iou)) * 100,
            "mAcc": float(np.nanmean(acc)) * 100, "mDice": float(np.nanmean(dice)) * 100,
            "IoU": iou * 100, "Acc": acc * 100}
