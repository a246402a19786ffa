#ifndef SLUICE_CPREFETCH_H
#define SLUICE_CPREFETCH_H

/// A read prefetch into all cache levels: Swift has no portable spelling of it. On CPUs without
/// a prefetch instruction the compiler emits nothing.
static inline void sluice_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
