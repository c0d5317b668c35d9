
/* ---- cdef_hscrypto.h ---- */
