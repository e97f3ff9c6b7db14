// main.cc: runs the GoogleTest suite and ends with one line `N passed, N failed`.
#include <gtest/gtest.h>

#include <cstdio>

namespace {
class Summary : public ::testing::EmptyTestEventListener {
  void OnTestProgramEnd(const ::testing::UnitTest &u) override {
    fflush(stdout);
    printf("%d passed, %d failed\n", u.successful_test_count(), u.failed_test_count());
    fflush(stdout);
  }
};
}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new Summary);
  return RUN_ALL_TESTS();
}
