//! Stage 1, data: the corpus file read and validated ([`corpus`]), the character vocabulary
//! ([`vocab`]), and what each training step draws from them ([`batches`]).

pub mod batches;
pub mod corpus;
pub mod vocab;
