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

    /// `rows` rows of `cols` elements starting `rs` elements apart, which may overlap: row `i`
    /// of a convolution's window matrix is `cols` consecutive elements of its padded input
    /// from row `i` on, so the windows are a view of the input (no im2col copy).
    pub fn windows(data: &'a [T], rows: usize, cols: usize, rs: usize) -> Self {
        assert!(
            rows == 0 || (rows - 1) * rs + cols <= data.len(),
            "windows larger than their slice"
        );
        Mat {
            data,
            rows,
            cols,
            rs,
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
