//! Image operations an inspection algorithm needs around a model.
//!
//! Everything works on `ndarray` views, the form [`pv_guest::Image`] hands out:
//! `[row, column, channel]` for pixels (`u8`), `[row, column]` for masks and
//! probability maps. Coordinates are `(x, y)` in pixels with the origin at the
//! top-left corner; a pixel's centre is at integer coordinates.

mod components;
mod geometry;
mod resize;
mod threshold;
mod warp;

pub use components::{Component, Components, connected_components};
pub use geometry::{Point, RotatedRect, convex_hull, min_area_rect, polygon_area, polygon_perimeter};
pub use resize::{crop, resize_bilinear};
pub use threshold::{dilate, mean_in_polygon, threshold};
pub use warp::{Interpolation, warp_quad_upright};
