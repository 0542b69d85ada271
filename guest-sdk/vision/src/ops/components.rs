//! Connected-component labelling of masks.

use ndarray::{Array2, ArrayView2};

use super::geometry::Point;

/// One connected region of set pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    /// The region's value in [`Components::labels`], from 1.
    pub label: u32,
    /// Number of pixels in the region.
    pub area: usize,
    /// Leftmost column of the region.
    pub left: usize,
    /// Topmost row of the region.
    pub top: usize,
    /// Rightmost column of the region (inclusive).
    pub right: usize,
    /// Bottommost row of the region (inclusive).
    pub bottom: usize,
    /// Sum of the region's column indices (for [`Component::centroid`]).
    pub sum_x: u64,
    /// Sum of the region's row indices.
    pub sum_y: u64,
}

impl Component {
    /// The mean pixel position `(x, y)`: the centroid `cv2.connectedComponentsWithStats`
    /// reports.
    pub fn centroid(&self) -> (f64, f64) {
        let area = self.area.max(1) as f64;
        (self.sum_x as f64 / area, self.sum_y as f64 / area)
    }

    /// Width of the bounding box, in pixels.
    pub fn width(&self) -> usize {
        self.right + 1 - self.left
    }

    /// Height of the bounding box, in pixels.
    pub fn height(&self) -> usize {
        self.bottom + 1 - self.top
    }
}

/// The result of [`connected_components`].
#[derive(Clone, Debug, PartialEq)]
pub struct Components {
    /// Per pixel, 0 for background or the label of the pixel's component.
    pub labels: Array2<u32>,
    /// The components in label order: `components[i].label == i + 1`.
    pub components: Vec<Component>,
}

impl Components {
    /// The pixel centres of component `label` that touch the background or the
    /// image border (at least one of their four neighbours is not in the
    /// component), in raster order; empty for an unknown label.
    ///
    /// Every corner of the component's convex hull is such a pixel, so the
    /// outline has the same hull as the whole component, and
    /// `min_area_rect(&outline)` is `cv2.minAreaRect` of the component's outer
    /// contour as `cv2.findContours` traces it (through the same pixel
    /// centres; up to the choice among equal-area rectangles that
    /// `min_area_rect` describes). It is not a traced contour: the points are not in order
    /// around the region, and a hole's border is included. Costs the area of
    /// the component's bounding box.
    pub fn outline(&self, label: u32) -> Vec<Point> {
        let Some(c) = label.checked_sub(1).and_then(|i| self.components.get(usize::try_from(i).ok()?)) else {
            return Vec::new();
        };
        if c.label != label {
            return Vec::new();
        }
        let (h, w) = self.labels.dim();
        match self.labels.as_slice() {
            Some(flat) => outline_of(c, h, w, |y, x| flat[y * w + x]),
            None => outline_of(c, h, w, |y, x| self.labels[[y, x]]),
        }
    }
}

/// [`Components::outline`] over a label lookup, generic so that the usual
/// contiguous label image compiles to plain slice indexing.
fn outline_of(c: &Component, h: usize, w: usize, label_at: impl Fn(usize, usize) -> u32) -> Vec<Point> {
    if h == 0 || w == 0 {
        return Vec::new();
    }
    // The fields are public, so stay inside the image whatever they say.
    let (bottom, right) = (c.bottom.min(h - 1), c.right.min(w - 1));
    let is_in = |y: usize, x: usize| label_at(y, x) == c.label;
    let mut points = Vec::new();
    for y in c.top..=bottom {
        for x in c.left..=right {
            if !is_in(y, x) {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || !is_in(y, x - 1)
                || !is_in(y, x + 1)
                || !is_in(y - 1, x)
                || !is_in(y + 1, x);
            if edge {
                points.push(Point::new(x as f32, y as f32));
            }
        }
    }
    points
}

/// Labels the 8-connected regions of set pixels in `mask`, as `cv2.findContours`
/// groups them (diagonal neighbours belong together).
///
/// Labels are given in raster order of each region's first pixel (top row
/// first, then leftmost), starting at 1; 0 is background. (`cv2.connectedComponents`
/// finds the same regions but may number them differently.) Two raster passes
/// with union-find, no recursion: time and memory are linear in the number of
/// pixels.
pub fn connected_components(mask: ArrayView2<bool>) -> Components {
    let (h, w) = mask.dim();
    // Flat row-major copies make neighbour arithmetic cheap whatever the
    // layout of `mask`.
    let set: Vec<bool> = mask.iter().copied().collect();
    let mut provisional = vec![0u32; h * w];
    // parent[l] for provisional label l (index 0 unused); roots are their own
    // parent and always the smallest label of their set.
    let mut parent: Vec<u32> = vec![0];

    // First pass: look at the already visited neighbours (left, and the three
    // above), take the smallest of their labels and record that they meet.
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !set[i] {
                continue;
            }
            let mut neighbours = [0u32; 4];
            if x > 0 {
                neighbours[0] = provisional[i - 1];
            }
            if y > 0 {
                let above = i - w;
                neighbours[1] = provisional[above];
                if x > 0 {
                    neighbours[2] = provisional[above - 1];
                }
                if x + 1 < w {
                    neighbours[3] = provisional[above + 1];
                }
            }
            let mut label = 0;
            for &n in neighbours.iter().filter(|&&n| n != 0) {
                let root = find(&mut parent, n);
                label = if label == 0 { root } else { union(&mut parent, label, root) };
            }
            if label == 0 {
                // More regions than u32 labels cannot fit in memory anyway.
                label = u32::try_from(parent.len()).unwrap_or(u32::MAX);
                parent.push(label);
            }
            provisional[i] = label;
        }
    }

    // Second pass: final labels numbered in order of first appearance, which
    // is the raster order of each region's first pixel, plus the statistics.
    let mut final_label = vec![0u32; parent.len()];
    let mut components: Vec<Component> = Vec::new();
    for (i, p) in provisional.iter_mut().enumerate() {
        if *p == 0 {
            continue;
        }
        let root = find(&mut parent, *p) as usize;
        let (y, x) = (i / w, i % w);
        if final_label[root] == 0 {
            let label = u32::try_from(components.len() + 1).unwrap_or(u32::MAX);
            final_label[root] = label;
            components.push(Component { label, area: 0, left: x, top: y, right: x, bottom: y, sum_x: 0, sum_y: 0 });
        }
        let label = final_label[root];
        *p = label;
        if let Some(c) = components.get_mut(label as usize - 1) {
            c.area += 1;
            c.left = c.left.min(x);
            c.right = c.right.max(x);
            c.bottom = y;
            c.sum_x += x as u64;
            c.sum_y += y as u64;
        }
    }
    // `provisional` has exactly h * w entries, so the shape always fits.
    let labels = Array2::from_shape_vec((h, w), provisional).unwrap_or_else(|_| Array2::zeros((h, w)));
    Components { labels, components }
}

/// The root of `label`'s set, halving the path on the way.
fn find(parent: &mut [u32], mut label: u32) -> u32 {
    loop {
        let p = parent[label as usize];
        if p == label {
            return label;
        }
        let grand = parent[p as usize];
        parent[label as usize] = grand;
        label = grand;
    }
}

/// Joins the sets of roots `a` and `b` under the smaller of the two; returns it.
fn union(parent: &mut [u32], a: u32, b: u32) -> u32 {
    let (small, large) = if a < b { (a, b) } else { (b, a) };
    parent[large as usize] = small;
    small
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> Array2<bool> {
        let h = rows.len();
        let w = rows.first().map_or(0, |r| r.len());
        Array2::from_shape_fn((h, w), |(y, x)| rows[y].as_bytes()[x] == b'#')
    }

    fn sorted(mut v: Vec<Point>) -> Vec<(f32, f32)> {
        v.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
        v.into_iter().map(|p| (p.x, p.y)).collect()
    }

    #[test]
    fn two_blobs_and_a_diagonal_l_shape() {
        let m = mask(&[
            "##.....#", //
            "##....#.", //
            "......#.", //
            "..#...##", //
            "...#....", //
        ]);
        let cc = connected_components(m.view());
        assert_eq!(cc.components.len(), 3);
        assert_eq!(cc.components[0], Component { label: 1, area: 4, left: 0, top: 0, right: 1, bottom: 1, sum_x: 2, sum_y: 2 });
        // The L-shape on the right, joined to the top pixel diagonally.
        assert_eq!(cc.components[1], Component { label: 2, area: 5, left: 6, top: 0, right: 7, bottom: 3, sum_x: 32, sum_y: 9 });
        // Two pixels touching only at a corner form one component.
        assert_eq!(cc.components[2], Component { label: 3, area: 2, left: 2, top: 3, right: 3, bottom: 4, sum_x: 5, sum_y: 7 });
        assert_eq!(cc.labels[[0, 7]], 2);
        assert_eq!(cc.labels[[3, 7]], 2);
        assert_eq!(cc.labels[[4, 3]], 3);
        assert_eq!(cc.labels[[2, 0]], 0);
        assert_eq!(cc.components[1].centroid(), (6.4, 1.8));
        assert_eq!((cc.components[1].width(), cc.components[1].height()), (2, 4));
        let total: usize = cc.components.iter().map(|c| c.area).sum();
        assert_eq!(total, m.iter().filter(|&&v| v).count());
    }

    #[test]
    fn outline_keeps_border_pixels_only() {
        let m = mask(&[
            ".....", //
            ".###.", //
            ".###.", //
            ".###.", //
            ".....", //
        ]);
        let cc = connected_components(m.view());
        let outline = cc.outline(1);
        assert_eq!(outline.len(), 8);
        assert!(!outline.contains(&Point::new(2.0, 2.0)));
        assert!(cc.outline(0).is_empty() && cc.outline(2).is_empty());
    }

    #[test]
    fn outline_counts_the_image_border_as_outside() {
        let m = mask(&["###", "###"]);
        let cc = connected_components(m.view());
        assert_eq!(sorted(cc.outline(1)), sorted(m.indexed_iter().map(|((y, x), _)| Point::new(x as f32, y as f32)).collect()));
    }

    #[test]
    fn outline_gives_the_component_min_area_rect() {
        // A thick diagonal band: its outline's rectangle is the component's.
        let m = Array2::from_shape_fn((30, 30), |(y, x)| (x as i32 - y as i32).abs() <= 3 && (5..25).contains(&x));
        let cc = connected_components(m.view());
        assert_eq!(cc.components.len(), 1);
        let all: Vec<Point> = m.indexed_iter().filter(|(_, v)| **v).map(|((y, x), _)| Point::new(x as f32, y as f32)).collect();
        let from_outline = super::super::geometry::min_area_rect(&cc.outline(1)).expect("points");
        let from_all = super::super::geometry::min_area_rect(&all).expect("points");
        assert!((from_outline.area() - from_all.area()).abs() < 1e-3);
        assert!(cc.outline(1).len() < all.len());
    }

    #[test]
    fn outline_reads_labels_in_any_layout() {
        // A plus sign is its own transpose, so the column-major copy of its
        // labels holds the same values.
        let m = mask(&[".#.", "###", ".#."]);
        let mut cc = connected_components(m.view());
        let expected = cc.outline(1);
        assert_eq!(expected.len(), 4); // all but the centre
        cc.labels = cc.labels.reversed_axes();
        assert!(cc.labels.as_slice().is_none());
        assert_eq!(cc.outline(1), expected);
        // Inconsistent public fields do not make it panic.
        cc.components[0].bottom = 99;
        cc.components[0].right = 99;
        assert_eq!(cc.outline(1), expected);
    }

    #[test]
    fn empty_and_full_masks() {
        let cc = connected_components(Array2::from_elem((0, 3), false).view());
        assert!(cc.components.is_empty());
        assert_eq!(cc.labels.dim(), (0, 3));
        let cc = connected_components(Array2::from_elem((3, 4), false).view());
        assert!(cc.components.is_empty());
        let cc = connected_components(Array2::from_elem((300, 400), true).view());
        assert_eq!(
            cc.components,
            vec![Component {
                label: 1,
                area: 120_000,
                left: 0,
                top: 0,
                right: 399,
                bottom: 299,
                sum_x: 23_940_000,
                sum_y: 17_940_000
            }]
        );
        assert_eq!(cc.outline(1).len(), 2 * 400 + 2 * 298);
    }

    #[test]
    fn transposed_views_are_read_in_logical_order() {
        let m = mask(&["#..", "..#"]);
        let t = m.t();
        let cc = connected_components(t);
        // Transposed: (0,0) and (2,1) -> rows 0 and 2, not adjacent.
        assert_eq!(cc.components.len(), 2);
        assert_eq!(cc.labels[[2, 1]], 2);
    }
}
