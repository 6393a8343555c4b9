//! A matrix as the kernels take it: a borrowed slice with row and column strides, so that a
//! transpose is a view, not a copy.

/// A matrix in a slice: `rows × cols`, element `(i, j)` at `i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct Mat<'a, T> {
    pub(super) data: &'a [T],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// The first `rows × cols` elements of `data`, row-major.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix larger than its slice");
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (no copy: the strides swap).
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}
