/* statics.c linked as a position-dependent executable (-no-pie): globals at fixed addresses. */
#include "statics.c"
