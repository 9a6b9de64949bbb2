//! How library code tells the user what it is doing: a small trait the command line
//! implements (stderr lines), so stages never print and tests can listen.

/// Receives progress and warnings from a running command.
pub trait Reporter: Send + Sync {
    /// A step of the work, or a line of its summary.
    fn step(&self, message: &str);
    /// Something the user should know that does not stop the command.
    fn warn(&self, message: &str);
}

/// A reporter that drops everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}
