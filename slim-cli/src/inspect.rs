//! The inspect stage's value: what slim needs to know about an image, taken from the
//! engine's image inspection. A plain serde value, so later stages (and tests) can read it
//! from disk; fetching it is the engine module's job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An image's identity, its run-time configuration and its layers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The image id (`sha256:…`): runs use it, so they use exactly the image inspected.
    pub id: String,
    /// The reference the user gave.
    pub reference: String,
    pub repo_tags: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub shell: Option<Vec<String>>,
    pub on_build: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    /// Layer diff ids, base first.
    pub layers: Vec<String>,
    /// Size in bytes as the engine reports it.
    pub size: Option<i64>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    /// How the engine stores the image's layers on its host.
    #[serde(default)]
    pub graph_driver: Option<GraphDriver>,
}

/// The engine's storage driver for an image and the directories it names (for overlay
/// drivers: `UpperDir`, the image's top layer, and `LowerDir`, the layers below).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphDriver {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// The image's HEALTHCHECK; durations in nanoseconds, as the engine has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub start_period_ns: Option<i64>,
    pub retries: Option<i64>,
}
