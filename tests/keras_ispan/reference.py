"""An independent NumPy implementation of ISPAN's forward pass and losses (ISPAN.md, Fig. 1)."""

import math

import numpy as np


def _bins(size_in, size_out):
    return [
        (math.floor(i * size_in / size_out), math.ceil((i + 1) * size_in / size_out))
        for i in range(size_out)
    ]


def _bilinear_matrix(size_in, size_out):
    """Half-pixel-centre bilinear interpolation weights `(size_out, size_in)`."""
    weights = np.zeros((size_out, size_in))
    for i in range(size_out):
        src = (i + 0.5) * size_in / size_out - 0.5
        src = min(max(src, 0.0), size_in - 1)
        lo = int(math.floor(src))
        hi = min(lo + 1, size_in - 1)
        frac = src - lo
        weights[i, lo] += 1 - frac
        weights[i, hi] += frac
    return weights


def downsample(images, size, mode):
    """`(n, h, w, c)` -> `(n, size[0], size[1], c)` by area bins, max bins, or bilinear."""
    n, h, w, c = images.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return images
    if mode == "bilinear":
        rows, cols = _bilinear_matrix(h, out_h), _bilinear_matrix(w, out_w)
        return np.einsum("ih,jw,nhwc->nijc", rows, cols, images)
    reduce = np.mean if mode == "avg" else np.max
    out = np.zeros((n, out_h, out_w, c))
    for i, (r0, r1) in enumerate(_bins(h, out_h)):
        for j, (c0, c1) in enumerate(_bins(w, out_w)):
            out[:, i, j] = reduce(images[:, r0:r1, c0:c1], axis=(1, 2))
    return out


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def forward(
    levels,
    kernels,
    biases,
    *,
    downsample_mode="avg",
    fusion="sum",
    bias="position",
    level_weights=None,
    pooling="l2",
):
    """ISPAN forward pass, written row by row as in the paper: `Y_j = W_j X_j^T + b_j` `(d, P)`.

    Args:
        levels: list of `(B, T, h_j, w_j, c_j)` arrays, the anchor last.
        kernels: list of `(c_j, d)`, i.e. `W_j^T`.
        biases: list of `(d,)` (or empty for no bias).

    Returns:
        dict with `output (B, H, W, C)`, `a (B, d, P)`, `A (B, d, P)`, `level_softmax` list of
        `(B, d, P)`, `X (B, P, C)` and `saliency (B, T, H, W)`.
    """
    levels = [np.asarray(x, np.float64) for x in levels]
    b, t, h, w, c = levels[-1].shape
    d = h * w
    logits = []
    for j, x in enumerate(levels):
        flat = downsample(x.reshape(-1, *x.shape[2:]), (h, w), downsample_mode)
        xj = flat.reshape(b, t * h * w, -1)  # (B, P, C_j): row k = frame t, row y, column x
        y = np.einsum("dc,bpc->bdp", np.asarray(kernels[j], np.float64).T, xj)  # (B, d, P)
        if bias == "row":
            y = y + np.asarray(biases[j])[None, :, None]
        elif bias == "position":
            k = np.arange(t * h * w)
            y = y + np.asarray(biases[j])[k % d][None, None, :]
        logits.append(y)
    stacked = np.stack(logits)
    if fusion == "sum":
        z = stacked.sum(0)
    elif fusion == "mean":
        z = stacked.mean(0)
    elif fusion == "max":
        z = stacked.max(0)
    else:
        wts = softmax(np.asarray(level_weights, np.float64), 0)
        z = np.einsum("n,nbdp->bdp", wts, stacked)
    a = softmax(z, axis=-1)
    big_a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    x_anchor = levels[-1].reshape(b, t * h * w, c)
    weights = big_a if pooling == "l2" else a
    out = np.einsum("bdp,bpc->bdc", weights, x_anchor).reshape(b, h, w, c)
    return {
        "output": out,
        "a": a,
        "A": big_a,
        "level_softmax": [softmax(y, axis=-1) for y in logits],
        "X": x_anchor,
        "saliency": a.mean(axis=1).reshape(b, t, h, w),
    }


def interaction_loss(big_a, x, normalize_features):
    """Eq. (6) literally, per sample with the identity mask, then the batch mean. `A (B, d, P)`."""
    if normalize_features:
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    values = []
    for a_s, x_s in zip(big_a, x, strict=True):
        eye = np.eye(a_s.shape[0])
        energy = np.sum((a_s @ x_s @ x_s.T @ a_s.T) * eye)
        off = np.sum(((a_s @ a_s.T) * (1 - eye)) ** 2)
        values.append(-energy + off)
    return float(np.mean(values))


def diversity_loss(a, level_softmax):
    """`sqrt(sum_j sum_m sum_k (1 - |a - softmax(Y_j)|^2))`, batch mean. `a (B, d, P)`."""
    total = sum(np.sum(1 - np.abs(a - s) ** 2, axis=(1, 2)) for s in level_softmax)
    return float(np.mean(np.sqrt(total)))
