/*
 * C baselines of the `refill` group: give `batch` buffers back through the
 * refill ring, then publish them with one store-release of the tail (the
 * batching is the benchmark id's).
 *
 * bench_c_refill (id `c`) does per entry exactly what liburing's zcrx
 * example does in return_buffer(): load-acquire the kernel's head to see
 * whether the ring is full (rq_nr_queued()), write {off, len, 0} at
 * rq_tail & mask, advance rq_tail.
 *
 * bench_c_refill_tuned (id `c-tuned`) is the faster C a careful author
 * would write: the head is cached and reloaded only when the cached free
 * space runs out (what the Rust producer does), and the indices stay in
 * registers for the whole run.
 */
#include "bench.h"

uint64_t bench_c_refill(struct bench_producer *p, uint64_t iters, uint32_t batch,
			uint32_t buf_mask)
{
	uint64_t n = 0;

	for (uint64_t it = 0; it < iters; it++) {
		for (uint32_t i = 0; i < batch; i++) {
			/* rq_nr_queued(): the example reads the head every time. */
			while (p->rq_tail - __atomic_load_n(p->khead, __ATOMIC_ACQUIRE) ==
			       p->entries) {
				/* Full (the example drops the buffer; here the
				 * consumer is given what it may take). */
				__atomic_store_n(p->ktail, p->rq_tail, __ATOMIC_RELEASE);
				cpu_relax();
			}
			struct bench_rqe *e = &p->rqes[p->rq_tail & (p->entries - 1)];

			e->off = (uint64_t)(n & buf_mask) << 12;
			e->len = 4096;
			e->__pad = 0;
			p->rq_tail++;
			n++;
		}
		__atomic_store_n(p->ktail, p->rq_tail, __ATOMIC_RELEASE);
	}
	return n;
}

uint64_t bench_c_refill_tuned(struct bench_producer *p, uint64_t iters, uint32_t batch,
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
