/*
 * C baseline of the `stats` group: a snapshot of the kernel's stats block,
 * two relaxed atomic loads (the kernel bumps the counters with plain
 * stores; atomic loads keep the compiler from caching or tearing them).
 */
#include "bench.h"

uint64_t bench_c_stats(const struct bench_stats *s, uint64_t iters)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		uint64_t count = __atomic_load_n(&s->copy_count, __ATOMIC_RELAXED);
		uint64_t bytes = __atomic_load_n(&s->copy_bytes, __ATOMIC_RELAXED);

		sum += count + bytes;
	}
	return sum;
}
