/* cfrag.h - what the C side of bench/frag shares between its workloads
 * (cfrag.c: the phase change, churn, scavenge and main; cache.c: the cache):
 * the random stream the Go child draws from too, and the step records both
 * report as the Go child's JSON lines. */
#ifndef CFRAG_H
#define CFRAG_H
#include "charness.h"

#define CF_MODE "c-" CH_NAME

/* splitmix64, the Go child's rng (bench/frag/child.go), seeded by main. */
extern uint64_t rng_state;
uint64_t rng_next(void);

/* The running figures step() records: live bytes, operations, time spent in
 * them, and the workload's start. */
extern long long live, ops;
extern double busy_s;
extern uint64_t start_ns;

/* Records and prints one step ({"step":...}). */
void step(const char *name);
/* Prints the steps recorded so far as a JSON array's elements. */
void print_steps(void);

/* The cache workload (cache.c): capacity bytes of values, ops operations (0:
 * 30 x the values the capacity holds), keys and sizes drawn from seed. */
void cache(uint64_t capacity, uint64_t cache_ops, uint64_t seed);

#endif
