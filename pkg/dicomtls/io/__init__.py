"""The only code that touches sockets, threads, ``select`` and timers: transports (plain and TLS
behind one ``transport.Transport`` protocol), the ``transport.Driver`` that runs a sans-IO
``Association`` over one, the blocking client API (``association_runner``), the server
(``server.AssociationServer``) and the services it composes (``services``)."""
