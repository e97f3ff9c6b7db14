// test_cli.cc: the pixelcnn program end to end (PIXELCNN_BIN, set by `make
// test`): training lowers the test NLL, resume is bit-identical, save/load
// keeps the logits, the sampler is reproducible, and every bad input gets a
// one-line error naming the flag or file and a non-zero exit.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "test_util.h"

extern "C" {
#include "checkpoint.h"
#include "data.h"
#include "image_io.h"
#include "model.h"
#include "safetensors.h"
#include "sample.h"
}

namespace {

using namespace pt::cli;
using pt::TmpDir;

TEST(Cli, TrainLowersTestNllAndWritesLogAndCheckpoint) {
  NEED_BIN();
  TmpDir d;
  Proc r = run(std::string("train ") + kTiny + " --steps 25 --epochs 3 --out " + (d / "m.safetensors") +
              " --log " + (d / "log.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream log(d / "log.csv");
  std::string line;
  std::getline(log, line);
  EXPECT_EQ(line, "step,epoch,train_nll_nats,train_bpd,test_nll_nats,test_bpd,images_per_s,wall_s");
  std::vector<double> test;
  while (std::getline(log, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    ASSERT_EQ(f.size(), 8u) << line;
    test.push_back(atof(f[4].c_str()));
  }
  ASSERT_EQ(test.size(), 3u);
  EXPECT_LT(test[2], test[0]) << "test NLL did not fall: " << test[0] << " -> " << test[2];
  struct stat st;
  EXPECT_EQ(stat((d / "m.safetensors").c_str(), &st), 0);
}

TEST(Cli, ResumeIsBitIdentical) {
  NEED_BIN();
  TmpDir d;
  const std::string base = std::string("train ") + kTiny + " --steps 4 ";
  ASSERT_EQ(run(base + "--epochs 2 --out " + (d / "full.st") + " --log " + (d / "a.csv")).code, 0);
  ASSERT_EQ(run(base + "--epochs 1 --out " + (d / "half.st") + " --log " + (d / "b.csv")).code, 0);
  Proc r = run(std::string("train --epochs 2 --threads 1 --quiet --resume ") + (d / "half.st") +
              " --out " + (d / "resumed.st") + " --log " + (d / "b.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  pcnn_model_t a, b;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_ckpt_load((d / "full.st").c_str(), &a, 0, nullptr, nullptr, err), 0) << err;
  ASSERT_EQ(pcnn_ckpt_load((d / "resumed.st").c_str(), &b, 0, nullptr, nullptr, err), 0) << err;
  EXPECT_EQ(a.opt.step, 8);
  EXPECT_EQ(b.opt.step, 8);
  ASSERT_EQ(a.nparams, b.nparams);
  EXPECT_EQ(memcmp(a.params, b.params, a.nparams * 4), 0) << "parameters differ after resume";
  EXPECT_EQ(memcmp(a.m, b.m, a.nparams * 4), 0);
  EXPECT_EQ(memcmp(a.v, b.v, a.nparams * 4), 0);
  pcnn_model_free(&a);
  pcnn_model_free(&b);
  // the resumed log continues the first one's rows
  const std::string blog = slurp(d / "b.csv");
  EXPECT_EQ(std::count(blog.begin(), blog.end(), '\n'), 3) << blog;
}

TEST(Cli, SaveLoadKeepsLogitsAndEvalDumpsThem) {
  NEED_BIN();
  TmpDir d;
  pcnn_config_t cfg = {1, 8, 1, PCNN_HEAD_SOFTMAX256, 28, 28};
  pcnn_model_t m, l;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(&m, &cfg, 3, 2, err), 0) << err;
  std::vector<float> x = pt::rand_vec(2 * 28 * 28, 9, 0.f, 1.f);
  for (int i = 0; i < 3; i++) pcnn_model_train_step(&m, x.data(), 2);
  ASSERT_EQ(pcnn_ckpt_save((d / "m.st").c_str(), &m, 1, nullptr, err), 0) << err;
  ASSERT_EQ(pcnn_ckpt_load((d / "m.st").c_str(), &l, 2, nullptr, nullptr, err), 0) << err;
  pcnn_model_forward(&m, x.data(), 2);
  pcnn_model_forward(&l, x.data(), 2);
  const size_t nl = (size_t)2 * 28 * 28 * 256;
  EXPECT_EQ(memcmp(m.logits, l.logits, nl * 4), 0);
  EXPECT_EQ(l.opt.step, 3);
  // eval --dump-logits on the first 2 test images equals an in-process forward
  Proc r = run("eval --ckpt " + (d / "m.st") + " --limit 2 --threads 1 --dump-logits " + (d / "l.npy"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bits/dim"), std::string::npos) << r.out;
  pcnn_npy_t a;
  ASSERT_EQ(pcnn_npy_read(&a, (d / "l.npy").c_str(), err), 0) << err;
  ASSERT_EQ(a.ndim, 4);
  EXPECT_EQ(a.shape[0], 2);
  EXPECT_EQ(a.shape[3], 256);
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 2, err), 0) << err;
  int32_t idx[2] = {0, 1};
  ASSERT_EQ(pcnn_data_batch_f32(x.data(), &ds, idx, 2, 0, err), 0);
  pcnn_model_forward(&l, x.data(), 2);
  EXPECT_TRUE(pt::AllClose((float *)a.data, l.logits, nl, 1e-5, 1e-5, "dumped logits"));
  pcnn_npy_free(&a);
  pcnn_dataset_free(&ds);
  pcnn_model_free(&m);
  pcnn_model_free(&l);
}

TEST(Cli, SamplerIsReproducibleAndPrimes) {
  NEED_BIN();
  TmpDir d;
  ASSERT_EQ(run(std::string("train ") + kTiny + " --steps 2 --binarize --out " + (d / "m.st") +
                " --log " + (d / "l.csv")).code, 0);
  const std::string s = "sample --ckpt " + (d / "m.st") + " --n 3 --threads 1 --quiet --seed 5 ";
  Proc a = run(s + "--out " + (d / "a.png") + " --out-npy " + (d / "a.npy"));
  ASSERT_EQ(a.code, 0) << a.out;
  Proc b = run(s + "--out " + (d / "b.png") + " --out-npy " + (d / "b.npy"));
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(slurp(d / "a.npy"), slurp(d / "b.npy"));
  Proc c = run("sample --ckpt " + (d / "m.st") + " --n 3 --threads 1 --quiet --seed 6 --out " +
              (d / "c.png") + " --out-npy " + (d / "c.npy"));
  ASSERT_EQ(c.code, 0);
  EXPECT_NE(slurp(d / "a.npy"), slurp(d / "c.npy")) << "another seed drew the same images";
  // completion keeps the primed rows exactly (binarised, as the model was trained)
  Proc p = run(s + "--prime fashion-mnist --prime-rows 10 --out " + (d / "p.png") + " --out-npy " +
              (d / "p.npy"));
  ASSERT_EQ(p.code, 0) << p.out;
  char err[PCNN_ERR_LEN];
  pcnn_npy_t img;
  ASSERT_EQ(pcnn_npy_read(&img, (d / "p.npy").c_str(), err), 0) << err;
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 3, err), 0);
  std::vector<float> want(3 * 784);
  int32_t idx[3] = {0, 1, 2};
  pcnn_data_batch_f32(want.data(), &ds, idx, 3, 1, err);
  const float *got = (const float *)img.data;
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 10 * 28; k++) ASSERT_EQ(got[i * 784 + k], want[i * 784 + k]) << i << " " << k;
  for (size_t k = 0; k < img.count; k++) ASSERT_TRUE(got[k] == 0.f || got[k] == 1.f);
  pcnn_npy_free(&img);
  pcnn_dataset_free(&ds);
}

TEST(Cli, HelpIsTrueForEveryCommand) {
  NEED_BIN();
  for (const char *c : {"train", "eval", "sample", "info", "check", "tune"}) {
    Proc r = run(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find(std::string("usage: pixelcnn ") + c), std::string::npos) << r.out;
  }
  Proc r = run("--help");
  EXPECT_EQ(r.code, 0);
  for (const char *c : {"train", "eval", "sample", "info", "check", "tune"})
    EXPECT_NE(r.out.find(c), std::string::npos);
}

// tune writes a plan for the model's shapes that info and train read back;
// bad flags fail naming the flag, and an unwritable --out leaves no file
TEST(Cli, TuneWritesAPlanThatRunsUse) {
  NEED_BIN();
  TmpDir d;
  const std::string plan = d / "tiny.plan";
  Proc r = run("tune --filters 8 --depth 1 --size 6 --batch 2 --reps 1 --threads 1 --out " + plan);
  ASSERT_EQ(r.code, 0) << r.out;
  pcnn_plan_t p;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_plan_load(plan.c_str(), &p, err), 0) << err;
  EXPECT_EQ(p.batch, 2);
  EXPECT_EQ(p.threads, 1);
  for (int role = 0; role < PCNN_ROLES; role++)
    for (int dir = 0; dir < PCNN_DIRS; dir++) {
      EXPECT_TRUE(pcnn_isa_supported(p.isa[role][dir])) << role << " " << dir;
      EXPECT_GT(p.ms[role][dir], 0.0) << role << " " << dir;
    }
  r = run("info --plan " + plan);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(plan), std::string::npos) << r.out;
  r = run(std::string("train ") + kTiny + " --steps 2 --epochs 1 --plan " + plan + " --out " +
          (d / "m.safetensors") + " --log " + (d / "log.csv"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(FailsNaming(run("tune --reps 0"), "--reps"));
  EXPECT_TRUE(FailsNaming(run("tune --channels 2"), "--channels"));
  // an --out that cannot be written is refused before measuring (missing parents are made)
  {
    std::ofstream f(d / "afile");
    f << "x";
  }
  const std::string bad = d / "afile/x.plan";
  r = run("tune --filters 8 --depth 0 --size 4 --batch 1 --reps 1 --out " + bad);
  EXPECT_TRUE(FailsNaming(r, "--out"));
  EXPECT_EQ(r.out.find("tune: F="), std::string::npos) << "measured first:\n" << r.out;
  EXPECT_NE(access(bad.c_str(), F_OK), 0);
}

TEST(Cli, BadFlagsAndNumbers) {
  NEED_BIN();
  EXPECT_TRUE(FailsNaming(run("train --no-such-flag"), "no-such-flag"));
  EXPECT_TRUE(FailsNaming(run("frobnicate"), "unknown command 'frobnicate'"));
  EXPECT_TRUE(FailsNaming(run("train --filters 0"), "--filters"));
  EXPECT_TRUE(FailsNaming(run("train --filters 7"), "--filters"));
  EXPECT_TRUE(FailsNaming(run("train --filters abc"), "--filters"));
  EXPECT_TRUE(FailsNaming(run("train --batch 0"), "--batch"));
  EXPECT_TRUE(FailsNaming(run("train --lr -1"), "--lr"));
  EXPECT_TRUE(FailsNaming(run("train --channels 2"), "--channels"));
  EXPECT_TRUE(FailsNaming(run("train --head gaussian"), "--head"));
  EXPECT_TRUE(FailsNaming(run("train --isa sse9"), "--isa"));
  EXPECT_TRUE(FailsNaming(run("train --threads 0"), "--threads"));
  EXPECT_TRUE(FailsNaming(run("sample --ckpt x --temperature -1"), "--temperature"));
  EXPECT_TRUE(FailsNaming(run("sample --ckpt x --temperature 0"), "--temperature"));
  EXPECT_TRUE(FailsNaming(run("sample --ckpt x --sampler magic"), "--sampler"));
  EXPECT_TRUE(FailsNaming(run("sample"), "--ckpt"));
  EXPECT_TRUE(FailsNaming(run("eval"), "--ckpt"));
  EXPECT_TRUE(FailsNaming(run("train --channels 3 --limit 16 --test-limit 8 --steps 1"), "--channels"));
  Proc r = run("info");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(FailsNaming(run("info --isa avx9"), "--isa"));
}

TEST(Cli, BadDataFiles) {
  NEED_BIN();
  TmpDir d;
  EXPECT_TRUE(FailsNaming(run("train --data " + (d / "missing.idx")), "missing.idx"));
  // wrong magic
  {
    std::ofstream f(d / "bad.idx", std::ios::binary);
    const char hdr[16] = {0, 0, 8, 9, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28};
    f.write(hdr, 16);
  }
  EXPECT_TRUE(FailsNaming(run("train --data " + (d / "bad.idx")), "bad.idx"));
  // truncated: header says 100 images, file has 2
  std::vector<uint8_t> px(2 * 28 * 28, 7);
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_idx_write((d / "ok.idx").c_str(), px.data(), 2, 28, 28, 1, 0, err), 0) << err;
  {
    std::fstream f(d / "ok.idx", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(7);
    f.put(100);
  }
  Proc r = run("train --data " + (d / "ok.idx"));
  EXPECT_TRUE(FailsNaming(r, "ok.idx"));
  EXPECT_NE(r.out.find("truncated"), std::string::npos) << r.out;
}

TEST(Cli, BadCheckpoints) {
  NEED_BIN();
  TmpDir d;
  ASSERT_EQ(run(std::string("train ") + kTiny + " --steps 1 --out " + (d / "m.st") + " --log " +
                (d / "l.csv")).code, 0);
  const std::string good = slurp(d / "m.st");
  // truncated
  {
    std::ofstream f(d / "trunc.st", std::ios::binary);
    f.write(good.data(), (std::streamsize)(good.size() / 2));
  }
  EXPECT_TRUE(FailsNaming(run("eval --ckpt " + (d / "trunc.st")), "trunc.st"));
  EXPECT_TRUE(FailsNaming(run("sample --ckpt " + (d / "trunc.st")), "trunc.st"));
  // not safetensors at all
  {
    std::ofstream f(d / "junk.st", std::ios::binary);
    f << "this is not a checkpoint, just some text that goes on for a while";
  }
  EXPECT_TRUE(FailsNaming(run("eval --ckpt " + (d / "junk.st")), "junk.st"));
  EXPECT_TRUE(FailsNaming(run("eval --ckpt " + (d / "nope.st")), "nope.st"));
  // a safetensors file whose config disagrees with its tensor shapes
  pcnn_st_t *st;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_open(&st, (d / "m.st").c_str(), err), 0) << err;
  std::vector<pcnn_st_tensor_t> ts;
  for (int i = 0; i < pcnn_st_count(st); i++) {
    const pcnn_st_view_t *v = pcnn_st_at(st, i);
    pcnn_st_tensor_t t{};
    t.name = v->name;
    t.ndim = v->ndim;
    for (int k = 0; k < v->ndim; k++) t.shape[k] = v->shape[k];
    t.data = (const float *)v->data;
    ts.push_back(t);
  }
  std::vector<std::string> kv;
  for (int i = 0; i < pcnn_st_meta_count(st); i++) {
    const char *k, *v;
    pcnn_st_meta_at(st, i, &k, &v);
    kv.push_back(k);
    kv.push_back(strcmp(k, "filters") == 0 ? "10" : v);
  }
  std::vector<const char *> meta;
  for (auto &s : kv) meta.push_back(s.c_str());
  ASSERT_EQ(pcnn_st_write((d / "shape.st").c_str(), ts.data(), (int)ts.size(), meta.data(),
                          (int)kv.size() / 2, err), 0) << err;
  pcnn_st_close(st);
  // (refused from the tensor count and data size, before the model is allocated)
  Proc r = run("eval --ckpt " + (d / "shape.st"));
  EXPECT_TRUE(FailsNaming(r, "shape.st"));
  EXPECT_NE(r.out.find("F=10"), std::string::npos) << r.out;
  // resume with a model flag that disagrees
  EXPECT_TRUE(FailsNaming(run("train --resume " + (d / "m.st") + " --filters 16"), "--filters"));
  // images the model was not trained for: a 10x10 IDX file
  std::vector<uint8_t> px(12 * 10 * 10, 3);
  ASSERT_EQ(pcnn_idx_write((d / "small.idx").c_str(), px.data(), 12, 10, 10, 1, 0, err), 0);
  r = run("eval --ckpt " + (d / "m.st") + " --data " + (d / "small.idx"));
  EXPECT_TRUE(FailsNaming(r, "small.idx"));
  EXPECT_NE(r.out.find("28x28x1"), std::string::npos) << r.out;
  EXPECT_TRUE(FailsNaming(run("sample --ckpt " + (d / "m.st") + " --prime " + (d / "small.idx")), "small.idx"));
  EXPECT_TRUE(FailsNaming(run("sample --ckpt " + (d / "m.st") + " --prime fashion-mnist --prime-rows 29"),
                          "--prime-rows"));
  // a failed write leaves no half-written file behind
  {
    std::ofstream f(d / "notadir");
    f << "a file, not a directory";
  }
  r = run("sample --ckpt " + (d / "m.st") + " --n 1 --quiet --out " + (d / "notadir/x.png"));
  EXPECT_TRUE(FailsNaming(r, "x.png"));
  r = run("sample --ckpt " + (d / "m.st") + " --n 1 --quiet --out-npy " + (d / "notadir/x.npy"));
  EXPECT_TRUE(FailsNaming(r, "--out-npy"));
  r = run("eval --ckpt " + (d / "m.st") + " --limit 8 --dump-logits " + (d / "notadir/l.npy"));
  EXPECT_TRUE(FailsNaming(r, "--dump-logits"));
  EXPECT_EQ(r.out.find("NLL"), std::string::npos) << "evaluated before checking --dump-logits: " << r.out;
}

}  // namespace

namespace {

// `pixelcnn check` has a harness for every op of the kernel list (gemm_acc
// included) and passes on this CPU
TEST(Cli, CheckCoversEveryOp) {
  NEED_BIN();
  Proc r = run("check --batch 1 --threads 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("no check harness"), std::string::npos) << r.out;
  for (int op = 0; op < PCNN_OP_COUNT; op++) {
    const std::string name = pcnn_op_name(op);
    EXPECT_NE(r.out.find("\n" + name + " "), std::string::npos) << name << " not checked:\n" << r.out;
  }
}

}  // namespace
