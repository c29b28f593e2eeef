"""Datasets for video classification (TensorFlow only; `import keras_ispan` does not import it).

- `records`: the on-disk format (sharded TFRecords of `SequenceExample` clips, one JPEG per frame,
  metadata.json); `clip_reader` and `shard_index` read one clip, or only its sampled frames.
- `pipeline`: the `tf.data` pipeline (`PipelineConfig`, `make_dataset`), with TSN sampling and
  augmentation (`augment`) planned per batch (`batch_plan`).
- `convert` and `layouts`: videos to datasets (with `--flow`, optical flow too); `add_flow`: optical
  flow added to an existing dataset; `synthetic` and `synthetic_motion`: the embedded procedural
  datasets (classes by appearance, or only by the direction of motion).
"""
