//! The published JSON Schemas of the SBOM formats slim writes (CycloneDX 1.5 with the SPDX
//! license list and JSF schemas it references, and SPDX 2.3), taken at test time from the
//! PyPI packages that ship them (`cyclonedx-python-lib`, `lib4sbom`, pinned) with
//! `pip download`, kept in the fixture cache, and compiled with every reference resolved
//! from that directory: nothing else is fetched, and no schema is kept in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cache::{self, Lock};

/// The wheels and, in each, the schema files it ships.
const WHEELS: &[(&str, &[(&str, &str)])] = &[
    (
        "cyclonedx-python-lib==11.12.0",
        &[
            (
                "cyclonedx/schema/_res/bom-1.5.SNAPSHOT.schema.json",
                "bom-1.5.SNAPSHOT.schema.json",
            ),
            (
                "cyclonedx/schema/_res/spdx.SNAPSHOT.schema.json",
                "spdx.SNAPSHOT.schema.json",
            ),
            (
                "cyclonedx/schema/_res/jsf-0.82.SNAPSHOT.schema.json",
                "jsf-0.82.SNAPSHOT.schema.json",
            ),
        ],
    ),
    (
        "lib4sbom==0.10.4",
        &[(
            "lib4sbom/schemas/spdx/2.3-schema.json",
            "spdx-2.3.schema.json",
        )],
    ),
];

/// The SBOM formats with a schema here.
#[derive(Clone, Copy, Debug)]
pub enum SbomSchema {
    CycloneDx15,
    Spdx23,
}

impl SbomSchema {
    fn file(self) -> &'static str {
        match self {
            SbomSchema::CycloneDx15 => "bom-1.5.SNAPSHOT.schema.json",
            SbomSchema::Spdx23 => "spdx-2.3.schema.json",
        }
    }
}

/// The cache directory holding every schema file, downloaded when missing.
pub fn schema_dir() -> Result<PathBuf> {
    let dir = cache::dir()?.join("sbom-schemas-1");
    let complete = |dir: &Path| {
        WHEELS
            .iter()
            .flat_map(|(_, files)| files.iter())
            .all(|(_, name)| dir.join(name).is_file())
    };
    if complete(&dir) {
        return Ok(dir);
    }
    let _lock = Lock::acquire("sbom-schemas")?;
    if complete(&dir) {
        return Ok(dir);
    }
    let work = cache::dir()?.join(format!("sbom-schemas.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = (|| -> Result<()> {
        for (requirement, files) in WHEELS {
            let wheels = work.join("wheels");
            let out = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-q",
                    "-d",
                ])
                .arg(&wheels)
                .arg(requirement)
                .output()
                .context("running python3 -m pip download (install python3-pip)")?;
            if !out.status.success() {
                bail!(
                    "pip download {requirement} failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let name = requirement
                .split("==")
                .next()
                .unwrap_or_default()
                .replace('-', "_");
            let wheel = std::fs::read_dir(&wheels)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&name))
                })
                .with_context(|| format!("no wheel of {requirement} in {}", wheels.display()))?;
            let unpacked = work.join("unpacked");
            let out = Command::new("python3")
                .args(["-m", "zipfile", "-e"])
                .arg(&wheel)
                .arg(&unpacked)
                .output()
                .context("running python3 -m zipfile")?;
            if !out.status.success() {
                bail!(
                    "unpacking {}: {}",
                    wheel.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::fs::create_dir_all(work.join("schemas"))?;
            for (inside, name) in *files {
                std::fs::copy(unpacked.join(inside), work.join("schemas").join(name))
                    .with_context(|| format!("{inside} in {}", wheel.display()))?;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(work.join("schemas"), &dir)
            .with_context(|| format!("moving the schemas to {}", dir.display()))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| dir)
}

/// Resolves every reference by its file name in the schema directory.
struct SchemaFiles(PathBuf);

impl jsonschema::Retrieve for SchemaFiles {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> std::result::Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri.path().as_str();
        let name = path.rsplit('/').next().unwrap_or(path);
        let text = std::fs::read_to_string(self.0.join(name))
            .map_err(|e| format!("{uri}: no {name} among the cached schemas: {e}"))?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Every way `document` breaks the format's published schema, one line each (empty when
/// it is valid). Panics when the schemas cannot be had.
pub fn sbom_violations(schema: SbomSchema, document: &Value) -> Vec<String> {
    let dir = schema_dir().unwrap_or_else(|e| panic!("the SBOM schemas: {e:#}"));
    let text = std::fs::read_to_string(dir.join(schema.file()))
        .unwrap_or_else(|e| panic!("reading {}: {e}", schema.file()));
    let schema_value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", schema.file()));
    let validator = jsonschema::options()
        .with_retriever(SchemaFiles(dir))
        .should_validate_formats(true)
        .build(&schema_value)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", schema.file()));
    validator
        .iter_errors(document)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}
