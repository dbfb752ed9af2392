// glibc's mallopt: no trimming of the heap's top, and a fixed mmap threshold (glibc otherwise
// raises it as blocks are freed and unmaps blocks above it on free).
#include "spanguard/core/heap.h"

#include <malloc.h>

namespace spanguard::core {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Blocks this large (Hyperscan databases, flow table arrays) are made once; smaller ones are
  // reused from the heap.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest
#endif
}

}  // namespace spanguard::core
