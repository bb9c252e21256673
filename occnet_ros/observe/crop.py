"""One instance of one depth frame -> the bounded depth view that reconstruction fuses.

The view keeps the mask's pixels and a margin around them: the depth just outside the mask
saw the table or the wall behind the object, which proves that space empty (the silhouette).
The crop's side is capped; a larger crop is sampled every ``stride`` pixels and its K scaled
so that a crop pixel back-projects as the top-left pixel of the stride x stride block it
stands for (exactly, where that pixel is the one whose depth it keeps; see take_view).
Pure numpy, no ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from occnet_ros.geometry.views import DepthView, ViewError, make_view


@dataclass(frozen=True)
class CropSettings:
    margin: float = 0.25  # margin on every side, as a fraction of the mask's bounding-box side
    min_margin_px: int = 8  # ... but at least this many full-image pixels
    max_side: int = 160  # crop side cap in pixels (after striding); 0 = keep no views

    def validate(self) -> None:
        if self.margin < 0 or self.min_margin_px < 0 or self.max_side < 0:
            raise ValueError(f"crop settings must not be negative: {self}")


@dataclass(frozen=True)
class CropWindow:
    """Rows [top, top + stride * height) and columns [left, ...) of the full image, every ``stride``."""

    top: int
    left: int
    stride: int
    height: int
    width: int

    def k(self, k: np.ndarray) -> np.ndarray:
        """K of the crop: crop pixel (u', v') is full-image pixel (left + s u', top + s v')."""
        out = np.asarray(k, dtype=np.float64).copy()
        out[0, :] = [k[0, 0] / self.stride, k[0, 1] / self.stride, (k[0, 2] - self.left) / self.stride]
        out[1, :] = [k[1, 0] / self.stride, k[1, 1] / self.stride, (k[1, 2] - self.top) / self.stride]
        return out

    def take(self, image: np.ndarray) -> np.ndarray:
        """The window's pixels every ``stride``: each block's top-left pixel."""
        s = self.stride
        return image[self.top:self.top + s * self.height:s, self.left:self.left + s * self.width:s]

    def blocks(self, image: np.ndarray, fill) -> np.ndarray:
        """(height, width, stride^2): the window's stride x stride blocks, padded with ``fill``
        past the image; a block's first entry is its top-left pixel."""
        s = self.stride
        part = image[self.top:self.top + s * self.height, self.left:self.left + s * self.width]
        padded = np.full((s * self.height, s * self.width), fill, dtype=image.dtype)
        padded[:part.shape[0], :part.shape[1]] = part
        return padded.reshape(self.height, s, self.width, s).transpose(0, 2, 1, 3).reshape(self.height, self.width, s * s)

    def take_view(self, depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Depth and mask of the crop. A block is on the mask when any of its pixels is (so thin
        parts such as chair legs survive the stride); its depth is that of its first object
        pixel with a return (else its first object pixel, else its top-left pixel), so an object
        pixel never takes the background's depth. Stride 1: the window's pixels exactly."""
        if self.stride == 1:
            return self.take(depth), self.take(mask)
        d, m = self.blocks(depth, 0.0), self.blocks(mask, False)
        pick = np.argmax(m.astype(np.int8) + (m & (d > 0)), axis=2)
        return np.take_along_axis(d, pick[..., None], axis=2)[..., 0], m.any(axis=2)


def crop_window(mask: np.ndarray, margin: float, min_margin_px: int, max_side: int) -> CropWindow:
    """The window around the mask's bounding box plus the margin, clipped to the image, with
    the smallest stride that keeps both sides <= ``max_side``; ViewError for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise ViewError("mask is empty")
    if max_side < 1:
        raise ViewError(f"max_side must be >= 1, got {max_side}")
    side = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    pad = max(int(min_margin_px), int(np.ceil(margin * side)))
    height, width = mask.shape
    top, bottom = max(0, rows[0] - pad), min(height, rows[-1] + pad + 1)
    left, right = max(0, cols[0] - pad), min(width, cols[-1] + pad + 1)
    stride = max(1, -(-max(bottom - top, right - left) // max_side))
    return CropWindow(int(top), int(left), int(stride), -(-(bottom - top) // stride), -(-(right - left) // stride))


def crop_view(
    depth: np.ndarray,
    mask: np.ndarray,
    k: np.ndarray,
    world_from_camera: np.ndarray,
    margin: float = CropSettings.margin,
    max_side: int = CropSettings.max_side,
    min_margin_px: int = CropSettings.min_margin_px,
) -> DepthView:
    """The view of one object: ``depth`` (H, W) metres of the whole frame (NaN or 0 = no
    return), ``mask`` (H, W) of the object in the same camera, the frame's K and the camera's
    pose (optical frame -> world). The depth crop keeps every pixel of the window, object or
    not (0 = no return); the mask crop marks the object. ViewError when the mask is empty or
    the inputs do not fit together."""
    depth = np.asarray(depth)
    mask = np.asarray(mask, dtype=bool)
    if depth.ndim != 2 or mask.shape != depth.shape:
        raise ViewError(f"depth {depth.shape} and mask {mask.shape} must be 2-D of one size")
    window = crop_window(mask, margin, min_margin_px, max_side)
    # only the window's pixels are cleaned (NaN / inf -> 0 = no return), not the whole frame
    rows = slice(window.top, window.top + window.stride * window.height)
    cols = slice(window.left, window.left + window.stride * window.width)
    part = depth[rows, cols].astype(np.float32)  # a copy
    part[~np.isfinite(part)] = 0.0
    crop, crop_mask = replace(window, top=0, left=0).take_view(part, mask[rows, cols])
    return make_view(crop, crop_mask, window.k(np.asarray(k, dtype=np.float64)), world_from_camera)
