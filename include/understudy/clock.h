/* The program's one clock for decisions: CLOCK_MONOTONIC, which nobody can
 * set and which never jumps. Every deadline, interval and measurement is
 * taken on it; the wall clock appears only where people read a time (a log
 * line, STATUS=, status's output), never in a decision. */
#ifndef UNDERSTUDY_CLOCK_H
#define UNDERSTUDY_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: what deadlines and timeouts are kept in. */
int64_t clock_ms(void);
/* Nanoseconds on CLOCK_MONOTONIC: for measurements finer than a millisecond. */
int64_t clock_ns(void);

#endif
