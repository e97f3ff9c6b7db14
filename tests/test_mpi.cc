// test_mpi.cc: `mpirun -np R pixelcnn train` (model/cli_mpi.c, dist.h), the
// program under OpenMPI's launcher (--oversubscribe; --allow-run-as-root when
// root), against one process:
//  - R = 2 and 4 write the same checkpoint bytes as one process (the ranks
//    split the 16 gradient groups of the global batch in aligned blocks);
//  - R = 3 agrees within 1e-5 (relative);
//  - resume across rank counts: 2 ranks then 1, and 1 then 2, end with the
//    same bytes as one uninterrupted process;
//  - ranks started with different flags stop at once with one line;
//  - a rank killed mid-run ends the job (no hang) and the last checkpoint
//    loads;
//  - eval and sample under mpirun: the ranks split the images; the same NLL
//    line, logits and images (both samplers) as one process.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <dirent.h>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"
#include "test_util.h"

extern "C" {
#include "checkpoint.h"
#include "model.h"
}

namespace {

using pt::cli::Proc;

bool have_mpirun() { return system("command -v mpirun >/dev/null 2>&1") == 0; }

#define NEED_MPI()                                                              \
  NEED_BIN();                                                                   \
  if (!have_mpirun()) GTEST_SKIP() << "no mpirun (scripts/install-deps.sh installs openmpi-bin)"

std::string mpirun(int R) {
  std::string s = "mpirun --oversubscribe -x ASAN_OPTIONS=detect_leaks=0 -np " + std::to_string(R) + " ";
  if (getuid() == 0) s = "mpirun --allow-run-as-root" + s.substr(6);
  return s;
}

// `pixelcnn ARGS` on R ranks (R = 0: one process, no mpirun)
Proc train(int R, const std::string &args, int timeout_s = 120) {
  Proc r{-1, ""};
  const std::string cmd = "timeout -k 5 " + std::to_string(timeout_s) + " " + (R ? mpirun(R) : "") +
                          pt::cli::bin() + " train " + args;
  r.code = pt::cli::run_shell(cmd, &r.out);
  return r;
}

const std::string kArgs =
    "--filters 8 --depth 1 --batch 32 --limit 128 --test-limit 32 --threads 1 --binarize --quiet --steps 3";

std::vector<float> params_of(const std::string &path) {
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  int has_opt = 0;
  std::vector<float> p;
  if (pcnn_ckpt_load(path.c_str(), &m, 0, &has_opt, nullptr, err) != 0) {
    ADD_FAILURE() << err;
    return p;
  }
  p.assign(m.params, m.params + m.nparams);
  pcnn_model_free(&m);
  return p;
}

TEST(Mpi, PowerOfTwoRanksWriteTheSameCheckpointAsOneProcess) {
  NEED_MPI();
  pt::TmpDir d;
  const std::string args = kArgs + " --epochs 2 --log /dev/null --out ";
  Proc one = train(0, args + d / "r1.safetensors");
  ASSERT_EQ(one.code, 0) << one.out;
  for (int R : {2, 4}) {
    const std::string out = d / ("r" + std::to_string(R) + ".safetensors");
    Proc p = train(R, args + out);
    ASSERT_EQ(p.code, 0) << p.out;
    EXPECT_EQ(pt::cli::slurp(out), pt::cli::slurp(d / "r1.safetensors")) << "R = " << R;
  }
}

TEST(Mpi, ThreeRanksAgreeWithinTolerance) {
  NEED_MPI();
  pt::TmpDir d;
  const std::string args = kArgs + " --epochs 2 --log /dev/null --out ";
  ASSERT_EQ(train(0, args + d / "one.safetensors").code, 0);
  Proc p = train(3, args + d / "three.safetensors");
  ASSERT_EQ(p.code, 0) << p.out;
  const std::vector<float> a = params_of(d / "one.safetensors"), b = params_of(d / "three.safetensors");
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); i++) worst = std::max(worst, std::fabs((double)a[i] - b[i]) / (std::fabs(a[i]) + 1e-3));
  EXPECT_LT(worst, 1e-5);
}

TEST(Mpi, ResumeAcrossRankCounts) {
  NEED_MPI();
  pt::TmpDir d;
  const std::string args = kArgs + " --log /dev/null ";
  ASSERT_EQ(train(0, args + "--epochs 2 --out " + d / "whole.safetensors").code, 0);
  for (auto rr : {std::pair<int, int>{2, 0}, std::pair<int, int>{0, 2}}) {
    const std::string out = d / ("part" + std::to_string(rr.first) + ".safetensors");
    Proc a = train(rr.first, args + "--epochs 1 --out " + out);
    ASSERT_EQ(a.code, 0) << a.out;
    Proc b = train(rr.second, args + "--epochs 2 --resume " + out + " --out " + out);
    ASSERT_EQ(b.code, 0) << b.out;
    EXPECT_EQ(pt::cli::slurp(out), pt::cli::slurp(d / "whole.safetensors"))
        << "epoch 1 on " << (rr.first ? rr.first : 1) << " rank(s), epoch 2 on " << (rr.second ? rr.second : 1);
  }
}

TEST(Mpi, RanksWithDifferentFlagsStopWithOneLine) {
  NEED_MPI();
  pt::TmpDir d;
  // MPMD: rank 0 and rank 1 get different command lines
  const std::string base = pt::cli::bin() + " train --filters 8 --depth 1 --limit 128 --test-limit 32 --threads 1 "
                           "--quiet --steps 2 --epochs 1 --log /dev/null --out " + d / "x.safetensors";
  std::string cmd = "timeout -k 5 120 " + mpirun(1) + base + " --batch 32 : -np 1 " + base + " --batch 16";
  Proc p{-1, ""};
  p.code = pt::cli::run_shell(cmd, &p.out);
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.out.find("every rank must run the same command line"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("--batch"), std::string::npos) << p.out;
  EXPECT_EQ(access((d / "x.safetensors").c_str(), F_OK), -1) << "nothing written";
}

// the pids of `pixelcnn train` ranks whose command line mentions tag, by rank
std::vector<std::pair<int, pid_t>> ranks_with(const std::string &tag) {
  std::vector<std::pair<int, pid_t>> v;
  DIR *dir = opendir("/proc");
  while (struct dirent *e = dir ? readdir(dir) : nullptr) {
    const pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    const std::string cmd = pt::cli::slurp("/proc/" + std::string(e->d_name) + "/cmdline");
    if (cmd.find(tag) == std::string::npos || cmd.find("mpirun") != std::string::npos ||
        cmd.find("timeout") == 0)
      continue;
    const std::string env = pt::cli::slurp("/proc/" + std::string(e->d_name) + "/environ");
    const size_t k = env.find("OMPI_COMM_WORLD_RANK=");
    if (k != std::string::npos) v.push_back({atoi(env.c_str() + k + 21), pid});
  }
  if (dir) closedir(dir);
  return v;
}

TEST(Mpi, KilledRankEndsTheJobAndTheCheckpointLoads) {
  NEED_MPI();
  pt::TmpDir d;
  const std::string out = d / "k.safetensors";
  // many short epochs: a checkpoint every few steps
  const std::string cmd = "timeout -k 5 120 " + mpirun(2) + pt::cli::bin() + " train " + kArgs +
                          " --epochs 100000 --log /dev/null --out " + out + " > " + d / "log.txt" + " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  std::thread job([&] { (void)!system(cmd.c_str()); });
  std::vector<std::pair<int, pid_t>> rs;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    rs = ranks_with(out);
    if (rs.size() == 2 && access(out.c_str(), F_OK) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(rs.size(), 2u) << pt::cli::slurp(d / "log.txt");
  for (auto &r : rs)
    if (r.first == 1) kill(r.second, SIGKILL);
  job.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 100) << "the job did not end after a rank was killed";
  EXPECT_TRUE(ranks_with(out).empty()) << "ranks left running";
  EXPECT_FALSE(params_of(out).empty()) << "the last checkpoint does not load";
}

Proc cmd(int R, const std::string &args) {
  Proc r{-1, ""};
  r.code = pt::cli::run_shell("timeout -k 5 120 " + (R ? mpirun(R) : "") + pt::cli::bin() + " " + args, &r.out);
  return r;
}

TEST(Mpi, EvalAndSampleSplitTheImagesWithTheSameResults) {
  NEED_MPI();
  pt::TmpDir d;
  const std::string ck = d / "m.safetensors";
  ASSERT_EQ(train(0, kArgs + " --epochs 1 --log /dev/null --out " + ck).code, 0);
  const std::string ev = "eval --ckpt " + ck + " --limit 37 --threads 1 --dump-logits ";
  Proc one = cmd(0, ev + d / "l1.npy"), three = cmd(3, ev + d / "l3.npy");
  ASSERT_EQ(one.code, 0) << one.out;
  ASSERT_EQ(three.code, 0) << three.out;
  // the NLL line (up to the timing in brackets) and every logit
  EXPECT_EQ(one.out.substr(0, one.out.find('(')), three.out.substr(0, three.out.find('(')));
  EXPECT_EQ(pt::cli::slurp(d / "l1.npy"), pt::cli::slurp(d / "l3.npy"));
  for (const char *s : {"cached", "naive"}) {
    const std::string sa = std::string("sample --ckpt ") + ck + " --n 5 --seed 3 --quiet --threads 1 --sampler " + s;
    Proc a = cmd(0, sa + " --out " + d / "a.png --out-npy " + d / "a.npy");
    Proc b = cmd(2, sa + " --out " + d / "b.png --out-npy " + d / "b.npy");
    ASSERT_EQ(a.code, 0) << a.out;
    ASSERT_EQ(b.code, 0) << b.out;
    EXPECT_EQ(pt::cli::slurp(d / "a.npy"), pt::cli::slurp(d / "b.npy")) << s;
    EXPECT_EQ(pt::cli::slurp(d / "a.png"), pt::cli::slurp(d / "b.png")) << s;
  }
}

}  // namespace
