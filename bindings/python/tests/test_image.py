# SPDX-License-Identifier: MIT
import numpy as np
import pytest

import libfeat
from conftest import assert_same, read_rows


@pytest.fixture(scope="module")
def ex(env):
    with libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], taps=env["FEAT_TEST_IMAGE_TAPS"]) as e:
        yield e


@pytest.fixture(scope="module")
def files(data):
    return (data / "files.txt").read_text().splitlines()


def test_files_match_cli(ex, data, files):
    want, rows = read_rows(data / "ref" / "image.npy")
    r = ex.extract_files(files)
    assert r.shape == (len(files), 512 + 128) and ex.dim == 640
    assert ex.taps == ["layer4:gap", "layer2:gmp"]
    assert ex.tap_dims == [512, 128]
    assert_same(r.features, want)
    for i, (status, path, msg) in enumerate(rows):
        assert path == files[i]
        if status == "ok":
            assert r.statuses[i] == 0 and r.errors[i] is None and r.ok[i]
        else:
            assert libfeat.error_for(int(r.statuses[i])).status_name == status
            assert r.errors[i] == msg
    # the bad inputs failed alone, with their own statuses
    names = [f.rsplit("/", 1)[1] for f in files]
    assert isinstance(r.item_error(names.index("missing.jpg")), libfeat.NotFound)
    assert isinstance(r.item_error(names.index("truncated.jpg")), libfeat.DecodeError)
    assert r.item_error(0) is None
    assert r.n_failed == 3
    with pytest.raises(libfeat.DecodeError, match="item 1: .*truncated"):
        r.raise_for_errors()


def test_zero_copy_and_lifetime(ex, files):
    r = ex.extract_files(files[:1])
    feats = r.features
    assert not feats.flags.writeable and not feats.flags.owndata
    del r  # the array keeps the C result alive
    import gc

    gc.collect()
    assert np.isfinite(feats).all()
    r2 = ex.extract_files(files[:1])
    c = r2.copy()
    assert c.flags.writeable and c.flags.owndata
    assert np.array_equal(c, feats)


def test_bytes_match_files(ex, files):
    good = [f for f in files if f.endswith(("Flower.jpg", "gradient.png"))]
    blobs = [open(f, "rb").read() for f in good]
    a = ex.extract_files(good)
    b = ex.extract_bytes(blobs + [b"garbage"])
    assert_same(b.features[:2], a.features)
    assert isinstance(b.item_error(2), libfeat.FeatError) and b.n_failed == 1
    c = ex.extract_bytes([bytearray(blobs[0]), memoryview(blobs[1])])
    assert_same(c.features, a.features)


def test_pixels_match_png(ex, data):
    png = data / "images" / "gradient.png"
    pix = np.frombuffer((data / "images" / "gradient.rgb").read_bytes(), np.uint8).reshape(61, 97, 3)
    want = ex.extract_files([png]).features
    assert_same(ex.extract_pixels([pix]).features, want)
    # a strided view (every other column of a wider image) and a batch array
    wide = np.zeros((61, 194, 3), np.uint8)
    wide[:, ::2] = pix
    assert_same(ex.extract_pixels([wide[:, ::2]]).features, want)
    padded = np.zeros((61, 120, 3), np.uint8)
    padded[:, :97] = pix
    assert_same(ex.extract_pixels([padded[:, :97]]).features, want)  # row stride > 3*width
    assert_same(ex.extract_pixels(np.stack([pix, pix])).features, np.vstack([want, want]))
    with pytest.raises(libfeat.InvalidArgument):
        ex.extract_pixels([np.zeros((4, 4), np.uint8)])


def test_empty_batch(ex):
    r = ex.extract_files([])
    assert r.shape == (0, ex.dim) and r.n_failed == 0


def test_precision_option(env, files):
    with pytest.raises(libfeat.InvalidArgument) as bad:
        libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], precision=7)
    assert bad.value.message.startswith("precision 7 not understood")  # the C setter's message
    good = [f for f in files if f.endswith(("FreshFlower.jpg", "gradient.png"))]
    model, taps = env["FEAT_TEST_IMAGE_MODEL"], env["FEAT_TEST_IMAGE_TAPS"]
    with libfeat.ImageExtractor(model, taps=taps, precision="bf16") as e16, \
            libfeat.ImageExtractor(model, taps=taps, precision="fp32") as e32:
        a, b = e16.extract_files(good).features, e32.extract_files(good).features
    assert len(good) == 2 and 0 < np.abs(a - b).max() < 0.1 * np.abs(b).max()


def test_close_twice_and_use_after_close(env, files):
    e = libfeat.ImageExtractor(env["FEAT_TEST_IMAGE_MODEL"])
    c = e.clone()
    e.close()
    e.close()
    with pytest.raises(libfeat.StateError):
        e.extract_files(files[:1])
    assert e.dim == 0
    r = c.extract_files(files[:1])  # the clone outlives the original
    assert r.shape[0] == 1 and r.n_failed == 0
    with c:
        pass
    assert c.closed
    c.__del__()  # the finalizer after close() frees nothing


def test_device_errors(env):
    model = env["FEAT_TEST_IMAGE_MODEL"]
    for bad in ("tpu", "cuda:", "cuda:x"):
        with pytest.raises(libfeat.InvalidArgument, match="not understood"):
            libfeat.ImageExtractor(model, device=bad)
    try:
        libfeat.ImageExtractor(model, device="cuda:0").close()
    except libfeat.DeviceError as e:  # the CPU-only case: this status, this message
        assert "no CUDA support or no GPU is visible" in e.message
    else:
        pytest.skip("a GPU is visible: GPU parity is tests/model/test_device.py")


def test_one_thread_at_a_time(ex, files):
    """Using one extractor from two threads at once is refused, not undefined behaviour."""
    assert ex._lock.acquire()  # what another thread's call in progress holds
    try:
        with pytest.raises(libfeat.StateError, match="clone"):
            ex.extract_files(files[:1])
    finally:
        ex._lock.release()
    assert ex.extract_files(files[:1]).n_failed == 0
