//! The original image's content: the engine's save archive unpacked into a work directory
//! (`save`), and its merged filesystem as an index (`index`).

pub mod index;
pub mod save;

#[cfg(test)]
mod hostile_tests;
