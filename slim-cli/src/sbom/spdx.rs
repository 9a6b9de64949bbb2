//! SPDX 2.3 JSON: the new image as the described package, the source image it descends
//! from, and every component as a package the image contains, with its purl as an
//! external reference. SPDX requires a creation time: `SOURCE_DATE_EPOCH` when set, else
//! now; the namespace is derived from the content, not from the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Subject;

/// `created`: `SOURCE_DATE_EPOCH` when set (reproducible builds), else the current time;
/// to the second, as SPDX writes it.
pub fn creation_time() -> String {
    let at = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |secs| {
            UNIX_EPOCH + Duration::from_secs(secs)
        });
    let stamp = crate::progress::timestamp(at);
    format!("{}Z", &stamp[..19])
}

fn package(id: &str, name: &str, version: &str, purpose: &str) -> Value {
    json!({
        "SPDXID": id,
        "name": name,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": purpose,
    })
}

pub fn document(subject: &Subject, created: &str) -> Value {
    let mut packages = vec![
        package(
            "SPDXRef-Image",
            &subject.tag,
            &subject.image_id,
            "CONTAINER",
        ),
        package(
            "SPDXRef-SourceImage",
            &subject.source,
            &subject.source_id,
            "CONTAINER",
        ),
    ];
    let mut relationships = vec![
        json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }),
        json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "DESCENDANT_OF",
            "relatedSpdxElement": "SPDXRef-SourceImage",
        }),
    ];
    if let Some(os) = &subject.os {
        packages.push(package(
            "SPDXRef-OperatingSystem",
            &os.id,
            &os.version_id,
            "OPERATING_SYSTEM",
        ));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-OperatingSystem",
        }));
    }
    for (i, c) in subject.components.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", i + 1);
        let mut p = package(&id, &c.name, &c.version, "LIBRARY");
        p["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": c.purl,
        }]);
        packages.push(p);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let content = json!({"packages": packages, "relationships": relationships});
    let digest = Sha256::digest(serde_json::to_vec(&content).unwrap_or_default());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let name = subject.tag.replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
        "-",
    );
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.tag,
        "documentNamespace": format!("https://slim.invalid/spdx/{name}-{hex}"),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: slim-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": content["packages"],
        "relationships": content["relationships"],
    })
}
