/* statics.c linked as a position-independent executable (-pie): globals move with the load address. */
#include "statics.c"
