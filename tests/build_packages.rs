//! The package database and the SBOM of a slim image, checked with the tools that read
//! them. The `nginx` fixture (Debian's nginx): the slim image's own dpkg database, read
//! with the host's `dpkg-query --admindir` and `dpkg --root -V` on its extracted
//! filesystem, lists nginx and its libraries and not the packages whose files were all
//! removed, and no listed file is missing; its SPDX 2.3 SBOM validates against SPDX's
//! published schema. Control: with `--no-package-db` the image has no status file. The
//! `django` fixture (Django from PyPI): its CycloneDX 1.5 SBOM validates against
//! CycloneDX's published schema and names Django with its version and purl.
//!
//! Needs root, the Docker engine, a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`), dpkg on the host, and pip to fetch the schemas (see
//! `slim_fixtures::sbom_violations`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use slim_fixtures::{SbomSchema, build_fixture, docker, docker_ok, sbom_violations};
use slim_test_kit::ScratchDir;

/// The slim image's filesystem, extracted into `dir`.
fn extract(image: &str, dir: &Path) {
    let id = docker_ok(["create", image]).trim().to_string();
    let archive = dir.with_extension("tar");
    docker_ok([
        "export".as_ref(),
        "-o".as_ref(),
        archive.as_os_str(),
        id.as_ref(),
    ]);
    let _ = docker(["rm", &id]);
    std::fs::create_dir_all(dir).expect("creating the extraction directory");
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .status()
        .expect("running tar");
    let _ = std::fs::remove_file(&archive);
    assert!(status.success(), "tar -xf of {image}'s export failed");
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| p.get("name").unwrap_or(p).as_str().unwrap().to_string())
        .collect()
}

/// The reasons the report gives for keeping `/var/lib/dpkg/status`, if it is kept.
fn status_reasons(report: &Value) -> Option<Vec<String>> {
    report["keep"]["paths"]
        .as_array()
        .expect("keep.paths")
        .iter()
        .find(|p| p["path"] == "/var/lib/dpkg/status")
        .map(|p| {
            p["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["reason"].as_str().unwrap().to_string())
                .collect()
        })
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn assert_valid(schema: SbomSchema, document: &Value) {
    let violations = sbom_violations(schema, document);
    assert!(
        violations.is_empty(),
        "the SBOM breaks the {schema:?} schema:\n{}\n{document:#}",
        violations.join("\n")
    );
}

#[test]
fn root_engine_nginx_package_database_lists_the_kept_packages_and_misses_no_file() {
    let scratch = ScratchDir::new("nginx-packages");
    let sbom = scratch.join("sbom.spdx.json");
    let sbom_arg = sbom.display().to_string();
    let (slim, report) = build_fixture(
        "nginx",
        "nginx-packages",
        &["--sbom", &sbom_arg, "--sbom-format", "spdx"],
    );
    let packages = &report["packages"];
    assert_eq!(packages["format"], "dpkg", "report: {packages}");
    let kept = names(&packages["kept"]);
    let dropped = names(&packages["dropped"]);
    for needed in ["nginx", "libc6", "libpcre2-8-0", "libssl3", "zlib1g"] {
        assert!(kept.contains(needed), "{needed} is not kept: {kept:?}");
    }
    assert!(
        !dropped.is_empty() && dropped.is_disjoint(&kept),
        "dropped {dropped:?}, kept {kept:?}"
    );

    assert_eq!(
        status_reasons(&report),
        Some(vec!["package_db".to_string()]),
        "the report does not count the status file as kept for the package database"
    );

    let root = scratch.join("root");
    extract(&slim.tag, &root);
    let admindir = root.join("var/lib/dpkg");
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args(["-W", "-f", "${Package}\\n"])
        .output()
        .expect("running dpkg-query");
    assert!(
        out.status.success(),
        "dpkg-query on the slim image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        listed, kept,
        "dpkg-query lists other packages than the report keeps"
    );
    assert!(listed.is_disjoint(&dropped));
    // Packages whose files were all removed, such as apt, are not listed.
    assert!(dropped.contains("apt"), "apt is not dropped: {dropped:?}");

    // Every file a listed package names is there (dpkg -V prints `missing` otherwise).
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("-V")
        .output()
        .expect("running dpkg -V");
    let verify =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !verify.contains("missing"),
        "dpkg -V on the slim image finds missing files:\n{verify}"
    );
    let out = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["-V", "nginx"])
        .output()
        .expect("running dpkg -V nginx");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "dpkg -V nginx: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The SPDX SBOM names nginx with the database's version.
    let document = read_json(&sbom);
    assert_valid(SbomSchema::Spdx23, &document);
    let version = packages["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "nginx")
        .unwrap()["version"]
        .as_str()
        .unwrap()
        .to_string();
    let nginx = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "nginx")
        .unwrap_or_else(|| panic!("no nginx in the SPDX SBOM: {document:#}"));
    assert_eq!(nginx["versionInfo"], version.as_str());
    let purl = nginx["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap();
    assert!(
        purl.starts_with(&format!(
            "pkg:deb/debian/nginx@{}?arch=",
            version.replace(':', "%3A").replace('+', "%2B")
        )) && purl.contains("distro=debian-12"),
        "{purl}"
    );
}

#[test]
fn root_engine_nginx_without_package_db_has_no_status_file() {
    let scratch = ScratchDir::new("nginx-no-packages");
    let sbom = scratch.join("sbom.cdx.json");
    let sbom_arg = sbom.display().to_string();
    let (slim, report) = build_fixture(
        "nginx",
        "nginx-no-packages",
        &["--no-package-db", "--sbom", &sbom_arg],
    );
    assert!(report.get("packages").is_none(), "{}", report["packages"]);
    assert_eq!(status_reasons(&report), None);
    let root = scratch.join("root");
    extract(&slim.tag, &root);
    assert!(
        !root.join("var/lib/dpkg/status").exists(),
        "--no-package-db left the status file in the image"
    );
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .arg("-W")
        .output()
        .expect("running dpkg-query");
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "dpkg-query found a database"
    );
    // The SBOM still says what the image holds, from the original database.
    let document = read_json(&sbom);
    assert_valid(SbomSchema::CycloneDx15, &document);
    assert!(
        document["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "nginx"),
        "{document:#}"
    );
}

#[test]
fn root_engine_django_cyclonedx_sbom_validates_and_names_django() {
    let scratch = ScratchDir::new("django-sbom");
    let sbom = scratch.join("sbom.cdx.json");
    let sbom_arg = sbom.display().to_string();
    let (slim, report) = build_fixture("django", "django-sbom", &["--sbom", &sbom_arg]);
    let document = read_json(&sbom);
    assert_valid(SbomSchema::CycloneDx15, &document);
    assert_eq!(document["metadata"]["component"]["name"], slim.tag.as_str());
    assert_eq!(
        document["metadata"]["component"]["pedigree"]["ancestors"][0]["version"],
        report["source"]["id"]
    );
    let django = document["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Django")
        .unwrap_or_else(|| panic!("no Django in the SBOM: {document:#}"));
    assert_eq!(django["version"], "5.2.19");
    assert_eq!(django["purl"], "pkg:pypi/django@5.2.19");
    // The OS packages of the slim image are there too, with their purls.
    assert!(
        document["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/debian/libc6@"))),
        "no libc6 in the SBOM"
    );
}
