"""DICOM Query/Retrieve (PS3.4 Annex C): the SCU (``scu.find``, ``move``, ``get``), the index
of a storage directory the SCP matches against (``index.StorageIndex``) and the SCP service
(``scp.QueryRetrieveService``, ``scp.QRServer``: C-FIND, C-MOVE, C-GET, C-CANCEL)."""
