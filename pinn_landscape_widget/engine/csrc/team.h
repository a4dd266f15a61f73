/* What the passes that run in OpenMP teams share (rop.c, train.c). */

#ifndef PLW_TEAM_H
#define PLW_TEAM_H

#define MAX_SHARES 64 /* the most threads a pass may be split over */

/* Whether this process is a forked child of the one that loaded the library (rop.c): there every share
   runs on the calling thread, as libgomp's pool is the parent's and its threads are gone. */
__attribute__((visibility("hidden"))) int plw_forked_child(void);

#endif
