
/* ---- cdef_record.h ---- */
