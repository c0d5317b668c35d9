"""DIMSE-N services (N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE, N-EVENT-REPORT): an SCU over a
``ClientAssociation`` and an SCP handler for ``serve_association``."""

from .scp import NServiceHandler, NServiceServer, serve_nservice_association
from .scu import NServiceClient, decode_dataset, encode_dataset

__all__ = ["NServiceClient", "NServiceHandler", "NServiceServer", "decode_dataset",
           "encode_dataset", "serve_nservice_association"]
