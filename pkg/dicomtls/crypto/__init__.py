"""Thin wrappers over OpenSSL for what TLS needs besides the record layer: private keys
(``keys``), X.509 certificates (``x509``) and a throw-away development PKI (``devpki``)."""
