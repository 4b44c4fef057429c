/* SPDX-License-Identifier: MIT */
// Experiment (docs/backends.md, ".pt2"): loads an AOTInductor package with libtorch_cpu only, runs it
// on the input written by export_pt2.py and compares with the eager references.
//   g++ -std=c++20 run_pt2.cpp -I$T/include -I$T/include/torch/csrc/api/include -L$T/lib -Wl,-rpath,$T/lib -ltorch_cpu -lc10
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>
#include <chrono>
#include <fstream>
#include <iostream>
static std::vector<float> readf(const std::string &p) {
    std::ifstream f(p, std::ios::binary | std::ios::ate); size_t n = f.tellg(); f.seekg(0);
    std::vector<float> v(n / 4); f.read((char *)v.data(), n); return v;
}
int main(int argc, char **argv) {
    std::string pkg = argv[1];
    auto t0 = std::chrono::steady_clock::now();
    torch::inductor::AOTIModelPackageLoader loader(pkg);
    auto t1 = std::chrono::steady_clock::now();
    auto xv = readf(pkg + ".x.bin");
    at::Tensor x = torch::from_blob(xv.data(), {2, 3, 224, 224}, torch::kFloat32);
    c10::InferenceMode g;
    std::vector<at::Tensor> out;
    for (int i = 0; i < 3; i++) out = loader.run({x});
    auto t2 = std::chrono::steady_clock::now();
    int N = 10;
    for (int i = 0; i < N; i++) out = loader.run({x});
    auto t3 = std::chrono::steady_clock::now();
    std::cout << "load " << std::chrono::duration<double>(t1 - t0).count() << " s, run(bs2) "
              << std::chrono::duration<double>(t3 - t2).count() / N * 1000 << " ms\n";
    for (size_t i = 0; i < out.size(); i++) {
        auto rv = readf(pkg + ".ref" + std::to_string(i) + ".bin");
        at::Tensor r = torch::from_blob(rv.data(), out[i].sizes(), torch::kFloat32);
        std::cout << "out " << i << " " << out[i].sizes() << " max abs diff " << (out[i] - r).abs().max().item<float>()
                  << " (max |ref| " << r.abs().max().item<float>() << ")\n";
    }
    // another batch size (dynamic batch dim)
    at::Tensor x5 = torch::randn({5, 3, 224, 224});
    auto o5 = loader.run({x5});
    std::cout << "bs5 out0 " << o5[0].sizes() << "\n";
}
