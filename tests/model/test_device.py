# SPDX-License-Identifier: MIT
"""Device selection: a CUDA request on a build or machine without CUDA is a clear error (the
C status, FEAT_E_DEVICE, is checked by the Python binding's tests), and where a GPU is visible
to libfeat's libtorch, its features equal the CPU's within 1e-4 of each row's scale (float32). The GPU tests skip when libfeat reports no usable GPU, so
the suite passes unchanged on CPU-only machines such as CI."""
import numpy as np
import pytest

from test_image_features import PHOTOS, read_rows, run_feat
from test_text_features import FORTUNES_DE, FORTUNES_EN, fortunes, run_text

TOL = 1e-4
IMAGES = [p for p in PHOTOS if p.suffix in (".jpg", ".png")][:6]
NO_GPU = "no CUDA support or no GPU is visible"


def gpu_probe(feat_cli, model, tmp_path):
    """Runs `feat image --device cuda:0` on one photo: (usable, stderr)."""
    r = run_feat(feat_cli, "image", "--model", model, "--taps", "layer4:gap", "--device", "cuda:0",
                 "-o", tmp_path / "probe.npy", IMAGES[0])
    return r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def gpu(feat_cli, models, tmp_path_factory):
    usable, stderr = gpu_probe(feat_cli, models["resnet18-script"], tmp_path_factory.mktemp("probe"))
    if not usable and NO_GPU not in stderr:
        # Any other failure would silently skip the GPU tests.
        pytest.fail(f"the GPU probe failed for another reason than a missing GPU:\n{stderr}")
    return usable


def rows_close(got, want):
    """Largest difference of a row relative to that row's largest value."""
    assert got.shape == want.shape
    scale = np.maximum(np.abs(want).max(axis=1), 1e-12)
    return float((np.abs(got - want).max(axis=1) / scale).max())


def test_cuda_without_gpu_is_a_clear_error(feat_cli, models, gpu, tmp_path):
    if gpu:
        pytest.skip("a GPU is visible: the CPU-only error path does not apply")
    r = run_feat(feat_cli, "image", "--model", models["resnet18-script"], "--device", "cuda:0",
                 "-o", tmp_path / "x.npy", IMAGES[0])
    assert r.returncode == 1 and NO_GPU in r.stderr, r.stderr  # a load failure: exit status 1
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("device", ["tpu", "cuda:", "cuda:x", "cuda:-1"])
def test_unknown_device_is_rejected(feat_cli, models, tmp_path, device):
    r = run_feat(feat_cli, "image", "--model", models["resnet18-script"], "--device", device,
                 "-o", tmp_path / "x.npy", IMAGES[0])
    assert r.returncode == 2, r.stderr  # a usage error, found before the model is loaded
    assert f"device '{device}' not understood" in r.stderr, r.stderr


@pytest.mark.parametrize("model_name,spec", [("resnet18-script", "layer4:gap,layer2:gmp"),
                                             ("vgg16-script", "features.29:gap,features.28:gmp")])
def test_gpu_image_features_match_cpu(feat_cli, models, gpu, tmp_path, model_name, spec):
    if not gpu:
        pytest.skip("no GPU visible to libfeat's libtorch")
    out = {}
    for device in ("cpu", "cuda:0"):
        out[device] = tmp_path / f"{device.replace(':', '')}.npy"
        r = run_feat(feat_cli, "image", "--model", models[model_name], "--taps", spec, "--device", device,
                     "--batch-size", "4", "-o", out[device], *IMAGES)
        assert r.returncode == 0, r.stderr
        assert [row["status"] for row in read_rows(out[device])] == ["ok"] * len(IMAGES)
    err = rows_close(np.load(out["cuda:0"]), np.load(out["cpu"]))
    print(f"{model_name} {spec}: GPU vs CPU, max relative difference {err:.2e}")
    assert err <= TOL


def test_gpu_text_features_match_cpu(feat_cli, models, gpu, tmp_path):
    if not gpu:
        pytest.skip("no GPU visible to libfeat's libtorch")
    lines = fortunes(FORTUNES_EN, 60) + fortunes(FORTUNES_DE, 40)
    got = {}
    for device in ("cpu", "cuda:0"):
        r, out = run_text(feat_cli, models["minilm"], lines, tmp_path, "--taps", "encoder.layer.-1:mean,"
                          "encoder.layer.0:cls", "--device", device, name=device.replace(":", ""))
        assert r.returncode == 0, r.stderr
        got[device] = np.load(out)
    err = rows_close(got["cuda:0"], got["cpu"])
    print(f"MiniLM: GPU vs CPU, max relative difference {err:.2e}")
    assert err <= TOL

