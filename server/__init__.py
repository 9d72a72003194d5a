"""StyleLock server: the restyle pipeline, the engines, the job queue and the gRPC service.

torch and diffusers are imported only under `stylelock.server.engines`, and only when an engine
that needs them runs; listing engines and their parameter schemas imports neither.
"""
