/*
 * The model kernel consumer, shared by the Rust and C sides of every
 * benchmark: it load-acquires the tail, reads each published entry (as the
 * kernel's refill does) and store-releases the head.
 *
 * It lives in its own translation unit so that neither side can have it
 * inlined into its loop.
 */
#include "bench.h"

/* Consumes everything published so far; returns the number of entries. */
static inline uint32_t consume(struct bench_consumer *c, uint32_t *headp)
{
	uint32_t head = *headp;
	uint32_t mask = c->entries - 1;
	uint32_t tail = __atomic_load_n(c->ktail, __ATOMIC_ACQUIRE);
	uint32_t n = tail - head;
	uint64_t sum = 0;

	if (n == 0)
		return 0;
	for (; head != tail; head++) {
		const struct bench_rqe *e = &c->rqes[head & mask];

		sum += e->off + e->len;
	}
	__atomic_store_n(c->khead, head, __ATOMIC_RELEASE);
	*headp = head;
	c->checksum += sum;
	c->consumed += n;
	return n;
}

/* Runs on its own thread until c->stop is set. */
void bench_consumer_spin(struct bench_consumer *c)
{
	uint32_t head = __atomic_load_n(c->khead, __ATOMIC_RELAXED);

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		if (consume(c, &head) == 0)
			cpu_relax();
	}
	/* Whatever was published before the stop. */
	consume(c, &head);
}

/* One pass on the caller's thread (the NODEV flush model). */
uint64_t bench_consume_once(struct bench_consumer *c)
{
	uint32_t head = __atomic_load_n(c->khead, __ATOMIC_RELAXED);

	return consume(c, &head);
}
