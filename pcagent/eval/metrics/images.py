"""Images: OSWorld's ``compare_images`` (desktop_env/evaluators/metrics/vlc.py): the structural similarity
(SSIM) of the two images in grey, the larger one first resized to the smaller's size.

With ``reference_base_result`` B the score is (SSIM - B) / (1 - B) when SSIM reaches B + 0.01, else 0; without
it the score is the SSIM itself. SSIM here is scikit-image's default: a 7x7 uniform window, K1 0.01, K2 0.03,
sample covariance, the data range of 8-bit grey (255), averaged over the window positions that fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

__all__ = ["compare_images", "ssim"]

_WINDOW = 7


def ssim(first: np.ndarray, second: np.ndarray, data_range: float = 255.0) -> float:
    """Mean structural similarity of two grey images of one shape."""
    import cv2

    a, b = first.astype(np.float64), second.astype(np.float64)
    if min(a.shape) < _WINDOW:
        raise ValueError(f"images must be at least {_WINDOW}x{_WINDOW} pixels for SSIM")

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, (_WINDOW, _WINDOW), borderType=cv2.BORDER_REFLECT_101)

    norm = _WINDOW ** 2 / (_WINDOW ** 2 - 1)  # sample covariance
    mu_a, mu_b = mean(a), mean(b)
    var_a = norm * (mean(a * a) - mu_a * mu_a)
    var_b = norm * (mean(b * b) - mu_b * mu_b)
    cov = norm * (mean(a * b) - mu_a * mu_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    pad = (_WINDOW - 1) // 2  # only windows that lie inside the image count
    return float(index[pad:-pad, pad:-pad].mean())


def compare_images(result: str | None, expected: str | None, **options: Any) -> float:
    if not result or not expected:
        return 0.0
    try:
        first, second = Image.open(result).convert("L"), Image.open(expected).convert("L")
    except OSError:  # missing or not an image: the result fails
        return 0.0
    size = min(first.size, second.size)  # OSWorld compares the (w, h) tuples, not the areas
    first, second = (image.resize(size, Image.Resampling.LANCZOS) for image in (first, second))
    similarity = ssim(np.asarray(first), np.asarray(second))
    base = options.get("reference_base_result")
    if base is None:
        return similarity
    return (similarity - base) / (1 - base) if similarity >= base + 0.01 else 0.0
