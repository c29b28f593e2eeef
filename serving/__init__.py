"""The serving application: the export command line (over `keras_ispan.export`), REST / gRPC clients, and the
TF-Serving-compatible development server (`serving.devserver`)."""
