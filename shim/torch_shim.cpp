/* SPDX-License-Identifier: MIT */
// The libtorch backend: load TorchScript, add layer taps by graph surgery, freeze, run.
// specs in docs/taps.md; the algorithm follows the tap method described there:
// locate each tapped module's CallMethod in forward's graph (inlining only its ancestors),
// register its value as an output, inline the rest, clone values that a later in-place op
// would overwrite, unpack tuple outputs, return all taps as one tuple and let dead-code
// elimination drop everything after the deepest tap.

#include "shim/shim.h"

#include <torch/script.h>
#include <torch/cuda.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

namespace
{

// A failure with a libfeat status; thrown inside the shim only, caught at the C boundary.
struct ShimError : std::runtime_error {
    feat_status code;
    ShimError(feat_status c, const std::string &m) : std::runtime_error(m), code(c) {}
};

std::string first_line(const std::string &s)
{
    auto nl = s.find('\n');
    std::string l = nl == std::string::npos ? s : s.substr(0, nl);
    return l.size() > 300 ? l.substr(0, 300) + "..." : l;
}

// Every C entry point runs its body through this: no exception crosses into C.
template <class F> feat_status guarded(feat_error *err, const char *what, F &&body)
{
    try {
        body();
        return FEAT_OK;
    } catch (const ShimError &e) {
        return feat_error_set(err, e.code, "%s", e.what());
    } catch (const c10::Error &e) {
        return feat_error_set(err, FEAT_E_BACKEND, "%s: %s", what, first_line(e.what_without_backtrace()).c_str());
    } catch (const std::bad_alloc &) {
        return feat_error_set(err, FEAT_E_NOMEM, "%s: out of memory", what);
    } catch (const std::exception &e) {
        return feat_error_set(err, FEAT_E_BACKEND, "%s: %s", what, first_line(e.what()).c_str());
    } catch (...) {
        return feat_error_set(err, FEAT_E_INTERNAL, "%s: unknown exception", what);
    }
}

std::vector<std::string> split_path(const std::string &p)
{
    std::vector<std::string> out;
    std::stringstream ss(p);
    std::string seg;
    while (std::getline(ss, seg, '.'))
        out.push_back(seg);
    return out;
}

// The module path of a value: the prim::GetAttr chain from the graph's self input.
std::optional<std::vector<std::string>> module_path(Value *v, Value *self)
{
    std::vector<std::string> rev;
    while (v != self) {
        Node *n = v->node();
        if (n->kind() != c10::prim::GetAttr)
            return std::nullopt;
        rev.push_back(n->s(c10::attr::name));
        v = n->input(0);
    }
    return std::vector<std::string>(rev.rbegin(), rev.rend());
}

// forward, or forward1, forward2 ... (traced modules called several times).
bool is_forward_name(const std::string &n)
{
    if (n.rfind("forward", 0) != 0)
        return false;
    return std::all_of(n.begin() + 7, n.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_prefix(const std::vector<std::string> &p, const std::vector<std::string> &t)
{
    return p.size() < t.size() && std::equal(p.begin(), p.end(), t.begin());
}

// Is the module called somewhere inside control flow (a nested block)? For the error message.
bool called_in_nested_block(torch::jit::Block *b, Value *self, const std::vector<std::string> &target, int depth)
{
    for (Node *n : b->nodes()) {
        for (torch::jit::Block *sub : n->blocks())
            if (called_in_nested_block(sub, self, target, depth + 1))
                return true;
        if (depth > 0 && n->kind() == c10::prim::CallMethod) {
            auto p = module_path(n->input(0), self);
            if (p && (*p == target || is_prefix(*p, target)))
                return true;
        }
    }
    return false;
}

// Finds the value produced by the call of module `target` (k-th call when k >= 0) in the
// top-level block, inlining ancestor calls as needed.
Value *locate(Graph &g, const std::string &spec, const std::vector<std::string> &target, int k)
{
    Value *self = g.inputs().at(0);
    for (int guard = 0; guard < 10000; guard++) {
        std::vector<Node *> exact;
        Node *inl = nullptr;
        size_t best = 0;
        for (Node *n : g.nodes()) {
            if (n->kind() != c10::prim::CallMethod)
                continue;
            auto p = module_path(n->input(0), self);
            if (!p)
                continue;
            if (*p == target && is_forward_name(n->s(c10::attr::name)))
                exact.push_back(n);
            else if ((is_prefix(*p, target) || (p->empty() && !target.empty())) && (!inl || p->size() >= best)) {
                inl = n;
                best = p->size();
            }
        }
        if (!exact.empty()) {
            if (k >= 0) {
                if ((size_t)k >= exact.size())
                    throw ShimError(FEAT_E_NOT_FOUND, "tap '" + spec + "': the module is called " +
                                                          std::to_string(exact.size()) +
                                                          " time(s); calls are numbered from @0");
                return exact[(size_t)k]->output();
            }
            if (exact.size() > 1)
                throw ShimError(FEAT_E_INVALID_ARGUMENT,
                                "tap '" + spec + "': the module is called " + std::to_string(exact.size()) +
                                    " times in forward, which output is ambiguous; name one call as '" + spec +
                                    "@0' .. '" + spec + "@" + std::to_string(exact.size() - 1) + "'");
            return exact[0]->output();
        }
        if (!inl) {
            if (called_in_nested_block(g.block(), self, target, 0))
                throw ShimError(FEAT_E_UNSUPPORTED,
                                "tap '" + spec +
                                    "': the module is called inside control flow (if/loop) of the "
                                    "scripted model, where taps are not supported; tap an enclosing "
                                    "module, or export the model with torch.jit.trace");
            throw ShimError(FEAT_E_NOT_FOUND, "tap '" + spec + "': the module exists but forward never calls it");
        }
        auto cls = inl->input(0)->type()->expect<c10::ClassType>();
        auto &fn = torch::jit::toGraphFunction(cls->getMethod(inl->s(c10::attr::name)));
        // The Graph* overload inlines the un-optimized callee graph, which keeps the nested
        // CallMethods we still have to find.
        torch::jit::inlineCallTo(inl, &fn, fn.graph().get());
    }
    throw ShimError(FEAT_E_INTERNAL, "tap '" + spec + "': inlining did not converge");
}

struct Tap {
    std::string spec;
    std::vector<std::string> path;
    int call;
    size_t index; // position in the caller's order
};

} // namespace

struct feat_shim_model {
    std::atomic<int> refs{1};
    torch::jit::Module module;
    c10::Device device{c10::kCPU};
    std::vector<std::string> module_paths;
    std::vector<const char *> module_cstrs;
    size_t n_inputs = 0;
    std::string method = "forward";
    size_t n_taps = 0;
    std::vector<size_t> tap_slot; // output slot for each prepared tap, in caller order
    int32_t precision = 0;        // feat_precision; 2 = bfloat16 autocast around each run
    bool quantized = false;       // the graph calls quantized:: ops (an int8 export)
};

struct feat_shim_outputs {
    std::vector<at::Tensor> tensors;
};

// The profiling executor specializes a graph on the input shapes it sees and recompiles
// (with the tensor-expression fuser) when they change: about 1 s per new (batch, length)
// shape for MiniLM here, and text batches change shape all the time. The legacy executor
// runs the frozen, optimized graph as is: 2-4x faster over a stream of shapes and no
// per-shape compiles; convolution models run at the same speed (docs/performance.md).
// The setting is process-wide in libtorch, so it is made once, before the first load.
static void choose_executor()
{
    static std::once_flag once;
    std::call_once(once, [] {
        torch::jit::getProfilingMode() = false;
        torch::jit::getExecutorMode() = false;
    });
}

extern "C" {

int feat_shim_available(void) { return 1; }

feat_status feat_shim_load(const char *path, const char *device, feat_shim_model **out, feat_error *err)
{
    *out = nullptr;
    return guarded(err, "loading the model", [&] {
        choose_executor();
        struct stat st;
        if (!path || stat(path, &st) != 0)
            throw ShimError(FEAT_E_NOT_FOUND,
                            std::string("model file '") + (path ? path : "(null)") + "' does not exist");
        if (S_ISDIR(st.st_mode))
            throw ShimError(FEAT_E_IO, std::string("model path '") + path + "' is a directory");
        c10::Device dev(c10::kCPU);
        std::string dname = device && *device ? device : "cpu";
        try {
            dev = c10::Device(dname);
        } catch (const c10::Error &) {
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "unknown device '" + dname + "' (expected cpu or cuda:N)");
        }
        if (dev.is_cuda() && !torch::cuda::is_available())
            throw ShimError(FEAT_E_DEVICE,
                            "device '" + dname +
                                "' requested, but this libtorch has no CUDA support or no GPU is visible");
        if (!dev.is_cpu() && !dev.is_cuda())
            throw ShimError(FEAT_E_UNSUPPORTED, "device '" + dname + "' is not supported (expected cpu or cuda:N)");
        auto m = std::make_unique<feat_shim_model>();
        try {
            m->module = torch::jit::load(path, dev);
        } catch (const c10::Error &e) {
            throw ShimError(FEAT_E_MODEL, std::string("'") + path + "' is not a loadable TorchScript model: " +
                                              first_line(e.what_without_backtrace()));
        }
        m->device = dev;
        m->module.eval();
        auto fwd = m->module.find_method("forward");
        if (!fwd)
            throw ShimError(FEAT_E_MODEL, std::string("'") + path + "' has no forward method");
        const auto &args = fwd->function().getSchema().arguments();
        m->n_inputs = args.empty() ? 0 : args.size() - 1;
        for (const auto &item : m->module.named_modules()) {
            if (item.name.empty())
                continue;
            m->module_paths.push_back(item.name);
        }
        for (const auto &p : m->module_paths)
            m->module_cstrs.push_back(p.c_str());
        *out = m.release();
    });
}

feat_shim_model *feat_shim_ref(feat_shim_model *m)
{
    if (m)
        m->refs.fetch_add(1);
    return m;
}

void feat_shim_unref(feat_shim_model *m)
{
    if (m && m->refs.fetch_sub(1) == 1) {
        try {
            delete m;
        } catch (...) {
        }
    }
}

void feat_shim_modules(const feat_shim_model *m, const char *const **paths, size_t *n)
{
    *paths = m->module_cstrs.data();
    *n = m->module_cstrs.size();
}

size_t feat_shim_n_inputs(const feat_shim_model *m) { return m->n_inputs; }

feat_status feat_shim_prepare(feat_shim_model *m, const char *const *taps, size_t n, int freeze, int lenient,
                              feat_error *tap_err, feat_error *err)
{
    return guarded(err, "adding taps to the model", [&] {
        if (n == 0)
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "no taps to add");
        if (!m->method.empty() && m->method != "forward")
            throw ShimError(FEAT_E_STATE, "taps were already added to this model");
        std::vector<Tap> order;
        for (size_t i = 0; i < n; i++) {
            std::string s = taps[i];
            int call = -1;
            std::string p = s;
            auto at = s.find('@');
            if (at != std::string::npos) {
                p = s.substr(0, at);
                call = std::stoi(s.substr(at + 1));
            }
            order.push_back({s, split_path(p), call, i});
        }
        // Shallow paths first: an ancestor's call must be captured before a deeper tap
        // inlines it (registering it as an output keeps the value alive through inlining).
        std::stable_sort(order.begin(), order.end(),
                         [](const Tap &a, const Tap &b) { return a.path.size() < b.path.size(); });

        auto g = m->module.get_method("forward").graph()->copy();
        size_t n_orig = g->outputs().size();
        std::vector<Value *> located(n, nullptr);
        for (const Tap &t : order) {
            try {
                located[t.index] = locate(*g, t.spec, t.path, t.call);
                g->registerOutput(located[t.index]);
            } catch (const ShimError &e) {
                if (!lenient)
                    throw;
                if (tap_err)
                    feat_error_set(&tap_err[t.index], e.code, "%s", e.what());
            }
        }
        torch::jit::Inline(*g);
        // Graph outputs now: n_orig original outputs, then the located taps in `order`.
        std::vector<Value *> outs(g->outputs().begin() + (long)n_orig, g->outputs().end());
        std::vector<size_t> out_index; // caller index of each entry of outs
        for (const Tap &t : order)
            if (located[t.index])
                out_index.push_back(t.index);
        // Tuple-valued modules (Hugging Face layers return (hidden,)) are tapped as element 0.
        for (auto &v : outs) {
            if (v->type()->kind() == c10::TypeKind::TupleType) {
                torch::jit::WithInsertPoint ip(v->node()->next());
                Node *un = g->insertNode(g->createTupleUnpack(v));
                v = un->outputs().at(0);
            }
            if (!v->type()->isSubtypeOf(*c10::TensorType::get()))
                throw ShimError(FEAT_E_MODEL, "a tapped module returns " + v->type()->repr_str() + ", not a tensor");
        }
        // Clone taps that a later in-place op (ReLU(inplace=True), out += identity) mutates.
        {
            torch::jit::AliasDb db(g);
            std::vector<bool> needs_clone(outs.size(), false);
            for (size_t i = 0; i < outs.size(); i++) {
                Value *v = outs[i];
                for (Node *nd = v->node()->next(); nd != g->return_node(); nd = nd->next())
                    if (db.writesToAlias(nd, {v})) {
                        needs_clone[i] = true;
                        break;
                    }
            }
            for (size_t i = 0; i < outs.size(); i++)
                if (needs_clone[i]) {
                    torch::jit::WithInsertPoint ip(outs[i]->node()->next());
                    outs[i] = g->insert(c10::aten::clone, {outs[i]});
                }
        }
        {
            torch::jit::WithInsertPoint ip(g->return_node());
            Value *tup = g->insertNode(g->createTuple(outs))->output();
            while (!g->outputs().empty())
                g->eraseOutput(0);
            g->registerOutput(tup);
        }
        torch::jit::EliminateDeadCode(g);

        std::string name = "forward_feat_taps";
        for (int k = 1; m->module.find_method(name); k++)
            name = "forward_feat_taps" + std::to_string(k);
        auto qn = c10::QualifiedName(*m->module.type()->name(), name);
        torch::jit::Function *fn = m->module._ivalue()->compilation_unit()->create_function(qn, g);
        m->module.type()->addMethod(fn);

        // Dynamic-int8 exports (tools/export_models.py --quantize) call quantized:: ops, which
        // bfloat16 autocast does not apply to.
        for (Node *nd : g->nodes())
            if (std::string(nd->kind().ns().toUnqualString()) == "quantized")
                m->quantized = true;
        if (m->precision == FEAT_PRECISION_BF16) {
            if (m->quantized)
                throw ShimError(FEAT_E_UNSUPPORTED, "bfloat16 precision does not apply to an int8 (quantized) model");
            // oneDNN's bfloat16 convolutions work in channels-last (NHWC): with NCHW weights and
            // inputs every convolution pays two reorders, which cost more than the convolution
            // itself (VGG16 on AMX: 10 images/s NCHW, 39 channels-last, 7 in float32).
            for (at::Tensor p : m->module.parameters())
                if (p.dim() == 4)
                    p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
        }
        if (freeze) {
            torch::jit::Module frozen = torch::jit::freeze(m->module, std::vector<std::string>{name}, true);
            auto fg = frozen.get_method(name).graph();
            torch::jit::OptimizeFrozenGraph(fg, true);
            // optimize_for_inference swaps convolutions for prepacked oneDNN ops, which autocast
            // does not reach: under bfloat16 they stay aten::conv2d.
            if (m->precision != FEAT_PRECISION_BF16)
                torch::jit::optimize_for_inference(frozen, {name});
            m->module = frozen;
        }
        m->method = name;
        m->tap_slot.assign(n, (size_t)-1);
        for (size_t j = 0; j < out_index.size(); j++)
            m->tap_slot[out_index[j]] = j;
        m->n_taps = out_index.size();
        if (tap_err)
            for (size_t i = 0; i < n; i++)
                if (located[i])
                    feat_error_clear(&tap_err[i]);
    });
}

static void apply_threads();

// bfloat16 autocast for one run on this thread (autocast state is thread-local); the
// previous state is restored and the cast-weight cache cleared when the run ends.
struct Autocast {
    bool cuda;
    bool was_enabled;
    at::ScalarType was_dtype;
    explicit Autocast(const c10::Device &dev) : cuda(dev.is_cuda())
    {
        was_enabled = cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
        was_dtype = cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
        if (cuda) {
            at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
            at::autocast::set_enabled(true);
        } else {
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
            at::autocast::set_cpu_enabled(true);
        }
        at::autocast::increment_nesting();
    }
    ~Autocast()
    {
        if (at::autocast::decrement_nesting() == 0)
            at::autocast::clear_cache();
        if (cuda) {
            at::autocast::set_enabled(was_enabled);
            at::autocast::set_autocast_gpu_dtype(was_dtype);
        } else {
            at::autocast::set_cpu_enabled(was_enabled);
            at::autocast::set_autocast_cpu_dtype(was_dtype);
        }
    }
};

feat_status feat_shim_set_precision(feat_shim_model *m, int32_t precision, feat_error *err)
{
    return guarded(err, "setting the precision", [&] {
        if (precision < FEAT_PRECISION_DEFAULT || precision > FEAT_PRECISION_BF16)
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "precision " + std::to_string(precision) + " not understood");
        if (m->n_taps)
            throw ShimError(FEAT_E_STATE, "the precision is chosen before the taps are prepared");
        m->precision = precision;
    });
}

static feat_status run(feat_shim_model *m, std::vector<c10::IValue> inputs, feat_shim_outputs **out, feat_error *err)
{
    *out = nullptr;
    return guarded(err, "running the model", [&] {
        if (!m->n_taps)
            throw ShimError(FEAT_E_STATE, "the model has no taps prepared");
        apply_threads();
        c10::InferenceMode guard;
        std::optional<Autocast> autocast;
        if (m->precision == FEAT_PRECISION_BF16)
            autocast.emplace(m->device);
        auto method = m->module.get_method(m->method);
        c10::IValue r = method(std::move(inputs));
        auto o = std::make_unique<feat_shim_outputs>();
        const auto &elems = r.toTupleRef().elements();
        std::vector<at::Tensor> by_slot;
        for (const auto &e : elems) {
            at::Tensor t = e.toTensor();
            if (t.is_mkldnn())
                t = t.to_dense();
            t = t.to(at::kCPU, at::kFloat).contiguous();
            // The C side describes shapes with at most FEAT_SHIM_MAX_DIMS dimensions; a
            // larger tensor would be pooled with a cut-off shape.
            if (t.dim() > FEAT_SHIM_MAX_DIMS)
                throw ShimError(FEAT_E_UNSUPPORTED, "tap output " + std::to_string(by_slot.size()) + " has " +
                                                        std::to_string(t.dim()) + " dimensions; at most " +
                                                        std::to_string(FEAT_SHIM_MAX_DIMS) + " are supported");
            by_slot.push_back(t);
        }
        for (size_t slot : m->tap_slot)
            if (slot != (size_t)-1)
                o->tensors.push_back(by_slot.at(slot));
        *out = o.release();
    });
}

feat_status feat_shim_run_image(feat_shim_model *m, const float *x, int64_t b, int64_t c, int64_t h, int64_t w,
                                feat_shim_outputs **out, feat_error *err)
{
    std::vector<c10::IValue> in;
    feat_status st = guarded(err, "preparing the input", [&] {
        if (m->n_inputs != 1)
            throw ShimError(FEAT_E_MODEL, "the model's forward takes " + std::to_string(m->n_inputs) +
                                              " inputs; an image model takes one [N, 3, H, W] tensor");
        at::Tensor t = torch::from_blob(const_cast<float *>(x), {b, c, h, w}, torch::kFloat32);
        if (!m->device.is_cpu())
            t = t.to(m->device, /*non_blocking=*/false);
        if (m->precision == FEAT_PRECISION_BF16) // channels-last, as the weights (feat_shim_prepare)
            t = t.contiguous(at::MemoryFormat::ChannelsLast);
        in.push_back(t);
    });
    return st != FEAT_OK ? st : run(m, std::move(in), out, err);
}

feat_status feat_shim_run_text(feat_shim_model *m, const int64_t *ids, const int64_t *mask, const int64_t *types,
                               int64_t b, int64_t s, feat_shim_outputs **out, feat_error *err)
{
    std::vector<c10::IValue> in;
    feat_status st = guarded(err, "preparing the input", [&] {
        if (m->n_inputs < 3)
            throw ShimError(FEAT_E_MODEL,
                            "the model's forward takes " + std::to_string(m->n_inputs) +
                                " inputs; a text model takes (input_ids, attention_mask, token_type_ids)");
        for (const int64_t *p : {ids, mask, types}) {
            at::Tensor t = torch::from_blob(const_cast<int64_t *>(p), {b, s}, torch::kInt64);
            in.push_back(m->device.is_cpu() ? t : t.to(m->device));
        }
    });
    return st != FEAT_OK ? st : run(m, std::move(in), out, err);
}

size_t feat_shim_outputs_n(const feat_shim_outputs *o) { return o ? o->tensors.size() : 0; }

size_t feat_shim_outputs_shape(const feat_shim_outputs *o, size_t i, int64_t dims[FEAT_SHIM_MAX_DIMS])
{
    const at::Tensor &t = o->tensors[i]; // at most FEAT_SHIM_MAX_DIMS dimensions (run() checks)
    for (int64_t k = 0; k < t.dim(); k++)
        dims[k] = t.size(k);
    return (size_t)t.dim();
}

const float *feat_shim_outputs_data(const feat_shim_outputs *o, size_t i) { return o->tensors[i].data_ptr<float>(); }

void feat_shim_outputs_free(feat_shim_outputs *o)
{
    try {
        delete o;
    } catch (...) {
    }
}

// Threads. One budget (feat_global_set_threads) governs ATen's intra-op pool and OpenBLAS's
// pool, which otherwise oversubscribe the cores: ATen's OpenMP workers keep spinning while
// OpenBLAS's threads compute. The extractors run batches side by side on workers, each with a
// share of the budget for ATen (feat_shim_set_thread_share), and OpenBLAS with one thread
// (apply_threads below); measured on 2 cores in docs/performance.md, "Thread budget".
static std::atomic<int32_t> g_budget{0};
static std::atomic<int32_t> g_blas_threads{0};

static int32_t default_budget()
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > 8 ? 8 : (int32_t)cores;
}

static int32_t budget()
{
    int32_t n = g_budget.load();
    return n ? n : default_budget();
}

static void set_blas_threads(int32_t n)
{
    using setter = void (*)(int);
    if (g_blas_threads.exchange(n) == n)
        return;
    if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
        f(n);
}

// Threads of the runs made on this thread (feat_shim_set_thread_share); 0: the whole budget.
static thread_local int32_t tl_share = 0;

// ATen's thread count lives in each calling thread's OpenMP state, so it is checked and set
// on the thread that runs the model. OpenBLAS gets one thread, always: its pool is
// process-wide (changing it while another thread is inside a BLAS call is unsafe), and the
// extractors get their parallelism from workers running batches side by side instead
// (docs/performance.md, "Thread budget").
static void apply_threads()
{
    int32_t aten = tl_share > 0 ? tl_share : budget();
    if (at::get_num_threads() != aten)
        at::set_num_threads(aten);
    set_blas_threads(1);
}

void feat_shim_set_thread_share(int32_t n) { tl_share = n > 0 ? n : 0; }

feat_status feat_shim_set_threads(int32_t n, feat_error *err)
{
    return guarded(err, "setting threads", [&] { g_budget.store(n); });
}

int32_t feat_shim_threads(void) { return budget(); }

} // extern "C"
