//! CycloneDX 1.5 JSON: the new image as the metadata's component, with the source image
//! as its ancestor (pedigree), the operating system and every package as components the
//! image depends on. No timestamp; the serial number is a name-based UUID of the content.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Ecosystem, Subject};

const IMAGE_REF: &str = "image";

pub fn document(subject: &Subject) -> Value {
    let mut components = Vec::new();
    if let Some(os) = &subject.os {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": format!("os:{}@{}", os.id, os.version_id),
            "name": os.id,
            "version": os.version_id,
        }));
    }
    for c in &subject.components {
        components.push(json!({
            "type": "library",
            "bom-ref": c.purl,
            "name": c.name,
            "version": c.version,
            "purl": c.purl,
            "properties": [{"name": "slim:ecosystem", "value": ecosystem(c.ecosystem)}],
        }));
    }
    let refs: Vec<&Value> = components.iter().map(|c| &c["bom-ref"]).collect();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "slim",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": IMAGE_REF,
                "name": subject.tag,
                "version": subject.image_id,
                "pedigree": {
                    "ancestors": [{
                        "type": "container",
                        "bom-ref": "source-image",
                        "name": subject.source,
                        "version": subject.source_id,
                    }],
                },
            },
        },
        "components": components,
        "dependencies": [{"ref": IMAGE_REF, "dependsOn": refs}],
    });
    let digest = Sha256::digest(serde_json::to_vec(&bom).unwrap_or_default());
    bom["serialNumber"] = Value::String(format!("urn:uuid:{}", uuid_of(&digest)));
    bom
}

fn ecosystem(e: Ecosystem) -> &'static str {
    match e {
        Ecosystem::Deb => "deb",
        Ecosystem::Apk => "apk",
        Ecosystem::Python => "pypi",
        Ecosystem::Npm => "npm",
    }
}

/// A version 5 (name-based, SHA) UUID from the first 16 bytes of a digest.
pub fn uuid_of(digest: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
