/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tests' pseudo-random numbers: splitmix64, deterministic, so a run
 * replays from its seed.  Shared by the host and the in-VM tests.
 */
#ifndef BETRKV_TEST_RNG_H
#define BETRKV_TEST_RNG_H

/* The next number of the sequence in *@s. */
static inline unsigned long long rng_next(unsigned long long *s)
{
	unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A number in [0, @n). */
static inline unsigned int rng_below(unsigned long long *s, unsigned int n)
{
	return rng_next(s) % n;
}

/* A well-mixed function of @x (the step of the sequence seeded with @x). */
static inline unsigned long long rng_hash(unsigned long long x)
{
	return rng_next(&x);
}

#endif /* BETRKV_TEST_RNG_H */
