/*
 * clock.h: the wall clock every layer reads (the same function that
 * include/duro.h gives classes).
 */
#ifndef DURO_CORE_CLOCK_H
#define DURO_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). Never fails. */
int64_t duro_now_ms(void);

#endif
