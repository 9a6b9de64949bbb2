//! What slim's tests share, unit and integration tests alike, and that needs none of slim's
//! own types: the tar writer for layers and image archives of any shape ([`TarWriter`]),
//! HTTP requests and answers ([`http`]), the report reader ([`read_report`],
//! [`ReportFile`]), slim's stderr read back ([`stderr`]) and a directory of a test's own
//! ([`ScratchDir`]).
//!
//! slim-cli takes it as a dev-dependency, the integration tests' support library
//! (`tests/support`) as a dependency.

pub mod http;
pub mod report;
pub mod scratch;
pub mod stderr;
pub mod tar_writer;

pub use http::{HttpAnswer, HttpRequest};
pub use report::{ReportFile, read_report};
pub use scratch::ScratchDir;
pub use stderr::{announced_run_id, announced_run_ids, is_timestamp, untimed};
pub use tar_writer::{Entry, TarWriter};
