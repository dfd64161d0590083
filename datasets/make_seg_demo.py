#!/usr/bin/python3
"""Compose a small real segmentation set: real Fashion-MNIST items (Debian
dataset-fashion-mnist) pasted onto crops of real photos (python3-skimage's data images),
with exact per-pixel labels: 0 background, 1 + Fashion-MNIST class where an item's pixel
was pasted. 11 classes.

    /usr/bin/python3 datasets/make_seg_demo.py OUT_DIR [--train 2000] [--val 200] [--size 96]

Writes OUT_DIR/{train,val}/{images,labels}/NNNNN.png (images RGB, labels 8-bit palette
PNGs with the VOC palette) and OUT_DIR/classes.txt. Items of the val split come from the
Fashion-MNIST test set and val backgrounds from photos not used for training, so no item or
photo is shared between the splits. Deterministic (seeded).
An item pixel is pasted (and labelled) where the item's intensity is >= 40 of 255; its colour
is a random tint scaled by the intensity, so the label is exact, never interpolated.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist"
CLASSES = ["background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]
TRAIN_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                "colorwheel", "logo", "motorcycle_left", "motorcycle_right"]
VAL_PHOTOS = ["cat", "retina", "camera", "brick", "grass", "gravel"]
THRESH = 40


def read_idx(split):
    pre = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(FMNIST, pre + "-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(FMNIST, pre + "-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def photos(names):
    from skimage import data
    out = []
    for n in names:
        try:
            im = np.asarray(getattr(data, n)())
        except Exception:  # noqa: BLE001 - a photo missing from this skimage: skip it
            continue
        if im.ndim == 2:
            im = np.stack([im] * 3, -1)
        im = im[..., :3]
        if im.dtype != np.uint8:
            im = (255 * (im.astype(np.float64) / max(im.max(), 1))).astype(np.uint8)
        out.append(im)
    return out


def palette():
    pal = []
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def make(split, n, size, out, seed):
    rng = np.random.default_rng(seed)
    xs, ys = read_idx("train" if split == "train" else "test")
    bgs = photos(TRAIN_PHOTOS if split == "train" else VAL_PHOTOS)
    assert bgs, "no skimage photos found"
    di, dl = os.path.join(out, split, "images"), os.path.join(out, split, "labels")
    os.makedirs(di, exist_ok=True)
    os.makedirs(dl, exist_ok=True)
    pal = palette()
    for k in range(n):
        bg = bgs[rng.integers(len(bgs))]
        H, W = bg.shape[:2]
        s = int(rng.integers(min(H, W) // 4, min(H, W)))
        y0, x0 = rng.integers(0, H - s + 1), rng.integers(0, W - s + 1)
        img = np.asarray(Image.fromarray(bg[y0:y0 + s, x0:x0 + s]).resize((size, size), Image.BILINEAR)).copy()
        lab = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(xs)))
            it = int(rng.integers(size // 4, size * 3 // 4))
            item = np.asarray(Image.fromarray(xs[i]).resize((it, it), Image.NEAREST))
            if rng.random() < 0.5:
                item = item[:, ::-1]
            py, px = rng.integers(0, size - it + 1), rng.integers(0, size - it + 1)
            m = item >= THRESH
            tint = rng.integers(60, 256, 3).astype(np.float64)
            col = (item[..., None].astype(np.float64) / 255.0 * tint).astype(np.uint8)
            reg = img[py:py + it, px:px + it]
            reg[m] = col[m]
            lab[py:py + it, px:px + it][m] = 1 + int(ys[i])
        Image.fromarray(img).save(os.path.join(di, "%05d.png" % k))
        p = Image.fromarray(lab, "P")
        p.putpalette(pal)
        p.save(os.path.join(dl, "%05d.png" % k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--size", type=int, default=96)
    a = ap.parse_args()
    make("train", a.train, a.size, a.out, 1)
    make("val", a.val, a.size, a.out, 2)
    with open(os.path.join(a.out, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print("wrote", a.out, a.train, "train +", a.val, "val images of", a.size, "px")


if __name__ == "__main__":
    main()
