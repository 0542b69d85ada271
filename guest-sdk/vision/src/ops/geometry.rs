//! Points, convex hulls and minimum-area rectangles.
//!
//! Arithmetic runs in `f64` inside and is reported in `f32`: hull and caliper
//! tests compare products of coordinates, and `f32` loses the low bits of those
//! products for images a few thousand pixels across.

use std::f64::consts::{FRAC_PI_2, PI};

/// A point in image coordinates: `x` to the right, `y` down, pixel centres at
/// integer coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Horizontal coordinate, in pixels.
    pub x: f32,
    /// Vertical coordinate, in pixels, growing downwards.
    pub y: f32,
}

impl Point {
    /// The point `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

/// A rectangle that may be rotated, as `cv2.minAreaRect` describes one.
///
/// The `width` side runs along the direction `angle`, the `height` side at a
/// right angle to it. [`min_area_rect`] reports `angle` in `(-π/2, π/2]`; a
/// side has no direction, so any angle and that angle plus π describe the same
/// rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotatedRect {
    /// The centre of the rectangle.
    pub center: Point,
    /// Length of the side along `angle`, in pixels.
    pub width: f32,
    /// Length of the side at a right angle to `angle`, in pixels.
    pub height: f32,
    /// Direction of the `width` side in radians, measured from the x axis
    /// towards the y axis (clockwise on screen, since y grows downwards).
    pub angle: f32,
}

impl RotatedRect {
    /// The four corners.
    ///
    /// With `u` the unit vector along `angle` and `v` the unit vector a quarter
    /// turn from it towards the y axis, the corners are `center - u·w/2 - v·h/2`,
    /// then `+u`, `+u+v`, `+v` relative to that, going round. For `angle == 0`
    /// that is top-left, top-right, bottom-right, bottom-left: clockwise on
    /// screen.
    pub fn corners(&self) -> [Point; 4] {
        let (sin, cos) = f64::from(self.angle).sin_cos();
        let (hw, hh) = (f64::from(self.width) / 2.0, f64::from(self.height) / 2.0);
        let (cx, cy) = (f64::from(self.center.x), f64::from(self.center.y));
        // u = (cos, sin), v = (-sin, cos).
        let corner = |su: f64, sv: f64| {
            let x = cx + su * hw * cos - sv * hh * sin;
            let y = cy + su * hw * sin + sv * hh * cos;
            Point::new(x as f32, y as f32)
        };
        [corner(-1.0, -1.0), corner(1.0, -1.0), corner(1.0, 1.0), corner(-1.0, 1.0)]
    }

    /// The shorter of `width` and `height`.
    pub fn short_side(&self) -> f32 {
        self.width.min(self.height)
    }

    /// The longer of `width` and `height`.
    pub fn long_side(&self) -> f32 {
        self.width.max(self.height)
    }

    /// `width * height`.
    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    /// The rectangle with every side moved outwards by `distance`: same centre
    /// and angle, `width + 2·distance` by `height + 2·distance`. A negative
    /// distance moves the sides inwards; a side never gets shorter than zero.
    ///
    /// This is what PP-OCR's "unclip" step computes: it offsets the box polygon
    /// by `distance` with pyclipper (round joins) and takes `cv2.minAreaRect` of
    /// the result. Offsetting a rectangle with round joins gives a rounded
    /// rectangle whose straight sides lie exactly `distance` out from the
    /// original ones, and its minimum-area rectangle is the one aligned with
    /// those sides — this one. (pyclipper rounds coordinates to integers first,
    /// so PP-OCR's box can differ from this by up to a pixel.)
    pub fn grown(&self, distance: f32) -> RotatedRect {
        RotatedRect { width: (self.width + 2.0 * distance).max(0.0), height: (self.height + 2.0 * distance).max(0.0), ..*self }
    }
}

/// `(b - a) × (c - a)`: positive when `a, b, c` turn counter-clockwise in the
/// mathematical sense (x right, y up), which is clockwise on screen.
fn cross(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

fn to_f64(p: Point) -> (f64, f64) {
    (f64::from(p.x), f64::from(p.y))
}

/// Hull vertices in `f64`, in the order [`convex_hull`] documents.
fn hull_f64(points: &[Point]) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points.iter().filter(|p| p.is_finite()).map(|&p| to_f64(p)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.total_cmp(&b.1)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    // Andrew's monotone chain. Popping on `<= 0` drops points on a hull edge,
    // so every vertex is a strict corner.
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(pts.len() + 1);
    for &p in &pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower_len = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower_len && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    // The last point pushed is the first one again.
    hull.pop();
    hull
}

/// The convex hull of `points`, by Andrew's monotone chain.
///
/// The hull starts at the leftmost point (the topmost of those if several) and
/// runs clockwise on screen — counter-clockwise in the mathematical sense, so
/// the shoelace formula gives it a positive signed area. Points lying on a hull
/// edge are dropped, and so are duplicates and points with a non-finite
/// coordinate. Zero points give an empty hull, one distinct point a one-point
/// hull, and collinear points the two ends of their segment.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    hull_f64(points).into_iter().map(|(x, y)| Point::new(x as f32, y as f32)).collect()
}

/// Maps a direction (an `atan2` result) to the angle of the same line in
/// `(-π/2, π/2]`: a rectangle's side has no arrow.
fn normalize_angle(mut angle: f64) -> f64 {
    while angle > FRAC_PI_2 {
        angle -= PI;
    }
    while angle <= -FRAC_PI_2 {
        angle += PI;
    }
    angle
}

/// The smallest-area rectangle enclosing `points`, like `cv2.minAreaRect`;
/// `None` when there is no point with finite coordinates.
///
/// Rotating calipers over the convex hull: one side of the best rectangle lies
/// along a hull edge, so each edge is tried with the three other sides held
/// against the hull's extreme points, which move forward monotonically as the
/// edges turn. One point gives a 0×0 rectangle at that point, collinear points
/// a rectangle of height 0 along their segment. The direction of the hull edge
/// the rectangle rests on becomes `angle`, normalised to `(-π/2, π/2]`; OpenCV
/// reports the same rectangle with its own angle convention (degrees, `width`
/// and `height` possibly swapped), so compare corners, not angles.
///
/// When several rectangles share the smallest area (small or symmetric point
/// sets, e.g. some triangles of grid points), the one closest to axis-aligned
/// is returned, then the first in hull order. OpenCV's choice among such ties
/// depends on its `f32` rounding and on the input's point order, so it can
/// pick another rectangle of the same area.
pub fn min_area_rect(points: &[Point]) -> Option<RotatedRect> {
    let hull = hull_f64(points);
    let rect = |cx: f64, cy: f64, w: f64, h: f64, angle: f64| RotatedRect {
        center: Point::new(cx as f32, cy as f32),
        width: w as f32,
        height: h as f32,
        angle: normalize_angle(angle) as f32,
    };
    match *hull.as_slice() {
        [] => return None,
        [(x, y)] => return Some(rect(x, y, 0.0, 0.0, 0.0)),
        [a, b] => {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            return Some(rect((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0, dx.hypot(dy), 0.0, dy.atan2(dx)));
        }
        _ => {}
    }

    let n = hull.len();
    let next = |i: usize| (i + 1) % n;
    // Moves `i` forward while `f` keeps growing. `f` is unimodal along the hull
    // from the current edge, and a strict increase cannot go all the way round,
    // so this stops; the step bound only guards against NaN surprises.
    let climb = |mut i: usize, f: &dyn Fn(usize) -> f64| {
        for _ in 0..n {
            if f(next(i)) > f(i) {
                i = next(i);
            } else {
                break;
            }
        }
        i
    };

    // (area, angle away from the axes, rectangle) of the best edge so far.
    let mut best: Option<(f64, f64, RotatedRect)> = None;
    // right: largest projection on the edge; top: farthest from the edge;
    // left: smallest projection on the edge.
    let (mut right, mut top, mut left) = (1, 1, 1);
    for i in 0..n {
        let p = hull[i];
        let q = hull[next(i)];
        let len = (q.0 - p.0).hypot(q.1 - p.1);
        let (ux, uy) = ((q.0 - p.0) / len, (q.1 - p.1) / len);
        // The hull has positive signed area, so the interior lies on the side
        // of (-uy, ux) of every edge: distances from the edge are >= 0.
        let along = |j: usize| (hull[j].0 - p.0) * ux + (hull[j].1 - p.1) * uy;
        let away = |j: usize| (hull[j].0 - p.0) * -uy + (hull[j].1 - p.1) * ux;
        let against = |j: usize| -along(j);
        if i == 0 {
            // Going round from the edge's end, the extremes come in the order
            // right, top, left; later edges only move them forwards.
            right = climb(next(i), &along);
            top = climb(right, &away);
            left = climb(top, &against);
        } else {
            right = climb(right, &along);
            top = climb(top, &away);
            left = climb(left, &against);
        }
        let (s_max, s_min, t_max) = (along(right), along(left), away(top));
        let (w, h) = (s_max - s_min, t_max);
        let area = w * h;
        let angle = uy.atan2(ux);
        let tilt = {
            let a = normalize_angle(angle).abs();
            a.min(FRAC_PI_2 - a)
        };
        // Equal areas (up to rounding) go to the rectangle nearest to upright.
        let better = best.as_ref().is_none_or(|&(best_area, best_tilt, _)| {
            let tolerance = best_area * 1e-9;
            area < best_area - tolerance || (area <= best_area + tolerance && tilt < best_tilt - 1e-12)
        });
        if better {
            let (s_mid, t_mid) = ((s_max + s_min) / 2.0, t_max / 2.0);
            let cx = p.0 + s_mid * ux - t_mid * uy;
            let cy = p.1 + s_mid * uy + t_mid * ux;
            best = Some((area, tilt, rect(cx, cy, w, h, angle)));
        }
    }
    best.map(|(_, _, r)| r)
}

/// The area enclosed by `polygon` (absolute value of the shoelace formula), in
/// square pixels. Fewer than three points enclose nothing.
pub fn polygon_area(polygon: &[Point]) -> f32 {
    let n = polygon.len();
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (to_f64(polygon[i]), to_f64(polygon[(i + 1) % n]));
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    (twice.abs() / 2.0) as f32
}

/// The length of `polygon`'s closed outline, the edge from the last point back
/// to the first included (as `cv2.arcLength(polygon, True)`).
pub fn polygon_perimeter(polygon: &[Point]) -> f32 {
    let n = polygon.len();
    let sum: f64 = (0..n)
        .map(|i| {
            let (a, b) = (to_f64(polygon[i]), to_f64(polygon[(i + 1) % n]));
            (b.0 - a.0).hypot(b.1 - a.1)
        })
        .sum();
    sum as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f32 = 1e-3;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= EPS
    }

    fn pts(coords: &[(f32, f32)]) -> Vec<Point> {
        coords.iter().map(|&(x, y)| Point::new(x, y)).collect()
    }

    /// Every expected point has a distinct actual point within `EPS`.
    fn same_point_set(actual: &[Point], expected: &[Point]) -> bool {
        actual.len() == expected.len() && expected.iter().all(|e| actual.iter().any(|a| close(a.x, e.x) && close(a.y, e.y)))
    }

    /// Tiny deterministic generator so the tests need no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next_f32(&mut self, range: f32) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * range
        }
    }

    #[test]
    fn hull_of_a_grid_is_its_four_corners_in_order() {
        let mut grid = Vec::new();
        for y in 0..5 {
            for x in 0..4 {
                grid.push(Point::new(x as f32, y as f32));
            }
        }
        let hull = convex_hull(&grid);
        assert_eq!(hull, pts(&[(0.0, 0.0), (3.0, 0.0), (3.0, 4.0), (0.0, 4.0)]));
        assert!(close(polygon_area(&hull), 12.0));
    }

    #[test]
    fn hull_has_positive_signed_area() {
        let hull = convex_hull(&pts(&[(5.0, 5.0), (0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (3.0, 7.0)]));
        let n = hull.len();
        let signed: f32 = (0..n).map(|i| hull[i].x * hull[(i + 1) % n].y - hull[(i + 1) % n].x * hull[i].y).sum();
        assert!(signed > 0.0);
        assert_eq!(n, 4);
    }

    #[test]
    fn hull_of_few_or_degenerate_points() {
        assert!(convex_hull(&[]).is_empty());
        assert_eq!(convex_hull(&pts(&[(1.0, 2.0)])), pts(&[(1.0, 2.0)]));
        assert_eq!(convex_hull(&pts(&[(1.0, 2.0), (1.0, 2.0), (1.0, 2.0)])), pts(&[(1.0, 2.0)]));
        assert_eq!(convex_hull(&pts(&[(3.0, 1.0), (1.0, 2.0)])), pts(&[(1.0, 2.0), (3.0, 1.0)]));
        // Collinear points: only the two ends remain.
        assert_eq!(convex_hull(&pts(&[(2.0, 2.0), (0.0, 0.0), (1.0, 1.0), (3.0, 3.0)])), pts(&[(0.0, 0.0), (3.0, 3.0)]));
        // Non-finite points are ignored.
        assert_eq!(convex_hull(&pts(&[(f32::NAN, 0.0), (1.0, 1.0)])), pts(&[(1.0, 1.0)]));
    }

    #[test]
    fn min_area_rect_of_a_horizontal_bar() {
        // Pixel centres of a bar 10 pixels long and 3 pixels high.
        let mut bar = Vec::new();
        for y in 0..3 {
            for x in 0..10 {
                bar.push(Point::new(x as f32, y as f32));
            }
        }
        let r = min_area_rect(&bar).expect("points given");
        assert!(close(r.width, 9.0) && close(r.height, 2.0), "{r:?}");
        assert!(close(r.angle, 0.0), "{r:?}");
        assert!(close(r.center.x, 4.5) && close(r.center.y, 1.0), "{r:?}");
        assert!(close(r.short_side(), 2.0) && close(r.long_side(), 9.0) && close(r.area(), 18.0));
        let expected = pts(&[(0.0, 0.0), (9.0, 0.0), (9.0, 2.0), (0.0, 2.0)]);
        assert!(same_point_set(&r.corners(), &expected), "{:?}", r.corners());
    }

    #[test]
    fn min_area_rect_recovers_a_rotated_square() {
        let truth = RotatedRect { center: Point::new(20.0, 15.0), width: 8.0, height: 5.0, angle: 0.5 };
        let corners = truth.corners();
        // Interior points must not change the answer.
        let mut input = corners.to_vec();
        input.push(truth.center);
        input.push(Point::new(21.0, 15.5));
        let r = min_area_rect(&input).expect("points given");
        assert!(same_point_set(&r.corners(), &corners), "{r:?}");
        assert!(close(r.area(), 40.0) && close(r.short_side(), 5.0) && close(r.long_side(), 8.0), "{r:?}");
        assert!(r.angle > -std::f32::consts::FRAC_PI_2 && r.angle <= std::f32::consts::FRAC_PI_2);
    }

    #[test]
    fn min_area_rect_of_degenerate_inputs() {
        assert_eq!(min_area_rect(&[]), None);
        let one = min_area_rect(&pts(&[(3.0, 4.0), (3.0, 4.0)])).expect("a point");
        assert!(close(one.width, 0.0) && close(one.height, 0.0) && one.center == Point::new(3.0, 4.0));
        let line = min_area_rect(&pts(&[(0.0, 0.0), (2.0, 2.0), (4.0, 4.0)])).expect("points");
        assert!(close(line.width, 32f32.sqrt()) && close(line.height, 0.0), "{line:?}");
        assert!(close(line.angle, std::f32::consts::FRAC_PI_4) && close(line.center.x, 2.0) && close(line.center.y, 2.0));
    }

    #[test]
    fn min_area_rect_matches_brute_force() {
        let mut rng = Lcg(7);
        for round in 0..200 {
            let count = 3 + round % 30;
            let points: Vec<Point> = (0..count).map(|_| Point::new(rng.next_f32(100.0), rng.next_f32(60.0))).collect();
            let r = min_area_rect(&points).expect("points given");
            // Try every hull edge directly.
            let hull = convex_hull(&points);
            let n = hull.len();
            let mut best = f64::INFINITY;
            for i in 0..n {
                let (p, q) = (to_f64(hull[i]), to_f64(hull[(i + 1) % n]));
                let len = (q.0 - p.0).hypot(q.1 - p.1);
                let (ux, uy) = ((q.0 - p.0) / len, (q.1 - p.1) / len);
                let (mut s0, mut s1, mut t0, mut t1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
                for h in &hull {
                    let (dx, dy) = (f64::from(h.x) - p.0, f64::from(h.y) - p.1);
                    let (s, t) = (dx * ux + dy * uy, -dx * uy + dy * ux);
                    (s0, s1, t0, t1) = (s0.min(s), s1.max(s), t0.min(t), t1.max(t));
                }
                best = best.min((s1 - s0) * (t1 - t0));
            }
            assert!((f64::from(r.area()) - best).abs() <= 1e-3 * best.max(1.0), "round {round}: {r:?} vs {best}");
            // Every point lies inside the rectangle (with a little slack).
            let (sin, cos) = r.angle.sin_cos();
            for p in &points {
                let (dx, dy) = (p.x - r.center.x, p.y - r.center.y);
                assert!((dx * cos + dy * sin).abs() <= r.width / 2.0 + EPS);
                assert!((-dx * sin + dy * cos).abs() <= r.height / 2.0 + EPS);
            }
        }
    }

    #[test]
    fn ties_go_to_the_upright_rectangle() {
        // cv2.minAreaRect gives the axis-aligned 47 x 26 box here; a tilted
        // box resting on the triangle's slanted side has the same area.
        let triangle = pts(&[(33.0, 19.0), (0.0, 45.0), (47.0, 45.0)]);
        let r = min_area_rect(&triangle).expect("points given");
        let expected = pts(&[(0.0, 19.0), (47.0, 19.0), (47.0, 45.0), (0.0, 45.0)]);
        assert!(same_point_set(&r.corners(), &expected), "{r:?}");
    }

    #[test]
    fn grown_moves_every_side_out() {
        let r = RotatedRect { center: Point::new(5.0, 5.0), width: 4.0, height: 2.0, angle: 0.0 };
        let g = r.grown(1.5);
        assert!(close(g.width, 7.0) && close(g.height, 5.0) && g.center == r.center && g.angle == r.angle);
        let expected = pts(&[(1.5, 2.5), (8.5, 2.5), (8.5, 7.5), (1.5, 7.5)]);
        assert!(same_point_set(&g.corners(), &expected), "{:?}", g.corners());
        let shrunk = r.grown(-1.5);
        assert!(close(shrunk.width, 1.0) && close(shrunk.height, 0.0));
    }

    #[test]
    fn area_and_perimeter() {
        let square = pts(&[(0.0, 0.0), (0.0, 3.0), (3.0, 3.0), (3.0, 0.0)]);
        assert!(close(polygon_area(&square), 9.0));
        assert!(close(polygon_perimeter(&square), 12.0));
        let triangle = pts(&[(0.0, 0.0), (4.0, 0.0), (0.0, 3.0)]);
        assert!(close(polygon_area(&triangle), 6.0));
        assert!(close(polygon_perimeter(&triangle), 12.0));
        assert!(close(polygon_area(&[]), 0.0) && close(polygon_perimeter(&[]), 0.0));
        assert!(close(polygon_perimeter(&pts(&[(0.0, 0.0), (3.0, 4.0)])), 10.0));
    }
}
