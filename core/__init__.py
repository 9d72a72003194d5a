"""StyleLock core: the host-agnostic library every host, the CLI and the server share.

Nothing here imports torch. OpenImageIO, OpenColorIO and OpenCV are imported lazily inside the
modules that decode frames, so a host plugin that only talks to a server imports in well under a
second with just grpcio, protobuf and fileseq installed.
"""

__version__ = "0.1.0"
