"""`dicomtls bench`: the command (``command``), its two measurements (``tls``, ``store``) and
what they share (``common``)."""
