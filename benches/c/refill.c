/*
 * C baseline of the `refill` group: give `batch` buffers back through the
 * refill ring, then publish them with one store-release of the tail.
 *
 * Per entry it does what liburing's zcrx example does in return_buffer():
 * write {off, len, 0} at rq_tail & mask and advance rq_tail. The example
 * publishes after every entry; here the tail is published once per batch,
 * as the benchmark id says. The example also load-acquires the kernel's
 * head before every entry to see if the ring is full; this baseline keeps
 * a cached head and reloads it only when the cached free space runs out
 * (the cheaper way, and the one the Rust producer uses), so the comparison
 * is against the faster C.
 */
#include "bench.h"

uint64_t bench_c_refill(struct bench_producer *p, uint64_t iters, uint32_t batch,
			uint32_t buf_mask)
{
	struct bench_rqe *rqes = p->rqes;
	const uint32_t entries = p->entries;
	const uint32_t mask = entries - 1;
	uint32_t tail = p->rq_tail;
	uint32_t head = p->cached_head;
	uint64_t n = 0;

	for (uint64_t it = 0; it < iters; it++) {
		for (uint32_t i = 0; i < batch; i++) {
			while (tail - head == entries) {
				head = __atomic_load_n(p->khead, __ATOMIC_ACQUIRE);
				if (tail - head == entries) {
					/* Full: make sure the consumer sees what it
					 * may take, and wait politely (as the Rust
					 * side does). */
					__atomic_store_n(p->ktail, tail, __ATOMIC_RELEASE);
					cpu_relax();
				}
			}
			struct bench_rqe *e = &rqes[tail & mask];

			e->off = (uint64_t)(n & buf_mask) << 12;
			e->len = 4096;
			e->__pad = 0;
			tail++;
			n++;
		}
		__atomic_store_n(p->ktail, tail, __ATOMIC_RELEASE);
	}
	p->rq_tail = tail;
	p->cached_head = head;
	return n;
}
