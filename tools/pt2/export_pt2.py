# SPDX-License-Identifier: MIT
"""Experiment (docs/backends.md, ".pt2"): exports torchvision ResNet18 with taps fixed at export
time as an AOTInductor package, plus an input and reference outputs for run_pt2.cpp.

    PY=<a python whose torch 2.x imports> ; $PY tools/pt2/export_pt2.py OUT.pt2 [layer3,layer4,avgpool]

Needs torch >= 2.6 and torchvision in that Python, and a C++ compiler (inductor compiles the
model to a shared library inside the package). Random weights: the point is the path, not the model.
"""
import os
import sys
import time

# The package's compiled wrapper resolves aoti_torch_* from the global symbol scope, so
# libtorch_cpu must be loaded RTLD_GLOBAL for the in-Python check below.
sys.setdlopenflags(os.RTLD_GLOBAL | os.RTLD_NOW)
import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models.feature_extraction import create_feature_extractor  # noqa: E402

out = sys.argv[1]
taps = sys.argv[2].split(",") if len(sys.argv) > 2 else ["layer3", "layer4", "avgpool"]
torch.manual_seed(0)
m = torchvision.models.resnet18().eval()
fx = create_feature_extractor(m, return_nodes={t: t for t in taps})


class Taps(torch.nn.Module):
    """The feature extractor's dict as a tuple in tap order (the package returns a flat list)."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        d = self.f(x)
        return tuple(d[t] for t in taps)


w = Taps(fx).eval()
x = torch.randn(2, 3, 224, 224)
batch = torch.export.Dim("batch", min=1, max=64)
t0 = time.time()
ep = torch.export.export(w, (x,), dynamic_shapes=({0: batch},))
t1 = time.time()
path = torch._inductor.aoti_compile_and_package(ep, package_path=out)
t2 = time.time()
print(f"export {t1 - t0:.1f} s, AOTInductor compile {t2 - t1:.1f} s -> {path}")
with torch.no_grad():
    ref = w(x)
    got = torch._inductor.aoti_load_package(path)(x)
print("python: package vs eager max abs diff", [float((a - b).abs().max()) for a, b in zip(ref, got)])
x.numpy().tofile(out + ".x.bin")
for i, r in enumerate(ref):
    r.numpy().tofile(f"{out}.ref{i}.bin")
