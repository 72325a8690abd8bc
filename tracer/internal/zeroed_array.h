// A fixed-size array of a trivial type on anonymous zero pages: every element reads as zero
// until written, and only the pages written cost memory (a std::vector writes every element
// at construction, so a 256 KiB table of ids is resident from the start). Not copyable.

#ifndef TRACER_TRACER_INTERNAL_ZEROED_ARRAY_H_
#define TRACER_TRACER_INTERNAL_ZEROED_ARRAY_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <type_traits>

namespace tracer::tracer_internal {

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  explicit ZeroedArray(size_t n) : n_(n) {
    void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) std::abort();  // a few hundred KiB of address space, at set-up
    p_ = static_cast<T*>(p);
  }
  ~ZeroedArray() { munmap(p_, n_ * sizeof(T)); }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;

  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }
  size_t size() const { return n_; }

 private:
  T* p_;
  size_t n_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_ZEROED_ARRAY_H_
