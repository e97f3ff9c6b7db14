// dnnl_conv.hpp: oneDNN 2.6 (v2 C API) convolution and PReLU primitives over
// the project's own buffers: activations NHWC (N,H,W,C), conv weights
// [kh][kw][cin][cout], bias and PReLU slopes (C). Header-only C++17, shared by
// the cross-checks in tests/ and the baseline in bench/.
//
//   pdnnl::Conv c(conv, pdnnl::Layout::blocked);
//   c.forward(out, in, w, b);                   // stage + run + finish
//   c.stage_forward(out, in, w, b); c.run(pdnnl::kFwd); c.finish(pdnnl::kFwd);
//
// What oneDNN computes is a DENSE convolution: pass weights already multiplied
// by the mask (pcnn_mask_fill), and multiply its weight gradient by the mask.
// Unlike the kernels, every call here OVERWRITES its outputs, gradients too.
//
// Layout::plain: oneDNN works on our buffers in place (nhwc activations, hwio
// weights: OIHW dims stored [kh][kw][cin][cout]). Layout::blocked: oneDNN
// picks its preferred layouts (format_tag_any); stage_*() reorders our inputs
// into them, finish() reorders the outputs back, and run() executes only the
// convolution, so a benchmark can time the bare primitive.
//
// Every dnnl_status_t is checked; a failure prints the call's name and status
// to stderr and throws std::runtime_error. Threads: whatever OpenMP gives.
#pragma once

#include <dnnl.h>
#include <dnnl_debug.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "pcnn_kernels.h"

namespace pdnnl {

inline void check(dnnl_status_t s, const char *call, const char *file, int line) {
  if (s == dnnl_success) return;
  std::string name(call);
  name = name.substr(0, name.find('('));
  char b[512];
  snprintf(b, sizeof b, "%s:%d: %s failed: %s", file, line, name.c_str(), dnnl_status2str(s));
  fprintf(stderr, "pdnnl: %s\n", b);
  throw std::runtime_error(b);
}
#define PDNNL_CHECK(call) ::pdnnl::check((call), #call, __FILE__, __LINE__)

// Owning handle for a oneDNN object, destroyed with D.
template <typename T, dnnl_status_t (*D)(T)>
class Handle {
 public:
  Handle() = default;
  ~Handle() { reset(); }
  Handle(Handle &&o) noexcept : h_(o.h_) { o.h_ = nullptr; }
  Handle &operator=(Handle &&o) noexcept {
    if (this != &o) {
      reset();
      h_ = o.h_;
      o.h_ = nullptr;
    }
    return *this;
  }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  T get() const { return h_; }
  T *put() {  // for the create calls: frees what was held
    reset();
    return &h_;
  }
  void reset() {
    if (h_) D(h_);
    h_ = nullptr;
  }
  explicit operator bool() const { return h_ != nullptr; }

 private:
  T h_ = nullptr;
};
using Engine = Handle<dnnl_engine_t, dnnl_engine_destroy>;
using Stream = Handle<dnnl_stream_t, dnnl_stream_destroy>;
using Memory = Handle<dnnl_memory_t, dnnl_memory_destroy>;
using PrimDesc = Handle<dnnl_primitive_desc_t, dnnl_primitive_desc_destroy>;
using Primitive = Handle<dnnl_primitive_t, dnnl_primitive_destroy>;
using Attr = Handle<dnnl_primitive_attr_t, dnnl_primitive_attr_destroy>;
using PostOps = Handle<dnnl_post_ops_t, dnnl_post_ops_destroy>;

// The process-wide CPU engine and its in-order stream. Every object below
// must be destroyed before static destruction reaches this one.
struct Context {
  Engine engine;
  Stream stream;
};
inline Context &cpu() {
  static Context ctx = [] {
    Context c;
    PDNNL_CHECK(dnnl_engine_create(c.engine.put(), dnnl_cpu, 0));
    PDNNL_CHECK(dnnl_stream_create(c.stream.put(), c.engine.get(), dnnl_stream_default_flags));
    return c;
  }();
  return ctx;
}

// f32 memory descriptor; tag dnnl_format_tag_any lets the primitive choose.
inline dnnl_memory_desc_t md(std::vector<dnnl_dim_t> dims, dnnl_format_tag_t tag) {
  dnnl_memory_desc_t m;
  PDNNL_CHECK(dnnl_memory_desc_init_by_tag(&m, (int)dims.size(), dims.data(), dnnl_f32, tag));
  return m;
}

inline PrimDesc clone(const_dnnl_primitive_desc_t pd) {
  PrimDesc p;
  PDNNL_CHECK(dnnl_primitive_desc_clone(p.put(), pd));
  return p;
}

inline std::string impl_name(const_dnnl_primitive_desc_t pd) {
  // 2.6 has no dnnl_primitive_desc_query_str: the string comes from the generic query
  const char *s = nullptr;
  PDNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
  return s ? s : "?";
}

// One primitive with its execute arguments. Each argument pairs the caller's
// buffer (in the project's layout, handle set at every stage) with the
// primitive's memory: the same object when the layouts agree, else an owned
// buffer in the primitive's layout and a reorder between the two.
class Op {
 public:
  Op() = default;
  explicit Op(PrimDesc pd) : pd_(std::move(pd)) {
    PDNNL_CHECK(dnnl_primitive_create(prim_.put(), pd_.get()));
  }
  explicit operator bool() const { return (bool)prim_; }
  const_dnnl_primitive_desc_t pd() const { return pd_.get(); }
  std::string impl() const { return impl_name(pd_.get()); }

  // Adds argument `id` (DNNL_ARG_*): the caller's buffer is described by user.
  void add(int id, bool output, const dnnl_memory_desc_t &user) {
    Context &ctx = cpu();
    Arg a;
    a.id = id;
    a.output = output;
    PDNNL_CHECK(dnnl_memory_create(a.user.put(), &user, ctx.engine.get(), DNNL_MEMORY_NONE));
    // post-op arguments are not queryable in 2.6: those take the caller's layout
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd_.get(), dnnl_query_exec_arg_md, id);
    if (want && want->ndims > 0 && !dnnl_memory_desc_equal(want, &user)) {
      PDNNL_CHECK(dnnl_memory_create(a.mem.put(), want, ctx.engine.get(), DNNL_MEMORY_ALLOCATE));
      PrimDesc rpd;
      PDNNL_CHECK(dnnl_reorder_primitive_desc_create(rpd.put(), output ? want : &user,
                                                     ctx.engine.get(), output ? &user : want,
                                                     ctx.engine.get(), nullptr));
      PDNNL_CHECK(dnnl_primitive_create(a.reorder.put(), rpd.get()));
    }
    exec_.push_back({id, a.mem ? a.mem.get() : a.user.get()});
    args_.push_back(std::move(a));
  }
  // Number of arguments that live in a layout other than the caller's.
  int reordered() const {
    int k = 0;
    for (const Arg &a : args_) k += (bool)a.reorder;
    return k;
  }

  // Points the arguments at the caller's buffers (in add() order) and
  // reorders the inputs into the primitive's layouts.
  void stage(std::initializer_list<const void *> ptrs) {
    if (ptrs.size() != args_.size()) throw std::runtime_error("pdnnl: stage: wrong argument count");
    Context &ctx = cpu();
    size_t i = 0;
    for (const void *p : ptrs) {
      Arg &a = args_[i++];
      PDNNL_CHECK(dnnl_memory_set_data_handle(a.user.get(), const_cast<void *>(p)));
      if (a.reorder && !a.output) reorder(a.reorder.get(), a.user.get(), a.mem.get());
    }
    PDNNL_CHECK(dnnl_stream_wait(ctx.stream.get()));
    staged_ = true;
  }
  // Executes the primitive alone and waits for it.
  void run() {
    if (!staged_) throw std::runtime_error("pdnnl: run before stage");
    Context &ctx = cpu();
    PDNNL_CHECK(dnnl_primitive_execute(prim_.get(), ctx.stream.get(), (int)exec_.size(), exec_.data()));
    PDNNL_CHECK(dnnl_stream_wait(ctx.stream.get()));
  }
  // Reorders the outputs back into the caller's buffers.
  void finish() {
    Context &ctx = cpu();
    for (Arg &a : args_)
      if (a.reorder && a.output) reorder(a.reorder.get(), a.mem.get(), a.user.get());
    PDNNL_CHECK(dnnl_stream_wait(ctx.stream.get()));
  }

 private:
  struct Arg {
    int id = 0;
    bool output = false;
    Memory user;        // the caller's buffer
    Memory mem;         // the primitive's own buffer; empty when layouts agree
    Primitive reorder;  // user -> mem for inputs, mem -> user for outputs
  };
  static void reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    PDNNL_CHECK(dnnl_primitive_execute(r, cpu().stream.get(), 2, args));
  }
  PrimDesc pd_;
  Primitive prim_;
  std::vector<Arg> args_;
  std::vector<dnnl_exec_arg_t> exec_;
  bool staged_ = false;
};

enum class Layout { plain, blocked };
inline const char *layout_name(Layout l) { return l == Layout::plain ? "nhwc" : "blocked"; }

// Directions, as bits for the constructor and as indices for run()/finish()/impl().
enum Dir { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };
enum : unsigned { kFwdBit = 1u << kFwd, kBwdDataBit = 1u << kBwdData,
                  kBwdWeightsBit = 1u << kBwdWeights, kAllDirs = 7u };

// The project's tensors of one convolution as oneDNN memory descriptors.
struct ConvMds {
  dnnl_memory_desc_t src, wei, bia, dst;
  ConvMds(const pcnn_conv_t &c, dnnl_format_tag_t act, dnnl_format_tag_t wt, dnnl_format_tag_t bt)
      : src(md({c.n, c.cin, c.h, c.w}, act)),
        wei(md({c.cout, c.cin, c.k, c.k}, wt)),
        bia(md({c.cout}, bt)),
        dst(md({c.n, c.cout, c.h, c.w}, act)) {}
  static ConvMds ours(const pcnn_conv_t &c) { return ConvMds(c, dnnl_nhwc, dnnl_hwio, dnnl_x); }
  static ConvMds of(const pcnn_conv_t &c, Layout l) {
    return l == Layout::plain ? ours(c)
                              : ConvMds(c, dnnl_format_tag_any, dnnl_format_tag_any, dnnl_format_tag_any);
  }
};

// Forward convolution descriptor: stride 1, padding k/2 on every side.
inline dnnl_convolution_desc_t conv_fwd_desc(const pcnn_conv_t &c, const ConvMds &m) {
  const dnnl_dims_t strides = {1, 1}, pad = {c.k / 2, c.k / 2};
  dnnl_convolution_desc_t d;
  PDNNL_CHECK(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct,
                                                 &m.src, &m.wei, &m.bia, &m.dst, strides, pad, pad));
  return d;
}

inline void check_conv(const pcnn_conv_t &c) {
  if (const char *e = pcnn_conv_check(&c)) throw std::runtime_error(std::string("pdnnl: ") + e);
}

// Dense convolution with bias, forward / backward-data / backward-weights+bias.
class Conv {
 public:
  // dirs: which primitives to build (kFwdBit | ...). The forward primitive
  // descriptor is always made: the backward ones need it as their hint.
  Conv(const pcnn_conv_t &c, Layout layout, unsigned dirs = kAllDirs) : c_(c), layout_(layout) {
    check_conv(c);
    Context &ctx = cpu();
    const ConvMds any = ConvMds::of(c, layout), our = ConvMds::ours(c);
    const dnnl_dims_t strides = {1, 1}, pad = {c.k / 2, c.k / 2};

    dnnl_convolution_desc_t fd = conv_fwd_desc(c, any);
    PrimDesc &fpd = hint_;
    PDNNL_CHECK(dnnl_primitive_desc_create(fpd.put(), &fd, nullptr, ctx.engine.get(), nullptr));

    if (dirs & kBwdDataBit) {
      dnnl_convolution_desc_t d;
      PDNNL_CHECK(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &any.src,
                                                           &any.wei, &any.dst, strides, pad, pad));
      PrimDesc pd;
      PDNNL_CHECK(dnnl_primitive_desc_create(pd.put(), &d, nullptr, ctx.engine.get(), fpd.get()));
      Op &op = ops_[kBwdData] = Op(std::move(pd));
      op.add(DNNL_ARG_DIFF_SRC, true, our.src);
      op.add(DNNL_ARG_DIFF_DST, false, our.dst);
      op.add(DNNL_ARG_WEIGHTS, false, our.wei);
    }
    if (dirs & kBwdWeightsBit) {
      dnnl_convolution_desc_t d;
      PDNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &any.src,
                                                              &any.wei, &any.bia, &any.dst, strides,
                                                              pad, pad));
      PrimDesc pd;
      PDNNL_CHECK(dnnl_primitive_desc_create(pd.put(), &d, nullptr, ctx.engine.get(), fpd.get()));
      Op &op = ops_[kBwdWeights] = Op(std::move(pd));
      op.add(DNNL_ARG_DIFF_WEIGHTS, true, our.wei);
      op.add(DNNL_ARG_DIFF_BIAS, true, our.bia);
      op.add(DNNL_ARG_DIFF_DST, false, our.dst);
      op.add(DNNL_ARG_SRC, false, our.src);
    }
    if (dirs & kFwdBit) {
      Op &op = ops_[kFwd] = Op(clone(fpd.get()));
      op.add(DNNL_ARG_DST, true, our.dst);
      op.add(DNNL_ARG_SRC, false, our.src);
      op.add(DNNL_ARG_WEIGHTS, false, our.wei);
      op.add(DNNL_ARG_BIAS, false, our.bia);
    }
  }

  const pcnn_conv_t &conv() const { return c_; }
  Layout layout() const { return layout_; }
  bool has(Dir d) const { return (bool)ops_[d]; }
  // e.g. "jit:avx512_core", "gemm:jit", "ref:any"
  std::string impl(Dir d) const { return op(d).impl(); }
  // arguments of direction d that oneDNN keeps in another layout than ours
  int reordered(Dir d) const { return op(d).reordered(); }

  // out (N,H,W,cout) = conv(in (N,H,W,cin), w [k][k][cin][cout]) + b (cout)
  void forward(float *out, const float *in, const float *w, const float *b) {
    stage_forward(out, in, w, b);
    run(kFwd);
    finish(kFwd);
  }
  // din (N,H,W,cin) = conv^T(dout (N,H,W,cout), w)   (overwrites)
  void backward_data(float *din, const float *dout, const float *w) {
    stage_backward_data(din, dout, w);
    run(kBwdData);
    finish(kBwdData);
  }
  // dw [k][k][cin][cout] = in (x) dout over all taps; db (cout) = sum dout   (overwrite)
  void backward_weights(float *dw, float *db, const float *dout, const float *in) {
    stage_backward_weights(dw, db, dout, in);
    run(kBwdWeights);
    finish(kBwdWeights);
  }

  // The three steps apart, for timing run() alone. The buffers must stay
  // alive until finish().
  void stage_forward(float *out, const float *in, const float *w, const float *b) {
    op(kFwd).stage({out, in, w, b});
  }
  void stage_backward_data(float *din, const float *dout, const float *w) {
    op(kBwdData).stage({din, dout, w});
  }
  void stage_backward_weights(float *dw, float *db, const float *dout, const float *in) {
    op(kBwdWeights).stage({dw, db, dout, in});
  }
  void run(Dir d) { op(d).run(); }
  void finish(Dir d) { op(d).finish(); }

 private:
  Op &op(Dir d) { return const_cast<Op &>(static_cast<const Conv *>(this)->op(d)); }
  const Op &op(Dir d) const {
    if (d < kFwd || d > kBwdWeights || !ops_[d])
      throw std::runtime_error("pdnnl: Conv direction was not built");
    return ops_[d];
  }
  pcnn_conv_t c_{};
  Layout layout_;
  PrimDesc hint_;  // forward pd: the backward pds keep a pointer to it
  Op ops_[3];
};

// PReLU with one slope per channel on NHWC data (N,H,W,C): oneDNN's weights
// are dims {1,C,1,1}, broadcast over N, H, W (physically our C slopes).
class Prelu {
 public:
  Prelu(int n, int h, int w, int ch, unsigned dirs = kFwdBit | kBwdDataBit) {
    Context &ctx = cpu();
    const dnnl_memory_desc_t data = md({n, ch, h, w}, dnnl_nhwc), wei = md({1, ch, 1, 1}, dnnl_nhwc);
    dnnl_prelu_desc_t fd;
    PDNNL_CHECK(dnnl_prelu_forward_desc_init(&fd, dnnl_forward_training, &data, &wei));
    PrimDesc &fpd = hint_;
    PDNNL_CHECK(dnnl_primitive_desc_create(fpd.put(), &fd, nullptr, ctx.engine.get(), nullptr));
    if (dirs & kBwdDataBit) {  // data and slope gradients together
      dnnl_prelu_desc_t d;
      PDNNL_CHECK(dnnl_prelu_backward_desc_init(&d, &data, &wei, &data, &wei));
      PrimDesc pd;
      PDNNL_CHECK(dnnl_primitive_desc_create(pd.put(), &d, nullptr, ctx.engine.get(), fpd.get()));
      bwd_ = Op(std::move(pd));
      bwd_.add(DNNL_ARG_DIFF_SRC, true, data);
      bwd_.add(DNNL_ARG_DIFF_WEIGHTS, true, wei);
      bwd_.add(DNNL_ARG_DIFF_DST, false, data);
      bwd_.add(DNNL_ARG_SRC, false, data);
      bwd_.add(DNNL_ARG_WEIGHTS, false, wei);
    }
    if (dirs & kFwdBit) {
      fwd_ = Op(clone(fpd.get()));
      fwd_.add(DNNL_ARG_DST, true, data);
      fwd_.add(DNNL_ARG_SRC, false, data);
      fwd_.add(DNNL_ARG_WEIGHTS, false, wei);
    }
  }
  std::string impl(Dir d) const { return op(d).impl(); }

  // out = x > 0 ? x : alpha[c] x;  out, x (N,H,W,C); alpha (C)
  void forward(float *out, const float *x, const float *alpha) {
    stage_forward(out, x, alpha);
    run(kFwd);
  }
  // dx = dout * (x > 0 ? 1 : alpha); dalpha = sum dout * x * (x <= 0)   (overwrite)
  void backward(float *dx, float *dalpha, const float *dout, const float *x, const float *alpha) {
    stage_backward(dx, dalpha, dout, x, alpha);
    run(kBwdData);
  }
  void stage_forward(float *out, const float *x, const float *alpha) { op(kFwd).stage({out, x, alpha}); }
  void stage_backward(float *dx, float *dalpha, const float *dout, const float *x, const float *alpha) {
    op(kBwdData).stage({dx, dalpha, dout, x, alpha});
  }
  void run(Dir d) { op(d).run(); }  // plain layouts: nothing to finish

 private:
  Op &op(Dir d) { return const_cast<Op &>(static_cast<const Prelu *>(this)->op(d)); }
  const Op &op(Dir d) const {
    const Op &o = d == kFwd ? fwd_ : bwd_;
    if ((d != kFwd && d != kBwdData) || !o) throw std::runtime_error("pdnnl: Prelu direction was not built");
    return o;
  }
  PrimDesc hint_;  // forward pd: the backward pd keeps a pointer to it
  Op fwd_, bwd_;
};

// Forward 1x1 convolution with a per-channel PReLU post-op
// (dnnl_post_ops_append_prelu): out = prelu(conv1x1(in, w) + b, alpha).
// The counterpart of pcnn_conv1x1_prelu_fwd, except that oneDNN does not
// return the pre-activation.
class Conv1x1PreluFwd {
 public:
  Conv1x1PreluFwd(const pcnn_conv_t &c, Layout layout) : c_(c), layout_(layout) {
    check_conv(c);
    if (c.k != 1) throw std::runtime_error("pdnnl: Conv1x1PreluFwd needs k == 1");
    Context &ctx = cpu();
    const ConvMds any = ConvMds::of(c, layout), our = ConvMds::ours(c);
    PostOps po;
    PDNNL_CHECK(dnnl_post_ops_create(po.put()));
    PDNNL_CHECK(dnnl_post_ops_append_prelu(po.get(), 1 << 1));  // mask bit 1: per channel
    Attr attr;
    PDNNL_CHECK(dnnl_primitive_attr_create(attr.put()));
    PDNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr.get(), po.get()));
    dnnl_convolution_desc_t d = conv_fwd_desc(c, any);
    PrimDesc pd;
    PDNNL_CHECK(dnnl_primitive_desc_create(pd.put(), &d, attr.get(), ctx.engine.get(), nullptr));
    op_ = Op(std::move(pd));
    op_.add(DNNL_ARG_DST, true, our.dst);
    op_.add(DNNL_ARG_SRC, false, our.src);
    op_.add(DNNL_ARG_WEIGHTS, false, our.wei);
    op_.add(DNNL_ARG_BIAS, false, our.bia);
    // the post-op's slopes: dst's rank, 1 on every dim the mask leaves out
    op_.add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_WEIGHTS, false, md({1, c.cout, 1, 1}, dnnl_abcd));
  }
  const pcnn_conv_t &conv() const { return c_; }
  Layout layout() const { return layout_; }
  std::string impl() const { return op_.impl(); }
  int reordered() const { return op_.reordered(); }

  // out (N,H,W,cout); in (N,H,W,cin); w [cin][cout]; b, alpha (cout)
  void forward(float *out, const float *in, const float *w, const float *b, const float *alpha) {
    stage(out, in, w, b, alpha);
    run();
    finish();
  }
  void stage(float *out, const float *in, const float *w, const float *b, const float *alpha) {
    op_.stage({out, in, w, b, alpha});
  }
  void run() { op_.run(); }
  void finish() { op_.finish(); }

 private:
  pcnn_conv_t c_{};
  Layout layout_;
  Op op_;
};

}  // namespace pdnnl
