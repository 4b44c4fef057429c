# SPDX-License-Identifier: MIT
"""Writes the shared inputs of the binding tests into a folder (idempotent):
  images/   a few real photos (symlinks) + a corrupt JPEG + a non-image file + a PNG
  files.txt the image paths, one per line, including one that does not exist
  lines.txt short texts from the fortunes (records split on '%' lines, first line of each)
  pairs.txt tab-separated sentence pairs
Used by every binding's tests so they all compare against the same `feat` CLI outputs."""
import os
import pathlib
import sys

PHOTOS = ["nature/FreshFlower.jpg", "desktop/GreenTraditional.jpg", "nature/GreenMeadow.jpg", "nature/Aqua.jpg"]
FORTUNES = ["/usr/share/games/fortunes/computers", "/usr/share/games/fortunes/science"]


def main(out):
    out = pathlib.Path(out)
    img = out / "images"
    img.mkdir(parents=True, exist_ok=True)
    files = []
    for p in PHOTOS:
        src = pathlib.Path("/usr/share/backgrounds/mate") / p
        dst = img / src.name
        if src.exists() and not dst.exists():
            os.symlink(src, dst)
        if dst.exists():
            files.append(dst)
    good = files[0].read_bytes() if files else b"\xff\xd8\xff"
    (img / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (img / "not-an-image.jpg").write_bytes(b"this is not an image\n")
    # A lossless image whose pixels the tests know (for extract_pixels == extract_files).
    w, h = 97, 61
    pix = bytes(((x * 7 + y * 3) % 256 if c == 0 else (x * y) % 256 if c == 1 else (x + 2 * y) % 256)
                for y in range(h) for x in range(w) for c in range(3))
    (img / "gradient.rgb").write_bytes(pix)
    _write_png(img / "gradient.png", w, h, pix)
    order = [files[0], img / "truncated.jpg", *files[1:2], img / "missing.jpg", img / "not-an-image.jpg",
             *files[2:], img / "gradient.png"]
    (out / "files.txt").write_text("".join(f"{p}\n" for p in order))
    lines = []
    for f in FORTUNES:
        if not os.path.exists(f):
            continue
        rec = []
        for line in open(f, encoding="utf-8", errors="replace"):
            if line.strip() == "%":
                if rec:
                    lines.append(" ".join(rec))
                rec = []
            elif line.strip():
                rec.append(line.strip())
        if len(lines) >= 40:
            break
    lines = [l.replace("\t", " ") for l in lines[:40]] or ["A man is eating food.", "A man rides a horse."]
    # Short texts keep the suites fast on small machines.
    lines = [l if len(l) <= 100 else l[:100].rsplit(" ", 1)[0] for l in lines]
    lines.insert(3, "")  # an empty text is a valid item
    data = [l.encode("utf-8") for l in lines]
    data.insert(6, b"caf\xe9 au lait (latin-1, not UTF-8)")  # fails alone: FEAT_E_DECODE
    (out / "lines.txt").write_bytes(b"".join(d + b"\n" for d in data))
    pairs = [(lines[i], lines[i + 1]) for i in range(0, min(len(lines) - 1, 16), 2)]
    (out / "pairs.txt").write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")


def _write_png(path, w, h, rgb):
    import struct
    import zlib

    raw = b"".join(b"\x00" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main(sys.argv[1])
