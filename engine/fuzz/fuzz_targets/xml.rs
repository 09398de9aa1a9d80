//! Any bytes as an XML export read as records of fields, attributes,
//! nested paths and lists: reading never panics (entities, nesting and
//! sizes are refused with an error), and every row has the configured
//! columns.
#![no_main]

#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use migrate_engine::Source;
use migrate_xml::XmlSourceConfig;

fuzz_target!(|data: &[u8]| {
    let path = support::scratch("input.xml", data);
    let fields: BTreeMap<String, String> = [
        ("id", "@id"),
        ("name", "Name"),
        ("city", "Address/City"),
        ("kind", "Address/@type"),
        ("tags", "Tag[]"),
        ("parent", "../@id"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = XmlSourceConfig {
        path: path.display().to_string(),
        record: "/R/C".to_string(),
        fields,
        namespaces: BTreeMap::new(),
        max_depth: 32,
        max_field_bytes: 256,
        batch_size: 5,
        trim: true,
    };
    let Ok(mut source) = config.build(std::path::Path::new("/")) else { return };
    let width = source.columns().len();
    support::block_on(async {
        while let Ok(Some(batch)) = source.next_batch().await {
            assert_eq!(batch.frame.width(), width);
            assert_eq!(batch.locations.len(), batch.height());
        }
    });
});
