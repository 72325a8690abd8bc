#include "tracer/sink.h"

#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/tracer/child_process.h"

namespace tracer {
namespace {

// In a child with SIGPIPE at its default disposition: a SIGPIPE would kill it.
TEST(FdSinkTest, ClosedPipeOrSocketIsAnErrorNotASignal) {
  for (const bool socket : {false, true}) {
    const testing::ChildResult r = testing::RunInChild([socket] {
      int fds[2];
      if (socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0 : pipe(fds) != 0) return 10;
      close(fds[0]);
      FdSink sink(fds[1], /*owned=*/true);
      absl::Status s = sink.Write("hello");
      if (s.ok()) return 11;
      if (s.message().find("fd") == absl::string_view::npos) return 12;
      // The mask is back as it was, and no SIGPIPE is left pending.
      sigset_t mask, pending;
      pthread_sigmask(SIG_SETMASK, nullptr, &mask);
      sigpending(&pending);
      if (sigismember(&mask, SIGPIPE) || sigismember(&pending, SIGPIPE)) return 13;
      return 0;
    });
    EXPECT_TRUE(r.ok()) << (socket ? "socket: " : "pipe: ") << r.Describe();
  }
}

// A SIGPIPE that was pending before the write is the program's: it stays pending.
TEST(FdSinkTest, ASigpipePendingBeforeTheWriteStaysPending) {
  const testing::ChildResult r = testing::RunInChild([] {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    raise(SIGPIPE);
    int fds[2];
    if (pipe(fds) != 0) return 10;
    close(fds[0]);
    FdSink sink(fds[1], /*owned=*/true);
    if (sink.Write("x").ok()) return 11;
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&pending, SIGPIPE)) return 12;
    const timespec zero = {0, 0};
    return sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE ? 0 : 13;
  });
  EXPECT_TRUE(r.ok()) << r.Describe();
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
