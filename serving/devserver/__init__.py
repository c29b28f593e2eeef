"""The development model server speaking TF Serving's REST and gRPC APIs (production: TF Serving)."""
