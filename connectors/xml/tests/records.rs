//! XML exports as customers send them: records, attributes, lists,
//! namespaces under other prefixes, legacy encodings, hostile DTDs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;

use migrate_engine::{Batch, Source, SourceLocation};
use migrate_xml::XmlSourceConfig;

fn write(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f
}

fn config(path: &std::path::Path, record: &str, fields: &[(&str, &str)], ns: &[(&str, &str)]) -> XmlSourceConfig {
    XmlSourceConfig {
        path: path.display().to_string(),
        record: record.to_string(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        namespaces: ns.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        max_depth: 256,
        max_field_bytes: 1 << 20,
        batch_size: 100,
        trim: true,
    }
}

async fn all(c: XmlSourceConfig) -> Result<Batch, String> {
    let mut source = c.build(std::path::Path::new("/")).map_err(|e| e.to_string())?;
    source.next_batch().await.map_err(|e| e.to_string()).map(|b| b.unwrap())
}

fn column(batch: &Batch, name: &str) -> Vec<Option<String>> {
    batch.text(name).unwrap().iter().map(|v| v.map(str::to_string)).collect()
}

fn some(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

const EXPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Export generated="2024-02-01">
  <Customers>
    <Customer id="17" type="client">
      <Name>Zoë &amp; Co &#x2764;</Name>
      <Address><City>Köln</City><Zip>00123</Zip></Address>
      <Phones><Phone>+49 221 1</Phone><Phone>+49 221 2</Phone></Phones>
      <Note><![CDATA[<b>bold</b> & raw]]></Note>
    </Customer>
    <Customer id="18">
      <Name>Łukasz</Name>
      <Address/>
    </Customer>
  </Customers>
</Export>
"#;

#[tokio::test]
async fn records_fields_attributes_and_lists() {
    let f = write(EXPORT.as_bytes());
    let c = config(
        f.path(),
        "/Export/Customers/Customer",
        &[
            ("id", "@id"),
            ("type", "@type"),
            ("name", "Name"),
            ("city", "Address/City"),
            ("zip", "Address/Zip"),
            ("phones", "Phones/Phone[]"),
            ("note", "Note"),
        ],
        &[],
    );
    let batch = all(c).await.unwrap();
    assert_eq!(batch.height(), 2);
    assert_eq!(column(&batch, "id"), some(&[Some("17"), Some("18")]));
    assert_eq!(column(&batch, "type"), some(&[Some("client"), None]));
    assert_eq!(column(&batch, "name"), some(&[Some("Zoë & Co ❤"), Some("Łukasz")]));
    assert_eq!(column(&batch, "city"), some(&[Some("Köln"), None]));
    assert_eq!(column(&batch, "zip"), some(&[Some("00123"), None]));
    assert_eq!(column(&batch, "phones"), some(&[Some(r#"["+49 221 1","+49 221 2"]"#), None]));
    assert_eq!(column(&batch, "note"), some(&[Some("<b>bold</b> & raw"), None]));
    let lines: Vec<u64> = batch
        .locations
        .iter()
        .map(|l| match l {
            SourceLocation::Line { line, .. } => *line,
            _ => 0,
        })
        .collect();
    assert_eq!(lines, vec![4, 10], "the line of each record's start tag");
}

#[tokio::test]
async fn namespaces_match_by_uri_whatever_the_prefix() {
    let a =
        r#"<crm:Export xmlns:crm="urn:acme:crm"><crm:Customer><crm:Name>Ada</crm:Name></crm:Customer></crm:Export>"#;
    let b = r#"<x:Export xmlns:x="urn:acme:crm" xmlns:y="urn:other"><x:Customer><y:Name>wrong</y:Name><x:Name>Grace</x:Name></x:Customer></x:Export>"#;
    let d = r#"<Export xmlns="urn:acme:crm"><Customer><Name>Edsger</Name></Customer></Export>"#;
    for (xml, expected) in [(a, "Ada"), (b, "Grace"), (d, "Edsger")] {
        let f = write(xml.as_bytes());
        let c = config(f.path(), "/c:Export/c:Customer", &[("name", "c:Name")], &[("c", "urn:acme:crm")]);
        let batch = all(c).await.unwrap();
        assert_eq!(column(&batch, "name"), some(&[Some(expected)]), "{xml}");
    }
}

#[tokio::test]
async fn a_declared_legacy_encoding_is_honoured() {
    let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><R><C><N>".to_vec();
    bytes.extend_from_slice(b"M\xfcller \xe9t\xe9");
    bytes.extend_from_slice(b"</N></C></R>");
    let f = write(&bytes);
    let batch = all(config(f.path(), "/R/C", &[("n", "N")], &[])).await.unwrap();
    assert_eq!(column(&batch, "n"), some(&[Some("Müller été")]));
}

#[tokio::test]
async fn entity_bombs_fail_at_once_and_external_entities_are_never_fetched() {
    let mut laughs = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        laughs.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    laughs.push_str("]>\n<R><C><N>&lol9;</N></C></R>\n");
    let f = write(laughs.as_bytes());
    let err = all(config(f.path(), "/R/C", &[("n", "N")], &[])).await.unwrap_err();
    assert!(err.contains(":14: entity &lol9; is not defined here: DTD entities are never expanded"), "{err}");

    let external = "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<R><C><N>&xxe;</N></C></R>";
    let f = write(external.as_bytes());
    let err = all(config(f.path(), "/R/C", &[("n", "N")], &[])).await.unwrap_err();
    assert!(err.contains("entity &xxe; is not defined here"), "{err}");
}

#[tokio::test]
async fn bad_configurations_and_deep_nesting_are_refused() {
    let f = write(b"<R><C><N>x</N></C></R>");
    for (record, fields, expected) in [
        ("R/C", vec![("n", "N")], "must start at the root"),
        ("/R/C", vec![("n", "p:N")], "prefix \"p\""),
        ("/R/C", vec![("n", "@a/b")], "an attribute must be the last segment"),
    ] {
        let c = config(f.path(), record, &fields, &[]);
        let err = c.build(std::path::Path::new("/")).err().unwrap().to_string();
        assert!(err.contains(expected), "{err}");
    }
    let deep = format!("<R>{}</R>", "<a>".repeat(300) + &"</a>".repeat(300));
    let f = write(deep.as_bytes());
    let err = all(config(f.path(), "/R/C", &[("n", "N")], &[])).await.unwrap_err();
    assert!(err.contains("elements nest deeper than max_depth = 256"), "{err}");
}

#[tokio::test]
async fn child_records_carry_their_parents_key() {
    let f = write(EXPORT.as_bytes());
    let c =
        config(f.path(), "/Export/Customers/Customer/Phones/Phone", &[("customer", "../../@id"), ("phone", ".")], &[]);
    let batch = all(c).await.unwrap();
    assert_eq!(column(&batch, "customer"), some(&[Some("17"), Some("17")]));
    assert_eq!(column(&batch, "phone"), some(&[Some("+49 221 1"), Some("+49 221 2")]));
    let bad = config(f.path(), "/Export/Customers/Customer", &[("x", "../Name")], &[]);
    assert!(bad.build(std::path::Path::new("/")).err().unwrap().to_string().contains("only an attribute"));
}

#[tokio::test]
async fn a_field_over_the_size_limit_rejects_its_record() {
    let xml = format!("<R><C><N>ok</N></C><C><N>{}</N></C></R>", "x".repeat(100));
    let f = write(xml.as_bytes());
    let mut c = config(f.path(), "/R/C", &[("n", "N")], &[]);
    c.max_field_bytes = 50;
    let batch = all(c).await.unwrap();
    assert_eq!(batch.height(), 2);
    assert_eq!(batch.malformed.len(), 1);
    assert_eq!(batch.malformed[0].row, 1);
    assert_eq!(batch.malformed[0].message, "the text of N is more than max_field_bytes = 50");
}

/// The progress bar's percentage: bytes of the file read, of its size,
/// growing with each batch and reaching the size at the end.
#[tokio::test]
async fn the_source_reports_how_far_it_has_read() {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<Export>\n");
    for i in 0..20_000 {
        xml.push_str(&format!("  <Customer id=\"{i}\"><Name>Customer number {i}</Name></Customer>\n"));
    }
    xml.push_str("</Export>\n");
    let f = write(xml.as_bytes());
    let mut c = config(f.path(), "/Export/Customer", &[("id", "@id"), ("name", "Name")], &[]);
    c.batch_size = 1000;
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    let total = xml.len() as u64;
    let mut seen = Vec::new();
    let mut rows = 0;
    while let Some(batch) = source.next_batch().await.unwrap() {
        rows += batch.height();
        let (done, of) = source.position().expect("an XML file knows its position");
        assert_eq!(of, total);
        seen.push(done);
    }
    assert_eq!(rows, 20_000);
    assert!(seen.len() >= 20, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen[0] * 100 / total < 50, "the first batch is not half the file: {seen:?}");
    assert_eq!(source.position(), Some((total, total)));
}

/// Element text loses the whitespace around it by default (indentation);
/// `trim = false` keeps it exactly. Attributes are never trimmed.
#[tokio::test]
async fn element_text_is_trimmed_unless_trim_is_false() {
    let f = write(b"<Export><Row code=\" A1 \">\n    <Note>  two  spaces  </Note>\n  </Row></Export>");
    for (trim, note) in [(true, "two  spaces"), (false, "  two  spaces  ")] {
        let mut c = config(f.path(), "/Export/Row", &[("code", "@code"), ("note", "Note")], &[]);
        c.trim = trim;
        let batch = all(c).await.unwrap();
        assert_eq!(column(&batch, "note"), some(&[Some(note)]), "trim = {trim}");
        assert_eq!(column(&batch, "code"), some(&[Some(" A1 ")]), "trim = {trim}");
    }
}
