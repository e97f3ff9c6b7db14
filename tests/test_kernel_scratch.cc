// test_kernel_scratch.cc: a kernel's per-thread scratch buffer
// (kernels/kernel_scratch.h) is freed when its thread exits, so a program
// that runs the library on short-lived threads does not grow by a buffer per
// thread (the embedding API's threads contract, model/pixelcnn.h).
#include <malloc.h>

#include <thread>
#include <vector>

#include "test_util.h"

extern "C" {
#include "pcnn_kernels.h"
}

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;  // arena bytes in use + mmapped blocks
}

TEST(KernelScratch, FreedWhenItsThreadExits) {
  // (under ASan mallinfo2 does not see the heap: the threads still run and
  // LeakSanitizer, at the process's exit, is the check)
  // conv_bwd_data keeps its transposed kept taps in scratch: 5 taps x 128 x
  // 128 floats = 320 KB per thread for a 3x3 B 128 -> 128
  const pcnn_conv_t c = {1, 6, 5, 128, 128, 3, PCNN_MASK_B, 1, 0};
  std::vector<float> din((size_t)6 * 5 * 128), dout(din.size(), 0.5f), w((size_t)9 * 128 * 128, 0.25f);
  const size_t scratch = (size_t)5 * 128 * 128 * sizeof(float);
  for (int isa = PCNN_ISA_AVX2; isa < PCNN_ISA_FP32_COUNT; isa++) {
    if (!pcnn_isa_supported((pcnn_isa_t)isa)) continue;
    pcnn_kernels_t t;
    pcnn_kernels_fill(&t, (pcnn_isa_t)isa);
    auto run = [&] { t.conv_bwd_data(din.data(), dout.data(), w.data(), &c); };
    std::thread(run).join();  // warm-up: the library's one-time allocations
    const size_t before = heap_in_use();
    const int threads = 16;
    for (int i = 0; i < threads; i++) std::thread(run).join();
    const size_t after = heap_in_use();
    // a leak would keep threads x 320 KB; allow a quarter of one buffer of noise
    if (!kAsan) {
      EXPECT_LT(after, before + scratch / 4) << pcnn_isa_name((pcnn_isa_t)isa) << ": " << (after - before) / 1024
                                             << " KB kept after " << threads << " threads exited";
    }
  }
}

}  // namespace
