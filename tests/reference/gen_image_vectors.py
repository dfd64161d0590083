#!/usr/bin/python3
"""Writes the image fixtures and the PIL/torchvision reference for tests/test_image*.c.

    /usr/bin/python3 tests/reference/gen_image_vectors.py      (from the repository root)

Needs Debian's python3-pil, python3-torchvision (0.14), python3-skimage (its data
folder supplies the photos) and darknet (/usr/share/darknet/data, more photos).

Writes under tests/data/images/:
    *.jpg *.png *.bmp *.gif *.ppm *.pgm *.tga   small crops/scales of real photos, in the
                                                formats and layouts the decoder must handle
    bad/*                                       broken inputs every decoder must refuse
    ref.json                                    what PIL + torchvision make of each file

ref.json holds, per image, FNV-1a 64-bit hashes (hex) of exact uint8 outputs (HWC, RGB):
    decode          Image.open(f).convert("RGB")
    resizes[]       img.resize((w, h), BICUBIC|BILINEAR)  (PIL's own resampler)
    pipelines[]     Resize(resize) -> CenterCrop(crop) as torchvision 0.14 does on PIL
                    images (resize 0 / crop 0: step left out); "hash" is the u8 image after
                    the crop, and the float tensor ToTensor -> Normalize equals
                    table[c][u8] exactly (checked here), where "tensor_table" holds torch's
                    float32 value for every (channel, byte) pair.
One file (dog_128x96.png) also gets its whole pipeline tensor stored raw
(tensor_dog_64_56.f32: little-endian float32, HWC 56x56x3) for a hash-free check.

Hashes instead of arrays keep the fixtures small (< 2 MB); a mismatching C test writes
its own output next to the build so it can be compared with PIL by hand.
"""

import io
import json
import os
import random
import struct
import sys
import zlib

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

assert torchvision.__version__.startswith("0.14"), torchvision.__version__

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "images")
BAD = os.path.join(OUT, "bad")
SK = "/usr/lib/python3/dist-packages/skimage/data"
DK = "/usr/share/darknet/data"

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
INTERP = {"bicubic": (Image.BICUBIC, T.InterpolationMode.BICUBIC),
          "bilinear": (Image.BILINEAR, T.InterpolationMode.BILINEAR)}


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for byte in b:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def fnv(im):
    assert im.mode == "RGB", im.mode
    return fnv1a64(np.asarray(im, dtype=np.uint8).tobytes())


def photo(path, box=None, size=None):
    im = Image.open(path)
    im.load()
    if box:
        im = im.crop(box)
    if size:
        im = im.resize(size, Image.LANCZOS)
    return im


# ---------------------------------------------------------------- fixtures (photos)
def make_fixtures():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)
    made = []  # (file name, extra pipelines, extra resizes)

    def save(im, name, **kw):
        im.save(os.path.join(OUT, name), **kw)
        made.append(name)

    dog = photo(os.path.join(DK, "dog.jpg"))
    eagle = photo(os.path.join(DK, "eagle.jpg"))
    giraffe = photo(os.path.join(DK, "giraffe.jpg"))
    horses = photo(os.path.join(DK, "horses.jpg"))
    person = photo(os.path.join(DK, "person.jpg"))
    astro = photo(os.path.join(SK, "astronaut.png"))
    chelsea = photo(os.path.join(SK, "chelsea.png"))
    coffee = photo(os.path.join(SK, "coffee.png"))
    camera = photo(os.path.join(SK, "camera.png"))
    rocket = photo(os.path.join(SK, "rocket.jpg"))

    # JPEG: chroma layouts, progressive, gray, CMYK, EXIF orientation, odd sizes
    save(dog.resize((400, 300), Image.LANCZOS), "dog_400x300_420.jpg", quality=88, subsampling=2)
    save(eagle.resize((387, 256), Image.LANCZOS), "eagle_387x256_444.jpg", quality=90, subsampling=0)
    save(horses.crop((150, 60, 631, 381)), "horses_481x321_422.jpg", quality=85, subsampling=1)
    save(giraffe.resize((333, 333), Image.LANCZOS), "giraffe_333_progressive.jpg", quality=85,
         progressive=True, subsampling=2)
    save(person.crop((180, 20, 380, 420)), "person_200x400_tall.jpg", quality=87)  # tall
    save(rocket.convert("L").resize((301, 201), Image.LANCZOS), "rocket_301x201_gray.jpg",
         quality=90)
    save(chelsea.resize((150, 100), Image.LANCZOS).convert("CMYK"), "chelsea_150x100_cmyk.jpg",
         quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW (must NOT be applied)
    save(coffee.crop((100, 50, 340, 230)), "coffee_240x180_exif6.jpg", quality=90, exif=exif)
    save(dog.crop((300, 300, 301, 301)), "dog_1x1.jpg", quality=95)
    # a camera-made JPEG as shipped (not PIL-encoded; 4:4:0 chroma, 768x576)
    with open(os.path.join(DK, "dog.jpg"), "rb") as f, open(os.path.join(OUT, "dog_768x576_440_orig.jpg"), "wb") as g:
        g.write(f.read())
    made.append("dog_768x576_440_orig.jpg")
    save(dog.crop((120, 100, 157, 129)), "dog_37x29_tiny.jpg", quality=92)

    # PNG: every colour type / depth PIL maps to RGB
    save(astro.resize((201, 149), Image.LANCZOS), "astronaut_201x149_rgb.png")
    save(camera.resize((160, 120), Image.LANCZOS), "camera_160x120_gray.png")
    save(chelsea.resize((181, 120), Image.LANCZOS).quantize(256), "chelsea_181x120_palette.png")
    p = chelsea.crop((150, 40, 250, 140)).resize((64, 64), Image.LANCZOS).quantize(16)
    save(p, "chelsea_64_palette4bit.png", bits=4)
    pt = coffee.resize((90, 60), Image.LANCZOS).quantize(64)
    save(pt, "coffee_90x60_palette_trns.png", transparency=3)
    rgba = coffee.resize((150, 100), Image.LANCZOS).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[..., 3] = np.add.outer(np.arange(100) * 2, np.arange(150)).clip(0, 255)
    a[:10, :10, 3] = 0  # fully transparent corner: colour must survive
    save(Image.fromarray(a, "RGBA"), "coffee_150x100_rgba.png")
    la = camera.resize((70, 90), Image.LANCZOS).convert("LA")
    b = np.asarray(la).copy()
    b[..., 1] = 255 - b[..., 0]
    save(Image.fromarray(b, "LA"), "camera_70x90_gray_alpha.png")
    save(camera.resize((48, 40), Image.LANCZOS).point(lambda v: 255 if v > 100 else 0).convert("1"),
         "camera_48x40_1bit.png")
    # 16-bit: RGB (PIL keeps the high byte), gray (PIL: mode I, then clips to 255)
    rgb16 = np.asarray(astro.resize((96, 80), Image.LANCZOS)).astype(np.uint16) * 257
    rgb16 = rgb16 ^ np.random.RandomState(1).randint(0, 256, rgb16.shape).astype(np.uint16)
    write_png16(os.path.join(OUT, "astronaut_96x80_rgb16.png"), rgb16, color_type=2)
    made.append("astronaut_96x80_rgb16.png")
    g16 = np.asarray(camera.resize((64, 48), Image.LANCZOS)).astype(np.uint16)
    g16 = g16 + (np.arange(64)[None, :] * 8).astype(np.uint16)  # spans both sides of 255
    write_png16(os.path.join(OUT, "camera_64x48_gray16.png"), g16, color_type=0)
    made.append("camera_64x48_gray16.png")
    ga16 = np.stack([g16 * 200, 65535 - g16 * 100], axis=-1).astype(np.uint16)
    write_png16(os.path.join(OUT, "camera_64x48_gray_alpha16.png"), ga16, color_type=4)
    made.append("camera_64x48_gray_alpha16.png")
    rgba16 = np.concatenate([rgb16, np.full(rgb16.shape[:2] + (1,), 40000, np.uint16)], -1)
    write_png16(os.path.join(OUT, "astronaut_96x80_rgba16.png"), rgba16, color_type=6)
    made.append("astronaut_96x80_rgba16.png")
    write_png_adam7(os.path.join(OUT, "chelsea_75x50_interlaced.png"),
                    np.asarray(chelsea.resize((75, 50), Image.LANCZOS)))
    made.append("chelsea_75x50_interlaced.png")
    save(chelsea.crop((200, 100, 201, 101)), "chelsea_1x1.png")
    save(person.crop((300, 100, 340, 300)).resize((20, 100), Image.LANCZOS), "person_20x100_narrow.png")
    save(dog.resize((128, 96), Image.LANCZOS), "dog_128x96.png")

    # the other formats (stb_image)
    save(chelsea.resize((120, 81), Image.LANCZOS), "chelsea_120x81.bmp")
    save(chelsea.resize((100, 70), Image.LANCZOS).quantize(256), "chelsea_100x70_palette.bmp")
    save(coffee.resize((100, 66), Image.LANCZOS).quantize(128), "coffee_100x66.gif")
    save(astro.resize((77, 77), Image.LANCZOS), "astronaut_77.ppm")
    save(camera.resize((66, 55), Image.LANCZOS), "camera_66x55.pgm")
    save(horses.resize((110, 73), Image.LANCZOS), "horses_110x73.tga")
    save(horses.resize((97, 64), Image.LANCZOS), "horses_97x64_rle.tga", compression="tga_rle")
    return made


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png16(path, arr, color_type):
    """A 16-bit PNG (PIL cannot write 16-bit RGB); arr: (H, W[, C]) uint16."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)))
        f.write(png_chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(png_chunk(b"IEND", b""))


def write_png_adam7(path, arr):
    """An 8-bit RGB Adam7-interlaced PNG (PIL cannot write interlaced PNGs)."""
    h, w = arr.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = b""
    for (x0, y0, dx, dy) in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)))
        f.write(png_chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- broken inputs
def make_bad():
    """Each entry: file, the vssm_status name the decoder must return, and why."""
    bad = []

    def put(name, data, status, why):
        with open(os.path.join(BAD, name), "wb") as f:
            f.write(data)
        bad.append({"file": "bad/" + name, "status": status, "why": why})

    jpg = open(os.path.join(OUT, "dog_400x300_420.jpg"), "rb").read()
    png = open(os.path.join(OUT, "astronaut_201x149_rgb.png"), "rb").read()
    put("empty.jpg", b"", "VSSM_ERR_FORMAT", "empty file")
    put("random.bin", bytes(random.Random(7).getrandbits(8) for _ in range(4096)),
        "VSSM_ERR_FORMAT", "random bytes")
    put("text.png", b"this is not an image, despite its name\n", "VSSM_ERR_FORMAT", "text")
    put("truncated_half.jpg", jpg[: len(jpg) // 2], "VSSM_ERR_FORMAT", "jpeg cut in half")
    put("truncated_header.jpg", jpg[:300], "VSSM_ERR_FORMAT", "jpeg cut inside the headers")
    put("magic_only.jpg", b"\xff\xd8\xff", "VSSM_ERR_FORMAT", "jpeg magic only")
    put("truncated_half.png", png[: len(png) // 2], "VSSM_ERR_FORMAT", "png cut in half")
    put("truncated_header.png", png[:20], "VSSM_ERR_FORMAT", "png cut inside IHDR")
    bad_crc = bytearray(png)
    bad_crc[60] ^= 0xFF  # inside the chunk after IHDR (iCCP: ancillary; PIL still refuses)
    put("bad_crc.png", bytes(bad_crc), "VSSM_ERR_FORMAT", "png with a corrupt ancillary chunk")
    idat = png.find(b"IDAT")
    bad_idat = bytearray(png)
    bad_idat[idat + 4 + 100] ^= 0x55
    put("bad_idat.png", bytes(bad_idat), "VSSM_ERR_FORMAT", "png with corrupt pixel data")
    big = (b"\x89PNG\r\n\x1a\n"
           + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
           + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    put("bomb_100000x100000.png", big, "VSSM_ERR_FORMAT", "png header claims 1e10 pixels")
    # JPEG: SOF0 claiming 60000 x 60000 (3.6e9 pixels), followed by nothing useful
    sof = jpg.find(b"\xff\xc0")
    sos = jpg.find(b"\xff\xda")
    bj = bytearray(jpg[: sos + 14 + 200])  # all headers, SOS and a little scan data
    struct.pack_into(">HH", bj, sof + 5, 60000, 60000)
    put("bomb_60000x60000.jpg", bytes(bj), "VSSM_ERR_FORMAT", "jpeg header claims 3.6e9 pixels")
    bmp = bytearray(open(os.path.join(OUT, "chelsea_120x81.bmp"), "rb").read())
    struct.pack_into("<ii", bmp, 18, 30000, 30000)
    put("bomb_30000x30000.bmp", bytes(bmp[:200]), "VSSM_ERR_FORMAT", "bmp header claims 9e8 pixels")
    put("truncated.gif", open(os.path.join(OUT, "coffee_100x66.gif"), "rb").read()[:200],
        "VSSM_ERR_FORMAT", "gif cut short")
    # PIL must refuse all of these too
    for b in bad:
        try:
            Image.open(os.path.join(OUT, b["file"])).convert("RGB")
        except Exception as e:  # noqa: BLE001 - any refusal counts
            b["pil"] = type(e).__name__
            continue
        sys.exit("PIL accepted %s" % b["file"])
    return bad


# ---------------------------------------------------------------- reference outputs
def tensor_table():
    """torch's float32 ToTensor+Normalize value of every byte, per channel."""
    v = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (1, 1, 3))  # (1, 256, 3)
    t = T.Normalize(MEAN, STD)(T.ToTensor()(Image.fromarray(v, "RGB")))  # (3, 1, 256)
    return t[:, 0, :].numpy().astype(np.float32)


def pipeline(im, resize, crop, interp):
    ops = []
    if resize:
        ops.append(T.Resize(resize, interpolation=INTERP[interp][1]))
    if crop:
        ops.append(T.CenterCrop(crop))
    return T.Compose(ops)(im) if ops else im


def describe(name, table):
    path = os.path.join(OUT, name)
    src = Image.open(path)
    fmt = src.format
    rgb = src.convert("RGB")
    w, h = rgb.size
    e = {"file": name, "format": fmt.lower(), "pil_mode": src.mode, "w": w, "h": h,
         "decode": fnv(rgb), "resizes": [], "pipelines": []}
    for interp in ("bicubic", "bilinear"):
        sizes = [(w * 3 // 5 + 1, h * 2 // 3 + 1),  # down both ways, odd
                 (w + 37, h),                        # horizontal pass only, up
                 (w, max(1, h - 13)),                # vertical pass only, down
                 (w // 4 + 1, h * 2 + 3)]            # down x, up y
        for (ow, oh) in sizes:
            if ow < 1 or oh < 1:
                continue
            e["resizes"].append({"w": ow, "h": oh, "interp": interp,
                                 "hash": fnv(rgb.resize((ow, oh), INTERP[interp][0]))})
    cases = [(256, 224, "bicubic"), (256, 224, "bilinear"), (256, 0, "bicubic"),
             (0, 224, "bicubic"), (0, 0, "bicubic"), (200, 224, "bilinear"), (64, 56, "bicubic"),
             (57, 57, "bicubic")]
    for (rs, cr, interp) in cases:
        out = pipeline(rgb, rs, cr, interp)
        u8 = np.asarray(out, dtype=np.uint8)
        ten = T.Normalize(MEAN, STD)(T.ToTensor()(out)).permute(1, 2, 0).numpy()
        expect = table[np.arange(3)[None, None, :], u8]
        assert np.array_equal(ten, expect), (name, rs, cr)  # tensor == table[u8], exactly
        e["pipelines"].append({"resize": rs, "crop": cr, "interp": interp,
                               "w": out.size[0], "h": out.size[1], "hash": fnv(out)})
        if name == "dog_128x96.png" and (rs, cr) == (64, 56):
            ten.astype("<f4").tofile(os.path.join(OUT, "tensor_dog_64_56.f32"))
    return e


def main():
    names = make_fixtures()
    bad = make_bad()
    table = tensor_table()
    images = [describe(n, table) for n in names]
    ref = {"generator": "tests/reference/gen_image_vectors.py",
           "pil": Image.__version__ if hasattr(Image, "__version__") else "",
           "torchvision": torchvision.__version__, "torch": torch.__version__,
           "mean": MEAN, "std": STD,
           "tensor_table": [[float(x) for x in row] for row in table],
           "images": images, "bad": bad}
    with open(os.path.join(OUT, "ref.json"), "w") as f:
        json.dump(ref, f, indent=1)
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print("%d images, %d bad inputs, %.1f KB under %s" % (len(images), len(bad), total / 1024, OUT))


if __name__ == "__main__":
    main()
