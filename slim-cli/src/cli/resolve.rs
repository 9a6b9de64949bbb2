//! Resolution of parsed arguments into the settings the commands use: profiles loaded,
//! probe and OpenAPI files read, globs compiled, `--env-file` files and slim's own
//! environment read (for `-e KEY`).

use crate::image::store::SourceChoice;
use crate::sbom::{SbomFormat, SbomTarget};
use std::path::PathBuf;

use crate::drive::plan::PlanSettings;
use crate::drive::{CrawlLimits, Discovery, openapi, spec};
use crate::keep::profile;
use crate::keep::{KeepList, KeepOptions};
use crate::output::OutputTarget;
use crate::run::{RunSettings, TraceSettings};
use crate::settings::{ArgsError, BuildSettings, ProfileChoice};
use crate::verify::VerifySettings;

use super::values::{EnvArg, parse_env};
use super::{BuildArgs, RunArgs, TraceArgs};

/// Reads `docker run --env-file` files: `KEY=VAL` lines, `KEY` alone for slim's own value,
/// blank lines and `#` comments skipped.
pub(super) fn read_env_files(files: &[PathBuf]) -> Result<Vec<EnvArg>, ArgsError> {
    let mut out = Vec::new();
    for file in files {
        let path = file.display().to_string();
        #[expect(
            clippy::disallowed_methods,
            reason = "the error it maps to names the file"
        )]
        let text = std::fs::read_to_string(file).map_err(|source| ArgsError::EnvFile {
            path: path.clone(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(parse_env(line).map_err(|_| ArgsError::EnvFileLine {
                path: path.clone(),
                line: i + 1,
                text: line.to_string(),
            })?);
        }
    }
    Ok(out)
}

impl RunArgs {
    /// The run settings these arguments ask for, with `args` replacing the image's CMD.
    pub fn resolve(self, args: Vec<String>) -> Result<RunSettings, ArgsError> {
        let mut entries = read_env_files(&self.env_file)?;
        entries.extend(self.env);
        let env = entries
            .into_iter()
            .filter_map(|EnvArg { key, value }| {
                let value = value.or_else(|| std::env::var(&key).ok())?;
                Some(format!("{key}={value}"))
            })
            .collect();
        Ok(RunSettings {
            args,
            timeout: self.timeout,
            name: self.name,
            env,
            user: self.user,
            workdir: self.workdir,
            entrypoint: self.entrypoint,
            network: self.network,
            volumes: self.volumes,
            tmpfs: self.tmpfs,
            cap_add: self.cap_add,
            ring_buffer_bytes: self.ring_buffer,
            allow_incomplete: self.allow_incomplete,
            record_calls: false,
            seccomp: None,
            missing_only: false,
        })
    }
}

impl BuildArgs {
    /// The settings these arguments ask for (reads --env-file and --keep-file).
    pub fn resolve(self) -> Result<BuildSettings, ArgsError> {
        let mut patterns = self.keep;
        for file in &self.keep_file {
            let path = file.display().to_string();
            #[expect(
                clippy::disallowed_methods,
                reason = "the error it maps to names the file"
            )]
            let text = std::fs::read_to_string(file).map_err(|source| ArgsError::KeepFile {
                path: path.clone(),
                source,
            })?;
            patterns.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        let mut probes = self.probe;
        for file in &self.probe_file {
            probes.extend(spec::read_probe_file(file)?);
        }
        let document = self.openapi.as_deref().map(openapi::read).transpose()?;
        let mut run = self
            .run
            .resolve(self.cmd.map(|c| c.0).unwrap_or_default())?;
        run.record_calls = self.seccomp.is_some();
        Ok(BuildSettings {
            image: self.image,
            tag: self.tag,
            output: self.output,
            run,
            seccomp: self.seccomp,
            plan: PlanSettings {
                exec: self.exec.into_iter().map(|c| c.0).collect(),
                continue_after: self.continue_after,
                ready_timeout: self.ready_timeout,
                probes: probes.clone(),
                discovery: Discovery {
                    crawl: (!self.no_crawl).then(|| CrawlLimits {
                        depth: self.crawl_depth,
                        pages: self.crawl_pages,
                        time: self.crawl_time,
                        ..CrawlLimits::default()
                    }),
                    find_openapi: !self.no_crawl && document.is_none(),
                    openapi: document,
                    openapi_methods: self.openapi_methods,
                    credentials: openapi::credentials_of(&probes),
                    accept_language: self.accept_language,
                },
                host_exec: self.host_exec,
                run: self.run_extra.into_iter().map(|c| c.0).collect(),
                strict: self.strict,
                healthcheck: !self.no_healthcheck,
            },
            keep: KeepOptions {
                lists: KeepList::ALL
                    .into_iter()
                    .filter(|l| !self.no_keep.contains(l))
                    .collect(),
                patterns,
                excludes: self.exclude,
                profiles: Vec::new(),
                packages: self.keep_packages == "used",
                import_closure: !self.no_import_closure,
            },
            verify: VerifySettings {
                enabled: !self.no_verify,
                repair_rounds: self.repair_rounds,
            },
            allow_diff: self.allow_diff,
            report: (self.report != "off").then(|| PathBuf::from(&self.report)),
            package_db: !self.no_package_db,
            image_source: SourceChoice::from_name(&self.image_source).unwrap_or(SourceChoice::Auto),
            sbom: self.sbom.map(|path| SbomTarget {
                path,
                format: SbomFormat::from_name(&self.sbom_format).unwrap_or_default(),
            }),
            profiles: ProfileChoice {
                named: self
                    .profile
                    .iter()
                    .map(|p| profile::load(p))
                    .collect::<Result<_, _>>()?,
                auto: !self.no_auto_profile,
            },
        })
    }
}

impl TraceArgs {
    /// The settings these arguments ask for.
    pub fn resolve(self) -> Result<TraceSettings, ArgsError> {
        let output = match self.output {
            Some(path) if path.as_os_str() != "-" => OutputTarget::File(path),
            _ => OutputTarget::Stdout,
        };
        Ok(TraceSettings {
            image: self.image,
            output,
            run: self.run.resolve(self.args)?,
        })
    }
}
