//! Image operations an inspection algorithm needs around a model.
//!
//! Everything works on `ndarray` views, the form [`pv_guest::Image`] hands out:
//! `[row, column, channel]` for pixels (`u8`), `[row, column]` for masks and
//! probability maps. Coordinates are `(x, y)` in pixels with the origin at the
//! top-left corner; a pixel's centre is at integer coordinates.

mod components;
mod filters;
mod geometry;
mod morphology;
mod resize;
mod template;
mod threshold;
mod warp;

pub use components::{Component, Components, connected_components};
pub use filters::{abs_diff, box_blur, gaussian_blur, gaussian_kernel, histogram};
pub use geometry::{Point, RotatedRect, convex_hull, min_area_rect, polygon_area, polygon_perimeter};
pub use morphology::{close, dilate, erode, open};
pub use resize::{crop, resize_bilinear};
pub use template::{best_match, match_template};
pub use threshold::{adaptive_threshold, binarize, dilate_mask, mean_in_polygon, otsu_level, threshold};
pub use warp::{Interpolation, warp_quad_upright};

/// A deterministic `h` x `w` image with most grey levels in use, for tests that
/// compare with OpenCV's output on the same pixels (`(y*131 + x*71 + y*x*13) % 251`).
#[cfg(test)]
fn test_pattern(h: usize, w: usize) -> ndarray::Array2<u8> {
    ndarray::Array2::from_shape_fn((h, w), |(y, x)| ((y * 131 + x * 71 + y * x * 13) % 251) as u8)
}
