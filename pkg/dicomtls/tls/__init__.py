"""TLS for DICOM: ``TLSConfig`` (``config``) and its check before use (``check``), the
ciphersuite registry (``suites``) and the PS3.15 profiles (``profiles``), the sans-IO
``TLSConnection`` interface (``connection``) on two engines: libssl (``libssl_engine``) and
dicomtls' own TLS 1.0-1.2 engine for the suites libssl lacks (``own``), chosen by ``engines`` (a
server may choose per client: ``selecting``). Every TLS wire constant is in ``protocol``."""
