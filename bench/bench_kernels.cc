// bench_kernels.cc: times every row of kernels/kernel_list.h on the seed
// model's shapes, at 1 and 2 threads. Rows are read from pcnn_kernel_rows at
// start-up and each goes to its op's adapter (bench_<op>, indexed by
// pcnn_op_t), so a kernel added to the list for an existing op is timed
// without touching this file, and a new op does not compile until it has an
// adapter here.
// Names: <op>/<shape>/<isa>/t<threads>, e.g. conv_fwd/3x3B_64-64/avx512/t1.
// The bf16 rows (pcnn_kernel_rows_bf16) are timed the same way under their
// level's name (avx512bf16), on the same float data; their scalar bf16
// reference is not timed (the FP32 reference row stands for the scalar code).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

namespace pcnn_bench {
namespace {

using Body = std::function<void(benchmark::State &)>;

// Runs body after setting the thread count and checking the ISA.
void reg(const std::string &name, pcnn_isa_t isa, int threads, bool slow, Body body) {
  auto *b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &st) {
    if (!pcnn_isa_supported(isa)) {
      skip(st, (std::string("ISA not supported on this CPU: ") + pcnn_isa_name(isa)).c_str());
      return;
    }
    omp_set_num_threads(threads);
    body(st);
  });
  policy(b, name, slow);
}

std::string nm(const char *op, const std::string &shape, pcnn_isa_t isa, int t) {
  return std::string(op) + "/" + shape + "/" + pcnn_isa_name(isa) + "/t" + std::to_string(t);
}

bool slow(const pcnn_kernel_row_t &r) { return r.isa == PCNN_ISA_REF; }

// one benchmark of row r per shape; body_of(c) is the timed body on shape c
template <class BodyOf>
void per_shape(const pcnn_kernel_row_t &r, int t, const std::vector<ConvShape> &shapes, BodyOf body_of) {
  for (const ConvShape &s : shapes) reg(nm(r.op_name, s.name, r.isa, t), r.isa, t, slow(r), body_of(s.c));
}

// element-wise ops are counted in items (elements) per second
void items(benchmark::State &st, size_t n) { st.SetItemsProcessed((int64_t)(st.iterations() * n)); }

// ---- one adapter per op: registers row r's benchmarks at t threads ----

void bench_conv_fwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv_fwd_fn *)r.fn;
  per_shape(r, t, conv_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf out(act_size(c, c.cout)), in(act_size(c, c.cin)), w(w_size(c)), b(c.cout);
      in.rand(-1, 1, 1);
      masked_weights(w, c, 2);
      b.rand(-0.1f, 0.1f, 3);
      for (auto _ : st) fn(out.get(), in.get(), w.get(), b.get(), &c);
      benchmark::DoNotOptimize(out.get()[0]);
      conv_counters(st, c);
    };
  });
}

// as the model runs it: the 1x1 (conv3) with the residual input, the others
// (3x3, first layer) without
void bench_conv_prelu_fwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv_prelu_fwd_fn *)r.fn;
  per_shape(r, t, conv_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf pre(act_size(c, c.cout)), out(act_size(c, c.cout)), in(act_size(c, c.cin)), w(w_size(c)),
          b(c.cout), res(act_size(c, c.cout)), a(c.cout);
      in.rand(-1, 1, 1);
      masked_weights(w, c, 2);
      b.rand(-0.1f, 0.1f, 3);
      res.rand(-1, 1, 7);
      a.rand(0.1f, 0.3f, 5);
      const float *rp = c.k == 1 ? res.get() : nullptr;
      for (auto _ : st) fn(pre.get(), out.get(), in.get(), w.get(), b.get(), rp, a.get(), &c);
      benchmark::DoNotOptimize(out.get()[0]);
      conv_counters(st, c);
    };
  });
}

void bench_conv_bwd_data(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv_bwd_data_fn *)r.fn;
  per_shape(r, t, conv_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf din(act_size(c, c.cin)), dout(act_size(c, c.cout)), w(w_size(c));
      dout.rand(-1, 1, 4);
      masked_weights(w, c, 2);
      for (auto _ : st) fn(din.get(), dout.get(), w.get(), &c);
      benchmark::DoNotOptimize(din.get()[0]);
      conv_counters(st, c);
    };
  });
}

void bench_conv_bwd_weights(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv_bwd_weights_fn *)r.fn;
  per_shape(r, t, conv_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf dw(w_size(c)), db(c.cout), dout(act_size(c, c.cout)), in(act_size(c, c.cin));
      dout.rand(-1, 1, 4);
      in.rand(-1, 1, 1);
      for (auto _ : st) fn(dw.get(), db.get(), dout.get(), in.get(), &c);
      benchmark::DoNotOptimize(dw.get()[0]);
      conv_counters(st, c);
    };
  });
}

void bench_conv1x1_prelu_fwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv1x1_prelu_fwd_fn *)r.fn;
  per_shape(r, t, fused_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf pre(act_size(c, c.cout)), out(act_size(c, c.cout)), in(act_size(c, c.cin)), w(w_size(c)),
          b(c.cout), a(c.cout);
      in.rand(-1, 1, 1);
      masked_weights(w, c, 2);
      b.rand(-0.1f, 0.1f, 3);
      a.rand(0.1f, 0.3f, 5);
      for (auto _ : st) fn(pre.get(), out.get(), in.get(), w.get(), b.get(), a.get(), &c);
      benchmark::DoNotOptimize(out.get()[0]);
      conv_counters(st, c);
    };
  });
}

void bench_conv1x1_prelu_bwd_data(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv1x1_prelu_bwd_data_fn *)r.fn;
  per_shape(r, t, fused_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf din(act_size(c, c.cin)), dout(act_size(c, c.cout)), pre(act_size(c, c.cout)), w(w_size(c)),
          a(c.cout);
      dout.rand(-1, 1, 4);
      pre.rand(-1, 1, 6);
      masked_weights(w, c, 2);
      a.rand(0.1f, 0.3f, 5);
      for (auto _ : st) fn(din.get(), dout.get(), pre.get(), w.get(), a.get(), &c);
      benchmark::DoNotOptimize(din.get()[0]);
      conv_counters(st, c);
    };
  });
}

void bench_conv1x1_prelu_bwd_weights(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_conv1x1_prelu_bwd_weights_fn *)r.fn;
  per_shape(r, t, fused_shapes(), [=](const pcnn_conv_t c) -> Body {
    return [=](benchmark::State &st) {
      Buf dw(w_size(c)), db(c.cout), da(c.cout), dout(act_size(c, c.cout)), pre(act_size(c, c.cout)),
          in(act_size(c, c.cin)), a(c.cout);
      dout.rand(-1, 1, 4);
      pre.rand(-1, 1, 6);
      in.rand(-1, 1, 1);
      a.rand(0.1f, 0.3f, 5);
      for (auto _ : st) fn(dw.get(), db.get(), da.get(), dout.get(), pre.get(), in.get(), a.get(), &c);
      benchmark::DoNotOptimize(dw.get()[0]);
      conv_counters(st, c);
    };
  });
}

// PReLU at the model's two channel counts: body_of(p, C) on P = p pixels of C channels
template <class BodyOf>
void per_prelu_width(const pcnn_kernel_row_t &r, int t, BodyOf body_of) {
  const size_t p = pixels();
  for (int ch : {128, 64}) {
    const int C = smoke() ? ch / 16 : ch;
    reg(nm(r.op_name, "P" + std::to_string(p) + "_C" + std::to_string(C), r.isa, t), r.isa, t, slow(r),
        body_of(p, C));
  }
}

void bench_prelu_fwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_prelu_fwd_fn *)r.fn;
  per_prelu_width(r, t, [=](const size_t p, const int C) -> Body {
    return [=](benchmark::State &st) {
      Buf out(p * C), x(p * C), a(C);
      x.rand(-1, 1, 1);
      a.rand(0.1f, 0.3f, 5);
      for (auto _ : st) fn(out.get(), x.get(), a.get(), p, C);
      benchmark::DoNotOptimize(out.get()[0]);
      items(st, p * C);
    };
  });
}

void bench_prelu_bwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_prelu_bwd_fn *)r.fn;
  per_prelu_width(r, t, [=](const size_t p, const int C) -> Body {
    return [=](benchmark::State &st) {
      Buf dx(p * C), da(C), dout(p * C), x(p * C), a(C);
      x.rand(-1, 1, 1);
      dout.rand(-1, 1, 4);
      a.rand(0.1f, 0.3f, 5);
      for (auto _ : st) fn(dx.get(), da.get(), dout.get(), x.get(), a.get(), p, C);
      benchmark::DoNotOptimize(dx.get()[0]);
      items(st, p * C);
    };
  });
}

// the residual add's length: the stream of the batch at F = 128
size_t add_len() { return pixels() * (smoke() ? 8 : 128); }

void bench_add_fwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_add_fwd_fn *)r.fn;
  const size_t n = add_len();
  reg(nm(r.op_name, "n" + std::to_string(n), r.isa, t), r.isa, t, slow(r), [=](benchmark::State &st) {
    Buf out(n), a(n), b(n);
    a.rand(-1, 1, 1);
    b.rand(-1, 1, 2);
    for (auto _ : st) fn(out.get(), a.get(), b.get(), n);
    benchmark::DoNotOptimize(out.get()[0]);
    items(st, n);
  });
}

void bench_add_bwd(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_add_bwd_fn *)r.fn;
  const size_t n = add_len();
  reg(nm(r.op_name, "n" + std::to_string(n), r.isa, t), r.isa, t, slow(r), [=](benchmark::State &st) {
    Buf da(n), db(n), dout(n);
    dout.rand(-1, 1, 4);
    for (auto _ : st) fn(da.get(), db.get(), dout.get(), n);
    benchmark::DoNotOptimize(da.get()[0]);
    items(st, n);
  });
}

// both heads share one signature; K logits per pixel (one channel)
void bench_loss(const pcnn_kernel_row_t &r, int t, pcnn_bernoulli_loss_fn *fn, int K) {
  const size_t p = pixels();
  reg(nm(r.op_name, "P" + std::to_string(p) + "_C1", r.isa, t), r.isa, t, slow(r), [=](benchmark::State &st) {
    Buf dx(p * K), x(p * K), tg(p);
    x.rand(-3, 3, 1);
    tg.rand(0, 1, 2);
    double loss = 0;
    for (auto _ : st) loss += fn(dx.get(), x.get(), tg.get(), p, 1, 1.0f / (float)p);
    benchmark::DoNotOptimize(loss);
    items(st, p * K);
  });
}

void bench_bernoulli_loss(const pcnn_kernel_row_t &r, int t) {
  bench_loss(r, t, (pcnn_bernoulli_loss_fn *)r.fn, 1);
}

void bench_softmax256_loss(const pcnn_kernel_row_t &r, int t) {
  bench_loss(r, t, (pcnn_softmax256_loss_fn *)r.fn, 256);
}

void bench_nadam_update(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_nadam_update_fn *)r.fn;
  const size_t n = seed_params();
  reg(nm(r.op_name, "n" + std::to_string(n), r.isa, t), r.isa, t, slow(r), [=](benchmark::State &st) {
    Buf p(n), m(n), v(n), g(n);
    p.rand(-0.1f, 0.1f, 1);
    g.rand(-0.01f, 0.01f, 2);
    pcnn_nadam_hparams_t hp = pcnn_nadam_defaults();
    pcnn_nadam_state_t os = {0, 1.0};
    pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&os, &hp);
    for (auto _ : st) fn(p.get(), m.get(), v.get(), g.get(), n, &k);
    benchmark::DoNotOptimize(p.get()[0]);
    items(st, n);
  });
}

// the caching sampler's per-position step of the seed model's 1x1 F -> F
// layer: batch 32 (16 per thread at 2 threads) x 128 -> 128; counted in MACs
void bench_gemm_acc(const pcnn_kernel_row_t &r, int t) {
  auto fn = (pcnn_gemm_acc_fn *)r.fn;
  const int m = smoke() ? 2 : 32, n = smoke() ? 8 : 128, k = n;
  const std::string name = nm(r.op_name, std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n),
                              r.isa, t);
  const pcnn_prec_t prec = r.prec;
  reg(name, r.isa, t, slow(r), [=](benchmark::State &st) {
    Buf c((size_t)m * n), a((size_t)m * k), b((size_t)k * n), bp(pcnn_gemm_packed_len(prec, k, n));
    a.rand(-1, 1, 1);
    b.rand(-1, 1, 2);
    // the weights packed once, as the sampler does (bf16: pair words)
    pcnn_gemm_pack_b(prec, bp.get(), n, b.get(), k, n, n);
    for (auto _ : st) fn(c.get(), a.get(), bp.get(), m, n, k, k, n, n, nullptr);
    benchmark::DoNotOptimize(c.get()[0]);
    items(st, (size_t)m * n * k);
  });
}

// the adapters indexed by pcnn_op_t (PCNN_OPS order): an op added to the
// kernel list does not compile until bench_<op> exists above
using Adapter = void (*)(const pcnn_kernel_row_t &, int);
const Adapter kAdapters[PCNN_OP_COUNT] = {
#define PCNN_ADAPTER(op) bench_##op,
    PCNN_OPS(PCNN_ADAPTER)
#undef PCNN_ADAPTER
};

}  // namespace

void register_kernels() {
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    for (int t : thread_counts()) kAdapters[pcnn_kernel_rows[i].op](pcnn_kernel_rows[i], t);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].isa != PCNN_ISA_REF)
      for (int t : thread_counts()) kAdapters[pcnn_kernel_rows_bf16[i].op](pcnn_kernel_rows_bf16[i], t);
}

}  // namespace pcnn_bench
