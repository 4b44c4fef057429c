# SPDX-License-Identifier: MIT
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import libfeat
from conftest import assert_same, read_rows


@pytest.fixture(scope="module")
def ex(env):
    with libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], taps=env["FEAT_TEST_TEXT_TAPS"]) as e:
        yield e


@pytest.fixture(scope="module")
def lines(data):
    return (data / "lines.txt").read_bytes().split(b"\n")[:-1]


def test_text_matches_cli(ex, data, lines):
    want, rows = read_rows(data / "ref" / "text.npy")
    r = ex.extract(lines)
    assert ex.dim == 384 and ex.taps == ["encoder.layer.5:mean"] and ex.tap_dims == [384]
    assert_same(r.features, want)
    for i, (status, _, msg) in enumerate(rows):
        assert (r.statuses[i] == 0) == (status == "ok")
        if status != "ok":
            assert r.errors[i] == msg
    bad = [i for i, l in enumerate(lines) if b"\xe9" in l]
    assert list(np.nonzero(r.statuses)[0]) == bad
    assert isinstance(r.item_error(bad[0]), libfeat.DecodeError)


def test_str_and_bytes_agree(ex, lines):
    good = [l for l in lines if b"\xe9" not in l][:5]
    assert_same(ex.extract([l.decode() for l in good]).features, ex.extract(good).features)


def test_pairs_match_cli(env, data):
    want, _ = read_rows(data / "ref" / "pairs.npy")
    pairs = [l.split(b"\t") for l in (data / "pairs.txt").read_bytes().split(b"\n")[:-1]]
    with libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"]) as e:
        r = e.extract_pairs([a for a, _ in pairs], [b for _, b in pairs])
        assert_same(r.features, want)
        with pytest.raises(libfeat.InvalidArgument):
            e.extract_pairs(["a"], [])


def test_borrowed_tokenizer(ex, env):
    tok = ex.tokenizer
    own = libfeat.Tokenizer(env["FEAT_TEST_VOCAB"])
    assert list(tok.encode("A man rides a horse.").ids) == list(own.encode("A man rides a horse.").ids)
    tok.close()  # closing a borrowed tokenizer frees nothing
    assert ex.tokenizer.vocab_size == 30522


def test_bad_taps_fail_at_load(env):
    with pytest.raises(libfeat.FeatError) as ei:
        libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], taps="encoder.layer.99:mean")
    assert isinstance(ei.value, (libfeat.NotFound, libfeat.InvalidArgument)) and "99" in ei.value.message


def test_cancel_from_another_thread(env, lines):
    with libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], batch_size=8) as e:
        texts = [l for l in lines if b"\xe9" not in l] * 60
        timer = threading.Timer(0.3, e.cancel)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(libfeat.Cancelled):
            e.extract(texts)
        timer.join()
        assert time.monotonic() - t0 < 10
        assert e.extract(texts[:2]).n_failed == 0  # usable after a cancelled call


def test_precision_option(env, lines):
    with pytest.raises(libfeat.InvalidArgument):
        libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], precision="fp16")
    with pytest.raises(libfeat.InvalidArgument) as bad:
        libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], precision=7)
    assert bad.value.message.startswith("precision 7 not understood")  # the C setter's message
    good = [l for l in lines if b"\xe9" not in l][:4]
    with libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], taps=env["FEAT_TEST_TEXT_TAPS"], precision="bf16") as e16, \
            libfeat.TextExtractor(env["FEAT_TEST_TEXT_MODEL"], taps=env["FEAT_TEST_TEXT_TAPS"], precision="fp32") as e32:
        a, b = e16.extract(good).features, e32.extract(good).features
    assert 0 < np.abs(a - b).max() < 0.1 * np.abs(b).max()


BLAS_PROBE = """
import warnings
warnings.simplefilter("always")
import libfeat
with libfeat.TextExtractor(MODEL):
    pass
import ctypes, os
blas = ctypes.CDLL("libblas.so.3", mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
blas.openblas_get_corename.restype = ctypes.c_char_p
print(blas.openblas_get_corename().decode())
"""


@pytest.mark.parametrize("coretype", [None, "Prescott"])
def test_openblas_fallback_warning(env, coretype):
    """The warning appears exactly when this process's OpenBLAS fell back to its generic kernels
    on a CPU with better ones, and never when the user chose a core type."""
    child = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    if coretype:
        child["OPENBLAS_CORETYPE"] = coretype
    child["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(libfeat.__file__)),
                                           child.get("PYTHONPATH", "")])
    code = BLAS_PROBE.replace("MODEL", repr(env["FEAT_TEST_TEXT_MODEL"]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child)
    assert r.returncode == 0, r.stderr
    with open("/proc/cpuinfo") as f:
        flags = set(f.read().split())
    fell_back = r.stdout.split()[-1].lower() == "prescott" and {"avx2", "fma"} <= flags
    warned = "OpenBLAS does not recognise this CPU" in r.stderr
    assert warned == (fell_back and coretype is None), r.stderr
