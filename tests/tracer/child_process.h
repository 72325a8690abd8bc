// Runs a test body in a forked child and reports how it ended, with a deadline: the shape of
// every test of a defect that kills or hangs a process (a signal, a deadlock at exit).

#ifndef TRACER_TESTS_TRACER_CHILD_PROCESS_H_
#define TRACER_TESTS_TRACER_CHILD_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tracer::testing {

struct ChildResult {
  bool exited = false;     // by exit/_exit
  int code = -1;           // its status, if exited
  int signal = 0;          // the signal that killed it, if one did
  bool timed_out = false;  // still running at the deadline (then killed with SIGKILL)
  absl::Duration took;
  std::string Describe() const {
    if (timed_out) return absl::StrCat("hung (killed after ", absl::FormatDuration(took), ")");
    if (signal != 0) return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
    return absl::StrCat("exited with ", code, " after ", absl::FormatDuration(took));
  }
  bool ok() const { return exited && code == 0; }
};

// Waits for `pid` until `deadline`; kills it with SIGKILL if it is still running then.
inline ChildResult WaitChild(pid_t pid, absl::Time start, absl::Duration timeout) {
  ChildResult r;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (absl::Now() - start > timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  r.took = absl::Now() - start;
  if (!r.timed_out && WIFEXITED(status)) {
    r.exited = true;
    r.code = WEXITSTATUS(status);
  } else if (!r.timed_out && WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

// Forks; the child restores SIGPIPE's default disposition (a test binary must not hide a
// SIGPIPE the code under test raises) and runs `body`, then _exit()s with its result.
inline ChildResult RunInChild(const std::function<int()>& body,
                              absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time start = absl::Now();
  const pid_t pid = fork();
  if (pid < 0) return ChildResult{};
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    _exit(body());
  }
  return WaitChild(pid, start, timeout);
}

}  // namespace tracer::testing

#endif  // TRACER_TESTS_TRACER_CHILD_PROCESS_H_
