# SPDX-License-Identifier: MIT
"""`feat text` names the OPENBLAS_CORETYPE to set when OpenBLAS fell back to its generic
kernels on a CPU it does not know (tools/feat/blas_core.c), and stays quiet otherwise."""
import subprocess
import sys

from test_text_features import run_text

NOTE = "OpenBLAS does not recognise this CPU"


PROBE = """
import ctypes
try:
    blas = ctypes.CDLL("libblas.so.3")
    blas.openblas_get_corename.restype = ctypes.c_char_p
    print(blas.openblas_get_corename().decode())
except (OSError, AttributeError):
    print("not OpenBLAS")
"""


def openblas_core():
    """OpenBLAS's kernel choice in a fresh process with this environment (it is made at load)."""
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True).stdout.strip()


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        return set(f.read().split())


def test_note_only_when_openblas_fell_back(feat_cli, models, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    r, _ = run_text(feat_cli, models["bert-tiny"], ["a line"], tmp_path)
    assert r.returncode == 0, r.stderr
    fell_back = openblas_core().lower() == "prescott" and {"avx2", "fma"} <= cpu_flags()
    if fell_back:
        want = "SkylakeX" if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= cpu_flags() else "Haswell"
        assert f"{NOTE} and uses its generic kernels; set OPENBLAS_CORETYPE={want}" in r.stderr, r.stderr
    else:
        assert NOTE not in r.stderr, r.stderr


def test_no_note_when_the_user_chose(feat_cli, models, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Prescott")
    r, _ = run_text(feat_cli, models["bert-tiny"], ["a line"], tmp_path)
    assert r.returncode == 0 and NOTE not in r.stderr, r.stderr
