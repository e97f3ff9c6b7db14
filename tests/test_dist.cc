// test_dist.cc: data-parallel training (model/dist.h) with ranks played by
// threads of this process (a pcnn_dist_t over shared memory and a barrier),
// against one process training the whole batch:
//  - R = 2 and 4 (powers of two dividing the 16 gradient groups): the same
//    bits after 3 steps (parameters, Nadam state), on every rank;
//  - R = 3: every rank the same bits, equal to one process within 1e-5;
//  - the loss is the whole batch's; a stop wish of one rank stops all;
//  - more ranks than groups: refused with a line naming --batch.
#include <pthread.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "dist.h"
#include "model.h"
}

namespace {

// R ranks in threads: every message goes through one shared slot per rank
struct Shared {
  int R;
  pthread_barrier_t bar;
  std::vector<std::vector<char>> slot;
  explicit Shared(int r) : R(r), slot(r) { pthread_barrier_init(&bar, nullptr, r); }
  ~Shared() { pthread_barrier_destroy(&bar); }
};

int t_allgather(const pcnn_dist_t *d, void *out, const void *in, size_t bytes) {
  Shared *s = (Shared *)d->ctx;
  s->slot[d->rank].assign((const char *)in, (const char *)in + bytes);
  pthread_barrier_wait(&s->bar);
  for (int r = 0; r < s->R; r++) memcpy((char *)out + r * bytes, s->slot[r].data(), bytes);
  pthread_barrier_wait(&s->bar);
  return 0;
}

int t_sendrecv(const pcnn_dist_t *d, void *recv, const void *send, size_t bytes, int peer) {
  Shared *s = (Shared *)d->ctx;
  s->slot[d->rank].assign((const char *)send, (const char *)send + bytes);
  pthread_barrier_wait(&s->bar);
  memcpy(recv, s->slot[peer].data(), bytes);
  pthread_barrier_wait(&s->bar);
  return 0;
}

int t_bcast(const pcnn_dist_t *d, void *buf, size_t bytes) {
  Shared *s = (Shared *)d->ctx;
  if (d->rank == 0) s->slot[0].assign((const char *)buf, (const char *)buf + bytes);
  pthread_barrier_wait(&s->bar);
  memcpy(buf, s->slot[0].data(), bytes);
  pthread_barrier_wait(&s->bar);
  return 0;
}

const pcnn_config_t kCfg = {1, 16, 1, PCNN_HEAD_BERNOULLI, 7, 6};
const int kBatch = 32, kSteps = 3;

struct Rank {
  std::vector<float> params, m, v;
  std::vector<double> nll;
  int stopped_at = -1;
};

// kSteps data-parallel steps over R ranks (threads); rank `stopper` wishes
// to stop after step 1 (-1: nobody)
std::vector<Rank> train_ranks(int R, int stopper = -1) {
  Shared sh(R);
  std::vector<Rank> out(R);
  std::vector<float> batch = model_batch(kBatch, kCfg, 21);
  const size_t img = (size_t)kCfg.height * kCfg.width * kCfg.channels;
  std::vector<std::thread> th;
  for (int r = 0; r < R; r++)
    th.emplace_back([&, r] {
      pcnn_dist_t d = pcnn_dist_single();
      d.rank = r, d.size = R, d.ctx = &sh;
      d.allgather = t_allgather, d.sendrecv = t_sendrecv, d.bcast = t_bcast;
      int g0, g1, i0, i1;
      pcnn_dist_share(&d, kBatch, &g0, &g1, &i0, &i1);
      pcnn_model_t m;
      char err[PCNN_ERR_LEN];
      EXPECT_EQ(pcnn_model_init(&m, &kCfg, 9, i1 - i0, err), 0) << err;
      for (int s = 0; s < kSteps; s++) {
        double nll = 0;
        int stop = (r == stopper && s == 1);
        EXPECT_EQ(pcnn_dist_train_step(&nll, &stop, &m, batch.data() + i0 * img, kBatch, &d, err), 0) << err;
        out[r].nll.push_back(nll);
        if (stop) {
          out[r].stopped_at = s;
          break;
        }
      }
      out[r].params.assign(m.params, m.params + m.nparams);
      out[r].m.assign(m.m, m.m + m.nparams);
      out[r].v.assign(m.v, m.v + m.nparams);
      pcnn_model_free(&m);
    });
  for (auto &t : th) t.join();
  return out;
}

Rank train_one() {
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  Rank o;
  EXPECT_EQ(pcnn_model_init(&m, &kCfg, 9, kBatch, err), 0) << err;
  std::vector<float> batch = model_batch(kBatch, kCfg, 21);
  for (int s = 0; s < kSteps; s++) o.nll.push_back(pcnn_model_train_step(&m, batch.data(), kBatch));
  o.params.assign(m.params, m.params + m.nparams);
  o.m.assign(m.m, m.m + m.nparams);
  o.v.assign(m.v, m.v + m.nparams);
  pcnn_model_free(&m);
  return o;
}

bool same(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Dist, PowerOfTwoRanksGiveTheSameBitsAsOneProcess) {
  const Rank one = train_one();
  for (int R : {2, 4}) {
    const std::vector<Rank> rs = train_ranks(R);
    for (int r = 0; r < R; r++) {
      EXPECT_TRUE(same(rs[r].params, one.params)) << "R " << R << " rank " << r << ": params";
      EXPECT_TRUE(same(rs[r].m, one.m)) << "R " << R << " rank " << r << ": Nadam m";
      EXPECT_TRUE(same(rs[r].v, one.v)) << "R " << R << " rank " << r << ": Nadam v";
      for (int s = 0; s < kSteps; s++) EXPECT_NEAR(rs[r].nll[s], one.nll[s], 1e-9 * std::fabs(one.nll[s]));
    }
  }
}

TEST(Dist, OtherRankCountsAgreeOnEveryRankAndWithinRounding) {
  const Rank one = train_one();
  const std::vector<Rank> rs = train_ranks(3);
  for (int r = 1; r < 3; r++) EXPECT_TRUE(same(rs[r].params, rs[0].params)) << "rank " << r;
  double worst = 0;
  for (size_t i = 0; i < one.params.size(); i++)
    worst = std::max(worst, (double)std::fabs(rs[0].params[i] - one.params[i]) / (std::fabs(one.params[i]) + 1e-3));
  EXPECT_LT(worst, 1e-5);
}

TEST(Dist, OneRankStoppingStopsAll) {
  const std::vector<Rank> rs = train_ranks(2, 0);
  for (int r = 0; r < 2; r++) EXPECT_EQ(rs[r].stopped_at, 1) << "rank " << r;
  EXPECT_TRUE(same(rs[0].params, rs[1].params));
}

TEST(Dist, MoreRanksThanGroupsRefused) {
  pcnn_dist_t d = pcnn_dist_single();
  d.size = 5;
  char err[PCNN_ERR_LEN] = "";
  EXPECT_EQ(pcnn_dist_check_batch(&d, 4, err), -1);
  EXPECT_NE(std::string(err).find("--batch 4"), std::string::npos) << err;
  EXPECT_EQ(pcnn_dist_check_batch(&d, 32, err), 0);
}

}  // namespace
