#!/usr/bin/python3
"""Parity vectors for tests/test_track_scale.c: the correlation tracker's scale step
(heads/track.c tracker_step, i.e. vssm_tracker_scale_at -- the hybrid decoding's scale search --
and vssm_tracker_update), re-implemented here in float64 numpy from its documented rules.

Input: the file `build/tests/test_track_scale --write IN` dumps: for each case cN (N = 0, 1),
    cN.config          (15,) F64: stage, template_factor, search_factor, template_size,
                       search_size, n_scales, scale_step, scale_penalty, scale_lr,
                       window_influence, pos_lr, min_scale, max_scale, radius (-1: the whole
                       map, vssm_tracker_update), stride
    cN.cell_offset     (1,) F64: feature cell f is centred at crop coordinate stride*f + offset
    cN.init            (4,) F64: the first box (x, y, w, h)
    cN.centre_offsets  (2, 2) F64: radius >= 0: step k's centre is the current box's centre + this
    cN.tmpl.feats      (1, th, tw, C) F32: the backbone stage features of the template crop
    cN.tmpl.info       (1, 4) I32: its crop (x1, y1, crop_sz, out_sz)
    cN.search_K.feats  (S, sh, sw, C) F32: step K's n_scales search crops' features (K = 1, 2)
    cN.search_K.info   (S, 4) I32
    cN.c_box_K, cN.c_score_K: the C step's results (only compared, for the report)
and __metadata__ frame_w, frame_h. The features come from the library's public
vssm_crop_feats_run on a small random VMamba (tests/data/track/head_vmamba.safetensors).

The step (per update, from the state box (x, y, w, h), the first box's w0, h0, centre (cx, cy)):
  template (once): the kernel K = the template map's cells whose centres s*f + o lie inside the
    first box (in crop coordinates; a box narrower than a cell: the cell nearest its middle),
    each channel's mean over K removed; |K| its norm; (fcx, fcy) the box centre in K's cell
    coordinates; a Hann window 0.5 (1 - cos(2 pi j / (n + 1))), j = 1..n, over the response
    (rh, rw) = (sh - kh + 1, sw - kw + 1)
  crops: scale_k = step^(k - (S - 1)/2), box_k = (w, h) x scale_k centred at (cx, cy), crop
    factor search_factor (the crop plans are recomputed here and must equal the dumped ones)
  per scale: the map X_k with each channel's spatial mean removed; response
    r_k(y, x) = <K, X_k window at (y, x)> / (|K| |window|) (0 when the denominator <= 1e-12)
  searched positions: radius < 0 all; else within radius (Chebyshev, clamped to the map) of
    (round((u - o)/s - fcx), round((v - o)/s - fcy)), (u, v) = (cx, cy) in the middle crop;
    the correlation range: the searched positions and one more cell around (clamped)
  lo, hi = min, max of r over the correlation range of every scale; span = hi - lo (1 if <= 1e-12)
  W_k = (1 - wi) (r_k - lo) / span + wi * hann; the candidate value V = W_k, non-middle scales
    V * penalty (V > 0) or V / penalty; the first maximum in (k, y, x) order over the searched
    positions
  sub-cell: parabola through W at (x - 1, x, x + 1) when both neighbours are in the correlation
    range: d = a - 2b + c, offset 0.5 (a - c) / d clamped to [-0.5, 0.5] (0 unless d < 0); y alike
  new centre: the image point of cell (x + ox + fcx, y + oy + fcy) of crop k (s*f + o, then
    x1 + u crop_sz / out_sz), moved pos_lr of the way from (cx, cy); size (w, h) x
    (1 - lr + lr scale_k), scaled up (down) as a whole to stay >= min_scale (<= max_scale) x
    (w0, h0); the centre clamped to [0, frame_w] x [0, frame_h]
  score: r_k at the peak (the raw cosine)
The next step starts from this reference's own box (its crop plans are checked against the C
dump, so the two runs crop the same pixels).

Output tests/data/track/scale_step.safetensors: the inputs above (without c_*) and
    ref.cN.box_K (4,) F64, ref.cN.score_K (1,) F64, ref.cN.scale_K (1,) F64
It prints, per step, the winning scale, the sub-cell offsets, whether the size clamp acted,
the margin between the best and second-best candidate (a decision that rounding could flip
would be refused), and the C step's difference from the reference.

    build/tests/test_track_scale --write /tmp/scale_in.safetensors
    /usr/bin/python3 tests/reference/gen_track_scale_vectors.py /tmp/scale_in.safetensors
Needs numpy only.
"""
import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "track", "scale_step.safetensors")
MIN_MARGIN = 1e-4  # best vs second-best candidate value: far above float32 rounding (~1e-7)

_NP = {"F64": "<f8", "F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}
_TAG = {np.dtype(v): k for k, v in _NP.items()}


def st_load(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=_NP[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta


def st_save(path, tensors, meta):
    header, chunks, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.tobytes()
        header[name] = {"dtype": _TAG[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-(8 + len(hb))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


def crop_plan(box, factor, out_sz):
    """OSTrack's sample_target geometry: (x1, y1, crop_sz, out_sz)"""
    x, y, w, h = box
    cs = int(math.ceil(math.sqrt(w * h) * factor))
    return (int(round(x + 0.5 * w - cs * 0.5)), int(round(y + 0.5 * h - cs * 0.5)), cs, out_sz)  # round: half to even


def to_image(ci, u, v):
    s = ci[2] / ci[3]
    return ci[0] + u * s, ci[1] + v * s


def from_image(ci, x, y):
    s = ci[3] / ci[2]
    return (x - ci[0]) * s, (y - ci[1]) * s


def round_half_away(v):
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def cell_range(a, b, s, o, n):
    """cells f in [0, n) with s*f + o within [a, b]; narrower than a cell: the one nearest the middle"""
    lo, hi = math.ceil((a - o) / s), math.floor((b - o) / s)
    if hi < lo:
        lo = hi = round_half_away(((a + b) / 2 - o) / s)
    f0 = min(max(lo, 0), n - 1)
    f1 = min(max(hi, f0), n - 1)
    return f0, f1


def hann(n):
    return 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, n + 1) / (n + 1)))


def parabola(a, b, c):
    d = a - 2 * b + c
    if not d < 0:
        return 0.0
    return min(max(0.5 * (a - c) / d, -0.5), 0.5)


def check_info(got, want, what):
    if tuple(int(v) for v in got) != tuple(want):
        sys.exit("%s: the dumped crop %s is not the reference's plan %s" % (what, list(got), list(want)))


def run_case(c, T, fw, fh):
    p = "c%d." % c
    (stage, tf, sf, tsz, ssz, S, step, pen, lr, wi, pos_lr, smin, smax, radius,
     stride) = T[p + "config"].tolist()
    S, radius, tsz, ssz, s = int(S), int(radius), int(tsz), int(ssz), float(stride)
    o = float(T[p + "cell_offset"][0])
    box0 = T[p + "init"].tolist()
    offs = T[p + "centre_offsets"]
    # the template and its kernel
    tci = crop_plan(box0, tf, tsz)
    check_info(T[p + "tmpl.info"][0], tci, p + "template")
    tm = T[p + "tmpl.feats"][0].astype(np.float64)
    th, tw, _ = tm.shape
    u0, v0 = from_image(tci, box0[0], box0[1])
    u1, v1 = from_image(tci, box0[0] + box0[2], box0[1] + box0[3])
    fx0, fx1 = cell_range(u0, u1, s, o, tw)
    fy0, fy1 = cell_range(v0, v1, s, o, th)
    K = tm[fy0:fy1 + 1, fx0:fx1 + 1]
    K = K - K.mean(axis=(0, 1))
    kh, kw, _ = K.shape
    knorm = math.sqrt(float((K * K).sum()))
    uc, vc = from_image(tci, box0[0] + 0.5 * box0[2], box0[1] + 0.5 * box0[3])
    fcx, fcy = (uc - o) / s - fx0, (vc - o) / s - fy0
    box = list(box0)
    w0, h0 = box0[2], box0[3]
    mid = (S - 1) // 2
    scales = [step ** (k - (S - 1) / 2.0) for k in range(S)]
    out = {}
    print("case %d: kernel %dx%d of the %dx%d template map, radius %d, %d scales" % (c, kh, kw, th, tw, radius, S))
    for K_ in range(1, offs.shape[0] + 1):
        cx, cy = box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]
        if radius >= 0:
            cx, cy = cx + offs[K_ - 1][0], cy + offs[K_ - 1][1]
        X = T[p + "search_%d.feats" % K_].astype(np.float64)
        infos = [tuple(int(v) for v in r) for r in T[p + "search_%d.info" % K_]]
        for k in range(S):
            w, h = box[2] * scales[k], box[3] * scales[k]
            check_info(infos[k], crop_plan((cx - 0.5 * w, cy - 0.5 * h, w, h), sf, ssz),
                       "%ssearch %d scale %d" % (p, K_, k))
        _, sh, sw, _ = X.shape
        rh, rw = sh - kh + 1, sw - kw + 1
        win = np.outer(hann(rh), hann(rw))
        R = np.zeros((S, rh, rw))
        for k in range(S):
            Xk = X[k] - X[k].mean(axis=(0, 1))
            for y in range(rh):
                for x in range(rw):
                    Wd = Xk[y:y + kh, x:x + kw]
                    den = knorm * math.sqrt(float((Wd * Wd).sum()))
                    R[k, y, x] = float((K * Wd).sum()) / den if den > 1e-12 else 0.0
        y0, y1, x0, x1 = 0, rh - 1, 0, rw - 1
        if radius >= 0:
            u, v = from_image(infos[mid], cx, cy)
            fx = round_half_away((u - o) / s - fcx)
            fy = round_half_away((v - o) / s - fcy)
            x0 = min(max(fx - radius, 0), rw - 1)
            x1 = min(max(fx + radius, x0), rw - 1)
            y0 = min(max(fy - radius, 0), rh - 1)
            y1 = min(max(fy + radius, y0), rh - 1)
        cy0, cy1 = max(y0 - 1, 0), min(y1 + 1, rh - 1)
        cx0, cx1 = max(x0 - 1, 0), min(x1 + 1, rw - 1)
        rng = R[:, cy0:cy1 + 1, cx0:cx1 + 1]
        lo, hi = float(rng.min()), float(rng.max())
        span = hi - lo if hi - lo > 1e-12 else 1.0
        Wm = (1 - wi) * (R - lo) / span + wi * win[None]
        V = Wm.copy()
        for k in range(S):
            if k != mid:
                V[k] = np.where(V[k] > 0, V[k] * pen, V[k] / pen)
        cand = V[:, y0:y1 + 1, x0:x1 + 1]
        flat = cand.reshape(-1)
        i = int(np.argmax(flat))  # the first maximum in (k, y, x) order
        margin = float(flat[i] - np.max(np.delete(flat, i))) if flat.size > 1 else float("inf")
        if margin < MIN_MARGIN:
            sys.exit("%sstep %d: best and second-best candidates %.3g apart: rounding could decide; change the case"
                     % (p, K_, margin))
        bk, rem = divmod(i, cand.shape[1] * cand.shape[2])
        py, px = y0 + rem // cand.shape[2], x0 + rem % cand.shape[2]
        ox = parabola(Wm[bk, py, px - 1], Wm[bk, py, px], Wm[bk, py, px + 1]) if cx0 < px < cx1 else 0.0
        oy = parabola(Wm[bk, py - 1, px], Wm[bk, py, px], Wm[bk, py + 1, px]) if cy0 < py < cy1 else 0.0
        nx, ny = to_image(infos[bk], s * (px + ox + fcx) + o, s * (py + oy + fcy) + o)
        ncx, ncy = cx + pos_lr * (nx - cx), cy + pos_lr * (ny - cy)
        f = 1 - lr + lr * scales[bk]
        w, h = box[2] * f, box[3] * f
        clamp = ""
        if w < smin * w0 or h < smin * h0:
            g = max(smin * w0 / w, smin * h0 / h)
            w, h, clamp = w * g, h * g, " (clamped up to min_scale)"
        if w > smax * w0 or h > smax * h0:
            g = min(smax * w0 / w, smax * h0 / h)
            w, h, clamp = w * g, h * g, " (clamped down to max_scale)"
        ncx, ncy = min(max(ncx, 0.0), float(fw)), min(max(ncy, 0.0), float(fh))
        box = [ncx - 0.5 * w, ncy - 0.5 * h, w, h]
        score = float(R[bk, py, px])
        out["ref.%sbox_%d" % (p, K_)] = np.array(box, dtype=np.float64)
        out["ref.%sscore_%d" % (p, K_)] = np.array([score], dtype=np.float64)
        out["ref.%sscale_%d" % (p, K_)] = np.array([scales[bk]], dtype=np.float64)
        cb = T.get(p + "c_box_%d" % K_)
        cd = float(np.max(np.abs(cb - np.array(box)))) if cb is not None else float("nan")
        csd = abs(float(T[p + "c_score_%d" % K_][0]) - score) if cb is not None else float("nan")
        print("  step %d: searched y %d..%d x %d..%d of %dx%d; scale k=%d (%.4f); peak (%d, %d) + (%.4f, %.4f); "
              "margin %.3g%s\n    box (%.6f %.6f %.6f %.6f) score %.6f; C step: box %.3g px, score %.3g off"
              % (K_, y0, y1, x0, x1, rh, rw, bk, scales[bk], py, px, oy, ox, margin, clamp, *box, score, cd, csd))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_track_scale_vectors.py IN.safetensors (from test_track_scale --write)")
    T, meta = st_load(sys.argv[1])
    fw, fh = int(meta["frame_w"]), int(meta["frame_h"])
    out = {k: v for k, v in T.items() if ".c_" not in k}
    for c in range(len(meta["cases"].split(","))):
        out.update(run_case(c, T, fw, fh))
    st_save(OUT, out, {"frame_w": meta["frame_w"], "frame_h": meta["frame_h"], "cases": meta["cases"],
                       "generator": "tests/reference/gen_track_scale_vectors.py"})
    print("wrote %s (%d bytes)" % (OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
