/*
 * The C baseline of the zcrx benchmarks: what a C program does per step of
 * receiving with ZCRX, written the way liburing's zcrx example does it
 * (pointer from the completion's offset, refill entry at tail & mask,
 * store-release of the tail), with the batching of each benchmark id.
 *
 * Shared with Rust through FFI (benches/src/ffi.rs mirrors these structs).
 */
#ifndef ZCRX_BENCH_H
#define ZCRX_BENCH_H

#include <stdint.h>

/* The kernel's refill entry (struct io_uring_zcrx_rqe). */
struct bench_rqe {
	uint64_t off;
	uint32_t len;
	uint32_t __pad;
};

/* A 32-byte completion as the kernel writes it on a CQE32 ring:
 * struct io_uring_cqe followed by struct io_uring_zcrx_cqe. */
struct bench_cqe32 {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
	uint64_t zcrx_off;
	uint64_t zcrx_pad;
};

/* The kernel's stats block (struct zcrx_stats). */
struct bench_stats {
	uint64_t copy_count;
	uint64_t copy_bytes;
};

#define BENCH_AREA_SHIFT 48
#define BENCH_AREA_MASK (~((1ULL << BENCH_AREA_SHIFT) - 1))

/* The producer's view of a refill ring: pointers into the shared region
 * and the producer's private indices. */
struct bench_producer {
	uint32_t *khead;
	uint32_t *ktail;
	struct bench_rqe *rqes;
	uint32_t entries;
	uint32_t rq_tail;     /* next slot to fill */
	uint32_t cached_head; /* last head seen */
	uint32_t _pad;
};

/* The model kernel's view of the same ring. */
struct bench_consumer {
	uint32_t *khead;
	uint32_t *ktail;
	const struct bench_rqe *rqes;
	uint32_t entries;
	uint32_t stop;        /* set (atomically) to end bench_consumer_spin */
	uint64_t consumed;    /* entries consumed so far */
	uint64_t checksum;    /* sum of off + len of every entry read */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* consumer.c: the model kernel. */
void bench_consumer_spin(struct bench_consumer *c);
uint64_t bench_consume_once(struct bench_consumer *c);

/* refill.c */
uint64_t bench_c_refill(struct bench_producer *p, uint64_t iters, uint32_t batch,
			uint32_t buf_mask);
uint64_t bench_c_refill_tuned(struct bench_producer *p, uint64_t iters, uint32_t batch,
			      uint32_t buf_mask);

/* complete.c */
uint64_t bench_c_complete(struct bench_producer *p, struct bench_consumer *k,
			  const struct bench_cqe32 *cqes, uint32_t ncqes,
			  uint8_t *area, uint64_t area_token, uint64_t iters,
			  uint32_t batch);
uint64_t bench_c_complete_tuned(struct bench_producer *p, struct bench_consumer *k,
				const struct bench_cqe32 *cqes, uint32_t ncqes,
				uint8_t *area, uint64_t area_token, uint64_t iters,
				uint32_t batch);

/* stats.c */
uint64_t bench_c_stats(const struct bench_stats *s, uint64_t iters);

#endif
