#!/usr/bin/python3
"""Fixtures for the end-to-end CLI tests (tests/cli.cmake):

  tests/data/cli/tiny_cls.safetensors   a small random VMamba classifier (3 classes) with
                                        full vssm metadata (config, labels, preprocessing)
  tests/data/cli/folder/<class>/...     an ImageFolder of real photos from tests/data/images
                                        (several formats and sizes) plus one corrupt file
  tests/data/cli/ref_logits.txt         "relative/path logit0 logit1 logit2" per image, from
                                        PIL + torchvision preprocessing and our PyTorch
                                        reference in float64: what `vssm classify --json`
                                        must reproduce (decode + resize + crop + model)

    /usr/bin/python3 tests/reference/gen_cli_fixtures.py
"""
import json
import os
import shutil
import sys

import torch
from PIL import Image
from torchvision import transforms

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st_io  # noqa: E402
import vmamba_ref as vr  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "cli")
IMAGES = os.path.join(ROOT, "tests", "data", "images")
CFG = dict(dims=8, depths=(1, 1, 2, 1), ssm_ratio=2.0, d_state=1, num_classes=3)
LABELS = ["cat", "dog", "bird"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RESIZE, CROP = 40, 32
FOLDER = {
    "a_cat": ["chelsea_120x81.bmp", "chelsea_181x120_palette.png", "coffee_240x180_exif6.jpg"],
    "b_dog": ["dog_400x300_420.jpg", "dog_128x96.png", "dog_37x29_tiny.jpg"],
    "c_bird": ["eagle_387x256_444.jpg", "rocket_301x201_gray.jpg", "person_200x400_tall.jpg", "horses_97x64_rle.tga"],
}


def main():
    torch.manual_seed(0)
    model = vr.make_model(2024, **CFG)
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": "vssm", "arch": "custom", "forward_type": "v05_noz", "in_chans": "3",
        "dims": ",".join(str(CFG["dims"] << i) for i in range(4)),
        "depths": ",".join(str(d) for d in CFG["depths"]), "ssm_ratio": "2.0", "d_state": "1",
        "dt_rank": "0", "mlp_ratio": "4.0", "num_classes": "3", "labels": json.dumps(LABELS),
        "resize": str(RESIZE), "crop": str(CROP), "interpolation": "bilinear",
        "mean": ",".join(repr(m) for m in MEAN), "std": ",".join(repr(s) for s in STD),
    }
    os.makedirs(OUT, exist_ok=True)
    st_io.save(os.path.join(OUT, "tiny_cls.safetensors"), sd, meta)

    folder = os.path.join(OUT, "folder")
    shutil.rmtree(folder, ignore_errors=True)
    tf = transforms.Compose([transforms.Resize(RESIZE, interpolation=transforms.InterpolationMode.BILINEAR),
                             transforms.CenterCrop(CROP), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    model64 = model.double()
    lines = []
    for cls, files in FOLDER.items():
        os.makedirs(os.path.join(folder, cls))
        for f in files:
            dst = os.path.join(folder, cls, f)
            shutil.copyfile(os.path.join(IMAGES, f), dst)
            x = tf(Image.open(dst).convert("RGB")).unsqueeze(0).double()
            with torch.no_grad():
                logits = model64(x)[0]
            lines.append(os.path.relpath(dst, ROOT) + " " + " ".join("%.9g" % v for v in logits.tolist()))
    # a corrupt file inside a class folder: named on stderr, the rest goes on, exit 1
    shutil.copyfile(os.path.join(IMAGES, "bad", "truncated_half.jpg"), os.path.join(folder, "b_dog", "broken.jpg"))
    with open(os.path.join(OUT, "ref_logits.txt"), "w") as fh:
        fh.write("\n".join(sorted(lines)) + "\n")
    print("wrote", OUT, len(lines), "reference images")


if __name__ == "__main__":
    main()
