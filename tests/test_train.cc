// test_train.cc: the training, eval and sampling runs in-process, through
// train.h and eval.h (the pixelcnn program is a thin layer over them): resume
// and a stop are bitwise the same as an uninterrupted run, eval agrees with
// the trainer's test NLL, with a forward pass by hand and with `pixelcnn
// eval`, sampling with `pixelcnn sample`, bad resume metadata and bad options
// are refused naming the key or flag, and a diverged step keeps the last good
// checkpoint.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli_util.h"
#include "test_util.h"

extern "C" {
#include "checkpoint.h"
#include "data.h"
#include "eval.h"
#include "model.h"
#include "train.h"
}

namespace {

using pt::TmpDir;

// the model and run of kTiny (tests/cli_util.h): F=8, D=1, batch 8, 256 train
// and 64 test images of Fashion-MNIST, steps per epoch given; out must outlive o
pcnn_train_opts_t tiny(const std::string &out, int steps, int epochs) {
  pcnn_train_opts_t o = pcnn_train_opts_default();
  o.filters = 8, o.depth = 1, o.batch = 8, o.limit = 256, o.test_limit = 64;
  o.steps = steps, o.epochs = epochs;
  o.seed = 7;  // not the default: a resume must take it from the checkpoint
  o.out = out.c_str();
  o.log = nullptr;
  return o;
}

struct Ckpt {
  pcnn_model_t m{};
  std::unique_ptr<pcnn_ckpt_extra_t> extra{new pcnn_ckpt_extra_t()};
  bool ok = false;
  explicit Ckpt(const std::string &path) {
    char err[PCNN_ERR_LEN];
    ok = pcnn_ckpt_load(path.c_str(), &m, 0, nullptr, extra.get(), err) == 0;
    EXPECT_TRUE(ok) << err;
  }
  ~Ckpt() {
    if (ok) pcnn_model_free(&m);
  }
  std::string meta(const char *key) const {
    const char *v = pcnn_ckpt_extra_get(extra.get(), key);
    return v ? v : "(missing)";
  }
};

::testing::AssertionResult SameState(const std::string &a, const std::string &b) {
  Ckpt x(a), y(b);
  if (!x.ok || !y.ok) return ::testing::AssertionFailure() << "not loaded";
  if (x.m.opt.step != y.m.opt.step)
    return ::testing::AssertionFailure() << "step " << x.m.opt.step << " vs " << y.m.opt.step;
  if (x.m.nparams != y.m.nparams) return ::testing::AssertionFailure() << "parameter counts differ";
  const size_t n = x.m.nparams * sizeof(float);
  if (memcmp(x.m.params, y.m.params, n)) return ::testing::AssertionFailure() << "parameters differ";
  if (memcmp(x.m.m, y.m.m, n) || memcmp(x.m.v, y.m.v, n))
    return ::testing::AssertionFailure() << "Nadam moments differ";
  if (x.m.opt.mu_product != y.m.opt.mu_product) return ::testing::AssertionFailure() << "mu_product differs";
  return ::testing::AssertionSuccess();
}

// what the hooks saw
struct Seen {
  std::vector<long> steps;
  std::vector<int> epochs;
  long first_step = -1;
  long stop_at = -1;  // sets *stop after this step
  volatile sig_atomic_t stop = 0;
};
pcnn_train_hooks_t hooks(Seen *s) {
  pcnn_train_hooks_t h{};
  h.ctx = s;
  h.start = [](void *p, const pcnn_train_start_t *st) { static_cast<Seen *>(p)->first_step = st->step; };
  h.step = [](void *p, const pcnn_train_step_t *st) {
    Seen *s = static_cast<Seen *>(p);
    s->steps.push_back(st->step);
    if (st->step == s->stop_at) s->stop = 1;
  };
  h.epoch = [](void *p, const pcnn_train_epoch_t *e) { static_cast<Seen *>(p)->epochs.push_back(e->epoch); };
  return h;
}

// trains 2 epochs of 2 steps; and 1 epoch, then resumes it to 2: the same
// weights, Nadam state and checkpoint bytes; the hooks see the steps of each run
TEST(Train, ResumeInProcessIsBitIdentical) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t full, half, resumed;
  Seen s1, s2, s3;
  pcnn_train_hooks_t h1 = hooks(&s1), h2 = hooks(&s2), h3 = hooks(&s3);
  const std::string full_st = d / "full.st", half_st = d / "half.st", resumed_st = d / "resumed.st",
                    log_csv = d / "log.csv";
  pcnn_train_opts_t o = tiny(full_st, 2, 2);
  ASSERT_EQ(pcnn_train(&full, &o, &h1, err), PCNN_RUN_OK) << err;
  EXPECT_EQ(full.step, 4);
  EXPECT_EQ(full.epochs_done, 2);
  EXPECT_EQ(s1.steps, (std::vector<long>{1, 2, 3, 4}));
  EXPECT_EQ(s1.epochs, (std::vector<int>{1, 2}));
  o = tiny(half_st, 2, 1);
  o.log = log_csv.c_str();
  ASSERT_EQ(pcnn_train(&half, &o, &h2, err), PCNN_RUN_OK) << err;
  EXPECT_EQ(half.step, 2);
  // the resume names only what it changes: the run values come from the checkpoint
  pcnn_train_opts_t r = pcnn_train_opts_default();
  r.resume = half_st.c_str();
  r.epochs = 2;
  r.test_limit = 64;
  r.out = resumed_st.c_str();
  r.log = o.log;
  ASSERT_EQ(pcnn_train(&resumed, &r, &h3, err), PCNN_RUN_OK) << err;
  EXPECT_EQ(s3.first_step, 2);
  EXPECT_EQ(s3.steps, (std::vector<long>{3, 4}));
  EXPECT_EQ(s3.epochs, (std::vector<int>{2}));
  EXPECT_TRUE(SameState(full_st, resumed_st));
  EXPECT_TRUE(pt::cli::slurp(full_st) == pt::cli::slurp(resumed_st)) << "checkpoint bytes differ";
  EXPECT_EQ(full.test_nll, resumed.test_nll);
  EXPECT_EQ(full.train_nll, resumed.train_nll);
  Ckpt c(d / "resumed.st");
  EXPECT_EQ(c.meta("seed"), "7");
  EXPECT_EQ(c.meta("batch"), "8");
  EXPECT_EQ(c.meta("limit"), "256");
  EXPECT_EQ(c.meta("steps_per_epoch"), "2");
  EXPECT_EQ(c.meta("epoch"), "2");
  // the log: a header and one row per epoch of both runs
  const std::string log = pt::cli::slurp(d / "log.csv");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3) << log;
}

// *stop set after step 4 (mid-epoch): a checkpoint of step 3, STOPPED; its
// resume ends where an uninterrupted run does
TEST(Train, StopWritesACheckpointThatResumesBitwise) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t a, b, c;
  const std::string full_st = d / "full.st", stopped_st = d / "stopped.st", resumed_st = d / "resumed.st";
  pcnn_train_opts_t o = tiny(full_st, 3, 2);
  ASSERT_EQ(pcnn_train(&a, &o, nullptr, err), PCNN_RUN_OK) << err;
  Seen s;
  s.stop_at = 4;
  pcnn_train_hooks_t h = hooks(&s);
  o = tiny(stopped_st, 3, 2);
  o.stop = &s.stop;
  ASSERT_EQ(pcnn_train(&b, &o, &h, err), PCNN_RUN_STOPPED) << err;
  EXPECT_TRUE(b.stopped);
  EXPECT_EQ(b.step, 4);
  EXPECT_EQ(s.steps.back(), 4);
  {
    Ckpt k(d / "stopped.st");
    EXPECT_EQ(k.m.opt.step, 4);
    EXPECT_EQ(k.meta("epoch"), "1");
  }
  o = pcnn_train_opts_default();
  o.resume = stopped_st.c_str();
  o.epochs = 2, o.test_limit = 64, o.log = nullptr;
  o.out = resumed_st.c_str();
  ASSERT_EQ(pcnn_train(&c, &o, nullptr, err), PCNN_RUN_OK) << err;
  EXPECT_TRUE(SameState(full_st, resumed_st));
}

// the test NLL of the trainer, pcnn_eval_run, a forward pass by hand and
// `pixelcnn eval` agree; binarised as the checkpoint's run was; 60 test images
// in batches of 8 (the last one short)
TEST(Train, EvalAgreesWithTheTrainerByHandAndTheCli) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t t;
  const std::string m_st = d / "m.st";
  pcnn_train_opts_t o = tiny(m_st, 2, 1);
  o.binarize = 1;
  o.test_limit = 60;
  ASSERT_EQ(pcnn_train(&t, &o, nullptr, err), PCNN_RUN_OK) << err;
  pcnn_eval_opts_t e = pcnn_eval_opts_default();
  e.ckpt = o.out;
  e.limit = 60;
  e.batch = 8;
  e.keep_logits = 1;
  pcnn_eval_result_t r;
  ASSERT_EQ(pcnn_eval_run(&r, &e, nullptr, nullptr, err), PCNN_RUN_OK) << err;
  std::unique_ptr<float, decltype(&free)> logits(r.logits, free);
  EXPECT_EQ(r.n, 60);
  EXPECT_EQ(r.nll, t.test_nll) << "eval and the trainer's test NLL differ";
  // by hand: one forward of all 60 images
  Ckpt c(o.out);
  ASSERT_EQ(pcnn_model_reserve(&c.m, 60, err), 0) << err;
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 60, err), 0) << err;
  std::vector<float> x(60 * 784);
  std::vector<int32_t> idx(60);
  for (int i = 0; i < 60; i++) idx[i] = i;
  ASSERT_EQ(pcnn_data_batch_f32(x.data(), &ds, idx.data(), 60, 1, err), 0);
  pcnn_model_forward(&c.m, x.data(), 60);
  const double nll = pcnn_model_loss(&c.m, x.data(), 60, 0.f) / 60;
  EXPECT_NEAR(r.nll, nll, 1e-9 * std::fabs(nll));
  EXPECT_TRUE(pt::AllClose(r.logits, c.m.logits, 60 * 784, 1e-6, 1e-6, "logits by hand"));
  pcnn_dataset_free(&ds);
  // the program prints the same NLL and dumps the same logits
  NEED_BIN();
  pt::cli::Proc p = pt::cli::run("eval --ckpt " + (d / "m.st") + " --limit 60 --batch 8 --dump-logits " +
                                 (d / "l.npy"));
  ASSERT_EQ(p.code, 0) << p.out;
  char want[64];
  snprintf(want, sizeof want, "NLL %.4f nats/image", r.nll);
  EXPECT_NE(p.out.find(want), std::string::npos) << want << " not in:\n" << p.out;
  const std::string npy = pt::cli::slurp(d / "l.npy");
  ASSERT_GE(npy.size(), 60u * 784 * 4);
  EXPECT_EQ(memcmp(npy.data() + npy.size() - 60 * 784 * 4, r.logits, 60 * 784 * 4), 0) << "dumped logits differ";
}

// pcnn_sample_run draws what `pixelcnn sample` writes; completion keeps the
// primed rows, binarised as the checkpoint's run was; too many primed rows
// is a bad request
TEST(Train, SampleRunMatchesTheCli) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t t;
  const std::string m_st = d / "m.st";
  pcnn_train_opts_t o = tiny(m_st, 2, 1);
  o.binarize = 1;
  o.test_limit = 8;
  ASSERT_EQ(pcnn_train(&t, &o, nullptr, err), PCNN_RUN_OK) << err;
  pcnn_sample_opts_t s = pcnn_sample_opts_default();
  s.ckpt = m_st.c_str();
  s.n = 2, s.seed = 3, s.prime = "fashion-mnist", s.prime_rows = 20;
  int rows = -1;
  pcnn_sample_hooks_t h{};
  h.ctx = &rows;
  h.start = [](void *p, const pcnn_config_t *, int prime_rows) { *static_cast<int *>(p) = prime_rows; };
  pcnn_sample_result_t r;
  ASSERT_EQ(pcnn_sample_run(&r, &s, &h, err), PCNN_RUN_OK) << err;
  std::unique_ptr<float, decltype(&free)> img(r.images, free);
  EXPECT_EQ(rows, 20);
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 2, err), 0) << err;
  std::vector<float> want(2 * 784);
  const int32_t idx[2] = {0, 1};
  ASSERT_EQ(pcnn_data_batch_f32(want.data(), &ds, idx, 2, 1, err), 0);
  pcnn_dataset_free(&ds);
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 20 * 28; k++) ASSERT_EQ(r.images[i * 784 + k], want[i * 784 + k]) << i << " " << k;
  for (int k = 0; k < 2 * 784; k++) ASSERT_TRUE(r.images[k] == 0.f || r.images[k] == 1.f) << k;
  s.prime_rows = 29;
  EXPECT_EQ(pcnn_sample_run(&r, &s, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_NE(strstr(err, "--prime-rows: 29 is more than the image height 28"), nullptr) << err;
  NEED_BIN();
  pt::cli::Proc p = pt::cli::run("sample --ckpt " + m_st + " --n 2 --seed 3 --prime fashion-mnist --prime-rows 20 "
                                 "--quiet --out " + (d / "s.png") + " --out-npy " + (d / "s.npy"));
  ASSERT_EQ(p.code, 0) << p.out;
  const std::string npy = pt::cli::slurp(d / "s.npy");
  ASSERT_GE(npy.size(), 2u * 784 * 4);
  EXPECT_EQ(memcmp(npy.data() + npy.size() - 2 * 784 * 4, img.get(), 2 * 784 * 4), 0) << "the program drew other images";
}

// a checkpoint whose run values are out of their flags' ranges is refused on
// resume, naming the file and the key; a model value the caller gave that the
// checkpoint contradicts is refused naming both values; nothing left to train
TEST(Train, BadResumeMetadataIsRefusedNamingTheKey) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t t;
  const std::string m_st = d / "m.st", o_st = d / "o.st";
  pcnn_train_opts_t o = tiny(m_st, 2, 1);
  ASSERT_EQ(pcnn_train(&t, &o, nullptr, err), PCNN_RUN_OK) << err;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"batch", "0"},  {"batch", "8x"},          {"seed", "-1"},  {"binarize", "2"},
      {"limit", "-3"}, {"steps_per_epoch", "0"}, {"data", ""}};
  for (const auto &kv : bad) {
    const std::string p = d / ("bad_" + kv.first + ".st");
    {
      Ckpt c(o.out);
      ASSERT_EQ(pcnn_ckpt_extra_set(c.extra.get(), kv.first.c_str(), kv.second.c_str()), 0);
      ASSERT_EQ(pcnn_ckpt_save(p.c_str(), &c.m, 1, c.extra.get(), err), 0) << err;
    }
    pcnn_train_opts_t r = pcnn_train_opts_default();
    r.resume = p.c_str();
    r.epochs = 3, r.log = nullptr;
    r.out = o_st.c_str();
    EXPECT_EQ(pcnn_train(&t, &r, nullptr, err), PCNN_RUN_FAILED) << kv.first;
    EXPECT_TRUE(pt::Names(err, p, "metadata " + kv.first)) << kv.first << "='" << kv.second << "'";
  }
  EXPECT_NE(access((d / "o.st").c_str(), F_OK), 0) << "a refused resume wrote a checkpoint";
  pcnn_train_opts_t r = pcnn_train_opts_default();
  r.resume = o.out;
  r.epochs = 3, r.log = nullptr;
  r.out = o_st.c_str();
  r.filters = 16, r.given = PCNN_GIVEN_FILTERS;
  EXPECT_EQ(pcnn_train(&t, &r, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_TRUE(pt::Names(err, o.out, "--filters 16 disagrees with the checkpoint")) << err;
  EXPECT_NE(strstr(err, "(8)"), nullptr) << err;
  r.given = PCNN_GIVEN_BATCH, r.batch = 4;
  EXPECT_EQ(pcnn_train(&t, &r, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_NE(strstr(err, "--batch 4 disagrees"), nullptr) << err;
  r.given = 0, r.epochs = 1;
  EXPECT_EQ(pcnn_train(&t, &r, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_NE(strstr(err, "nothing to train"), nullptr) << err;
}

// options out of their flags' ranges are refused before anything is read
// (train, eval and sample runs)
TEST(Train, OptionsAreCheckedByTheRangesOfTheirFlags) {
  TmpDir d;
  const std::string out = d / "never.st";
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t t;
  struct Case {
    const char *flag;
    void (*set)(pcnn_train_opts_t *);
  };
  const Case cases[] = {
      {"--batch", [](pcnn_train_opts_t *o) { o->batch = 0; }},
      {"--epochs", [](pcnn_train_opts_t *o) { o->epochs = 0; }},
      {"--steps", [](pcnn_train_opts_t *o) { o->steps = -1; }},
      {"--limit", [](pcnn_train_opts_t *o) { o->limit = -1; }},
      {"--binarize", [](pcnn_train_opts_t *o) { o->binarize = 2; }},
      {"--lr", [](pcnn_train_opts_t *o) { o->lr = NAN; }},
      {"--filters", [](pcnn_train_opts_t *o) { o->filters = 7; }},
      {"--channels", [](pcnn_train_opts_t *o) { o->channels = 2; }},
      {"--data", [](pcnn_train_opts_t *o) { o->data = "/no/such/data"; }},
  };
  for (const auto &c : cases) {
    pcnn_train_opts_t o = pcnn_train_opts_default();
    o.out = out.c_str();
    o.log = nullptr;
    c.set(&o);
    const int rc = pcnn_train(&t, &o, nullptr, err);
    EXPECT_NE(rc, PCNN_RUN_OK) << c.flag;
    EXPECT_EQ(strncmp(err, c.flag, strlen(c.flag)), 0) << c.flag << ": " << err;
  }
  EXPECT_TRUE(d.list().empty()) << "a refused run wrote a file";
  // the eval and sample runs likewise, before the checkpoint is read
  pcnn_eval_opts_t e = pcnn_eval_opts_default();
  pcnn_eval_result_t er;
  e.ckpt = "/no/such/checkpoint";
  e.batch = 0;
  EXPECT_EQ(pcnn_eval_run(&er, &e, nullptr, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_EQ(strncmp(err, "--batch: ", 9), 0) << err;
  pcnn_sample_opts_t s = pcnn_sample_opts_default();
  pcnn_sample_result_t sr;
  s.ckpt = "/no/such/checkpoint";
  s.temperature = 0;
  EXPECT_EQ(pcnn_sample_run(&sr, &s, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_EQ(strncmp(err, "--temperature: ", 15), 0) << err;
  s.temperature = 1, s.n = 0;
  EXPECT_EQ(pcnn_sample_run(&sr, &s, nullptr, err), PCNN_RUN_BAD_REQUEST);
  EXPECT_EQ(strncmp(err, "--n: ", 5), 0) << err;
}

// a step whose loss is not finite ends the run, and the checkpoint it
// resumed from is kept as it was
TEST(Train, DivergedStepKeepsTheLastGoodCheckpoint) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_train_result_t t;
  const std::string m_st = d / "m.st";
  pcnn_train_opts_t o = tiny(m_st, 2, 1);
  ASSERT_EQ(pcnn_train(&t, &o, nullptr, err), PCNN_RUN_OK) << err;
  {
    // finite weights whose logits overflow (as in Hostile.DivergedTrainingKeepsTheLastGoodCheckpoint)
    Ckpt c(o.out);
    const pcnn_tensor_t *b = pcnn_model_find(&c.m, "out.1.bias"), *w = pcnn_model_find(&c.m, "head.weight");
    ASSERT_TRUE(b && w);
    for (int i = 0; i < 8; i++) c.m.params[b->off + i] = 3e38f, c.m.params[w->off + i] = 1.f;
    ASSERT_EQ(pcnn_ckpt_save(o.out, &c.m, 1, c.extra.get(), err), 0) << err;
  }
  const std::string before = pt::cli::slurp(o.out);
  pcnn_train_opts_t r = pcnn_train_opts_default();
  r.resume = o.out;
  r.out = o.out;
  r.epochs = 3, r.test_limit = 8, r.log = nullptr;
  EXPECT_EQ(pcnn_train(&t, &r, nullptr, err), PCNN_RUN_DIVERGED) << err;
  EXPECT_NE(strstr(err, "at step 3"), nullptr) << err;
  EXPECT_NE(strstr(err, "diverged"), nullptr) << err;
  EXPECT_EQ(t.step, 3);
  EXPECT_TRUE(pt::cli::slurp(o.out) == before) << "the checkpoint was overwritten";
}

}  // namespace
