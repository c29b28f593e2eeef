"""Video input/output shared by training, prediction and serving.

`keras_ispan.io.video` decodes videos with PyAV and samples TSN frame indices in NumPy (no TensorFlow);
`keras_ispan.io.flow` computes, quantises and stacks optical flow with OpenCV (no TensorFlow);
`keras_ispan.io.frames_tf` holds the TensorFlow evaluation preprocessing shared with serving export.
"""

from keras_ispan.io.coarse_to_fine import (
    coarse_to_fine_indices,
    coarse_to_fine_steps,
    stream_indices,
)
from keras_ispan.io.flow import (
    FLOW_BOUND,
    clip_flow,
    compute_flow,
    dequantize_flow,
    flow_stack_indices,
    quantize_flow,
)
from keras_ispan.io.video import (
    VideoDecodeError,
    VideoWindow,
    count_frames,
    decode_video,
    iter_windows,
    read_clip,
    sample_clip_indices,
    sample_segment_indices,
)

__all__ = [
    "FLOW_BOUND",
    "clip_flow",
    "compute_flow",
    "dequantize_flow",
    "flow_stack_indices",
    "quantize_flow",
    "VideoDecodeError",
    "VideoWindow",
    "coarse_to_fine_indices",
    "coarse_to_fine_steps",
    "count_frames",
    "decode_video",
    "iter_windows",
    "read_clip",
    "sample_clip_indices",
    "sample_segment_indices",
    "stream_indices",
]
