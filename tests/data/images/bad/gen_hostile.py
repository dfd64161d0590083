#!/usr/bin/env python3
"""Writes the hostile images of issue 16 (headers that promise far more than the file holds,
and valid files whose preprocessing would blow up) next to this script; test_image_bounds
reads them. Standard library only, deterministic. Run from anywhere:
    python3 tests/data/images/bad/gen_hostile.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.dirname(HERE)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(w, h, depth, ctype, idat, iend=True, plte=None):
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte is not None:
        out += chunk(b"PLTE", plte)
    out += chunk(b"IDAT", idat)
    return out + (chunk(b"IEND", b"") if iend else b"")


def put(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print("%-34s %6d bytes" % (name, len(data)))


def src(name):
    with open(os.path.join(IMAGES, name), "rb") as f:
        return f.read()


def main():
    # A complete 37x29 baseline JPEG whose SOF0 was edited to claim 13000x13000 (169e6 pixels,
    # under PIL's bomb limit): libjpeg hits EOI early, warns and fills gray (was: 505 MB, exit 0).
    j = bytearray(src("dog_37x29_tiny.jpg"))
    i = 2
    while True:
        marker, length = j[i + 1], struct.unpack(">H", j[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", j, i + 5, 13000, 13000)
            break
        i += 2 + length
    put("short_13000x13000.jpg", bytes(j))

    # A valid 400000x1 RGB PNG: resize(256) makes it 102400000x256 before the 224 crop
    # (was: 2.2 GB and 24 s in the resize). A marker band at the centre, where the crop looks.
    row = bytearray(400000 * 3)
    for x in range(199990, 200010):
        row[3 * x:3 * x + 3] = bytes(((x * 37) % 256, (x * 91) % 256, (x * 13) % 256))
    put("wide_400000x1.png", png(400000, 1, 8, 2, zlib.compress(b"\x00" + bytes(row), 9)))

    # A PNG header claiming 13000x13000 RGB with the first rows' data only, no IEND.
    rows = b"".join(b"\x00" + bytes(13000 * 3) for _ in range(4))
    put("short_13000x13000.png", png(13000, 13000, 8, 2, zlib.compress(rows, 9), iend=False))

    # The same as a palette label map (segmentation ground truth / predictions).
    put("label_short_13000x13000.png",
        png(13000, 13000, 8, 3, zlib.compress(b"\x00" + bytes(13000), 9), iend=True,
            plte=bytes(range(48))))

    # stb formats cut short: BMP, TGA (raw) and PNM (P6) at 60 %; a BMP header claiming
    # 13000x13000 in 200 bytes.
    for name, out in (("chelsea_120x81.bmp", "truncated_60.bmp"), ("horses_110x73.tga", "truncated_60.tga"),
                      ("astronaut_77.ppm", "truncated_60.ppm")):
        d = src(name)
        put(out, d[: len(d) * 6 // 10])
    # Cut where no size bound from the header can tell: an RLE TGA at 60 % and a P6 PPM
    # missing its last 5 bytes (stb read zeros past the end and returned OK).
    d = src("horses_97x64_rle.tga")
    put("truncated_60_rle.tga", d[: len(d) * 6 // 10])
    d = src("astronaut_77.ppm")
    put("truncated_tail.ppm", d[:-5])
    b = bytearray(src("chelsea_120x81.bmp"))
    struct.pack_into("<ii", b, 18, 13000, 13000)
    put("short_13000x13000.bmp", bytes(b[:200]))


if __name__ == "__main__":
    main()
