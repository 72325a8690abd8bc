// Activate refuses to start when the process cannot register for the private expedited
// membarrier (it used to fall back, unchecked, on the global command).

#include "tracer/internal/membarrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tracer/internal/collector.h"

namespace tracer::tracer_internal {
namespace {

long RefuseRegistration(int cmd, unsigned flags, int cpu_id) {
  if (cmd == MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) {
    errno = EPERM;
    return -1;
  }
  return syscall(__NR_membarrier, cmd, flags, cpu_id);
}

class Nothing final : public GenerationConsumer {
 public:
  void OnGeneration(const SealedGeneration&) override {}
};

TEST(MembarrierTest, ActivationFailsClearlyWhenRegistrationFails) {
#ifdef TRACER_TSAN
  GTEST_SKIP() << "TSan builds do not use membarrier";
#endif
  SetMembarrierSyscallForTest(RefuseRegistration);
  const absl::Status reg = RegisterMembarrier();
  EXPECT_EQ(reg.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(reg.message(), "membarrier")) << reg;
  EXPECT_TRUE(absl::StrContains(reg.message(), "errno 1")) << reg;
  Nothing c;
  const absl::Status s = AddConsumer(&c, ConsumerOptions{});
  EXPECT_EQ(s, reg) << "Activate reports the registration's failure";
  EXPECT_EQ(RemoveConsumer(&c).code(), absl::StatusCode::kNotFound) << "nothing attached";

  SetMembarrierSyscallForTest(nullptr);
  ASSERT_TRUE(RegisterMembarrier().ok());
  ASSERT_TRUE(AddConsumer(&c, ConsumerOptions{}).ok());
  EXPECT_TRUE(CutGeneration().ok());
  EXPECT_TRUE(RemoveConsumer(&c).ok());
}

}  // namespace
}  // namespace tracer::tracer_internal
