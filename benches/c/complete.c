/*
 * C baselines of the `complete` group.
 *
 * bench_c_complete (id `c`): per completion, exactly what liburing's zcrx
 * example does in process_recvzc() and return_buffer(): the buffer pointer,
 * the data consumed, the head load-acquired (rq_nr_queued()), the refill
 * entry written and the tail store-released after every entry. Every
 * `batch` completions (a reaped batch) the model kernel consumes.
 *
 * bench_c_complete_tuned (id `c-tuned`): the faster C, batched like the
 * Rust side:
 *
 *   data = area + (off & ~IORING_ZCRX_AREA_MASK)     the buffer pointer
 *   consume the data (first and last byte, as the Rust side does)
 *   rqe = &rqes[rq_tail & mask]                        the refill entry
 *   rqe->off = (off & ~IORING_ZCRX_AREA_MASK) | area_token; rqe->len = res
 *   rq_tail++
 *
 * The example store-releases the tail after every entry; here, like the
 * Rust side, the tail is published once per `batch` completions (a reaped
 * batch of the completion queue), and the model kernel then consumes. The
 * fullness check uses a cached head (see refill.c); a full ring drops the
 * buffer, as the example does (it never happens here).
 */
#include "bench.h"

uint64_t bench_c_complete(struct bench_producer *p, struct bench_consumer *k,
			  const struct bench_cqe32 *cqes, uint32_t ncqes,
			  uint8_t *area, uint64_t area_token, uint64_t iters,
			  uint32_t batch)
{
	const uint32_t cq_mask = ncqes - 1;
	const uint64_t batch_mask = batch - 1;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const struct bench_cqe32 *cqe = &cqes[i & cq_mask];
		/* process_recvzc() */
		const uint8_t *data = area + (cqe->zcrx_off & ~BENCH_AREA_MASK);
		uint32_t len = (uint32_t)cqe->res;

		sum += data[0] + data[len - 1];
		/* return_buffer() */
		if (p->rq_tail - __atomic_load_n(p->khead, __ATOMIC_ACQUIRE) !=
		    p->entries) {
			struct bench_rqe *e = &p->rqes[p->rq_tail & (p->entries - 1)];

			e->off = (cqe->zcrx_off & ~BENCH_AREA_MASK) | area_token;
			e->len = len;
			e->__pad = 0;
			__atomic_store_n(p->ktail, ++p->rq_tail, __ATOMIC_RELEASE);
		}
		if ((i & batch_mask) == batch_mask)
			bench_consume_once(k);
	}
	return sum;
}

uint64_t bench_c_complete_tuned(struct bench_producer *p, struct bench_consumer *k,
			  const struct bench_cqe32 *cqes, uint32_t ncqes,
			  uint8_t *area, uint64_t area_token, uint64_t iters,
			  uint32_t batch)
{
	struct bench_rqe *rqes = p->rqes;
	const uint32_t entries = p->entries;
	const uint32_t mask = entries - 1;
	const uint32_t cq_mask = ncqes - 1;
	const uint64_t batch_mask = batch - 1;
	uint32_t tail = p->rq_tail;
	uint32_t head = p->cached_head;
	uint64_t sum = 0;

	for (uint64_t i = 0; i < iters; i++) {
		const struct bench_cqe32 *cqe = &cqes[i & cq_mask];
		uint64_t off = cqe->zcrx_off & ~BENCH_AREA_MASK;
		const uint8_t *data = area + off;
		uint32_t len = (uint32_t)cqe->res;

		sum += data[0] + data[len - 1];

		if (tail - head == entries)
			head = __atomic_load_n(p->khead, __ATOMIC_ACQUIRE);
		if (tail - head != entries) {
			struct bench_rqe *e = &rqes[tail & mask];

			e->off = off | area_token;
			e->len = len;
			e->__pad = 0;
			tail++;
		}
		if ((i & batch_mask) == batch_mask) {
			__atomic_store_n(p->ktail, tail, __ATOMIC_RELEASE);
			bench_consume_once(k);
		}
	}
	__atomic_store_n(p->ktail, tail, __ATOMIC_RELEASE);
	p->rq_tail = tail;
	p->cached_head = head;
	return sum;
}
