# SPDX-License-Identifier: MIT
import ctypes
import pickle

import pytest

import libfeat
from libfeat import _errors as E
from libfeat._ffi import lib


def test_version_and_abi():
    assert libfeat.abi_version() == libfeat.ABI_VERSION == 1
    major, minor, patch = map(int, libfeat.version().split("."))
    assert libfeat.version_number() == major * 10000 + minor * 100 + patch


def test_status_names_and_exception_classes():
    expected = {
        -1: (libfeat.InvalidArgument, "FEAT_E_INVALID_ARGUMENT"), -2: (libfeat.OutOfMemory, "FEAT_E_NOMEM"),
        -3: (libfeat.NotFound, "FEAT_E_NOT_FOUND"), -4: (libfeat.Unsupported, "FEAT_E_UNSUPPORTED"),
        -5: (libfeat.BufferTooSmall, "FEAT_E_BUFFER_TOO_SMALL"), -6: (libfeat.DecodeError, "FEAT_E_DECODE"),
        -7: (libfeat.DeviceError, "FEAT_E_DEVICE"), -8: (libfeat.Cancelled, "FEAT_E_CANCELLED"),
        -9: (libfeat.StateError, "FEAT_E_STATE"), -10: (libfeat.BackendError, "FEAT_E_BACKEND"),
        -11: (libfeat.InternalError, "FEAT_E_INTERNAL"), -12: (libfeat.IOFailure, "FEAT_E_IO"),
        -13: (libfeat.LimitExceeded, "FEAT_E_LIMIT"), -14: (libfeat.ModelError, "FEAT_E_MODEL"),
    }
    for status, (cls, name) in expected.items():
        e = libfeat.error_for(status, "msg")
        assert type(e) is cls and isinstance(e, libfeat.FeatError)
        assert e.status == status and e.status_name == name and e.message == "msg"
        assert str(e) == f"{name}: msg"
        assert type(pickle.loads(pickle.dumps(e))) is cls
    future = libfeat.error_for(-99, "new")
    assert type(future) is libfeat.FeatError and future.status == -99


def test_layers(env):
    ls = libfeat.layers(env["FEAT_TEST_IMAGE_MODEL"])
    by = {l.path: l for l in ls}
    assert by["layer4"].shape == (1, 512, 7, 7)
    assert by["layer2"].shape == (1, 128, 28, 28)
    ls64 = {l.path: l for l in libfeat.layers(env["FEAT_TEST_IMAGE_MODEL"], size=64)}
    assert ls64["layer4"].shape == (1, 512, 2, 2)
    for l in ls:
        assert (l.shape is None) == bool(l.note), l


def test_missing_model_is_not_found(tmp_path):
    with pytest.raises(libfeat.NotFound) as ei:
        libfeat.layers(tmp_path / "nope.pt")
    assert "nope.pt" in ei.value.message
    with pytest.raises(libfeat.NotFound):
        libfeat.ImageExtractor(tmp_path / "nope.pt", taps="layer4:gap")


def test_not_a_model(tmp_path):
    p = tmp_path / "garbage.pt"
    p.write_bytes(b"not a zip archive at all")
    with pytest.raises(libfeat.ModelError) as ei:
        libfeat.ImageExtractor(p, taps="layer4:gap")
    assert ei.value.status == E.E_MODEL and ei.value.message


def test_set_threads():
    before = libfeat.threads()
    with pytest.raises(libfeat.InvalidArgument) as ei:
        libfeat.set_threads(-1)
    assert ei.value.message
    libfeat.set_threads(2)
    assert libfeat.threads() == 2
    libfeat.set_threads(0)
    assert libfeat.threads() == before or libfeat.threads() >= 1


def test_tokenizer(env):
    tok = libfeat.Tokenizer(env["FEAT_TEST_VOCAB"])
    e = tok.encode("Hello, world! Héllo", "second part")
    assert e.tokens == ["[CLS]", "hello", ",", "world", "!", "hello", "[SEP]", "second", "part", "[SEP]"]
    assert list(e.ids[:2]) == [101, 7592] and e.ids.dtype.name == "int32"
    assert list(e.type_ids) == [0] * 7 + [1] * 3
    assert list(e.sequence_ids) == [-1, 0, 0, 0, 0, 0, -1, 1, 1, -1]
    assert e.attention_mask.sum() == 10
    text = "Hello, world! Héllo"
    assert text[e.offsets[5][0]:e.offsets[5][1]] == "Héllo"
    assert text.encode()[e.byte_offsets[5][0]:e.byte_offsets[5][1]] == "Héllo".encode()
    assert tok.token_to_id("hello") == 7592 and tok.token_to_id("notatoken~~") is None
    assert tok.id_to_token(7592) == "hello" and tok.id_to_token(10 ** 9) is None
    assert len(tok) == tok.vocab_size == 30522
    short = libfeat.Tokenizer(env["FEAT_TEST_VOCAB"], max_length=5)
    e = short.encode("one two three four five six")
    assert len(e.ids) == 5 and e.n_truncated == 3
    with pytest.raises(libfeat.DecodeError) as ei:
        tok.encode(b"caf\xe9")
    assert "UTF-8" in ei.value.message
    repl = libfeat.Tokenizer(env["FEAT_TEST_VOCAB"], utf8="replace")
    assert len(repl.encode(b"caf\xe9").ids) >= 3
    tok.close()
    tok.close()  # twice is safe
    with pytest.raises(libfeat.StateError):
        tok.encode("x")


def test_tokenizer_bad_vocab(tmp_path):
    with pytest.raises(libfeat.NotFound):
        libfeat.Tokenizer(tmp_path / "missing.txt")
    v = tmp_path / "v.txt"
    v.write_text("a\nb\n")
    with pytest.raises(libfeat.NotFound) as ei:
        libfeat.Tokenizer(v)
    assert "[UNK]" in ei.value.message or "[CLS]" in ei.value.message


def test_bad_option_values(env):
    with pytest.raises(libfeat.InvalidArgument):
        libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], preset="no-such-preset")
    with pytest.raises(libfeat.InvalidArgument) as ei:
        libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], taps="layer4:::")
    assert ei.value.message


def test_missing_symbol_fails_at_call_not_import():
    m = libfeat._ffi._Missing("feat_future_function")
    with pytest.raises(libfeat.Unsupported):
        m()


def test_library_path():
    assert libfeat.library_path()
    assert isinstance(lib._dll, ctypes.CDLL)
