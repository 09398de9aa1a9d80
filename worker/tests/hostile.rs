//! Hostile uploads against a worker with a small memory budget: each
//! fails on its first attempt with its reason, and the worker's peak
//! resident memory (`VmHWM`, read from `/proc`) stays under the budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

const MINUTE: Duration = Duration::from_secs(60);

/// The budget of these tests: the pipeline's 1 GiB and 64 MiB for a
/// workbook held whole.
const BUDGET: u64 = 1088 << 20;

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        * 1024
}

/// An xlsx whose sheet `Name` column takes its first `rows` shared
/// strings, of `strings` in all, each `run` letters and a number: at 5,000
/// letters about 5 KB unpacked per string, 500 times less packed (under
/// the zip-bomb ratio a workbook is refused for). `declared` is its
/// `uniqueCount`.
fn workbook(dir: &Path, strings: u64, declared: u64, rows: u64, run: usize) -> Vec<u8> {
    workbook_of(dir, strings, declared, rows, run, false)
}

/// [`workbook`], every row taking the first string when `fan_out`.
fn workbook_of(dir: &Path, strings: u64, declared: u64, rows: u64, run: usize, fan_out: bool) -> Vec<u8> {
    let path = dir.join(format!("book-{strings}-{declared}-{rows}-{run}-{fan_out}.xlsx"));
    let script = r#"
import sys, zipfile
path, strings, declared, rows, run, fan = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "true"
main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
rel = "http://schemas.openxmlformats.org/package/2006/relationships"
office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>')
    z.writestr("_rels/.rels", f'<Relationships xmlns="{rel}"><Relationship Id="rId1" Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    z.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{office}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
    z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{rel}"><Relationship Id="rId1" Type="{office}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    cells = "".join(f'<row r="{r + 2}"><c r="A{r + 2}" t="s"><v>{0 if fan else r}</v></c></row>' for r in range(rows))
    z.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c></row>{cells}</sheetData></worksheet>')
    with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
        part.write(f'<sst xmlns="{main}" uniqueCount="{declared}">'.encode())
        run = b"a" * run
        for i in range(strings):
            part.write(b"<si><t>" + run + b"%07d</t></si>" % i)
        part.write(b"</sst>")
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .args([strings.to_string(), declared.to_string(), rows.to_string(), run.to_string(), fan_out.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

/// A mapping of the workbook's `Name` column, with `extra` in its source.
fn mapping(extra: &str) -> String {
    format!(
        "[migration]\nname = \"hostile\"\norg_id = \"{ORG_A}\"\nsource_system = \"upload\"\n\n\
         [sources.book]\nkind = \"excel\"\npath = \"book.xlsx\"\n{extra}\n\n\
         [contacts]\nfrom = \"book\"\nkey = [\"Name\"]\n\n[contacts.columns]\nlast_name = \"Name\"\n"
    )
}

#[tokio::test]
async fn a_hostile_workbook_fails_on_its_first_attempt_and_the_worker_stays_within_its_memory_budget() {
    let stack = Stack::new().await;
    let budget = BUDGET.to_string();
    let worker = stack.worker("w1", &[("MEMORY_BUDGET", budget.as_str()), ("MAX_ATTEMPTS", "3")]);
    let dir = tempfile::tempdir().unwrap();
    // 240,000 strings: 1.2 GB unpacked from 2.4 MB, more than the whole
    // budget once held.
    let bomb = workbook(dir.path(), 240_000, 240_000, 10, 5000);
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    let cases = [
        (
            "raised",
            bomb.clone(),
            mapping("max_memory_bytes = 1000000000000"),
            "source book sets max_memory_bytes = 1000000000000, above the worker's ceiling MEMORY_BUDGET less 1 GiB = 67108864",
        ),
        ("defaults", bomb, mapping(""), "more than max_memory_bytes = 67108864; refusing to read it"),
        (
            "declared",
            workbook(dir.path(), 1, 1_000_000_000_000, 1, 5),
            mapping(""),
            "1 strings, 1000000000000 declared), more than max_memory_bytes = 67108864",
        ),
    ];
    for (job, book, text, _) in &cases {
        stack.put(&format!("tenants/{ORG_A}/{job}/book.xlsx"), book.clone()).await;
        stack.put(&format!("tenants/{ORG_A}/{job}/mapping.toml"), text.clone()).await;
    }
    let notes = stack.notifications(cases.len(), MINUTE).await;
    assert_eq!(notes.len(), cases.len(), "{}", worker.log_text());
    for (job, _, _, expected) in &cases {
        let note = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/{job}/mapping.toml")).unwrap();
        assert_eq!((&note["state"], &note["attempts"]), (&"failed".into(), &1.into()), "{note}");
        let error = note["summary"]["error"].as_str().unwrap();
        assert!(error.contains(expected), "{job}: {error}");
        assert!(error.ends_with("(not retried: the upload itself must change)"), "{job}: {error}");
        // The error names the S3 object, not the worker's folder.
        if *job != "raised" {
            assert!(error.contains(&format!("s3://{BUCKET}/tenants/{ORG_A}/{job}/book.xlsx")), "{job}: {error}");
        }
    }
    let peak = peak_rss(worker.child.id());
    assert!(peak < BUDGET, "peak RSS {} MiB, over the {} MiB budget", peak >> 20, BUDGET >> 20);

    // A workbook within the budget still loads.
    let fine = workbook(dir.path(), 100, 100, 10, 5);
    stack.put(&format!("tenants/{ORG_A}/fine/book.xlsx"), fine).await;
    stack.put(&format!("tenants/{ORG_A}/fine/mapping.toml"), mapping("")).await;
    let note = stack.notifications(1, MINUTE).await.pop().unwrap();
    assert_eq!(note["state"], "succeeded", "{note}");
    assert_eq!(stack.contacts(ORG_A).await, 10, "{note}");
}

#[test]
fn a_budget_too_small_for_a_job_is_a_bad_setting() {
    let said = bad_setting(&[("MEMORY_BUDGET", "1073741824")]);
    assert!(said.contains("MEMORY_BUDGET = 1073741824 is less than the 1140850688 bytes a job needs"), "{said}");
}

/// A CSV of `rows` contacts, each with a `blob` column of `blob` bytes the
/// mapping does not load: batches of it stop at 8 MiB of text.
fn wide_csv(rows: usize, blob: usize) -> (Vec<u8>, String) {
    let mut csv = b"id,name,blob\n".to_vec();
    let filler = "b".repeat(blob);
    for i in 0..rows {
        csv.extend_from_slice(format!("{i},Name {i},{filler}\n").as_bytes());
    }
    let mapping = format!(
        "[migration]\nname = \"wide\"\norg_id = \"{ORG_A}\"\nsource_system = \"upload\"\n\n\
         [sources.people]\nkind = \"csv\"\npath = \"people.csv\"\n\n\
         [contacts]\nfrom = \"people\"\nkey = [\"id\"]\n\n[contacts.columns]\nlast_name = \"name\"\n"
    );
    (csv, mapping)
}

/// An upload: what it is, the worker's budget, its files and its mapping.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, Vec<u8>)>, String);

/// The table of bench/RESULTS.md: each hostile upload to a fresh worker,
/// its budget, the worker's peak resident memory, and what became of the
/// job. Run with `cargo test -p migrate-worker --test hostile -- --ignored
/// --nocapture`.
#[tokio::test]
#[ignore = "a measurement for bench/RESULTS.md (a few minutes)"]
async fn hostile_uploads_table() {
    let stack = Stack::new().await;
    let dir = tempfile::tempdir().unwrap();
    let bomb = workbook(dir.path(), 240_000, 240_000, 10, 5000);
    // 300 rows of one 2 MiB string: 600 MiB of text if every row were
    // held at once.
    let fan_out = workbook_of(dir.path(), 1, 1, 300, 2 << 20, true);
    let (wide, wide_mapping) = wide_csv(20_000, 6_000);
    let small = BUDGET.to_string();
    let large = (3u64 << 30).to_string();
    let cases: Vec<Case> = vec![
        (
            "xlsx, 1.2 GB of shared strings, mapping raises max_memory_bytes",
            &small,
            vec![("book.xlsx", bomb.clone())],
            mapping("max_memory_bytes = 1000000000000"),
        ),
        ("xlsx, 1.2 GB of shared strings", &small, vec![("book.xlsx", bomb.clone())], mapping("")),
        (
            "xlsx, 1.2 GB of shared strings, mapping raises max_memory_bytes within the budget",
            &large,
            vec![("book.xlsx", bomb)],
            mapping("max_memory_bytes = 2147483648"),
        ),
        (
            "xlsx declaring 10^12 shared strings",
            &small,
            vec![("book.xlsx", workbook(dir.path(), 1, 1_000_000_000_000, 1, 5))],
            mapping(""),
        ),
        ("xlsx, one 2 MiB string in 300 cells (600 MiB as rows)", &small, vec![("book.xlsx", fan_out)], mapping("")),
        ("CSV, 20,000 rows of 6 KB (120 MB, 8 MiB batches)", &small, vec![("people.csv", wide)], wide_mapping),
    ];
    println!("| upload | MEMORY_BUDGET | packed | peak RSS | outcome |\n| --- | ---: | ---: | ---: | --- |");
    for (i, (what, budget, files, text)) in cases.into_iter().enumerate() {
        let worker = stack.worker(&format!("h{i}"), &[("MEMORY_BUDGET", budget), ("MAX_ATTEMPTS", "3")]);
        let packed: usize = files.iter().map(|(_, b)| b.len()).sum();
        for (name, body) in files {
            stack.put(&format!("tenants/{ORG_A}/h{i}/{name}"), body).await;
        }
        stack.put(&format!("tenants/{ORG_A}/h{i}/mapping.toml"), text).await;
        let note = stack.notifications(1, 10 * MINUTE).await.pop().expect("a notification");
        let peak = peak_rss(worker.child.id());
        let outcome = match note["state"].as_str() {
            Some("failed") => {
                let error = note["summary"]["error"].as_str().unwrap_or_default();
                let why = error.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                format!("failed on attempt {}: {}", note["attempts"], why.chars().take(160).collect::<String>())
            }
            _ => {
                let e = &note["summary"]["entities"][0];
                format!("{}: {} read, {} loaded, {} rejected", note["state"], e["read"], e["loaded"], e["rejected"])
            }
        };
        println!(
            "| {what} | {} MiB | {:.1} MB | {} MiB | {outcome} |",
            budget.parse::<u64>().unwrap() >> 20,
            packed as f64 / 1e6,
            peak >> 20
        );
        drop(worker);
    }
}
