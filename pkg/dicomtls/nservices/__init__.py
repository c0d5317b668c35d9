"""DIMSE-N services (N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE, N-EVENT-REPORT): an SCU over a
``ClientAssociation``, the SCP service ``NServices`` routing to one handler per SOP class, and
two product handlers: Modality Performed Procedure Step and Storage Commitment Push Model."""

from .commitment import STORAGE_COMMITMENT_SOP_CLASS, StorageCommitmentService
from .mpps import MPPS_SOP_CLASS, MPPSService
from .scp import (NRequest, NServiceBase, NServiceHandler, NServiceRefusal, NServices,
                  NServiceServer)
from .scu import NServiceClient, decode_dataset, encode_dataset

__all__ = ["MPPSService", "MPPS_SOP_CLASS", "NRequest", "NServiceBase", "NServiceClient",
           "NServiceHandler", "NServiceRefusal", "NServiceServer", "NServices",
           "STORAGE_COMMITMENT_SOP_CLASS", "StorageCommitmentService", "decode_dataset",
           "encode_dataset"]
