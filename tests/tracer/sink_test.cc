#include "tracer/sink.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace tracer {
namespace {

TEST(FdSinkTest, ClosedPipeIsAnErrorNotASignal) {
  signal(SIGPIPE, SIG_IGN);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  FdSink sink(fds[1], /*owned=*/true);
  absl::Status s = sink.Write("hello");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fd"), absl::string_view::npos) << s;
}

TEST(FdSinkTest, FullDiskIsAnError) {
  int fd = open("/dev/full", O_WRONLY);
  if (fd < 0) GTEST_SKIP() << "no /dev/full";
  FdSink sink(fd, /*owned=*/true);
  absl::Status s = sink.Write(std::string(4096, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(FdSinkTest, CreateMakesAPrivateFile) {
  std::string path = ::testing::TempDir() + "/sink_test_private";
  auto sink = FdSink::Create(path);
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE((*sink)->Write("abc").ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 3);
  unlink(path.c_str());
}

TEST(FdSinkTest, CreateInMissingDirectoryFails) {
  auto sink = FdSink::Create("/nonexistent-dir/x/trace.out");
  EXPECT_FALSE(sink.ok());
}

}  // namespace
}  // namespace tracer
