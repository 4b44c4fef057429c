#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the small seed inputs of the image, tokenizer, vocab and tokenizer.json fuzz targets into
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
    tokjson_seeds()


def tokjson_seeds():
    """Small WordPiece tokenizer.json files as `tokenizers` writes them (TemplateProcessing and
    BertProcessing, with truncation and padding), and a BPE one that must be refused."""
    import json

    from tokenizers import BertWordPieceTokenizer, Tokenizer, models, processors

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s",
                                         "un", "##aff", "##able", ",", "!", "<x>", "w", "##\u00f6", "##rld"])}
    bert = BertWordPieceTokenizer(vocab, lowercase=False)
    bert.enable_truncation(16)
    bert.enable_padding(length=16)
    save("tokjson", "bert_processing.json", bert.to_str().encode())
    j = json.loads(bert.to_str())
    j["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                           "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}
    j["normalizer"]["lowercase"] = True
    j["added_tokens"].append({"id": 13, "content": "<x>", "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False, "special": False})
    j["model"]["continuing_subword_prefix"] = "##"
    j["model"]["max_input_chars_per_word"] = 8
    save("tokjson", "template.json", json.dumps(j, indent=1).encode())
    bpe = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    bpe.post_processor = processors.BertProcessing(("b", 1), ("a", 0))
    save("tokjson", "bpe.json", bpe.to_str().encode())


if __name__ == "__main__":
    main()
