#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the small seed inputs of the image, tokenizer and vocab fuzz targets into
tests/fuzz/corpus/ (generated with Pillow from real images, kept tiny). Run once; the files
are committed."""
import io
import pathlib

import numpy as np
from PIL import Image

HERE = pathlib.Path(__file__).parent / "corpus"
SKIMAGE = pathlib.Path("/usr/lib/python3/dist-packages/skimage/data")


def save(kind, name, data):
    d = HERE / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def enc(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def main():
    photo = Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize((24, 16))
    gray = photo.convert("L")
    jpegs = {
        "baseline.jpg": enc(photo, "JPEG", quality=80),
        "progressive.jpg": enc(photo, "JPEG", quality=70, progressive=True),
        "gray.jpg": enc(gray, "JPEG"),
        "cmyk.jpg": enc(photo.convert("CMYK"), "JPEG"),
        "s444.jpg": enc(photo, "JPEG", subsampling=0),
        "s422.jpg": enc(photo, "JPEG", subsampling=1),
    }
    exif = Image.Exif()
    exif[0x0112] = 6
    jpegs["exif6.jpg"] = enc(photo, "JPEG", exif=exif.tobytes())
    pal = photo.convert("P", palette=Image.ADAPTIVE, colors=16)
    pngs = {
        "rgb.png": enc(photo, "PNG"),
        "palette_trns.png": enc(pal, "PNG", transparency=3),
        "gray16.png": enc(Image.fromarray((np.asarray(gray, np.uint16) * 257)), "PNG"),
        "rgba.png": enc(photo.convert("RGBA"), "PNG"),
        "bilevel.png": enc(gray.convert("1"), "PNG"),
    }
    for n, d in jpegs.items():
        save("jpeg", n, d)
        save("preprocess", "j_" + n, bytes([0x9d]) + d)  # first byte: the options
    for n, d in pngs.items():
        save("png", n, d)
        save("preprocess", "p_" + n, bytes([0x2a]) + d)
    texts = ["Hello, world! unaffable playing", "Caf\u00e9 \u4e2d\u6587 \U0001F600 [SEP] x\u0301",
             "a\x01b c\x01", "\u00a0\u200d\ufeff\x00\x7f end", "1010 0x10 " * 8]
    for i, t in enumerate(texts):
        save("tokenizer", f"text{i}", t.encode())
    save("vocab", "small", b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nworld\n")
    save("vocab", "crlf", b"[UNK]\r\n[CLS]\r\n[SEP]\r\na\r\n##b\r\n")


if __name__ == "__main__":
    main()
