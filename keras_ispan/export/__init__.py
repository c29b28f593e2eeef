"""SavedModel export for TF Serving (TensorFlow only; `import keras_ispan` does not import it).

- `saved_model`: `export_model`, versioned SavedModels with signatures, assets and warmup requests.
- `warmup`, `server_configs`: TF Serving's warmup file and `models.config` / `batching.config` /
  `monitoring.config`.
"""
