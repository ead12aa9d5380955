/*
 * Making recycled memory visible to the memory checkers.
 *
 * Pages and chunks that lexrt keeps for reuse are still "allocated" as far
 * as malloc is concerned, so AddressSanitizer and valgrind would let a
 * stale pointer read them silently. We poison them while they sit unused
 * and unpoison exactly the bytes handed out. Without either tool the
 * macros compile to nothing.
 */
#ifndef LEXRT_POISON_H
#define LEXRT_POISON_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LX_HAVE_ASAN 1
#endif
#endif
#if !defined(LX_HAVE_ASAN) && defined(__SANITIZE_ADDRESS__)
#define LX_HAVE_ASAN 1
#endif

#ifdef LX_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#define LX_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define LX_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define LX_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define LX_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifdef LX_WITH_VALGRIND
#include <valgrind/memcheck.h>
#define LX_VG_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define LX_VG_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define LX_VG_UNDEFINED(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#else
#define LX_VG_NOACCESS(p, n) ((void)(p), (void)(n))
#define LX_VG_DEFINED(p, n) ((void)(p), (void)(n))
#define LX_VG_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

/* Memory going back into a cache: any access now is a bug. */
#define LX_POISON(p, n) do { LX_ASAN_POISON(p, n); LX_VG_NOACCESS(p, n); } while (0)
/* Memory handed out again: addressable, contents unspecified. */
#define LX_UNPOISON(p, n) do { LX_ASAN_UNPOISON(p, n); LX_VG_UNDEFINED(p, n); } while (0)

/* Memory whose every byte an image copies, gaps and poisoned tails
 * included: copying indeterminate bytes is what the image is for. */
#define LX_EXPOSE(p, n) do { LX_ASAN_UNPOISON(p, n); LX_VG_DEFINED(p, n); } while (0)

#endif
