# SPDX-License-Identifier: MIT
"""Bit-exact parity of libfeat's image preprocessing with the Python pipelines it claims to be
(docs/imaging.md):

  torchvision: Image.open(p).convert("RGB") -> Resize(S) -> CenterCrop -> ToTensor -> Normalize
  keras-vgg16: keras.utils.load_img(p, target_size=(h, w)) -> img_to_array -> vgg16.preprocess_input

The references are computed here with Pillow, torchvision and numpy, never from libfeat's own
output. libfeat's side comes from tests/unit/image/preprocess_dump (the static imaging
component, no libtorch), found under $FEAT_BUILD_DIR (default /work/main/build).

Run: FEAT_BUILD_DIR=build-img .venv/bin/python -m pytest tests/unit/image/test_preprocess_parity.py
Set FEAT_SLOW=1 to run over every photo in /usr/share/backgrounds/mate (a few minutes).

Keras itself is not installed; keras_reference() transcribes keras/src/utils/image_utils.py
load_img (convert("RGB") before the resize, Image.NEAREST, no resize when the size already
matches) and imagenet_utils.preprocess_input(mode="caffe") (numpy path: RGB->BGR, subtract the
BGR mean from a float32 array in place).
"""
import glob
import io
import os
import struct
import subprocess
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

BUILD = os.environ.get("FEAT_BUILD_DIR", "/work/main/build")
TOOL = os.path.join(BUILD, "tests", "unit", "image", "preprocess_dump")
SLOW = os.environ.get("FEAT_SLOW") == "1"
MATE = "/usr/share/backgrounds/mate"
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
PIL_FILTERS = {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
               "bicubic": InterpolationMode.BICUBIC, "lanczos": InterpolationMode.LANCZOS}
KERAS_FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
                 "lanczos": Image.LANCZOS}

pytestmark = pytest.mark.skipif(not os.access(TOOL, os.X_OK),
                                reason=f"{TOOL} not built (set FEAT_BUILD_DIR)")


# ---- references ----------------------------------------------------------------------------

def open_rgb(path, exif=False):
    with Image.open(path) as im:
        if exif:
            im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def torchvision_reference(path, resize=256, crop=(224, 224), interp="bilinear", mean=IMAGENET_MEAN,
                          std=IMAGENET_STD, exif=False):
    tf = T.Compose([T.Resize(resize, interpolation=PIL_FILTERS[interp]),
                    T.CenterCrop((crop[1], crop[0])),  # (h, w)
                    T.ToTensor(), T.Normalize(mean, std)])
    with torch.no_grad():
        return tf(open_rgb(path, exif)).numpy()


def keras_reference(path, size=(224, 224), interp="nearest", mean=CAFFE_BGR_MEAN, exif=False):
    with Image.open(path) as im:
        img = ImageOps.exif_transpose(im) if exif else im
        if img.mode != "RGB":
            img = img.convert("RGB")
        if img.size != size:
            img = img.resize(size, KERAS_FILTERS[interp])
        x = np.asarray(img, dtype=np.float32).copy()
    x = x[..., ::-1]
    x[..., 0] -= mean[0]
    x[..., 1] -= mean[1]
    x[..., 2] -= mean[2]
    return np.ascontiguousarray(x.transpose(2, 0, 1))  # model input: CHW, BGR


# ---- libfeat side --------------------------------------------------------------------------

def run_dump(files, tmp_path, args=()):
    """Returns {file: tensor or ('ERROR', status, message)}, one process for all files."""
    out = {}
    argv = [TOOL, *args]
    outs = []
    for i, f in enumerate(files):
        o = str(tmp_path / f"out{i}.f32")
        argv += [str(f), o]
        outs.append(o)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 3), f"preprocess_dump failed ({r.returncode}): {r.stderr}"
    errors = {}
    for line in r.stdout.splitlines():
        if line.startswith("ERROR "):
            _, path, status, msg = line.split(" ", 3)
            errors[path] = (status, msg)
    for f, o in zip(files, outs):
        if str(f) in errors:
            out[f] = ("ERROR",) + errors[str(f)]
        else:
            out[f] = np.fromfile(o, dtype=np.float32)
            os.unlink(o)
    return out


def compare(files, tmp_path, args, reference):
    got = run_dump(files, tmp_path, args)
    bad = []
    for f in files:
        ref = reference(f)
        g = got[f]
        if isinstance(g, tuple):
            bad.append(f"{f}: libfeat failed: {g[1:]}")
            continue
        if g.size != ref.size:
            bad.append(f"{f}: size {g.size} != {ref.size}")
            continue
        g = g.reshape(ref.shape)
        d = np.abs(g.astype(np.float64) - ref.astype(np.float64))
        if d.max() != 0:
            bad.append(f"{f}: max |diff| {d.max():.6g}, {int((d > 0).sum())} of {d.size} values differ")
    assert not bad, "\n".join(bad)
    return len(files)


# ---- corpora -------------------------------------------------------------------------------

def mate_photos():
    files = sorted(glob.glob(f"{MATE}/**/*.jpg", recursive=True) + glob.glob(f"{MATE}/**/*.png", recursive=True))
    if SLOW:
        return files
    # Representative and quick: baseline 4:2:0, progressive, 1280x1024, PNG LA and RGBA.
    keep = ("Garden.jpg", "FreshFlower.jpg", "GreenMeadow.jpg", "GreenTraditional.jpg", "Stripes.png",
            "Arc-Colors-Transparent-Wallpaper.png")
    return [f for f in files if os.path.basename(f) in keep]


def skimage_images():
    files = sorted(glob.glob(f"{SKIMAGE}/*.png") + glob.glob(f"{SKIMAGE}/*.jpg"))
    return [f for f in files if not f.endswith("truncated.jpg")]


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_pack_rows(a, depth):
    """a: (h, w, c) integer samples -> list of raw scanlines (no filter byte)."""
    h, w, c = a.shape
    rows = []
    for y in range(h):
        s = a[y].reshape(-1)
        if depth == 16:
            rows.append(s.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(s.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            pad = (-len(s)) % per
            s = np.concatenate([s, np.zeros(pad, dtype=s.dtype)]).astype(np.uint8).reshape(-1, per)
            b = np.zeros(len(s), dtype=np.uint8)
            for k in range(per):
                b |= (s[:, k] << (8 - depth * (k + 1))).astype(np.uint8)
            rows.append(b.tobytes())
    return rows


def write_png(path, a, depth, ctype, interlace=False, extra=b""):
    """A minimal PNG encoder for what Pillow cannot write (16-bit RGB/RGBA/LA, 2/4-bit gray,
    Adam7 interlacing, tRNS on gray/RGB)."""
    h, w = a.shape[:2]
    data = b""
    if interlace:
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                               (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += b"".join(b"\0" + r for r in _png_pack_rows(sub, depth))
    else:
        data = b"".join(b"\0" + r for r in _png_pack_rows(a, depth))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + extra + _png_chunk(b"IDAT", zlib.compress(data))
                + _png_chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """Synthetic JPEG/PNG variants, written by Pillow (or write_png where Pillow cannot)."""
    d = tmp_path_factory.mktemp("generated")
    rng = np.random.default_rng(1234)
    with Image.open(f"{MATE}/nature/Garden.jpg") as im:
        photo = im.convert("RGB")
    files, exif_files = [], []

    def base(w, h):
        # Natural content plus a little noise so every sample matters.
        im = photo.resize((w, h), Image.BILINEAR)
        a = np.asarray(im).astype(np.int16) + rng.integers(-8, 9, (h, w, 3))
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    def save(im, name, **kw):
        p = str(d / name)
        im.save(p, **kw)
        files.append(p)
        return p

    b = base(333, 251)  # odd sides; resized width 339, (339-224) odd: a half-even crop
    for q in (75, 95, 100):
        for ss, tag in ((0, "444"), (1, "422"), (2, "420")):
            save(b, f"q{q}_{tag}.jpg", quality=q, subsampling=ss)
    save(b, "progressive.jpg", quality=90, progressive=True)
    save(b, "progressive_444.jpg", quality=92, progressive=True, subsampling=0)
    save(b, "optimized.jpg", quality=85, optimize=True)
    save(b.convert("L"), "gray.jpg", quality=90)
    save(b.convert("CMYK"), "cmyk.jpg", quality=90)
    save(base(341, 256), "short256.jpg", quality=90)       # shorter side already 256: no resize
    save(base(256, 256), "square256.png")
    save(base(343, 260), "halfeven.jpg", quality=90)
    save(base(400, 256), "w400h256.png")
    save(base(150, 100), "upsample.jpg", quality=90)      # shorter side below 224: upsampling
    save(base(224, 224), "exact224.jpg", quality=90)
    save(base(1, 1), "tiny1x1.png")
    save(base(2, 3), "tiny2x3.jpg", quality=90)
    save(base(1, 1), "tiny1x1.jpg", quality=90)
    save(base(3, 700), "tall3x700.png")
    save(base(700, 3), "wide700x3.jpg", quality=90)
    save(base(1000, 17), "wide1000x17.png")
    # PNG modes Pillow writes
    save(b.convert("RGBA"), "rgba.png")
    rgba = np.dstack([np.asarray(b), rng.integers(0, 256, (251, 333), dtype=np.uint8)])
    save(Image.fromarray(rgba, "RGBA"), "rgba_alpha.png")
    la = np.dstack([np.asarray(b.convert("L")), rng.integers(0, 256, (251, 333), dtype=np.uint8)])
    save(Image.fromarray(la, "LA"), "la.png")
    save(b.convert("L"), "gray8.png")
    save(b.convert("1"), "bilevel.png")
    pal = b.convert("P", palette=Image.ADAPTIVE, colors=200)
    save(pal, "palette.png")
    save(pal, "palette_trns.png", transparency=3)
    pal16 = b.convert("P", palette=Image.ADAPTIVE, colors=16)
    save(pal16, "palette4bit.png", bits=4)
    trns = bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    save(pal, "palette_trns_bytes.png", transparency=trns)
    g16 = (np.asarray(b.convert("L")).astype(np.uint32) * 3 - 100).clip(0, 65535).astype(np.uint16)
    save(Image.fromarray(g16.astype(np.int32), "I").convert("I;16"), "gray16_pil.png")
    # PNG variants written by hand
    a8 = np.asarray(b).astype(np.uint16)
    rgb16 = a8 * 257 + rng.integers(0, 256, a8.shape).astype(np.uint16)
    p = str(d / "rgb16.png"); write_png(p, rgb16, 16, 2); files.append(p)
    p = str(d / "rgb16_interlaced.png"); write_png(p, rgb16, 16, 2, interlace=True); files.append(p)
    rgba16 = np.dstack([rgb16, rng.integers(0, 65536, (251, 333), dtype=np.uint16)])
    p = str(d / "rgba16.png"); write_png(p, rgba16, 16, 6); files.append(p)
    la16 = np.dstack([rgb16[..., :1], rng.integers(0, 65536, (251, 333, 1), dtype=np.uint16)])
    p = str(d / "la16.png"); write_png(p, la16, 16, 4); files.append(p)
    gray16 = rng.integers(0, 600, (251, 333, 1)).astype(np.uint16)  # both sides of the 255 clamp
    p = str(d / "gray16.png"); write_png(p, gray16, 16, 0); files.append(p)
    p = str(d / "gray16_interlaced.png"); write_png(p, gray16, 16, 0, interlace=True); files.append(p)
    for depth in (1, 2, 4):
        g = rng.integers(0, 1 << depth, (97, 131, 1))
        p = str(d / f"gray{depth}bit.png"); write_png(p, g, depth, 0); files.append(p)
        p = str(d / f"gray{depth}bit_interlaced.png"); write_png(p, g, depth, 0, interlace=True); files.append(p)
    p = str(d / "rgb8_interlaced.png"); write_png(p, np.asarray(b), 8, 2, interlace=True); files.append(p)
    p = str(d / "rgb8_trns.png")
    write_png(p, np.asarray(b), 8, 2, extra=_png_chunk(b"tRNS", struct.pack(">HHH", 10, 20, 30))); files.append(p)
    p = str(d / "gray8_trns.png")
    write_png(p, np.asarray(b.convert("L"))[..., None], 8, 0, extra=_png_chunk(b"tRNS", struct.pack(">H", 7)))
    files.append(p)
    # Palette shorter than the indices used: Pillow fills unset entries with (i, i, i).
    idx = rng.integers(0, 256, (61, 77, 1))
    plte = _png_chunk(b"PLTE", bytes(rng.integers(0, 256, 3 * 5, dtype=np.uint8)))
    p = str(d / "palette_short.png"); write_png(p, idx, 8, 3, extra=plte); files.append(p)
    p = str(d / "palette2bit_interlaced.png")
    write_png(p, rng.integers(0, 4, (61, 77, 1)), 2, 3, interlace=True, extra=plte); files.append(p)
    # EXIF orientation 1..8 (and an invalid 9) on a non-square image, JPEG and PNG (eXIf).
    eb = base(300, 200)
    for k in range(1, 10):
        exif = Image.Exif()
        exif[0x0112] = k
        p = str(d / f"exif{k}.jpg")
        eb.save(p, quality=90, exif=exif.tobytes())
        exif_files.append(p)
    for k in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = k
        p = str(d / f"exif{k}.png")
        eb.save(p, exif=exif.tobytes())
        exif_files.append(p)
    return {"files": files, "exif": exif_files, "dir": d}


# ---- tests ---------------------------------------------------------------------------------

def test_torchvision_mate_photos(tmp_path):
    files = mate_photos()
    assert files, "no photos under /usr/share/backgrounds/mate"
    compare(files, tmp_path, (), torchvision_reference)


def test_keras_mate_photos(tmp_path):
    compare(mate_photos(), tmp_path, ("--preset", "keras-vgg16"), keras_reference)


def test_torchvision_skimage(tmp_path):
    compare(skimage_images(), tmp_path, (), torchvision_reference)


def test_keras_skimage(tmp_path):
    compare(skimage_images(), tmp_path, ("--preset", "keras-vgg16"), keras_reference)


def test_torchvision_generated(generated, tmp_path):
    compare(generated["files"] + generated["exif"], tmp_path, (), torchvision_reference)


def test_keras_generated(generated, tmp_path):
    compare(generated["files"] + generated["exif"], tmp_path, ("--preset", "keras-vgg16"), keras_reference)


@pytest.mark.parametrize("interp", ["nearest", "bicubic", "lanczos"])
def test_torchvision_interpolations(generated, tmp_path, interp):
    files = [f for f in generated["files"] if "tiny" not in f][:20] + mate_photos()[:2]
    compare(files, tmp_path, ("--interp", interp), lambda f: torchvision_reference(f, interp=interp))


@pytest.mark.parametrize("interp", ["bilinear", "bicubic", "lanczos"])
def test_keras_interpolations(generated, tmp_path, interp):
    files = generated["files"][:20] + mate_photos()[:1]
    compare(files, tmp_path, ("--preset", "keras-vgg16", "--interp", interp),
            lambda f: keras_reference(f, interp=interp))


@pytest.mark.parametrize("resize,crop", [(232, (224, 224)), (200, (224, 224)), (256, (224, 160)),
                                         (300, (299, 299)), (64, (32, 48))])
def test_torchvision_sizes(generated, tmp_path, resize, crop):
    """ResNet50 V2's 232, a crop larger than the resized image (zero padding), rectangles."""
    files = generated["files"] + mate_photos()[:1]
    compare(files, tmp_path, ("--resize", str(resize), "--crop", str(crop[0]), str(crop[1])),
            lambda f: torchvision_reference(f, resize=resize, crop=crop))


def test_keras_sizes(generated, tmp_path):
    files = generated["files"][:25] + mate_photos()[:1]
    compare(files, tmp_path, ("--preset", "keras-vgg16", "--crop", "150", "100"),
            lambda f: keras_reference(f, size=(150, 100)))


def test_custom_mean_std(generated, tmp_path):
    mean, std = (0.5, 0.25, 0.125), (0.5, 0.3, 0.7)
    files = generated["files"][:10]
    compare(files, tmp_path, ("--mean", *map(str, mean), "--std", *map(str, std)),
            lambda f: torchvision_reference(f, mean=mean, std=std))
    kmean = (90.0, 100.5, 110.25)
    compare(files, tmp_path, ("--preset", "keras-vgg16", "--mean", *map(str, kmean)),
            lambda f: keras_reference(f, mean=kmean))


def test_exif_orientation(generated, tmp_path):
    files = generated["exif"]
    compare(files, tmp_path, ("--exif",), lambda f: torchvision_reference(f, exif=True))
    compare(files, tmp_path, ("--exif", "--preset", "keras-vgg16"), lambda f: keras_reference(f, exif=True))
    # The references really differ from the unrotated image (the test can fail).
    a = torchvision_reference(files[5], exif=True)
    b = torchvision_reference(files[5], exif=False)
    assert np.abs(a - b).max() > 0.1


def test_truncated_jpeg_rejected_like_pillow(tmp_path):
    path = f"{SKIMAGE}/truncated.jpg"
    if not os.path.exists(path):
        pytest.skip("skimage truncated.jpg not present")
    with pytest.raises(OSError, match="(?i)truncated"):
        Image.open(path).convert("RGB")
    got = run_dump([path], tmp_path)[path]
    assert isinstance(got, tuple) and got[1] == "FEAT_E_DECODE" and "truncated" in got[2], got


def test_truncated_copies_rejected(generated, tmp_path):
    """Every cut of a JPEG and a PNG that Pillow refuses, libfeat refuses too."""
    cases = []
    for name in ("progressive.jpg", "q95_420.jpg", "rgb8_interlaced.png", "palette.png"):
        src = open(str(generated["dir"] / name), "rb").read()
        cuts = [int(len(src) * frac) for frac in (0.3, 0.7, 0.95)] + [len(src) - 2]  # last: no EOI / IEND
        for cut in cuts:
            p = tmp_path / f"cut{cut}_{name}"
            p.write_bytes(src[:cut])
            cases.append(str(p))
    got = run_dump(cases, tmp_path)
    refused = 0
    for p in cases:
        try:
            ref = torchvision_reference(p)
        except (OSError, SyntaxError, ValueError):
            refused += 1
            assert isinstance(got[p], tuple) and got[p][1] == "FEAT_E_DECODE", (p, got[p])
        else:
            # Pillow accepts a PNG cut inside IEND (it never reads it): then so do we, exactly.
            assert not isinstance(got[p], tuple), (p, got[p])
            assert np.array_equal(got[p].reshape(ref.shape), ref), p
    assert refused >= 14


def test_corrupt_data_like_pillow(generated, tmp_path):
    """Damaged bytes inside JPEG scans and PNG data: where Pillow still decodes (it ignores
    libjpeg's corrupt-data warnings) libfeat gives the identical tensor; where Pillow refuses,
    libfeat refuses."""
    rng = np.random.default_rng(7)
    cases = []
    for name in ("q95_420.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg", "palette.png", "rgb16.png"):
        src = bytearray(open(str(generated["dir"] / name), "rb").read())
        for k in range(6):
            b = bytearray(src)
            for pos in rng.integers(len(b) // 3, len(b) - 8, 1 + k % 3):
                b[pos] = (b[pos] + int(rng.integers(1, 255))) & 0xFF
            p = tmp_path / f"bad{k}_{name}"
            p.write_bytes(bytes(b))
            cases.append(str(p))
    got = run_dump(cases, tmp_path)
    accepted = 0
    for p in cases:
        try:
            ref = torchvision_reference(p)
        except (OSError, SyntaxError, ValueError):
            assert isinstance(got[p], tuple) and got[p][1] in ("FEAT_E_DECODE", "FEAT_E_UNSUPPORTED"), (p, got[p])
        else:
            accepted += 1
            assert not isinstance(got[p], tuple), (p, got[p])
            assert np.array_equal(got[p].reshape(ref.shape), ref), p
    assert accepted >= 6  # the JPEG cases mostly decode with warnings, in both


def test_fast_mode_is_close(tmp_path):
    """FAST decode is not exact; it must stay near (documented bounds in docs/imaging.md)."""
    files = [f for f in mate_photos() if f.endswith(".jpg")][:3]
    got = run_dump(files, tmp_path, ("--fast",))
    for f in files:
        ref = torchvision_reference(f)
        d = np.abs(got[f].reshape(ref.shape) - ref) / (1 / 255 / 0.225)  # in 8-bit steps
        assert d.mean() < 2.0 and d.max() < 64, (f, d.mean(), d.max())
