/* xdisk: growable arrays.
 *
 * XD_VECTOR (type) declares a struct { type *ptr; size_t len, cap; };
 * xd_vector_append, xd_vector_reserve and xd_vector_free work on it.
 * Arrays kept as separate fields of a larger struct (a pointer, a count
 * and a capacity) grow with XD_RESERVE, which is the same code.
 *
 * Growth is geometric (the capacity at least doubles), so appending one
 * element at a time costs amortised O(1), and every size is checked for
 * overflow: a count read from an image can never wrap the allocation
 * into a small one.  On failure nothing changes, errno is ENOMEM and the
 * call returns -1: the caller reports it, naming what it was reading.
 */
#ifndef XDISK_VECTOR_H
#define XDISK_VECTOR_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The capacity an empty array gets on its first growth. */
#define XD_VECTOR_MIN_CAP 8

/* Room for N more elements of ELSIZE bytes after the LEN in use at
 * PTR, whose capacity is *CAP: on success *OUT is the (possibly moved)
 * array and *CAP its new capacity; on failure PTR is left as it was.
 */
static inline int
xd_vector_grow_ (void *ptr, size_t *cap, size_t len, size_t n,
                 size_t elsize, void **out)
{
  size_t need, newcap, bytes;
  void *p;

  *out = ptr;
  if (__builtin_add_overflow (len, n, &need))
    goto too_big;
  if (need <= *cap)
    return 0;
  if (__builtin_mul_overflow (*cap, 2, &newcap))
    newcap = need;
  if (newcap < need)
    newcap = need;
  if (newcap < XD_VECTOR_MIN_CAP)
    newcap = XD_VECTOR_MIN_CAP;
  if (__builtin_mul_overflow (newcap, elsize, &bytes))
    goto too_big;
  p = realloc (ptr, bytes);
  if (p == NULL)
    return -1;
  *out = p;
  *cap = newcap;
  return 0;

 too_big:
  errno = ENOMEM;
  return -1;
}

/* Make room for N more elements in the array PTR (an lvalue of pointer
 * type) holding LEN of CAP: 0, or -1 with errno set.
 */
#define XD_RESERVE(ptr, len, cap, n)                                     \
  __extension__ ({                                                       \
    void *xd_p_;                                                         \
    int xd_r_ = xd_vector_grow_ ((ptr), &(cap), (len), (n),              \
                                 sizeof *(ptr), &xd_p_);                 \
    if (xd_r_ == 0)                                                      \
      (ptr) = xd_p_;                                                     \
    xd_r_;                                                               \
  })

/* A growable array of TYPE; zero-initialise it ({ 0 }) before use. */
#define XD_VECTOR(type) struct { type *ptr; size_t len; size_t cap; }

#define xd_vector_reserve(v, n) XD_RESERVE ((v)->ptr, (v)->len, (v)->cap, (n))

/* Append ELEM (evaluated once, after the growth): 0 or -1. */
#define xd_vector_append(v, elem)                                        \
  (xd_vector_reserve ((v), 1) == -1 ? -1                                 \
   : ((v)->ptr[(v)->len++] = (elem), 0))

#define xd_vector_free(v)                                                \
  (free ((v)->ptr), (v)->ptr = NULL, (v)->len = (v)->cap = 0)

#endif /* XDISK_VECTOR_H */
