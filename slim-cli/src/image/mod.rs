//! The original image's content: the engine's save archive unpacked into a work directory
//! (`save`), its merged filesystem as an index (`index`), and image references
//! (`reference`).

pub mod index;
pub mod reference;
pub mod save;

#[cfg(test)]
mod hostile_tests;
