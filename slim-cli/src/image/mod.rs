//! The original image's content: the engine's save archive unpacked into a work directory
//! (`save`), or its layers read in place from the engine's store on this host (`store`),
//! its merged filesystem as an index (`index`), and image references (`reference`).

pub mod index;
pub mod reference;
pub mod save;
pub mod store;

#[cfg(test)]
mod hostile_tests;
