/* SPDX-License-Identifier: MIT */
// The libtorch backend: load TorchScript, add layer taps by graph surgery, freeze, run.
// specs in docs/taps.md; the algorithm follows the tap method described there:
// locate each tapped module's CallMethod in forward's graph (inlining only its ancestors),
// register its value as an output, inline the rest, clone values that a later in-place op
// would overwrite, unpack tuple outputs, return all taps as one tuple and let dead-code
// elimination drop everything after the deepest tap.

#include "shim/shim.h"
extern "C" {
#include "taps/taps.h"
}

#include <torch/script.h>
#include <torch/cuda.h>
#include <torch/torch.h>
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
#include <cstdlib>
#include <cstring>
#include <iostream>
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

// forward, or forward1, forward2 ... (traced modules called several times), or forward__0,
// forward__1 ... (the overloads of a scripted forward: torchvision's DenseNet layers).
bool is_forward_name(const std::string &n)
{
    if (n.rfind("forward", 0) != 0)
        return false;
    size_t digits = n.rfind("forward__", 0) == 0 && n.size() > 9 ? 9 : 7;
    return std::all_of(n.begin() + (long)digits, n.end(), [](char c) { return c >= '0' && c <= '9'; });
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

// Clones values that a later in-place op (ReLU(inplace=True), out += identity) mutates, so
// that an output keeps the value it had where it was tapped.
void clone_mutated(const std::shared_ptr<Graph> &g, std::vector<Value *> &outs)
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

// Is the node an assertion: an If with no outputs whose branches do nothing but raise?
bool is_assertion(Node *nd)
{
    if (nd->kind() == c10::prim::RaiseException)
        return true;
    if (nd->kind() != c10::prim::If || !nd->outputs().empty())
        return false;
    for (torch::jit::Block *b : nd->blocks())
        for (Node *in : b->nodes())
            if (in->kind() != c10::prim::RaiseException && in->kind() != c10::prim::Constant)
                return false;
    return true;
}

// Removes the assertions that follow the last tap. They check the layers after it (torchvision's
// adaptive_avg_pool2d asserts its input's rank), and an assertion is a side effect that dead-code
// elimination keeps, with everything it reads: tapping ResNet50's layer2 ran layer3 and layer4
// too (docs/performance.md, "Model-only gap"). The taps' values do not depend on them.
void drop_assertions_after(Graph &g, const std::vector<Value *> &outs)
{
    Node *last = nullptr;
    for (Value *v : outs)
        if (!last || v->node()->isAfter(last))
            last = v->node();
    std::vector<Node *> drop;
    for (Node *nd = last->next(); nd != g.return_node(); nd = nd->next())
        if (is_assertion(nd))
            drop.push_back(nd);
    for (Node *nd : drop)
        nd->destroy();
}

// After dead-code elimination: a clone whose source nothing else reads any more (the in-place
// op it kept from the tap's value came after the deepest tap and is gone) copies for nothing.
void drop_needless_clones(const std::vector<Node *> &clones)
{
    for (Node *c : clones) {
        Value *src = c->input(0);
        // Never the graph's input itself: the outputs would alias the caller's buffer.
        if (src->uses().size() == 1 && src->node()->kind() != c10::prim::Param) {
            c->output()->replaceAllUsesWith(src);
            c->destroy();
        }
    }
}

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
        std::vector<Value *> tapped = outs;
        clone_mutated(g, outs);
        std::vector<Node *> clones;
        for (size_t i = 0; i < outs.size(); i++)
            if (outs[i] != tapped[i])
                clones.push_back(outs[i]->node());
        drop_assertions_after(*g, outs);
        {
            torch::jit::WithInsertPoint ip(g->return_node());
            Value *tup = g->insertNode(g->createTuple(outs))->output();
            while (!g->outputs().empty())
                g->eraseOutput(0);
            g->registerOutput(tup);
        }
        torch::jit::EliminateDeadCode(g);
        drop_needless_clones(clones);

        std::string name = "forward_feat_taps";
        for (int k = 1; m->module.find_method(name); k++)
            name = "forward_feat_taps" + std::to_string(k);
        auto qn = c10::QualifiedName(*m->module.type()->name(), name);
        torch::jit::Function *fn = m->module._ivalue()->compilation_unit()->create_function(qn, g);
        m->module.type()->addMethod(fn);

        // int8 exports (tools/export_models.py --quantize) call quantized:: ops, which
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
        // FEAT_DEBUG_GRAPH=1: the graph the runs execute, to compare with PyTorch's own
        // frozen module (docs/performance.md, "Model-only gap").
        if (const char *dbg = std::getenv("FEAT_DEBUG_GRAPH"); dbg && *dbg && std::strcmp(dbg, "0") != 0)
            std::cerr << "FEAT_DEBUG_GRAPH " << name << ":\n" << *m->module.get_method(name).graph() << std::flush;
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
            // A static-int8 export hands int8 tensors from block to block (docs/models.md):
            // a tap inside it reads the float32 values the int8 tensor stands for.
            if (t.is_quantized())
                t = t.dequantize();
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
        // DistilBERT-style encoders take no token type ids.
        if (m->n_inputs != 2 && m->n_inputs != 3)
            throw ShimError(FEAT_E_MODEL, "the model's forward takes " + std::to_string(m->n_inputs) +
                                              " inputs; a text model takes (input_ids, attention_mask[, "
                                              "token_type_ids])");
        const int64_t *const all[3] = {ids, mask, types};
        for (size_t i = 0; i < m->n_inputs; i++) {
            at::Tensor t = torch::from_blob(const_cast<int64_t *>(all[i]), {b, s}, torch::kInt64);
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

// ---- Training (shim.h, feat/finetune.h) -----------------------------------------------------
// The trainer runs graphs cut out of forward with the graph executor's optimizations off: the
// interpreter runs the ops one by one and autograd records each of them, as it does for an
// eager PyTorch loop, and no profiling run, fusion or symbolic gradient changes the bits from
// one step to the next (docs/adapting.md, "Fine-tuning").

namespace
{

bool under_any(const std::string &path, const std::vector<std::string> &prefixes)
{
    for (const auto &p : prefixes)
        if (path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '.'))
            return true;
    return false;
}

// The first tensor of a tapped value: Hugging Face layers return (hidden,).
Value *first_tensor(Graph &g, Value *v)
{
    if (v->type()->kind() == c10::TypeKind::TupleType) {
        torch::jit::WithInsertPoint ip(v->node()->next());
        v = g.insertNode(g.createTupleUnpack(v))->outputs().at(0);
    }
    if (!v->type()->isSubtypeOf(*c10::TensorType::get()))
        throw ShimError(FEAT_E_MODEL, "a tapped module returns " + v->type()->repr_str() + ", not a tensor");
    return v;
}

enum class Cut { full, prefix, suffix };

// A copy of forward returning the head's tap (full), the input of the first call of a trained
// module (prefix), or the tap computed from that input given as one more graph input (suffix).
// train: the outermost trained paths. Returns nullptr for prefix/suffix when a trained module
// is called only inside the tapped module's own call.
std::shared_ptr<Graph> cut_graph(torch::jit::Module &mod, const std::string &tap, const std::vector<std::string> &train,
                                 Cut kind)
{
    auto g = mod.get_method("forward").graph()->copy();
    // Inlining replaces the calls' values: the registered outputs are the ones kept up to date.
    // The tap is found first, since finding a trained module may inline the tapped module's
    // call (the tap layer4 around the trained layer4.1).
    size_t t_at = 0, cut_at = 0;
    if (kind != Cut::prefix) {
        t_at = g->outputs().size();
        g->registerOutput(locate(*g, tap, split_path(tap), -1));
    }
    if (kind != Cut::full) {
        Node *first = nullptr;
        for (const auto &p : train) {
            Node *n = locate(*g, p, split_path(p), -1)->node();
            if (!first || n->isBefore(first))
                first = n;
        }
        if (first->inputs().size() < 2)
            return nullptr;
        cut_at = g->outputs().size();
        g->registerOutput(first->input(1));
    }
    torch::jit::Inline(*g);
    Value *cut = kind != Cut::full ? g->outputs().at(cut_at) : nullptr;
    Value *t = kind != Cut::prefix ? g->outputs().at(t_at) : nullptr;
    while (!g->outputs().empty())
        g->eraseOutput(0);
    if (kind == Cut::suffix) {
        Value *act = g->addInput("feat_cut")->setType(cut->type());
        cut->replaceAllUsesWith(act);
    }
    std::vector<Value *> outs{kind == Cut::prefix ? cut : first_tensor(*g, t)};
    clone_mutated(g, outs);
    g->registerOutput(outs[0]);
    torch::jit::EliminateDeadCode(g);
    return g;
}

// Does the graph read a parameter of a trained module? (Then the prefix is not constant.)
bool reads_trained(Graph &g, const std::vector<std::string> &train)
{
    Value *self = g.inputs().at(0);
    for (Node *n : g.nodes()) {
        if (n->kind() != c10::prim::GetAttr || !n->output()->type()->isSubtypeOf(*c10::TensorType::get()))
            continue;
        auto p = module_path(n->input(0), self);
        if (!p)
            continue;
        std::string path;
        for (const auto &s : *p)
            path += s + ".";
        if (under_any(path + n->s(c10::attr::name), train))
            return true;
    }
    return false;
}

// The pooling of lib/taps (docs/taps.md) in differentiable ATen ops: the same maths, in
// ATen's summation order.
at::Tensor pool_tap(const at::Tensor &x, int32_t pool, int32_t layout, const at::Tensor &mask)
{
    bool seq = pool == FEAT_POOL_CLS || pool == FEAT_POOL_MEAN || pool == FEAT_POOL_MAX;
    bool map = pool == FEAT_POOL_GAP || pool == FEAT_POOL_GMP;
    if ((seq && x.dim() != 3) || (map && x.dim() != 4))
        throw ShimError(FEAT_E_INVALID_ARGUMENT, std::string("pooling '") + feat_pool_name((feat_pool)pool) +
                                                     "' does not fit the tap's " + std::to_string(x.dim()) +
                                                     "-d output");
    bool nhwc = layout == FEAT_LAYOUT_NHWC;
    // feat_finetune checks the layout before training; this is the same rule as feat_pool_check
    if ((map && !nhwc && layout != FEAT_LAYOUT_NCHW) ||
        (seq && layout != FEAT_LAYOUT_TOKENS && layout != FEAT_LAYOUT_CLS_TOKENS))
        throw ShimError(FEAT_E_MODEL, std::string("pooling '") + feat_pool_name((feat_pool)pool) +
                                          "' needs the layout of the tap's output, which is " +
                                          feat_layout_name((feat_layout)layout));
    // A class token at 0 (ViT): mean and max over the patch tokens after it.
    bool skip = layout == FEAT_LAYOUT_CLS_TOKENS && pool != FEAT_POOL_CLS;
    at::Tensor s = skip ? x.slice(1, 1) : x;
    at::Tensor sm = mask.defined() && skip ? mask.slice(1, 1) : mask;
    switch (pool) {
    case FEAT_POOL_GAP: return nhwc ? x.mean({1, 2}) : x.mean({2, 3});
    case FEAT_POOL_GMP: return nhwc ? x.amax({1, 2}) : x.amax({2, 3});
    case FEAT_POOL_CLS: return x.select(1, 0);
    case FEAT_POOL_MEAN: {
        if (!sm.defined())
            return s.mean(1);
        at::Tensor m = sm.to(s.scalar_type()).unsqueeze(-1);
        return (s * m).sum(1) / m.sum(1);
    }
    case FEAT_POOL_MAX:
        if (!sm.defined())
            return s.amax(1);
        return s.masked_fill(sm.unsqueeze(-1) == 0, -std::numeric_limits<float>::infinity()).amax(1);
    default: return x.flatten(1);
    }
}

} // namespace

struct feat_shim_trainer {
    feat_shim_model *model = nullptr;
    bool text = false;
    std::vector<std::string> train;
    int32_t pool = 0;
    int32_t layout = 0;
    int64_t n_classes = 0, dim = 0;
    double lr = 0, weight_decay = 0, dropout = 0;
    uint64_t seed = 0;
    at::Tensor class_weights;
    std::unique_ptr<torch::jit::GraphFunction> full, prefix, suffix;
    torch::nn::Linear head{nullptr};
    std::vector<at::Tensor> params; // the trained module parameters, then the head's
    std::unique_ptr<torch::optim::AdamW> opt;
    at::Generator gen;
    bool cache_on = false;
    size_t cache_limit = 0;
    std::vector<at::Tensor> cache; // per data set item, undefined until computed
    std::vector<at::Tensor> best;
};

namespace
{

// The graph's inputs for a batch: self, then the model's tensors.
std::vector<c10::IValue> batch_inputs(feat_shim_trainer &t, const feat_shim_batch &b)
{
    std::vector<c10::IValue> in{t.model->module._ivalue()};
    if (t.text) {
        if (!b.ids || !b.mask || !b.types || b.s < 1)
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "a text batch needs ids, mask and types");
        const int64_t *const all[3] = {b.ids, b.mask, b.types};
        for (size_t i = 0; i < t.model->n_inputs && i < 3; i++)
            in.push_back(torch::from_blob(const_cast<int64_t *>(all[i]), {b.b, b.s}, torch::kInt64));
    } else if (b.x) {
        in.push_back(torch::from_blob(const_cast<float *>(b.x), {b.b, b.channels, b.height, b.width}, torch::kFloat32));
    } else {
        in.push_back(torch::empty({0}));
    }
    return in;
}

at::Tensor run_graph(torch::jit::GraphFunction &f, std::vector<c10::IValue> in)
{
    torch::jit::GraphOptimizerEnabledGuard plain(false);
    return f(std::move(in)).toTensor();
}

// Creates the head (torch.nn.Linear's init under torch.manual_seed(seed)) and AdamW once the
// pooled tap's length is known.
void make_head(feat_shim_trainer &t, int64_t dim)
{
    torch::manual_seed(t.seed);
    t.head = torch::nn::Linear(dim, t.n_classes);
    t.dim = dim;
    t.params.push_back(t.head->weight);
    t.params.push_back(t.head->bias);
    t.opt =
        std::make_unique<torch::optim::AdamW>(t.params, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
}

// The pooled tap of a batch (with autograd unless a guard is active).
at::Tensor features(feat_shim_trainer &t, const feat_shim_batch &b)
{
    if (b.b < 1 || !b.items)
        throw ShimError(FEAT_E_INVALID_ARGUMENT, "an empty batch");
    std::vector<c10::IValue> in = batch_inputs(t, b);
    at::Tensor x;
    if (t.cache_on && feat_shim_trainer_cached(&t, b.items[0])) {
        std::vector<at::Tensor> acts;
        for (int64_t i = 0; i < b.b; i++) {
            if (!feat_shim_trainer_cached(&t, b.items[i]))
                throw ShimError(FEAT_E_STATE, "item " + std::to_string(b.items[i]) + " is not cached");
            acts.push_back(t.cache[(size_t)b.items[i]]);
        }
        in.push_back(torch::stack(acts)); // a new tensor: the suffix may write to its input
        x = run_graph(*t.suffix, std::move(in));
    } else {
        if (!t.text && !b.x)
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "an image batch without images");
        x = run_graph(*t.full, std::move(in));
    }
    at::Tensor mask =
        t.text ? torch::from_blob(const_cast<int64_t *>(b.mask), {b.b, b.s}, torch::kInt64) : at::Tensor();
    at::Tensor f = pool_tap(x, t.pool, t.layout, mask);
    if (!t.head)
        make_head(t, f.size(1));
    return f;
}

std::unique_ptr<torch::jit::GraphFunction> graph_function(const char *name, std::shared_ptr<Graph> g)
{
    return std::make_unique<torch::jit::GraphFunction>(c10::QualifiedName(name), std::move(g), nullptr);
}

// The split for the prefix cache, when it is exact.
void try_split(feat_shim_trainer &t, const std::string &tap)
{
    torch::jit::Module &mod = t.model->module;
    auto pre = cut_graph(mod, tap, t.train, Cut::prefix);
    auto suf = cut_graph(mod, tap, t.train, Cut::suffix);
    if (!pre || !suf || reads_trained(*pre, t.train))
        return;
    if (!t.text && suf->inputs().at(1)->hasUses())
        return; // the layers after the cut read the image: caching would not save the prefix
    t.prefix = graph_function("feat_train_prefix", pre);
    t.suffix = graph_function("feat_train_suffix", suf);
    t.cache_on = true;
}

void setup_trainer(feat_shim_trainer &t, const feat_shim_train_setup &s)
{
    if (!s.tap || s.n_train == 0 || !s.train || s.n_classes < 2)
        throw ShimError(FEAT_E_INVALID_ARGUMENT, "a trainer needs trained paths, a tap and two or more classes");
    t.text = t.model->n_inputs >= 2; // (input_ids, attention_mask[, token_type_ids])
    for (size_t i = 0; i < s.n_train; i++)
        t.train.push_back(s.train[i]);
    // Only the outermost paths: a path under another adds no parameter and no earlier call.
    std::vector<std::string> outer;
    for (const auto &p : t.train) {
        std::vector<std::string> others;
        for (const auto &q : t.train)
            if (q != p)
                others.push_back(q);
        if (!under_any(p, others) && std::find(outer.begin(), outer.end(), p) == outer.end())
            outer.push_back(p);
    }
    t.train = outer;
    t.pool = s.pool;
    t.layout = s.layout;
    t.n_classes = s.n_classes;
    t.lr = s.lr;
    t.weight_decay = s.weight_decay;
    t.dropout = s.dropout;
    t.seed = s.seed;
    if (s.class_weights)
        t.class_weights =
            torch::from_blob(const_cast<float *>(s.class_weights), {s.n_classes}, torch::kFloat32).clone();
    t.gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
    t.cache_limit = s.cache_limit;
    t.cache.resize(s.n_items);
}

} // namespace

extern "C" {

feat_status feat_shim_trainer_new(feat_shim_model *m, const feat_shim_train_setup *setup, feat_shim_trainer **out,
                                  feat_error *err)
{
    *out = nullptr;
    return guarded(err, "preparing the model for training", [&] {
        if (m->n_taps != 0 || m->method != "forward")
            throw ShimError(FEAT_E_STATE, "a model with taps prepared (frozen) cannot train; load it again");
        if (!m->device.is_cpu())
            throw ShimError(FEAT_E_UNSUPPORTED, "training runs on the CPU only");
        auto t = std::make_unique<feat_shim_trainer>();
        t->model = feat_shim_ref(m);
        setup_trainer(*t, *setup);
        for (const auto &p : t->model->module.named_parameters(true)) {
            bool on = under_any(p.name, t->train);
            p.value.set_requires_grad(on);
            if (on)
                t->params.push_back(p.value);
        }
        if (t->params.empty()) {
            // A static-int8 block keeps its weights packed for the int8 kernels, not as
            // parameters: say so rather than leave the user to guess.
            for (const auto &sm : t->model->module.named_modules())
                if (under_any(sm.name, t->train) && sm.value.hasattr("_packed_params"))
                    throw ShimError(FEAT_E_INVALID_ARGUMENT,
                                    "the trained paths hold no parameters: '" + sm.name +
                                        "' is an int8 layer (a --quantize static-int8 export), which cannot be "
                                        "trained; train the model's float32 parts (its stem or head) or fine-tune "
                                        "the float32 model");
            throw ShimError(FEAT_E_INVALID_ARGUMENT, "the trained paths hold no parameters");
        }
        t->full = graph_function("feat_train_full", cut_graph(t->model->module, setup->tap, t->train, Cut::full));
        if (setup->cache)
            try_split(*t, setup->tap);
        *out = t.release();
    });
}

void feat_shim_trainer_free(feat_shim_trainer *t)
{
    if (!t)
        return;
    feat_shim_model *m = t->model;
    try {
        delete t;
    } catch (...) {
    }
    feat_shim_unref(m);
}

int feat_shim_trainer_can_cache(const feat_shim_trainer *t) { return t->cache_on ? 1 : 0; }

int feat_shim_trainer_cached(const feat_shim_trainer *t, int64_t item)
{
    return t->cache_on && item >= 0 && (size_t)item < t->cache.size() && t->cache[(size_t)item].defined();
}

int64_t feat_shim_trainer_head_dim(const feat_shim_trainer *t) { return t->dim; }

feat_status feat_shim_trainer_cache(feat_shim_trainer *t, const feat_shim_batch *b, feat_error *err)
{
    return guarded(err, "caching the untrained layers' activations", [&] {
        if (!t->cache_on)
            throw ShimError(FEAT_E_STATE, "the prefix of this model cannot be cached");
        apply_threads();
        torch::NoGradGuard no_grad; // not InferenceMode: the cached tensors feed training
        at::Tensor a = run_graph(*t->prefix, batch_inputs(*t, *b));
        size_t bytes = (size_t)a[0].numel() * sizeof(float) * t->cache.size();
        if (bytes > t->cache_limit) {
            t->cache.clear();
            t->cache_on = false;
            throw ShimError(FEAT_E_LIMIT, "the cache would take " + std::to_string(bytes) +
                                              " bytes, above its limit of " + std::to_string(t->cache_limit));
        }
        for (int64_t i = 0; i < b->b; i++) {
            if (b->items[i] < 0 || (size_t)b->items[i] >= t->cache.size())
                throw ShimError(FEAT_E_INVALID_ARGUMENT, "item " + std::to_string(b->items[i]) + " out of range");
            t->cache[(size_t)b->items[i]] = a[i].clone();
        }
    });
}

feat_status feat_shim_trainer_permutation(feat_shim_trainer *t, int64_t n, int64_t *out, feat_error *err)
{
    return guarded(err, "shuffling", [&] {
        at::Tensor p = torch::randperm(n, t->gen, torch::kLong);
        std::memcpy(out, p.data_ptr<int64_t>(), (size_t)n * sizeof *out);
    });
}

feat_status feat_shim_trainer_set_lr(feat_shim_trainer *t, double lr, feat_error *err)
{
    return guarded(err, "setting the learning rate", [&] {
        t->lr = lr;
        if (t->opt)
            for (auto &g : t->opt->param_groups())
                static_cast<torch::optim::AdamWOptions &>(g.options()).lr(lr);
    });
}

feat_status feat_shim_trainer_step(feat_shim_trainer *t, const feat_shim_batch *b, float *loss, feat_error *err)
{
    return guarded(err, "training step", [&] {
        apply_threads();
        if (t->opt)
            t->opt->zero_grad();
        at::Tensor f = features(*t, *b);
        if (t->dropout > 0)
            f = torch::dropout(f, t->dropout, true);
        at::Tensor labels = torch::from_blob(const_cast<int64_t *>(b->labels), {b->b}, torch::kInt64);
        auto o = torch::nn::functional::CrossEntropyFuncOptions();
        if (t->class_weights.defined())
            o.weight(t->class_weights);
        at::Tensor l = torch::nn::functional::cross_entropy(t->head->forward(f), labels, o);
        l.backward();
        t->opt->step();
        *loss = l.item<float>();
    });
}

feat_status feat_shim_trainer_predict(feat_shim_trainer *t, const feat_shim_batch *b, int64_t *pred, feat_error *err)
{
    return guarded(err, "evaluating", [&] {
        apply_threads();
        torch::NoGradGuard no_grad;
        at::Tensor f = features(*t, *b); // makes the head on the first call
        at::Tensor a = t->head->forward(f).argmax(1).contiguous();
        std::memcpy(pred, a.data_ptr<int64_t>(), (size_t)b->b * sizeof *pred);
    });
}

feat_status feat_shim_trainer_snapshot(feat_shim_trainer *t, feat_error *err)
{
    return guarded(err, "keeping the weights", [&] {
        t->best.clear();
        for (const auto &p : t->params)
            t->best.push_back(p.detach().clone());
    });
}

feat_status feat_shim_trainer_restore(feat_shim_trainer *t, feat_error *err)
{
    return guarded(err, "restoring the weights", [&] {
        if (t->best.size() != t->params.size())
            throw ShimError(FEAT_E_STATE, "no weights were kept");
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < t->params.size(); i++)
            t->params[i].copy_(t->best[i]);
    });
}

feat_status feat_shim_trainer_save(feat_shim_trainer *t, const char *path, feat_error *err)
{
    return guarded(err, "saving the tuned model", [&] {
        if (!t->head)
            throw ShimError(FEAT_E_STATE, "nothing was trained");
        torch::jit::Module &mod = t->model->module;
        mod.register_parameter("feat_head_weight", t->head->weight.detach().clone(), false);
        mod.register_parameter("feat_head_bias", t->head->bias.detach().clone(), false);
        std::string tmp = std::string(path) + ".tmp";
        try {
            mod.save(tmp);
        } catch (const c10::Error &e) {
            throw ShimError(FEAT_E_IO, "cannot write '" + tmp + "': " + first_line(e.what_without_backtrace()));
        }
        if (std::rename(tmp.c_str(), path) != 0)
            throw ShimError(FEAT_E_IO,
                            std::string("cannot rename '") + tmp + "' to '" + path + "': " + strerror(errno));
    });
}

} // extern "C"

namespace
{

// The tensors of a checkpoint, in a fixed order: parameters p0.., kept best weights b0.., the
// two generators' states and the caller's doubles.
void write_checkpoint(feat_shim_trainer &t, const std::string &path, const double *state, size_t n)
{
    torch::serialize::OutputArchive ar;
    for (size_t i = 0; i < t.params.size(); i++)
        ar.write("p" + std::to_string(i), t.params[i].detach());
    for (size_t i = 0; i < t.best.size(); i++)
        ar.write("b" + std::to_string(i), t.best[i]);
    torch::serialize::OutputArchive optim;
    t.opt->save(optim);
    ar.write("optim", optim);
    ar.write("gen", t.gen.get_state());
    ar.write("global_gen", at::detail::getDefaultCPUGenerator().get_state());
    ar.write("state", torch::from_blob(const_cast<double *>(state), {(int64_t)n}, torch::kFloat64).clone());
    ar.save_to(path);
}

} // namespace

extern "C" {

feat_status feat_shim_trainer_checkpoint(feat_shim_trainer *t, const char *path, const double *state, size_t n,
                                         feat_error *err)
{
    return guarded(err, "writing the checkpoint", [&] {
        if (!t->head)
            throw ShimError(FEAT_E_STATE, "nothing was trained");
        std::string tmp = std::string(path) + ".tmp";
        write_checkpoint(*t, tmp, state, n);
        if (std::rename(tmp.c_str(), path) != 0)
            throw ShimError(FEAT_E_IO,
                            std::string("cannot rename '") + tmp + "' to '" + path + "': " + strerror(errno));
    });
}

feat_status feat_shim_trainer_resume(feat_shim_trainer *t, const char *path, double **state, size_t *n, feat_error *err)
{
    *state = nullptr;
    *n = 0;
    return guarded(err, "reading the checkpoint", [&] {
        torch::serialize::InputArchive ar;
        try {
            ar.load_from(path);
        } catch (const c10::Error &e) {
            throw ShimError(FEAT_E_IO, std::string("cannot read the checkpoint '") + path +
                                           "': " + first_line(e.what_without_backtrace()));
        }
        at::Tensor w;
        size_t head_w = t->params.size() - (t->head ? 2 : 0); // the head's weight comes first
        if (!ar.try_read("p" + std::to_string(head_w), w) || w.dim() != 2 || w.size(0) != t->n_classes)
            throw ShimError(FEAT_E_STATE, std::string("the checkpoint '") + path + "' is not of this run");
        if (!t->head)
            make_head(*t, w.size(1));
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < t->params.size(); i++) {
            at::Tensor v;
            ar.read("p" + std::to_string(i), v);
            if (!v.sizes().equals(t->params[i].sizes()))
                throw ShimError(FEAT_E_STATE, std::string("the checkpoint '") + path + "' is not of this run");
            t->params[i].copy_(v);
        }
        t->best.clear();
        for (at::Tensor v; ar.try_read("b" + std::to_string(t->best.size()), v);)
            t->best.push_back(v.clone());
        torch::serialize::InputArchive optim;
        ar.read("optim", optim);
        t->opt->load(optim);
        at::Tensor g, gg, s;
        ar.read("gen", g);
        ar.read("global_gen", gg);
        ar.read("state", s);
        t->gen.set_state(g);
        at::Generator global = at::detail::getDefaultCPUGenerator(); // a handle on the same generator
        global.set_state(gg);
        s = s.contiguous();
        *state = static_cast<double *>(std::malloc((size_t)s.numel() * sizeof(double) + 1));
        if (!*state)
            throw std::bad_alloc();
        std::memcpy(*state, s.data_ptr<double>(), (size_t)s.numel() * sizeof(double));
        *n = (size_t)s.numel();
    });
}

} // extern "C"

extern "C" feat_status feat_shim_trainer_head(const feat_shim_trainer *t, float *dst, feat_error *err)
{
    return guarded(err, "reading the head", [&] {
        if (!t->head)
            throw ShimError(FEAT_E_STATE, "nothing was trained");
        at::Tensor wb = torch::cat({t->head->weight.detach(), t->head->bias.detach().unsqueeze(1)}, 1).contiguous();
        std::memcpy(dst, wb.data_ptr<float>(), (size_t)wb.numel() * sizeof(float));
    });
}
