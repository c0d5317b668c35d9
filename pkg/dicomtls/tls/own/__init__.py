"""dicomtls' own TLS 1.0-1.2 engine (docs/own-engine.md): protocol logic here, cryptography in C over libcrypto."""
