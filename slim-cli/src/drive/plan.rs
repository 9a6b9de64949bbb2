//! The probe plan of a build: what the user asked for (`PlanSettings`) completed from the
//! image (its exposed ports, its user, its HEALTHCHECK). Pure.

use std::time::Duration;

use super::{ContinueAfter, Discovery, HttpProbe, ProbePlan, health};
use crate::inspect::ImageInfo;
use crate::run::RunSettings;

/// The parts of the probe plan the user sets.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    pub exec: Vec<Vec<String>>,
    pub continue_after: ContinueAfter,
    pub ready_timeout: Duration,
    /// `--probe` and `--probe-file` requests, sent before the crawl.
    pub probes: Vec<HttpProbe>,
    /// The crawl and the OpenAPI document.
    pub discovery: Discovery,
    /// `--host-exec` scripts.
    pub host_exec: Vec<String>,
    /// `--run` argument vectors: one more traced container each.
    pub run: Vec<Vec<String>>,
    /// Any failed probe fails the build (`--strict`).
    pub strict: bool,
    /// Run the image's HEALTHCHECK command as a probe (off with `--no-healthcheck`).
    pub healthcheck: bool,
}

/// The probe plan: wait for every exposed TCP port (and those the user's probes name),
/// send the user's probes, crawl, run the commands and the image's HEALTHCHECK.
pub fn probe_plan(image: &ImageInfo, settings: &PlanSettings, run: &RunSettings) -> ProbePlan {
    let mut ports = super::tcp_ports(&image.exposed_ports);
    ports.extend(settings.probes.iter().filter_map(|p| p.port));
    ports.sort_unstable();
    ports.dedup();
    let mut plan = ProbePlan::for_ports(&ports);
    plan.http = settings.probes.clone();
    plan.discovery = Some(settings.discovery.clone());
    plan.host_exec = settings.host_exec.clone();
    plan.run = settings.run.clone();
    plan.exec = settings.exec.clone();
    plan.exec_user = image.user.clone();
    plan.healthcheck = settings.healthcheck.then(|| health::probe(image)).flatten();
    plan.continue_after = settings.continue_after.clone();
    plan.ready_timeout = settings.ready_timeout;
    plan.host_network = run.network.as_deref() == Some("host");
    plan
}
