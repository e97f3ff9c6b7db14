// bench_peers.cc: the same layers run by oneDNN 2.6 and libxsmm 1.17.
//
// oneDNN: convolution_direct on dense weights with the mask applied (zeros at
// masked taps: oneDNN cannot skip them, so its useful GFLOP/s counts only the
// kept taps, like ours). Two layouts: "onednn_blocked" lets oneDNN pick
// (format_tag::any for activations and weights; inputs are reordered once,
// outside the timed loop), "onednn_nhwc" fixes NHWC activations (our layout)
// and lets it pick the weight layout. The label is the implementation oneDNN
// reports (e.g. jit:avx512_core, jit_1x1:avx512_core).
// The fused 1x1 + PReLU: "+prelu" = the conv then oneDNN's prelu primitive
// (the fair baseline: it also keeps the pre-activation backward needs);
// "_postop" = the conv with a PReLU post-op (forward only; oneDNN 2.6 may run
// that with slower code: the label says which implementation it got).
// Backward of the fused op: prelu_backward (dpre, dalpha) then the conv's
// backward data or weights.
// conv_prelu_fwd (our conv with the PReLU, and on 1x1s the residual, in its
// epilogue): "+prelu" = the conv (1x1: with a sum post-op adding the residual
// already in dst, which oneDNN's jit 1x1 fuses) then the prelu primitive.
//
// "onednn_bf16": the plain convs in oneDNN's bf16 (the peer of our bf16 rows,
// precision bf16): bf16 source / weights / diff_dst, f32 destination, diff_src,
// diff_weights and bias, layouts oneDNN's choice (format_tag::any); the f32
// inputs are converted to bf16 once, outside the timed loop (ours convert
// inside every call). The label is oneDNN's implementation (e.g.
// jit:avx512_core_bf16).
//
// libxsmm: the 1x1 convs as small column-major GEMMs over blocks of XB
// pixels. NHWC in (P x cin, row-major) is column-major (cin x P), so
//   forward       out(cout x P)  = W(cout x cin) . in(cin x P)     (W = [cin][cout] as is)
//   backward data din(cin x P)  += W^T(cin x cout) . dout(cout x P) (W^T: [cout][cin], transposed per call)
//   backward wts  dW(cout x cin) += dout(cout x Pb) . in^T(Pb x cin) (in block transposed per block)
// with beta = 0 (forward) or 1 passed explicitly, then the bias / PReLU
// passes of xsmm_pass__avx512.c.
#include <dnnl.hpp>
#include <libxsmm.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.h"
#include "xsmm_pass.h"

namespace pcnn_bench {
namespace {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
using Args = std::unordered_map<int, memory>;
using Body = std::function<void(benchmark::State &)>;

void reg(const std::string &name, int threads, Body body, bool slow = false) {
  auto *b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &st) {
    omp_set_num_threads(threads);
    try {
      body(st);
    } catch (const dnnl::error &e) {
      skip(st, (std::string("oneDNN: ") + e.what()).c_str());
    }
  });
  policy(b, name, slow);
}

struct Dnnl {
  engine eng{engine::kind::cpu, 0};
  stream s{eng};
};
Dnnl &dnnl_ctx() {
  static Dnnl d;
  return d;
}

memory::dims act_dims(const pcnn_conv_t &c, int ch) { return {c.n, ch, c.h, c.w}; }

// a memory in layout `want` holding the user buffer (reordered once if needed)
memory import(float *data, const memory::dims &dims, tag user, const memory::desc &want) {
  Dnnl &d = dnnl_ctx();
  memory u({dims, dt::f32, user}, d.eng, data);
  if (u.get_desc() == want) return u;
  memory m(want, d.eng);
  reorder(u, m).execute(d.s, u, m);
  d.s.wait();
  return m;
}

struct ConvPds {
  convolution_forward::primitive_desc fwd;
  convolution_backward_data::primitive_desc bwd_data;
  convolution_backward_weights::primitive_desc bwd_weights;
};

ConvPds conv_pds(const pcnn_conv_t &c, bool nhwc, const primitive_attr &attr = primitive_attr()) {
  Dnnl &d = dnnl_ctx();
  const tag at = nhwc ? tag::nhwc : tag::any;
  const memory::desc src(act_dims(c, c.cin), dt::f32, at), dst(act_dims(c, c.cout), dt::f32, at),
      w({c.cout, c.cin, c.k, c.k}, dt::f32, tag::any), b({c.cout}, dt::f32, tag::a);
  const memory::dims st = {1, 1}, pad = {c.k / 2, c.k / 2};
  ConvPds p;
  convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, src, w,
                               b, dst, st, pad, pad);
  p.fwd = convolution_forward::primitive_desc(fd, attr, d.eng);
  convolution_backward_data::desc bd(algorithm::convolution_direct, src, w, dst, st, pad, pad);
  p.bwd_data = convolution_backward_data::primitive_desc(bd, d.eng, p.fwd);
  convolution_backward_weights::desc wd(algorithm::convolution_direct, src, w, b, dst, st, pad, pad);
  p.bwd_weights = convolution_backward_weights::primitive_desc(wd, d.eng, p.fwd);
  return p;
}

void run(benchmark::State &st, const std::vector<std::pair<primitive, Args>> &prims) {
  Dnnl &d = dnnl_ctx();
  for (auto _ : st) {
    for (auto &pa : prims) pa.first.execute(d.s, pa.second);
    d.s.wait();
  }
}

const char *dir_op(int dir, bool fused) {
  static const char *plain[] = {"conv_fwd", "conv_bwd_data", "conv_bwd_weights"};
  static const char *fz[] = {"conv1x1_prelu_fwd", "conv1x1_prelu_bwd_data",
                             "conv1x1_prelu_bwd_weights"};
  return fused ? fz[dir] : plain[dir];
}

// conv (dir 0 fwd, 1 bwd data, 2 bwd weights), optionally followed / preceded
// by the prelu primitive (fused = 1), with a prelu post-op (fused = 2, fwd),
// or (fused = 3, fwd: conv_prelu_fwd) with a sum post-op on 1x1s (the
// residual) then the prelu primitive
void onednn_conv(benchmark::State &st, const pcnn_conv_t &c, bool nhwc, int dir, int fused) {
  Dnnl &d = dnnl_ctx();
  primitive_attr attr;
  const bool sum = fused == 3 && c.k == 1;
  if (fused == 2 || sum) {
    post_ops po;
    if (sum)
      po.append_sum(1.f);
    else
      po.append_prelu(1 << 1);
    attr.set_post_ops(po);
  }
  if (fused == 3) fused = 1;
  ConvPds p = conv_pds(c, nhwc, attr);
  const memory::dims sd = act_dims(c, c.cin), dd = act_dims(c, c.cout),
                     wd = {c.cout, c.cin, c.k, c.k};
  Buf in(act_size(c, c.cin)), out(act_size(c, c.cout)), w(w_size(c)), b(c.cout), a(c.cout);
  in.rand(-1, 1, 1);
  out.rand(-1, 1, 4);  // dout for the backward passes
  masked_weights(w, c, 2);
  b.rand(-0.1f, 0.1f, 3);
  a.rand(0.1f, 0.3f, 5);
  memory src = import(in.get(), sd, tag::nhwc, p.fwd.src_desc());
  memory wts = import(w.get(), wd, tag::hwio, p.fwd.weights_desc());
  memory bias({{c.cout}, dt::f32, tag::a}, d.eng, b.get());
  memory dst(p.fwd.dst_desc(), d.eng);
  std::string label = std::string("conv=") + p.fwd.impl_info_str();

  std::vector<std::pair<primitive, Args>> prims;
  // prelu forward / backward on the conv's output layout
  // the layout each direction wants dout in (the prelu runs in it too)
  const memory::desc act = dir == 0   ? p.fwd.dst_desc()
                           : dir == 1 ? p.bwd_data.diff_dst_desc()
                                      : p.bwd_weights.diff_dst_desc();
  const memory::desc alpha_md({1, c.cout, 1, 1}, dt::f32, tag::nchw);
  prelu_forward::primitive_desc pf;
  memory alpha(alpha_md, d.eng, a.get());
  if (fused == 1) {
    pf = prelu_forward::primitive_desc(
        prelu_forward::desc(prop_kind::forward_training, act, alpha_md), d.eng);
    label += std::string(" prelu=") + pf.impl_info_str();
  }
  if (dir == 0) {
    Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
    if (fused == 2) {
      memory aw({{c.cout}, dt::f32, tag::a}, d.eng, a.get());
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_WEIGHTS] = aw;
      label += " (prelu post-op)";
    }
    if (sum) {  // dst holds the residual; it grows each call, which does not change the timing
      Buf res(act_size(c, c.cout));
      res.rand(-1, 1, 7);
      memory r = import(res.get(), dd, tag::nhwc, p.fwd.dst_desc());
      reorder(r, dst).execute(d.s, r, dst);
      d.s.wait();
      label += " (sum post-op: residual)";
    }
    prims.push_back({convolution_forward(p.fwd), args});
    if (fused == 1) {
      memory y(act, d.eng);
      prims.push_back({prelu_forward(pf), Args{{DNNL_ARG_SRC, dst}, {DNNL_ARG_WEIGHTS, alpha},
                                               {DNNL_ARG_DST, y}}});
    }
  } else {
    memory ddst = import(out.get(), dd, tag::nhwc, act);
    memory dpre = ddst;
    if (fused == 1) {
      // pre-activation = dst of one forward run; dout in the same layout
      convolution_forward(p.fwd).execute(d.s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts},
                                               {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}});
      if (dst.get_desc() != act) {  // the pre-activation in the backward layout
        memory m(act, d.eng);
        reorder(dst, m).execute(d.s, dst, m);
        dst = m;
      }
      d.s.wait();
      prelu_backward::primitive_desc pb(prelu_backward::desc(act, alpha_md, act, alpha_md), d.eng, pf);
      dpre = memory(act, d.eng);
      memory dalpha(alpha_md, d.eng);
      prims.push_back({prelu_backward(pb),
                       Args{{DNNL_ARG_SRC, dst}, {DNNL_ARG_WEIGHTS, alpha}, {DNNL_ARG_DIFF_DST, ddst},
                            {DNNL_ARG_DIFF_SRC, dpre}, {DNNL_ARG_DIFF_WEIGHTS, dalpha}}});
      label += std::string(" prelu_bwd=") + pb.impl_info_str();
    }
    if (dir == 1) {
      memory dsrc(p.bwd_data.diff_src_desc(), d.eng);
      memory wb = wts;  // backward data may want its own weight layout
      if (p.bwd_data.weights_desc() != wts.get_desc())
        wb = import(w.get(), wd, tag::hwio, p.bwd_data.weights_desc());
      prims.push_back({convolution_backward_data(p.bwd_data),
                       Args{{DNNL_ARG_DIFF_DST, dpre}, {DNNL_ARG_WEIGHTS, wb}, {DNNL_ARG_DIFF_SRC, dsrc}}});
      label = std::string("conv_bwd_data=") + p.bwd_data.impl_info_str() +
              label.substr(label.find(' ') == std::string::npos ? label.size() : label.find(' '));
    } else {
      memory dw(p.bwd_weights.diff_weights_desc(), d.eng), db(p.bwd_weights.diff_bias_desc(), d.eng);
      memory src2 = src;
      if (p.bwd_weights.src_desc() != src.get_desc())
        src2 = import(in.get(), sd, tag::nhwc, p.bwd_weights.src_desc());
      prims.push_back({convolution_backward_weights(p.bwd_weights),
                       Args{{DNNL_ARG_SRC, src2}, {DNNL_ARG_DIFF_DST, dpre}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                            {DNNL_ARG_DIFF_BIAS, db}}});
      label = std::string("conv_bwd_weights=") + p.bwd_weights.impl_info_str() +
              label.substr(label.find(' ') == std::string::npos ? label.size() : label.find(' '));
    }
  }
  st.SetLabel(label);
  run(st, prims);
  conv_counters(st, c);
}

// oneDNN's bf16 conv (dir 0 fwd, 1 bwd data, 2 bwd weights)
void onednn_conv_bf16(benchmark::State &st, const pcnn_conv_t &c, int dir) {
  if (!pcnn_isa_supported(PCNN_ISA_AVX512BF16)) {
    skip(st, "this CPU has no AVX512_BF16 (oneDNN would emulate bf16)");
    return;
  }
  Dnnl &d = dnnl_ctx();
  const memory::dims sd = act_dims(c, c.cin), dd = act_dims(c, c.cout), wd = {c.cout, c.cin, c.k, c.k};
  const memory::dims stv = {1, 1}, pad = {c.k / 2, c.k / 2};
  const memory::desc src16(sd, dt::bf16, tag::any), w16(wd, dt::bf16, tag::any), dst32(dd, dt::f32, tag::any),
      dst16(dd, dt::bf16, tag::any), src32(sd, dt::f32, tag::any), w32(wd, dt::f32, tag::any),
      b32({c.cout}, dt::f32, tag::a);
  convolution_forward::primitive_desc fwd(
      convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src16, w16, b32,
                                dst32, stv, pad, pad),
      d.eng);
  Buf in(act_size(c, c.cin)), out(act_size(c, c.cout)), w(w_size(c)), b(c.cout);
  in.rand(-1, 1, 1);
  out.rand(-1, 1, 4);
  masked_weights(w, c, 2);
  b.rand(-0.1f, 0.1f, 3);
  memory bias({{c.cout}, dt::f32, tag::a}, d.eng, b.get());
  std::vector<std::pair<primitive, Args>> prims;
  std::string label;
  if (dir == 0) {
    memory src = import(in.get(), sd, tag::nhwc, fwd.src_desc()), wts = import(w.get(), wd, tag::hwio, fwd.weights_desc());
    memory dst(fwd.dst_desc(), d.eng);
    prims.push_back({convolution_forward(fwd),
                     Args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}}});
    label = std::string("conv=") + fwd.impl_info_str();
  } else if (dir == 1) {
    convolution_backward_data::primitive_desc bd(
        convolution_backward_data::desc(algorithm::convolution_direct, src32, w16, dst16, stv, pad, pad), d.eng, fwd);
    memory ddst = import(out.get(), dd, tag::nhwc, bd.diff_dst_desc()), wts = import(w.get(), wd, tag::hwio, bd.weights_desc());
    memory dsrc(bd.diff_src_desc(), d.eng);
    prims.push_back({convolution_backward_data(bd),
                     Args{{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DIFF_SRC, dsrc}}});
    label = std::string("conv_bwd_data=") + bd.impl_info_str();
  } else {
    convolution_backward_weights::primitive_desc wdp(
        convolution_backward_weights::desc(algorithm::convolution_direct, src16, w32, b32, dst16, stv, pad, pad),
        d.eng, fwd);
    memory src = import(in.get(), sd, tag::nhwc, wdp.src_desc()), ddst = import(out.get(), dd, tag::nhwc, wdp.diff_dst_desc());
    memory dw(wdp.diff_weights_desc(), d.eng), db(wdp.diff_bias_desc(), d.eng);
    prims.push_back({convolution_backward_weights(wdp), Args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst},
                                                              {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}}});
    label = std::string("conv_bwd_weights=") + wdp.impl_info_str();
  }
  st.SetLabel(label);
  run(st, prims);
  conv_counters(st, c);
}

// ---- libxsmm ----
const int XB = 64;  // pixels per GEMM block

libxsmm_smmfunction smm(int m, int n, int k, int lda, int ldb, int ldc, float beta) {
  const float alpha = 1.f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE;
  const libxsmm_blasint M = m, N = n, K = k, A = lda, B = ldb, C = ldc;
  return libxsmm_smmdispatch(M, N, K, &A, &B, &C, &alpha, &beta, &flags, nullptr);
}

// dir 0 fwd, 1 bwd data, 2 bwd weights; fused adds the PReLU passes
void xsmm_conv(benchmark::State &st, const pcnn_conv_t &c, int dir, bool fused) {
  if (!pcnn_isa_supported(PCNN_ISA_AVX512)) {
    skip(st, "the libxsmm peer's passes need AVX-512");
    return;
  }
  static const bool inited = (libxsmm_init(), true);
  (void)inited;
  const int cin = c.cin, cout = c.cout;
  const size_t P = (size_t)c.n * c.h * c.w;
  const int nblk = (int)((P + XB - 1) / XB), tail = (int)(P % XB);
  Buf in(P * cin), out(P * cout), pre(P * cout), dout(P * cout), din(P * cin), w(w_size(c)),
      wt(w_size(c)), b(cout), a(cout), dw(w_size(c)), db(cout), da(cout);
  in.rand(-1, 1, 1);
  dout.rand(-1, 1, 4);
  pre.rand(-1, 1, 6);
  masked_weights(w, c, 2);
  b.rand(-0.1f, 0.1f, 3);
  a.rand(0.1f, 0.3f, 5);
  // full-block and tail kernels
  libxsmm_smmfunction k[2] = {nullptr, nullptr};
  for (int t = 0; t < 2; t++) {
    const int n = t ? tail : XB;
    if (!n) continue;
    if (dir == 0) k[t] = smm(cout, n, cin, cout, cin, cout, 0.f);
    if (dir == 1) k[t] = smm(cin, n, cout, cin, cout, cin, 1.f);
    if (dir == 2) k[t] = smm(cout, cin, n, cout, n, cout, 1.f);
    if (!k[t]) {
      skip(st, "libxsmm_smmdispatch returned NULL");
      return;
    }
  }
  const int nth = omp_get_max_threads();
  std::vector<std::unique_ptr<Buf>> scratch, pdw, pdb, pda;
  for (int t = 0; t < nth; t++) {
    scratch.emplace_back(new Buf((size_t)XB * std::max(cin, cout)));
    pdw.emplace_back(new Buf(w_size(c)));
    pdb.emplace_back(new Buf(cout));
    pda.emplace_back(new Buf(cout));
  }
  st.SetLabel(std::string("libxsmm smm ") + (fused ? "+ prelu pass" : "+ bias pass"));
  for (auto _ : st) {
    if (dir == 1)  // W^T: [cout][cin]
      xp_transpose__avx512(wt.get(), w.get(), cin, cout);
#pragma omp parallel
    {
      const int tid = omp_get_thread_num();
      float *s = scratch[tid]->get();
      if (dir == 2) {
        pdw[tid]->zero();
        pdb[tid]->zero();
        pda[tid]->zero();
      }
#pragma omp for schedule(static)
      for (int bi = 0; bi < nblk; bi++) {
        const size_t p0 = (size_t)bi * XB;
        const int np = (int)std::min<size_t>(XB, P - p0);
        const libxsmm_smmfunction f = k[np == XB ? 0 : 1];
        if (dir == 0) {
          if (fused) {
            f(w.get(), in.get() + p0 * cin, pre.get() + p0 * cout);
            xp_bias_prelu__avx512(pre.get() + p0 * cout, out.get() + p0 * cout, b.get(), a.get(), np, cout);
          } else {
            f(w.get(), in.get() + p0 * cin, out.get() + p0 * cout);
            xp_bias__avx512(out.get() + p0 * cout, b.get(), np, cout);
          }
        } else if (dir == 1) {
          const float *g = dout.get() + p0 * cout;
          if (fused) {
            xp_dprelu__avx512(s, nullptr, g, pre.get() + p0 * cout, a.get(), np, cout);
            g = s;
          }
          f(wt.get(), g, din.get() + p0 * cin);
        } else {
          const float *g = dout.get() + p0 * cout;
          float *dp = s + (size_t)XB * cin;  // unused unless fused (scratch sized below)
          (void)dp;
          if (fused) {
            // dpre into the output-side buffer `out` (free here), dalpha from dout
            float *dpre = out.get() + p0 * cout;
            xp_dprelu__avx512(dpre, pda[tid]->get(), g, pre.get() + p0 * cout, a.get(), np, cout);
            g = dpre;
          }
          xp_colsum__avx512(pdb[tid]->get(), g, np, cout);
          xp_transpose__avx512(s, in.get() + p0 * cin, np, cin);  // (cin x np) = col-major (np x cin)
          f(g, s, pdw[tid]->get());
        }
      }
    }
    if (dir == 2)  // reduce the per-thread gradients (ours accumulate too)
      for (int t = 0; t < nth; t++) {
        for (size_t i = 0; i < w_size(c); i++) dw.get()[i] += pdw[t]->get()[i];
        for (int j = 0; j < cout; j++) db.get()[j] += pdb[t]->get()[j], da.get()[j] += pda[t]->get()[j];
      }
  }
  benchmark::DoNotOptimize(out.get()[0]);
  benchmark::DoNotOptimize(din.get()[0]);
  benchmark::DoNotOptimize(dw.get()[0]);
  conv_counters(st, c);
}

}  // namespace

void register_peers() {
  for (int t : thread_counts()) {
    for (int dir = 0; dir < 3; dir++) {
      for (const ConvShape &s : conv_shapes()) {
        const pcnn_conv_t c = s.c;
        const std::string pre = std::string(dir_op(dir, false)) + "/" + s.name + "/";
        const std::string th = "/t" + std::to_string(t);
        reg(pre + "onednn_blocked" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, false, dir, 0); });
        reg(pre + "onednn_nhwc" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, true, dir, 0); });
        reg(pre + "onednn_bf16" + th, t, [=](benchmark::State &st) { onednn_conv_bf16(st, c, dir); });
        if (c.k == 1)
          reg(pre + "libxsmm" + th, t, [=](benchmark::State &st) { xsmm_conv(st, c, dir, false); });
        if (dir == 0) {
          const std::string pp = std::string("conv_prelu_fwd/") + s.name + "/";
          reg(pp + "onednn_blocked+prelu" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, false, 0, 3); });
          reg(pp + "onednn_nhwc+prelu" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, true, 0, 3); });
        }
      }
      for (const ConvShape &s : fused_shapes()) {
        const pcnn_conv_t c = s.c;
        const std::string pre = std::string(dir_op(dir, true)) + "/" + s.name + "/";
        const std::string th = "/t" + std::to_string(t);
        reg(pre + "onednn_blocked+prelu" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, false, dir, 1); });
        reg(pre + "onednn_nhwc+prelu" + th, t, [=](benchmark::State &st) { onednn_conv(st, c, true, dir, 1); });
        // oneDNN 2.6 runs the PReLU post-op with ref:any (~5 s a call here, in
        // either layout): time it once, NHWC only, as a slow row
        if (dir == 0)
          reg(pre + "onednn_nhwc_postop" + th, t,
              [=](benchmark::State &st) { onednn_conv(st, c, true, 0, 2); }, true);
        reg(pre + "libxsmm" + th, t, [=](benchmark::State &st) { xsmm_conv(st, c, dir, true); });
      }
    }
  }
}

}  // namespace pcnn_bench
