// bench_rounds.cc: the harness's rounds mode (bench_main.cc: --pcnn_rounds=R).
//
// On a shared machine the load drifts over minutes, so a ratio between two
// rows timed minutes apart measures the drift as much as the code. Here the
// rows of a group, one op, shape and thread count that has a peer (our kernel
// at each SIMD level beside oneDNN and libxsmm), run back to back in R rounds
// of one repetition each: round 1 in registration order (ours, then the
// peers), round 2 in the reverse order, round 3 as round 1, ... A group takes
// seconds, so each round's ratio compares runs made under the same load, and
// the order swap keeps a steady drift from favouring one side.
//
// Round 1 lets Google Benchmark choose the call count (>= --benchmark_min_time
// of calls); later rounds run half that count (at least 1), so at R = 5 a row
// times as many calls as 3 repetitions did. Each run is reported with the
// counter round = 1..R; after the last round each row gets one aggregate,
// aggregate_name "median" (the median over the rounds of the time per call and
// of every counter), like the aggregates of repetitions.
//
// Every other row (no peer in its group, or a slow row: the scalar reference
// kernels and oneDNN's ref:any post-op, which run 1-3 calls) runs as usual,
// with --benchmark_repetitions. Rows run one at a time through
// RunSpecifiedBenchmarks, so the JSON file is written here (one context, one
// list of runs) rather than by Google Benchmark, which would reopen the file
// on each call; it gets what the display gets.
#include <regex.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_util.h"

namespace pcnn_bench {
namespace {

using Reporter = benchmark::BenchmarkReporter;
using Run = Reporter::Run;

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> v(1);
  for (char c : s) {
    if (c == sep)
      v.emplace_back();
    else
      v.back() += c;
  }
  return v;
}

bool is_ours(const std::string &impl) {
  for (int i = 0; i < PCNN_ISA_FP32_COUNT; i++)
    if (impl == pcnn_isa_name((pcnn_isa_t)i)) return true;
  return false;
}

// op/shape/impl/t<n> -> group "op/shape/t<n>" and impl; false for other names
bool group_of(const std::string &name, std::string *group, std::string *impl) {
  const std::vector<std::string> p = split(name, '/');
  if (p.size() != 4 || p[3].size() < 2 || p[3][0] != 't') return false;
  *group = p[0] + "/" + p[1] + "/" + p[3];
  *impl = p[2];
  return true;
}

// A POSIX extended regex (the syntax Google Benchmark reads filters in; <regex.h>
// rather than std::regex, which GCC 12 does not compile warning-free under the
// sanitizers), searched for in a name as Google Benchmark does.
class Ere {
 public:
  explicit Ere(const std::string &re) { ok_ = regcomp(&re_, re.c_str(), REG_EXTENDED | REG_NOSUB) == 0; }
  ~Ere() {
    if (ok_) regfree(&re_);
  }
  Ere(const Ere &) = delete;
  Ere &operator=(const Ere &) = delete;
  bool ok() const { return ok_; }
  bool search(const std::string &s) const { return ok_ && regexec(&re_, s.c_str(), 0, nullptr, 0) == 0; }

 private:
  regex_t re_;
  bool ok_;
};

// a POSIX extended regex matching s literally
std::string ere_escape(const std::string &s) {
  std::string r;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) r += '\\';
    r += c;
  }
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// the aggregate "median" of a row's rounds (as Google Benchmark builds the
// aggregates of repetitions: iterations = the number of rounds, the time per
// call scaled by it)
Run median_run(const std::vector<Run> &rs) {
  Run m = rs[0];
  m.run_type = Run::RT_Aggregate;
  m.aggregate_name = "median";
  m.aggregate_unit = benchmark::kTime;
  m.repetitions = (int64_t)rs.size();
  m.repetition_index = Run::no_repetition_index;
  std::vector<double> real, cpu;
  for (const Run &r : rs) {
    real.push_back(r.real_accumulated_time / (double)r.iterations);
    cpu.push_back(r.cpu_accumulated_time / (double)r.iterations);
  }
  m.iterations = (benchmark::IterationCount)rs.size();
  m.real_accumulated_time = median(real) * (double)rs.size();
  m.cpu_accumulated_time = median(cpu) * (double)rs.size();
  m.counters.erase("round");
  for (auto &kv : m.counters) {
    std::vector<double> v;
    for (const Run &r : rs) {
      auto it = r.counters.find(kv.first);
      if (it != r.counters.end()) v.push_back(it->second.value);
    }
    kv.second.value = median(v);
  }
  return m;
}

// Passes every run on to the display reporter and the JSON file, with one
// context for the whole run; tags the runs of a round (counter "round") and
// gives them back the name the row has outside the rounds.
class Tee : public Reporter {
 public:
  Tee(Reporter *display, Reporter *file, size_t width) : display_(display), file_(file), width_(width) {}

  bool ReportContext(const Context &c) override {
    if (started_) return true;
    started_ = true;
    Context w = c;  // the width of every name this run prints, not this call's
    w.name_field_width = std::max(c.name_field_width, width_);
    bool ok = display_->ReportContext(w);
    if (file_) ok = file_->ReportContext(w) && ok;
    return ok;
  }

  void ReportRuns(const std::vector<Run> &runs) override {
    std::vector<Run> v = runs;
    for (Run &r : v) {
      if (round_ > 0) {
        // the round set Repetitions(1) and, after round 1, Iterations(n)
        r.run_name.repetitions.clear();
        r.run_name.iterations = fixed_iterations_ ? "iterations:1" : "";
        r.counters["round"] = benchmark::Counter((double)round_);
      }
      last_.push_back(r);
    }
    forward(v);
  }

  void Finalize() override {}  // once, from finish()

  void forward(const std::vector<Run> &v) {
    display_->ReportRuns(v);
    if (file_) file_->ReportRuns(v);
  }
  void finish() {
    display_->Finalize();
    if (file_) file_->Finalize();
  }

  int round_ = 0;                  // the round being run (1..R), 0 outside the rounds
  bool fixed_iterations_ = false;  // the row has /iterations:1 in its name (smoke mode)
  std::vector<Run> last_;          // the runs reported since the driver cleared it

 private:
  Reporter *display_, *file_;
  size_t width_;
  bool started_ = false;
};

}  // namespace

int run_rounds(int rounds, const std::string &skip, const std::string &out_path) {
  // the rows to run: those the filter selects (as Google Benchmark reads it:
  // POSIX extended, searched in the run name, a leading '-' negates), minus `skip`
  std::string f = benchmark::GetBenchmarkFilter();
  if (f.empty() || f == "all") f = ".";
  const bool negate = f[0] == '-';
  if (negate) f.erase(0, 1);
  const Ere want(f), unwanted(skip.empty() ? "^$" : skip);
  if (!want.ok() || !unwanted.ok()) {
    std::fprintf(stderr, "pcnn_bench: bad regex in --benchmark_filter or --pcnn_skip\n");
    return 1;
  }
  std::vector<const Registered *> rows;
  size_t width = 10;
  for (const Registered &r : registry()) {
    if (want.search(r.run_name) == negate) continue;
    if (unwanted.search(r.run_name)) continue;
    rows.push_back(&r);
    width = std::max(width, r.run_name.size() + 7);  // + "_median" and the like
  }
  if (rows.empty()) {
    std::fprintf(stderr, "pcnn_bench: no benchmark matches the filter\n");
    return 1;
  }

  // groups that run in rounds: at least one of our rows and one peer row that are not slow
  std::map<std::string, std::vector<const Registered *>> ours, peers;
  for (const Registered *r : rows) {
    std::string g, impl;
    if (r->slow || !group_of(r->name, &g, &impl)) continue;
    (is_ours(impl) ? ours : peers)[g].push_back(r);
  }
  auto in_rounds = [&](const Registered *r, std::string *g) {
    std::string impl;
    return rounds > 0 && !r->slow && group_of(r->name, g, &impl) && ours.count(*g) && peers.count(*g);
  };

  std::unique_ptr<Reporter> display(benchmark::CreateDefaultDisplayReporter());
  std::ofstream out;
  std::unique_ptr<benchmark::JSONReporter> json;
  if (!out_path.empty()) {
    out.open(out_path);
    if (!out) {
      std::fprintf(stderr, "pcnn_bench: cannot write %s\n", out_path.c_str());
      return 1;
    }
    json.reset(new benchmark::JSONReporter());
    json->SetOutputStream(&out);
    json->SetErrorStream(&out);
  }
  Tee tee(display.get(), json.get(), width);
  auto run_one = [&](const Registered *r) {
    tee.fixed_iterations_ = r->run_name.find("/iterations:1/") != std::string::npos;
    benchmark::RunSpecifiedBenchmarks(&tee, "^" + ere_escape(r->name) + "/");
  };

  std::set<std::string> done;
  for (const Registered *r : rows) {
    std::string g;
    if (!in_rounds(r, &g)) {
      tee.round_ = 0;
      run_one(r);
      continue;
    }
    if (!done.insert(g).second) continue;
    std::vector<const Registered *> members = ours[g];
    members.insert(members.end(), peers[g].begin(), peers[g].end());
    std::vector<std::vector<Run>> got(members.size());
    std::vector<bool> failed(members.size(), false);
    for (const Registered *m : members) m->b->Repetitions(1);
    for (int k = 1; k <= rounds; k++) {
      std::vector<size_t> order(members.size());
      for (size_t i = 0; i < order.size(); i++) order[i] = k % 2 ? i : order.size() - 1 - i;
      for (size_t i : order) {
        if (failed[i]) continue;  // an error (e.g. an ISA this CPU lacks) is reported once
        if (k == 2) {             // half of round 1's call count from now on
          const benchmark::IterationCount n1 = got[i].back().iterations;
          members[i]->b->Iterations(std::max<benchmark::IterationCount>(1, n1 / 2));
        }
        tee.round_ = k;
        tee.last_.clear();
        run_one(members[i]);
        if (tee.last_.size() != 1 || tee.last_[0].error_occurred)
          failed[i] = true;
        else
          got[i].push_back(tee.last_[0]);
      }
    }
    tee.round_ = 0;
    for (size_t i = 0; i < members.size(); i++)
      if (!failed[i] && !got[i].empty()) tee.forward({median_run(got[i])});
  }
  tee.finish();
  return 0;
}

}  // namespace pcnn_bench
