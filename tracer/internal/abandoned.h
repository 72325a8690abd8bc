// Objects the runtime gives up on without freeing: a pool a thread may still write into, the
// parent's collector and queues in a fork() child. They stay reachable from here, so a leak
// checker (LeakSanitizer at exit) sees memory kept on purpose, not lost. Lock-free and
// allocation-free (a fixed table); past its size, pointers are simply dropped.

#ifndef TRACER_TRACER_INTERNAL_ABANDONED_H_
#define TRACER_TRACER_INTERNAL_ABANDONED_H_

namespace tracer::tracer_internal {

void KeepReachable(const void* p);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_ABANDONED_H_
