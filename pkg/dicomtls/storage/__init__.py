"""DICOM Storage: Part 10 files (``part10``), the Storage SCU (``scu.store``: files and
directories on one association, pipelined), and the Storage SCP service (``scp.StorageService``,
``scp.StorageServer``: data sets streamed to ``.partial`` files, fsynced and renamed when
complete; ``incoming`` is the file being received)."""
