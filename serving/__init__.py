"""Export to TF Serving, a TF-Serving-compatible development server, and REST / gRPC clients."""
