/* dt_hscrypto.c: own TLS 1.0-1.2 engine helpers (see docs/own-engine.md). */
