#!/usr/bin/python3
"""Export real Fashion-MNIST test images as PNG files in torchvision ImageFolder layout.

    /usr/bin/python3 weights/export_fashion_mnist.py OUTDIR          # 10 images per class
    /usr/bin/python3 weights/export_fashion_mnist.py OUTDIR --all    # the whole 10k test set
    /usr/bin/python3 weights/export_fashion_mnist.py OUTDIR --per-class 50

Layout: OUTDIR/<class folder>/<test index>.png, 8-bit grayscale (PIL mode 'L'), 28x28,
the bytes exactly as stored in the dataset. <test index> is the image's 0-based position
in t10k-images-idx3-ubyte (no zero padding). The sample takes the first N test images of
each class, in test-set order.

Class folders are named "<label index>_<class name>" with '/' and ' ' replaced by '-'
("0_T-shirt-top", "1_Trouser", ..., "9_Ankle-boot"), so that plain byte-order sorting
(what torchvision's ImageFolder does) gives the label index order. The raw names would
not ("Ankle boot" sorts first).

Source: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist/t10k-*.gz.
"""

import argparse
import gzip
import os
import sys

import numpy as np
from PIL import Image

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]


def folder_name(i):
    return "%d_%s" % (i, LABELS[i].replace("/", "-").replace(" ", "-"))


FOLDERS = [folder_name(i) for i in range(len(LABELS))]
assert sorted(FOLDERS) == FOLDERS


def read_test():
    with gzip.open(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], ">u4")
    assert magic == 2051
    imgs = np.frombuffer(raw[16:], np.uint8).reshape(n, h, w)
    with gzip.open(os.path.join(DATA_DIR, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        raw = f.read()
    magic, m = np.frombuffer(raw[:8], ">u4")
    assert magic == 2049 and m == n
    labels = np.frombuffer(raw[8:], np.uint8).astype(np.int64)
    return imgs, labels


def select(labels, per_class):
    """Indices: the first per_class test images of each class (all if per_class is None)."""
    if per_class is None:
        return list(range(len(labels)))
    out = []
    for c in range(len(LABELS)):
        out.extend(np.nonzero(labels == c)[0][:per_class].tolist())
    return sorted(out)


def export(outdir, per_class=10):
    imgs, labels = read_test()
    idx = select(labels, per_class)
    for name in FOLDERS:
        os.makedirs(os.path.join(outdir, name), exist_ok=True)
    for i in idx:
        path = os.path.join(outdir, FOLDERS[labels[i]], "%d.png" % i)
        Image.fromarray(imgs[i], mode="L").save(path, optimize=True)
    return len(idx)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--all", action="store_true", help="export all 10,000 test images")
    ap.add_argument("--per-class", type=int, default=10, help="images per class (default 10)")
    args = ap.parse_args()
    n = export(args.outdir, None if args.all else args.per_class)
    print("wrote %d PNG files under %s" % (n, args.outdir))


if __name__ == "__main__":
    sys.exit(main())
