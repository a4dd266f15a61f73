/* The interface between these kernels and engine/_native.py. _native.py checks every value below when it
   loads the library (plw_abi_version, plw_max_input_dim in jets.c; plw_plan_fields, plw_max_shares in
   rop.c; plw_train_plan_fields in train.c) and does not use a library that disagrees with it: a stale or
   foreign file in the cache is rebuilt, and a build that still disagrees is not used.

   Bump PLW_ABI_VERSION whenever an exported function's arguments, results or meaning change, or the order
   of the plans' fields (rop.c's and train.c's enums) does, and set _native.ABI_VERSION to the same number. */

#ifndef PLW_ABI_H
#define PLW_ABI_H

#include <stdint.h>

#define PLW_ABI_VERSION 4

#endif
