//! The rebuild stage: the kept paths of the original filesystem written as one
//! deterministic layer (`layer`), and the image config and archive that carry it into the
//! engine (`archive`).

pub mod archive;
pub mod layer;
