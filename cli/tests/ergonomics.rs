//! The engineer's side of the command line: errors that say what to fix,
//! help with an example on every subcommand, completions and a man page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::*;

fn migrate(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(migrate_bin());
    for v in ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSLMODE"] {
        c.env_remove(v);
    }
    c.envs(vars.iter().copied()).args(args).output().unwrap()
}

#[tokio::test]
async fn connection_problems_say_which_setting_to_check() {
    let t = Target::new().await;
    let port = t.cluster.port.to_string();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("DATABASE_URL", "postgres://x@127.0.0.1:1/db")],
            "cannot connect to 127.0.0.1:1/db: nothing accepts connections there (connection refused): is PostgreSQL running, and are the host in DATABASE_URL and the port in DATABASE_URL right?",
        ),
        (
            &[("DB_HOST", "127.0.0.1"), ("DB_PORT", &port), ("DB_USER", "nosuch"), ("DB_NAME", DB)],
            "role \"nosuch\" does not exist: check DB_USER (role \"nosuch\") and the server's pg_hba.conf",
        ),
        (
            &[("DB_HOST", "127.0.0.1"), ("DB_PORT", &port), ("DB_USER", "postgres"), ("DB_NAME", "nodb")],
            "database \"nodb\" does not exist: check DB_NAME, or run `migrate schema apply` against the right database",
        ),
        (&[("DB_PORT", "many")], "DB_PORT \"many\" is not a port number"),
    ];
    for (vars, expected) in cases {
        let out = migrate(&["schema", "apply"], vars);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{vars:?}:\n{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    }
}

#[test]
fn every_subcommand_has_help_with_an_example_and_completions_and_a_man_page_exist() {
    for sub in ["schema", "validate", "run", "preview", "init", "inspect", "report", "runs"] {
        let out = migrate(&[sub, "--help"], &[]);
        assert_success(&out);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(&format!("migrate {sub}")) && help.contains("Example"), "{sub}:\n{help}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = migrate(&["completions", shell], &[]);
        assert_success(&out);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("preview") && script.contains("max-rejects"), "{shell}");
    }
    let man = migrate(&["man"], &[]);
    assert_success(&man);
    assert!(String::from_utf8_lossy(&man.stdout).starts_with(".ie"));
    let bad = migrate(&["run"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `--verbose` replaces the progress bars with a line per stage and its
/// counts; `RUST_LOG=debug` adds the statements the publish runs, whose
/// values are bound or COPYed and so never appear.
#[tokio::test]
async fn verbose_prints_each_stage_with_its_counts_and_debug_adds_the_sql_without_values() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env_remove("RUST_LOG")
        .args(["run", "--verbose"])
        .arg(&mapping)
        .args(["--out", "verbose"])
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in [
        "staging contacts: reading source customers",
        "staged contacts: 302 read, 0 filtered, 18 rejected, 284 staged in ",
        "publishing 1 entity",
        "publish contacts: 10 duplicate source keys dropped (",
        "publish contacts: key map written (",
        "publish contacts: 274 inserted, 0 updated, 0 unchanged (",
        "publish contacts: 274 in target through the key map, 274 in the org (",
    ] {
        assert!(stderr.contains(line), "{line:?} not in:\n{stderr}");
    }
    assert!(!stderr.contains("INSERT INTO"), "no SQL without RUST_LOG=debug:\n{stderr}");
    let starts: Vec<usize> = ["staging contacts", "staged contacts", "publishing", "publish contacts: 274 inserted"]
        .iter()
        .map(|l| stderr.find(l).unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "stages in order:\n{stderr}");

    // A second run at debug: the same stages, plus the publish's statements.
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("RUST_LOG", "debug")
        .arg("run")
        .arg(&mapping)
        .args(["--out", "debug"])
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("publish contacts: 0 inserted, 0 updated, 274 unchanged ("), "{stderr}");
    assert!(stderr.contains("UPDATE migrate.keys k SET last_run_id = $4"), "{stderr}");
    assert!(stderr.contains("INSERT INTO migrate.keys"), "{stderr}");
    // Values from the file and the org never appear in a statement.
    for value in ["Anita.Berners-Lee1@Example.COM", "anita.berners-lee1@example.com", "Berners-Lee", ORG_A] {
        assert!(!stderr.contains(value), "{value} in the log:\n{stderr}");
    }
}

/// Output into a pipe whose reader is gone (`| head`) ends the command
/// quietly with 141, on every command that prints: no panic, no message.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let csv = workspace().join("fixtures/demo/customers.csv");
    let csv = csv.to_str().unwrap();
    let cases: [&[&str]; 4] = [&["man"], &["completions", "bash"], &["inspect", csv, "--json"], &["inspect", csv]];
    for args in cases {
        let mut child = Command::new(migrate_bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes a byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

/// A mapping error stops `run` before it starts: exit 2, what to fix on
/// stderr, and no output directory (the README's promise for the report
/// holds for runs that start).
#[test]
fn a_run_stopped_by_a_mapping_error_exits_2_and_writes_no_output_directory() {
    let work = tempfile::tempdir().unwrap();
    let mapping = work.path().join("mapping.toml");
    std::fs::write(
        &mapping,
        "[migration]\nname = \"m\"\norg_id = \"${ORG_ID}\"\nsource_system = \"s\"\n\n[sources.a]\nkind = \"csv\"\npath = \"a.csv\"\n\n[contacts]\nfrom = \"a\"\nkey = \"id\"\n\n[contacts.columns]\nfirst_nme = \"x\"\n",
    )
    .unwrap();
    std::fs::write(work.path().join("a.csv"), "id,x\n1,Ada\n").unwrap();
    let out_dir = work.path().join("out");
    let out = Command::new(migrate_bin())
        .args(["run", mapping.to_str().unwrap(), "--out", out_dir.to_str().unwrap()])
        .env("ORG_ID", ORG_A)
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("first_nme") && stderr.contains("first_name"), "{stderr}");
    assert!(!out_dir.exists(), "no output directory for a run that did not start");
}
