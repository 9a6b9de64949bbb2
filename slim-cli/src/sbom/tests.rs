//! The SBOM's inventory on a small image (a Debian database, a Python distribution, Node
//! packages), its package URLs, and both documents' shape and determinism.

use super::*;
use crate::packages::KeptPackage;
use slim_test_kit::{ScratchDir, TarWriter};

fn subject() -> Subject {
    Subject {
        tag: "app.slim:1".into(),
        image_id: format!("sha256:{}", "a".repeat(64)),
        source: "app:1".into(),
        source_id: format!("sha256:{}", "b".repeat(64)),
        os: Some(OsRelease {
            id: "debian".into(),
            version_id: "12".into(),
        }),
        components: vec![Component {
            ecosystem: Ecosystem::Python,
            name: "Django".into(),
            version: "4.2.7".into(),
            purl: purl::pypi("Django", "4.2.7"),
        }],
    }
}

#[test]
fn package_urls_encode_what_the_spec_asks() {
    let os = OsRelease {
        id: "debian".into(),
        version_id: "12".into(),
    };
    let package = KeptPackage {
        name: "libstdc++6".into(),
        version: "1:12.2.0-14+deb12u1".into(),
        architecture: "amd64".into(),
        files: 1,
        files_kept: 1,
    };
    assert_eq!(
        purl::os_package(Ecosystem::Deb, &package, Some(&os)),
        "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
    );
    assert_eq!(
        purl::os_package(Ecosystem::Apk, &package, None),
        "pkg:apk/alpine/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64"
    );
    assert_eq!(purl::pypi("Django", "4.2.7"), "pkg:pypi/django@4.2.7");
    assert_eq!(
        purl::pypi("typing_extensions", "4.8.0"),
        "pkg:pypi/typing-extensions@4.8.0"
    );
    assert_eq!(purl::npm("express", "4.18.2"), "pkg:npm/express@4.18.2");
    assert_eq!(
        purl::npm("@types/node", "20.1.0"),
        "pkg:npm/%40types/node@20.1.0"
    );
}

#[test]
fn metadata_parsers_take_name_and_version_only() {
    assert_eq!(
        python_name_version("Metadata-Version: 2.1\nName: Django\nVersion: 4.2.7\n\nName: no\n"),
        Some(("Django".into(), "4.2.7".into()))
    );
    assert_eq!(python_name_version("Name: x\n"), None);
    assert_eq!(
        node_name_version(br#"{"name":"@a/b","version":"1.0.0"}"#),
        Some(("@a/b".into(), "1.0.0".into()))
    );
    assert_eq!(node_name_version(br#"{"name":"x"}"#), None);
    assert_eq!(node_name_version(b"not json"), None);
    let os = parse_os_release(
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    );
    assert_eq!((os.id.as_str(), os.version_id.as_str()), ("debian", "12"));
}

#[test]
fn the_inventory_lists_kept_metadata_and_database_packages() {
    let dir = ScratchDir::new("sbom-inventory");
    let site = "usr/lib/python3/dist-packages";
    let layer = TarWriter::new()
        .file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
        .file(
            format!("{site}/Django-4.2.7.dist-info/METADATA"),
            "Name: Django\nVersion: 4.2.7\n",
        )
        .file(
            format!("{site}/gone-1.0.dist-info/METADATA"),
            "Name: gone\nVersion: 1.0\n",
        )
        .file(
            "app/node_modules/express/package.json",
            r#"{"name":"express","version":"4.18.2"}"#,
        )
        .file(
            "app/node_modules/express/test/package.json",
            r#"{"name":"express","version":"4.18.2"}"#,
        );
    let tar = dir.write("0.tar", layer.finish());
    let index = FsIndex::from_layers(&[tar]).unwrap();
    let os = os_release(&index).unwrap();
    let db = PackageDb {
        format: "dpkg".into(),
        kept: vec![KeptPackage {
            name: "nginx".into(),
            version: "1.22.1-9".into(),
            architecture: "amd64".into(),
            files: 3,
            files_kept: 1,
        }],
        ..PackageDb::default()
    };
    let kept = [
        format!("/{site}/Django-4.2.7.dist-info/METADATA"),
        "/app/node_modules/express/package.json".to_string(),
        "/app/node_modules/express/test/package.json".to_string(),
    ];
    let components = inventory(
        &index,
        kept.iter().map(|p| p.as_bytes()),
        Some(&db),
        Some(&os),
    );
    let purls: Vec<&str> = components.iter().map(|c| c.purl.as_str()).collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/nginx@1.22.1-9?arch=amd64&distro=debian-12",
            "pkg:pypi/django@4.2.7",
            "pkg:npm/express@4.18.2",
        ]
    );
}

#[test]
fn cyclonedx_names_the_image_its_source_and_every_component() {
    let bom = cyclonedx::document(&subject());
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert_eq!(bom["metadata"]["component"]["name"], "app.slim:1");
    assert_eq!(
        bom["metadata"]["component"]["pedigree"]["ancestors"][0]["name"],
        "app:1"
    );
    let django = &bom["components"][1];
    assert_eq!(
        (&django["name"], &django["version"], &django["purl"]),
        (
            &serde_json::json!("Django"),
            &serde_json::json!("4.2.7"),
            &serde_json::json!("pkg:pypi/django@4.2.7")
        )
    );
    assert_eq!(bom["components"][0]["type"], "operating-system");
    let serial = bom["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert_eq!(serial.as_bytes()[23], b'5');
    // The same image, the same document; another image, another serial.
    assert_eq!(bom, cyclonedx::document(&subject()));
    let mut other = subject();
    other.components[0].version = "4.2.8".into();
    assert_ne!(
        cyclonedx::document(&other)["serialNumber"],
        bom["serialNumber"]
    );
}

#[test]
fn spdx_describes_the_image_and_contains_every_component() {
    let doc = spdx::document(&subject(), "2026-01-01T00:00:00Z");
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Image");
    let packages = doc["packages"].as_array().unwrap();
    let django = packages.iter().find(|p| p["name"] == "Django").unwrap();
    assert_eq!(django["versionInfo"], "4.2.7");
    assert_eq!(
        django["externalRefs"][0]["referenceLocator"],
        "pkg:pypi/django@4.2.7"
    );
    let contains = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "CONTAINS")
        .count();
    assert_eq!(contains, 2);
    assert_eq!(doc, spdx::document(&subject(), "2026-01-01T00:00:00Z"));
    let created = spdx::creation_time();
    assert_eq!(created.len(), 20, "{created}");
}
